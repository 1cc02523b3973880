// High-value changes (deleting the account, removing an authenticator device) need a recent
// sign-in or a fresh proof of identity in the request: the password, and a second factor when 2FA
// is on. Proved at the operations' level with the test clock; then once over RPC and once over
// the legacy REST path, whose fresh-session use keeps working as documented.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Caller } from "../../src/sessions/caller.ts";
import { noReauthentication } from "../../src/two-factor/reauthentication.ts";
import { failure, fetchDriver } from "../support/drivers.ts";
import { startHarness, type Harness } from "../support/harness.ts";
import { rest } from "../support/rest.ts";
import { outcome, startService, type InProcess } from "../support/service.ts";
import { totp, wrongCode } from "../support/totp.ts";

const password = "correct horse battery staple";
const windowSeconds = 600;

describe("re-authentication at the operations' level", () => {
  let s: InProcess;
  beforeAll(async () => {
    s = await startService({ EMAIL_VERIFICATION_REQUIRED: "false", REAUTH_MAX_AGE_SECONDS: String(windowSeconds) });
  });
  afterAll(() => s.close());

  /** A new account signed in now; with `twoFactor`, 2FA on (the session stays the enabling one). */
  async function account(email: string, twoFactor = false): Promise<{ caller: Caller; refresh: string; secret: string }> {
    const { tokens } = await s.ops.accounts.register({ email, password, displayName: "" }, s.client);
    if (tokens === undefined) throw new Error("registration did not sign in");
    const caller = await s.ops.sessions.authenticate({ bearer: tokens.accessToken });
    let secret = "";
    if (twoFactor) {
      secret = (await s.ops.twoFactor.setup(caller, { password: "", additionalDevice: false })).secret;
      await s.ops.twoFactor.enable(caller, { code: totp(secret, s.clock.now()), deviceName: "", secret: "" }, s.client);
      s.clock.advance(30_000); // the next code is a new TOTP step
    }
    return { caller, refresh: tokens.refreshToken, secret };
  }

  /** The caller as the session looks after the window has passed and the tokens were refreshed. */
  async function aged(refresh: string): Promise<Caller> {
    s.clock.advance((windowSeconds + 1) * 1000);
    const pair = await s.ops.sessions.refresh(refresh);
    return s.ops.sessions.authenticate({ bearer: pair.accessToken });
  }

  const exists = async (userId: string) => (await s.store.users.findById(userId)) !== null;

  it("a session that signed in within the window deletes the account with no proof, 2FA on or not", async () => {
    const plain = await account("fresh-plain@example.com");
    expect(await outcome(s.ops.accounts.deleteAccount(plain.caller, noReauthentication, s.client))).toBe("OK");
    expect(await exists(plain.caller.userId)).toBe(false);
    const guarded = await account("fresh-2fa@example.com", true);
    expect(await outcome(s.ops.accounts.deleteAccount(guarded.caller, noReauthentication, s.client))).toBe("OK");
    expect(await exists(guarded.caller.userId)).toBe(false);
  });

  it("refreshing does not renew the sign-in: an older session must prove the password, and nothing changes until it does", async () => {
    const { caller, refresh } = await account("aged-plain@example.com");
    const later = await aged(refresh);
    expect(later.signedInAt).toEqual(caller.signedInAt);
    expect(await outcome(s.ops.accounts.deleteAccount(later, noReauthentication, s.client))).toBe("REAUTHENTICATION_REQUIRED");
    expect(await outcome(s.ops.accounts.deleteAccount(later, { ...noReauthentication, password: "not the password" }, s.client))).toBe(
      "INVALID_CREDENTIALS reauthentication.password",
    );
    expect(await outcome(s.ops.accounts.deleteAccount(later, { ...noReauthentication, code: "123456" }, s.client))).toBe(
      "INVALID_ARGUMENT reauthentication.password",
    );
    expect(await exists(caller.userId)).toBe(true);
    expect(await outcome(s.ops.accounts.deleteAccount(later, { ...noReauthentication, password }, s.client))).toBe("OK");
    expect(await exists(caller.userId)).toBe(false);
  });

  it("with 2FA on, an older session needs the password and exactly one second factor; a wrong password spends no code", async () => {
    const { caller, refresh, secret } = await account("aged-2fa@example.com", true);
    const later = await aged(refresh);
    expect(await outcome(s.ops.accounts.deleteAccount(later, { ...noReauthentication, password }, s.client))).toBe(
      "INVALID_ARGUMENT reauthentication.code",
    );
    const code = totp(secret, s.clock.now());
    expect(await outcome(s.ops.accounts.deleteAccount(later, { password: "not the password", code, recoveryCode: "" }, s.client))).toBe(
      "INVALID_CREDENTIALS reauthentication.password",
    );
    expect(
      await outcome(s.ops.accounts.deleteAccount(later, { password, code: wrongCode(secret, s.clock.now()), recoveryCode: "" }, s.client)),
    ).toBe("INVALID_TWO_FACTOR_CODE");
    expect(await exists(caller.userId)).toBe(true);
    // The code the wrong password came with was not spent: it still proves the second factor.
    expect(await outcome(s.ops.accounts.deleteAccount(later, { password, code, recoveryCode: "" }, s.client))).toBe("OK");
    expect(await exists(caller.userId)).toBe(false);
  });

  it("a recovery code is a second factor here too", async () => {
    const { tokens } = await s.ops.accounts.register({ email: "aged-recovery@example.com", password, displayName: "" }, s.client);
    if (tokens === undefined) throw new Error("registration did not sign in");
    const caller = await s.ops.sessions.authenticate({ bearer: tokens.accessToken });
    const setup = await s.ops.twoFactor.setup(caller, { password: "", additionalDevice: false });
    const enabled = await s.ops.twoFactor.enable(caller, { code: totp(setup.secret, s.clock.now()), deviceName: "", secret: "" }, s.client);
    const recoveryCode = enabled.recoveryCodes[0] ?? "";
    const later = await aged(tokens.refreshToken);
    expect(await outcome(s.ops.accounts.deleteAccount(later, { password, code: "", recoveryCode: "not-a-recovery-code" }, s.client))).toBe(
      "INVALID_TWO_FACTOR_CODE",
    );
    expect(await outcome(s.ops.accounts.deleteAccount(later, { password, code: "", recoveryCode }, s.client))).toBe("OK");
  });

  it("RemoveDevice follows the same rule: an older session without proof removes nothing", async () => {
    const { caller, refresh, secret } = await account("devices@example.com", true);
    const extra = await s.ops.twoFactor.setup(caller, { password, additionalDevice: true });
    const added = await s.ops.twoFactor.addDevice(
      caller,
      {
        secret: extra.secret,
        code: totp(extra.secret, s.clock.now()),
        deviceName: "spare",
      },
      s.client,
    );
    s.clock.advance(30_000);
    const later = await aged(refresh);
    expect(await outcome(s.ops.twoFactor.removeDevice(later, added.id, noReauthentication, s.client))).toBe("REAUTHENTICATION_REQUIRED");
    expect((await s.ops.twoFactor.listDevices(later)).map((d) => d.id)).toContain(added.id);
    const code = totp(secret, s.clock.now());
    expect(await outcome(s.ops.twoFactor.removeDevice(later, added.id, { password, code, recoveryCode: "" }, s.client))).toBe("OK");
    expect((await s.ops.twoFactor.listDevices(later)).map((d) => d.id)).not.toContain(added.id);
  });
});

