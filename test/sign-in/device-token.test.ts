// Known-device tokens (src/tokens/devices.ts): handed out by every completed sign-in, over RPC
// as `device_token` and over REST as the `__Host-device` cookie, and honoured only when they are genuine,
// unexpired and this very account's. Anything else is an unknown device, never an error.
import { createHmac, hkdfSync } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AuthError } from "../../src/errors.ts";
import { failure, fetchDriver, grpcJsDriver, type Driver } from "../support/drivers.ts";
import { startHarness, type Harness } from "../support/harness.ts";
import { rest } from "../support/rest.ts";
import { startService, type InProcess } from "../support/service.ts";
import { totp } from "../support/totp.ts";

const password = "correct horse battery staple";
const secret = Buffer.alloc(32, 7);
/** The device id in a response's `__Host-device` cookie. */
const deviceOf = (r: { headers: Headers }) =>
  r.headers
    .getSetCookie()
    .find((c) => c.startsWith("__Host-device="))
    ?.split(".")[1];
const day = 86_400_000;

describe("device tokens at the operation", () => {
  let s: InProcess;
  beforeAll(async () => {
    s = await startService({ EMAIL_VERIFICATION_REQUIRED: "false", SERVER_SECRET: secret.toString("base64") });
  });
  afterAll(() => s.close());

  async function signIn(email: string, deviceToken?: string) {
    const result = await s.ops.signIn.login({ email, password, rememberMe: false, deviceToken }, s.client);
    if (result.state !== "signed_in") throw new Error("expected a completed sign-in");
    return result.device;
  }

  /** Locks the account for strangers: LOGIN_MAX_FAILURES wrong passwords. */
  async function lockForStrangers(email: string) {
    for (let i = 0; i < 10; i++) {
      await expect(
        s.ops.signIn.login({ email, password: `wrong ${i}`, rememberMe: false }, { ...s.client, ipAddress: `198.51.100.${i}` }),
      ).rejects.toThrow(AuthError);
    }
  }

  it("a first sign-in gets a new device (known: false); the token it got makes the next one known, same device, renewed", async () => {
    await s.ops.accounts.register({ email: "dev@example.com", password, displayName: "" }, s.client);
    const first = await signIn("dev@example.com");
    expect(first.known).toBe(false);
    expect(first.expiresAt.getTime() - s.clock.now().getTime()).toBeGreaterThan(90 * day - 1000);
    s.clock.advance(day);
    const second = await signIn("dev@example.com", first.token);
    expect(second).toMatchObject({ known: true, deviceId: first.deviceId });
    expect(second.expiresAt.getTime()).toBeGreaterThan(first.expiresAt.getTime());
    // No token, or a garbage one: a device new to the account, with a new id.
    for (const token of [undefined, "", "garbage", "d2.a.b.0.1.d", "x".repeat(5000), "\ud800"]) {
      const grant = await signIn("dev@example.com", token);
      expect(grant.known).toBe(false);
      expect(grant.deviceId).not.toBe(first.deviceId);
    }
  });

  it("forged, expired and other accounts' tokens are unknown, and do not get past a lock on strangers", async () => {
    await s.ops.accounts.register({ email: "victim@example.com", password, displayName: "" }, s.client);
    await s.ops.accounts.register({ email: "mallory@example.com", password, displayName: "" }, s.client);
    const own = await signIn("victim@example.com");
    const mallorys = await signIn("mallory@example.com");
    const [p, deviceId, userId, generation, exp, mac] = own.token.split(".") as [string, string, string, string, string, string];
    const signed = `device:${deviceId}:${userId}:${generation}:${exp}:victim@example.com`;
    // Forged: the victim's fields with a MAC under another key, or a later expiry under the old MAC.
    const otherKey = Buffer.from(hkdfSync("sha256", Buffer.alloc(32, 8), Buffer.alloc(0), "authd device token", 32));
    const foreignMac = createHmac("sha256", otherKey).update(signed).digest("base64url");
    // Signed with the server's own derived key, but for another label (the session cookie's): not a device token.
    const sessionKey = Buffer.from(hkdfSync("sha256", secret, Buffer.alloc(0), "authd session cookie", 32));
    const crossUse = createHmac("sha256", sessionKey).update(signed).digest("base64url");
    const forged = [
      [p, deviceId, userId, generation, exp, foreignMac].join("."),
      [p, deviceId, userId, generation, exp, crossUse].join("."),
      [p, deviceId, userId, generation, String(Number(exp) + 1), mac].join("."),
      [p, deviceId, userId, String(Number(generation) + 1), exp, mac].join("."),
      [p, "another-device", userId, generation, exp, mac].join("."),
      `${own.token}.extra`,
    ];
    await lockForStrangers("victim@example.com");
    for (const token of [...forged, mallorys.token]) {
      const refused = await s.ops.signIn
        .login({ email: "victim@example.com", password, rememberMe: false, deviceToken: token }, s.client)
        .catch((e: AuthError) => e.reason);
      expect(refused).toBe("RATE_LIMITED");
    }
    // The genuine one gets in.
    expect((await signIn("victim@example.com", own.token)).known).toBe(true);
    // Expired: 90 days later it is a stranger's again (the strangers' lock is long gone by then).
    s.clock.advance(90 * day);
    const late = await signIn("victim@example.com", own.token);
    expect(late.known).toBe(false);
    expect(late.deviceId).not.toBe(own.deviceId);
  });
});

describe("device tokens are revocable (bound to the account's session-cutoff generation)", () => {
  let s: InProcess;
  beforeAll(async () => {
    s = await startService({ EMAIL_VERIFICATION_REQUIRED: "false" });
  });
  afterAll(() => s.close());

  const email = "revoking@example.com";
  async function signIn(pw: string, deviceToken?: string) {
    const result = await s.ops.signIn.login({ email, password: pw, rememberMe: false, deviceToken }, s.client);
    if (result.state !== "signed_in") throw new Error("expected a completed sign-in");
    const bearer = result.tokens.accessToken;
    return { device: result.device, bearer, caller: await s.ops.sessions.authenticate({ bearer }) };
  }
  async function resetTo(pw: string, deviceToken?: string) {
    await s.ops.accounts.requestPasswordReset(email, s.client);
    await s.service.background.drain();
    return s.ops.accounts.resetPassword(s.outbox.latest(email, "password_reset")?.code ?? "", pw, s.client, deviceToken);
  }

  it("a reset voids every token issued before it, and hands this client a current one (its own renewed)", async () => {
    await s.ops.accounts.register({ email, password, displayName: "" }, s.client);
    const laptop = (await signIn(password)).device;
    const lost = (await signIn(password)).device;
    const afterReset = "the owner's reset passphrase";
    const renewed = await resetTo(afterReset, laptop.token);
    expect(renewed).toMatchObject({ known: true, deviceId: laptop.deviceId });
    // Strangers lock the account again at once; the reset's token still signs in, the old ones are strangers'.
    for (let i = 0; i < 10; i++) {
      await s.ops.signIn
        .login({ email, password: `guess ${i}`, rememberMe: false }, { ...s.client, ipAddress: `198.51.100.${i}` })
        .catch(() => undefined);
    }
    for (const old of [lost.token, laptop.token]) {
      const refused = await s.ops.signIn
        .login({ email, password: afterReset, rememberMe: false, deviceToken: old }, s.client)
        .catch((e: AuthError) => e.reason);
      expect(refused).toBe("RATE_LIMITED");
    }
    expect((await signIn(afterReset, renewed.token)).device).toMatchObject({ known: true, deviceId: laptop.deviceId });
    // A reset from a client without a token (or with a voided one) makes it a new known device.
    const fresh = await resetTo("yet another reset passphrase", lost.token);
    expect(fresh.known).toBe(false);
    expect(fresh.deviceId).not.toBe(lost.deviceId);
    expect((await signIn("yet another reset passphrase", fresh.token)).device.known).toBe(true);
  });

  it("a password change and signing out everywhere void the tokens issued before them, but renew the caller's own", async () => {
    const pw = "yet another reset passphrase";
    const lost = await signIn(pw);
    const own = await signIn(pw);
    const changed = "a changed passphrase";
    const change = await s.ops.accounts.changePassword(own.caller, pw, changed, s.client, own.device.token);
    expect(change.device).toMatchObject({ known: true, deviceId: own.device.deviceId });
    expect((await signIn(changed, lost.device.token)).device.known).toBe(false);
    expect((await signIn(changed, own.device.token)).device.known).toBe(false); // its pre-change token too
    expect((await signIn(changed, change.device.token)).device).toMatchObject({ known: true, deviceId: own.device.deviceId });
    // Without a current token the change (which proved the password) makes the caller a new known device.
    const bare = await signIn(changed);
    const fresh = await s.ops.accounts.changePassword(bare.caller, changed, pw, s.client);
    expect(fresh.device.known).toBe(false);
    expect((await signIn(pw, fresh.device.token)).device.known).toBe(true);

    const phone = await signIn(pw);
    const laptop = await signIn(pw);
    const revoked = await s.ops.sessions.revokeOthers(laptop.caller, laptop.device.token);
    expect(revoked.device).toMatchObject({ known: true, deviceId: laptop.device.deviceId });
    expect((await signIn(pw, phone.device.token)).device.known).toBe(false);
    expect((await signIn(pw, revoked.device?.token)).device).toMatchObject({ known: true, deviceId: laptop.device.deviceId });
    // The caller's own session lives on; the others ended with the cutoff.
    expect((await s.ops.sessions.authenticate({ bearer: laptop.bearer })).sessionId).toBe(laptop.caller.sessionId);
    expect(await s.ops.sessions.authenticate({ bearer: phone.bearer }).catch((e: AuthError) => e.reason)).toBe("SESSION_REVOKED");
    // A session alone proves no password: without a current token, none is minted.
    expect((await s.ops.sessions.revokeOthers((await signIn(pw)).caller)).device).toBeNull();
  });
});