describe("REAUTH_MAX_AGE_SECONDS=0: every high-value change needs the proof", () => {
  let s: InProcess;
  beforeAll(async () => {
    s = await startService({ EMAIL_VERIFICATION_REQUIRED: "false", REAUTH_MAX_AGE_SECONDS: "0" });
  });
  afterAll(() => s.close());

  it("even a session opened this instant", async () => {
    const { tokens } = await s.ops.accounts.register({ email: "always@example.com", password, displayName: "" }, s.client);
    const caller = await s.ops.sessions.authenticate({ bearer: tokens?.accessToken });
    expect(await outcome(s.ops.accounts.deleteAccount(caller, noReauthentication, s.client))).toBe("REAUTHENTICATION_REQUIRED");
    expect(await outcome(s.ops.accounts.deleteAccount(caller, { ...noReauthentication, password }, s.client))).toBe("OK");
  });
});

describe("over the wire", () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ EMAIL_VERIFICATION_REQUIRED: "false", REAUTH_MAX_AGE_SECONDS: String(windowSeconds) });
  });
  afterAll(() => h.close());

  it("RPC DeleteAccount: UNAUTHENTICATED / REAUTHENTICATION_REQUIRED for an older session, then done with `reauthentication`", async () => {
    const d = fetchDriver(h.url, "reauth-test");
    const { tokens } = await d.call("AuthService/Register", { email: "rpc-reauth@example.com", password });
    h.clock.advance((windowSeconds + 1) * 1000);
    const { tokens: fresh } = await d.call("AuthService/RefreshToken", { refreshToken: tokens.refreshToken });
    const refused = await failure(d.call("AuthService/DeleteAccount", {}, fresh.accessToken));
    expect([refused.code, refused.reason]).toEqual(["unauthenticated", "REAUTHENTICATION_REQUIRED"]);
    await d.call("AuthService/DeleteAccount", { reauthentication: { password } }, fresh.accessToken);
    const gone = await failure(d.call("AuthService/Login", { email: "rpc-reauth@example.com", password }));
    expect(gone.reason).toBe("INVALID_CREDENTIALS");
  });

  it("REST DELETE /auth/me: a fresh session as documented (no body); an older one with {password} in the body", async () => {
    const email = "rest-reauth@example.com";
    const reg = await rest(h, "POST", "/auth/register", { body: { email, password, name: "R" } });
    expect(reg.status).toBeLessThan(300);
    const login = await rest(h, "POST", "/auth/login", { body: { email, password } });
    h.clock.advance((windowSeconds + 1) * 1000);
    const refreshed = await rest(h, "POST", "/auth/refresh", { body: { refresh_token: login.body.refresh_token } });
    const token = refreshed.body.access_token;
    const refused = await rest(h, "DELETE", "/auth/me", { token });
    expect([refused.status, refused.body.code]).toEqual([401, "REAUTHENTICATION_REQUIRED"]);
    expect((await rest(h, "GET", "/auth/me", { token })).status).toBe(200);
    const done = await rest(h, "DELETE", "/auth/me", { token, body: { password } });
    expect(done.status).toBe(204);
    const fresh = await rest(h, "POST", "/auth/register", { body: { email: "rest-fresh@example.com", password, name: "F" } });
    expect(fresh.status).toBeLessThan(300);
    const freshToken = (await rest(h, "POST", "/auth/login", { body: { email: "rest-fresh@example.com", password } })).body.access_token;
    expect((await rest(h, "DELETE", "/auth/me", { token: freshToken })).status).toBe(204);
  });
});