describe("device tokens over the wire", () => {
  let h: Harness;
  let d: Driver;
  beforeAll(async () => {
    h = await startHarness({ EMAIL_VERIFICATION_REQUIRED: "false" });
    d = fetchDriver(h.url, "device-token");
  });
  afterAll(() => h.close());

  it("RPC: Login and CompleteLogin take device_token and answer with the renewed one", async () => {
    const email = "rpc-device@example.com";
    const reg = await d.call("AuthService/Register", { email, password });
    const first = await d.call("AuthService/Login", { email, password });
    expect(first.deviceToken).toMatchObject({
      token: expect.stringMatching(/^d2\./),
      expireTime: expect.any(String),
      deviceId: expect.any(String),
    });
    expect(first.deviceToken.known).toBeUndefined(); // false, omitted by proto3 JSON

    const setup = await d.call("TwoFactorService/Setup", {}, reg.tokens.accessToken);
    await d.call("TwoFactorService/Enable", { code: totp(setup.secret, h.clock.now()) }, reg.tokens.accessToken);
    h.clock.advance(30_000);
    const g = grpcJsDriver(h.url);
    const pending = await g.call("AuthService/Login", { email, password, deviceToken: first.deviceToken.token });
    expect(pending.deviceToken).toBeNull(); // no token before the sign-in is complete
    const done = await g.call("AuthService/CompleteLogin", {
      challengeToken: pending.secondFactor.challengeToken,
      code: totp(setup.secret, h.clock.now()),
      deviceToken: first.deviceToken.token,
    });
    g.close();
    expect(done.deviceToken).toMatchObject({ known: true, deviceId: first.deviceToken.deviceId });
  });

  it("REST: the sign-in routes set an HttpOnly, Secure, SameSite=Lax `__Host-device` cookie and honour it when locked out", async () => {
    const email = "rest-device@example.com";
    await d.call("AuthService/Register", { email, password });
    const res = await rest(h, "POST", "/auth/login", { body: { email, password } });
    expect(res.status).toBe(200);
    const device = res.headers.getSetCookie().find((c) => c.startsWith("__Host-device=")) ?? "";
    expect(device).toMatch(/^__Host-device=d2\.[\w.-]+; Max-Age=(7776000|7775999); Path=\/; HttpOnly; Secure; SameSite=Lax$/);
    const cookie = device.split(";")[0] as string;

    for (let i = 0; i < 10; i++) await failure(d.call("AuthService/Login", { email, password: `wrong ${i}` }));
    // Every document's login path: refused to a stranger, open to the known device.
    for (const path of ["/auth/login", "/api/auth/login", "/api/v1/auth/login"]) {
      expect((await rest(h, "POST", path, { body: { email, password } })).status).toBe(429);
      const known = await rest(h, "POST", path, { body: { email, password }, cookie });
      expect(known.status).toBe(200);
      expect(deviceOf(known)).toBe(cookie.split(".")[1]);
    }
  });

  it("REST: a `device` cookie planted from a sibling subdomain (cookie tossing) does not take the owner's exemption away", async () => {
    const email = "rest-planted-device@example.com";
    await d.call("AuthService/Register", { email, password });
    const res = await rest(h, "POST", "/auth/login", { body: { email, password } });
    const own = (res.headers.getSetCookie().find((c) => c.startsWith("__Host-device=")) ?? "").split(";")[0] as string;
    // The planter's own genuine device token, under the name a sibling subdomain can set for the
    // parent domain (browsers refuse a __Host- cookie with a Domain), sent ahead of the owner's.
    await d.call("AuthService/Register", { email: "planter@example.com", password });
    const planted = (await d.call("AuthService/Login", { email: "planter@example.com", password })).deviceToken.token as string;
    for (let i = 0; i < 10; i++) await failure(d.call("AuthService/Login", { email, password: `wrong ${i}` }));
    expect((await rest(h, "POST", "/auth/login", { body: { email, password }, cookie: `device=${planted}` })).status).toBe(429);
    const known = await rest(h, "POST", "/auth/login", { body: { email, password }, cookie: `device=${planted}; ${own}` });
    expect(known.status).toBe(200);
  });

  it("REST: the reset route sets the `__Host-device` cookie like the sign-in routes, renews a current one, and it gets past a lock", async () => {
    const email = "rest-reset-device@example.com";
    await d.call("AuthService/Register", { email, password });
    const signedIn = await rest(h, "POST", "/auth/login", { body: { email, password } });
    const before = (signedIn.headers.getSetCookie().find((c) => c.startsWith("__Host-device=")) ?? "").split(";")[0] as string;
    await d.call("AuthService/RequestPasswordReset", { email });
    const next = "the owner's reset passphrase";
    const reset = await rest(h, "POST", `/api/v1/auth/reset-password?code=${(await h.mail(email, "password_reset")).code}`, {
      body: { password: next },
      cookie: before,
    });
    expect(reset.status).toBe(200);
    const device = reset.headers.getSetCookie().find((c) => c.startsWith("__Host-device=")) ?? "";
    expect(device).toMatch(/^__Host-device=d2\.[\w.-]+; Max-Age=(7776000|7775999); Path=\/; HttpOnly; Secure; SameSite=Lax$/);
    expect(deviceOf(reset)).toBe(before.split(".")[1]);
    const cookie = device.split(";")[0] as string;

    for (let i = 0; i < 10; i++) await failure(d.call("AuthService/Login", { email, password: `wrong ${i}` }));
    expect((await rest(h, "POST", "/api/v1/auth/login", { body: { email, password: next } })).status).toBe(429);
    // The cookie from before the reset is void; the reset's own gets in.
    expect((await rest(h, "POST", "/api/v1/auth/login", { body: { email, password: next }, cookie: before })).status).toBe(429);
    expect((await rest(h, "POST", "/api/v1/auth/login", { body: { email, password: next }, cookie })).status).toBe(200);
  });

  it("RPC and REST: ChangePassword and revoking the other sessions renew the caller's device token", async () => {
    const email = "renewed-by-changes@example.com";
    const reg = await d.call("AuthService/Register", { email, password });
    const first = await d.call("AuthService/Login", { email, password });
    const next = "a changed long passphrase";
    const changed = await d.call(
      "AuthService/ChangePassword",
      { currentPassword: password, newPassword: next, deviceToken: first.deviceToken.token },
      first.tokens.accessToken,
    );
    expect(changed.deviceToken).toMatchObject({ known: true, deviceId: first.deviceToken.deviceId });
    const revoked = await d.call(
      "SessionService/RevokeOtherSessions",
      { deviceToken: changed.deviceToken.token },
      first.tokens.accessToken,
    );
    expect(revoked.deviceToken).toMatchObject({ known: true, deviceId: first.deviceToken.deviceId });
    expect(reg.tokens.accessToken).toBeTruthy();

    // REST: each change-password and revoke-others route renews the `__Host-device` cookie it is sent.
    let cookie = `__Host-device=${revoked.deviceToken.token as string}`;
    let pw = next;
    for (const [method, path, body] of [
      ["POST", "/api/auth/change-password", (to: string) => ({ current_password: pw, new_password: to })],
      ["POST", "/auth/password", (to: string) => ({ current_password: pw, new_password: to })],
      ["POST", "/api/auth/sessions/revoke-all", () => ({})],
      ["DELETE", "/auth/sessions/all", () => ({})],
      ["DELETE", "/api/v1/sessions", () => ({})],
    ] as const) {
      const token = (await d.call("AuthService/Login", { email, password: pw })).tokens.accessToken;
      const to = `${pw} again`;
      const res = await rest(h, method, path, { token, body: body(to), cookie });
      expect(res.status).toBeLessThan(300);
      expect(deviceOf(res)).toBe(first.deviceToken.deviceId);
      if (path.includes("password")) pw = to;
      cookie = (res.headers.getSetCookie().find((c) => c.startsWith("__Host-device=")) ?? "").split(";")[0] as string;
    }
    expect(
      (await d.call("AuthService/Login", { email, password: pw, deviceToken: cookie.slice("__Host-device=".length) })).deviceToken.known,
    ).toBe(true);
  });

  it("REST: both second login steps read the cookie and renew it", async () => {
    const email = "rest-2fa-device@example.com";
    const reg = await d.call("AuthService/Register", { email, password });
    const setup = await d.call("TwoFactorService/Setup", {}, reg.tokens.accessToken);
    await d.call("TwoFactorService/Enable", { code: totp(setup.secret, h.clock.now()) }, reg.tokens.accessToken);
    const first = await d.call("AuthService/Login", { email, password, loginCode: totp(setup.secret, h.clock.now(), 1) });
    const cookie = `__Host-device=${first.deviceToken.token as string}`;

    h.clock.advance(60_000);
    const step1 = await rest(h, "POST", "/auth/login", { body: { email, password }, cookie });
    expect(step1.body.requires2FA).toBe(true);
    expect(deviceOf(step1)).toBeUndefined(); // nothing before the sign-in is complete
    const step2 = await rest(h, "POST", "/auth/verify-otp", {
      body: { otp: totp(setup.secret, h.clock.now()) },
      token: step1.body.token,
      cookie,
    });
    expect(step2.status).toBe(200);
    expect(deviceOf(step2)).toBe(first.deviceToken.deviceId);

    h.clock.advance(30_000);
    const temp = await rest(h, "POST", "/api/auth/login", { body: { email, password }, cookie });
    const done = await rest(h, "POST", "/api/auth/login/2fa", {
      body: { tempToken: temp.body.tempToken, otp: totp(setup.secret, h.clock.now()) },
      cookie,
    });
    expect(done.status).toBe(200);
    expect(deviceOf(done)).toBe(first.deviceToken.deviceId);
  });
});
