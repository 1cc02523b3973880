// Passkeys at the operations' level, with a software authenticator (support/software-authenticator.ts)
// making real P-256 credentials, "none" attestations and signed assertions: registration after a
// recent sign-in, list, rename, remove (never the last way in), passwordless sign-in (user
// verification required, both factors, a session like Login's), the passkey as second factor, and
// the challenge and counter rules: single use under concurrency, short-lived, bound to ceremony
// and user, origin checked, a counter that does not grow refused.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Caller } from "../../src/sessions/caller.ts";
import { noReauthentication } from "../../src/two-factor/reauthentication.ts";
import { startService, type InProcess } from "../support/service.ts";
import { SoftwareAuthenticator } from "../support/software-authenticator.ts";
import { totp } from "../support/totp.ts";

const origin = "https://app.example.com";
const env = {
  EMAIL_VERIFICATION_REQUIRED: "false",
  WEBAUTHN_RP_ID: "example.com",
  WEBAUTHN_RP_NAME: "Example",
  WEBAUTHN_ORIGINS: `${origin},https://admin.example.com`,
  LOGIN_ADDRESS_MAX_FAILURES: "8",
};
const password = "correct horse battery staple";

let s: InProcess;
let n = 0;

async function signUp(): Promise<{ email: string; caller: Caller }> {
  const email = `user${++n}@example.com`;
  const { tokens } = await s.ops.accounts.register({ email, password, displayName: "" }, s.client);
  if (tokens === undefined) throw new Error("expected tokens");
  return { email, caller: await s.ops.sessions.authenticate({ bearer: tokens.accessToken }) };
}

async function register(caller: Caller, authenticator: SoftwareAuthenticator, name = "Laptop") {
  const { optionsJson } = await s.ops.passkeys.startRegistration(caller, noReauthentication);
  return s.ops.passkeys.finishRegistration(caller, { credentialJson: authenticator.create(optionsJson), name }, s.client);
}

async function passwordless(authenticator: SoftwareAuthenticator, behaviour = {}) {
  const { optionsJson } = await s.ops.passkeySignIn.startSignIn(s.client);
  return authenticator.get(optionsJson, behaviour);
}

const finish = (credentialJson: string, deviceToken?: string) =>
  s.ops.passkeySignIn.finishSignIn({ credentialJson, rememberMe: false, deviceToken }, s.client);

const refused = (reason: string) => expect.objectContaining({ reason });

beforeEach(async () => {
  s = await startService(env);
});
afterEach(() => s.close());

describe("passkeys off", () => {
  it("every ceremony says SIGN_IN_METHOD_DISABLED when WEBAUTHN_* is not set", async () => {
    await s.close();
    s = await startService({ EMAIL_VERIFICATION_REQUIRED: "false" });
    const { caller } = await signUp();
    await expect(s.ops.passkeys.startRegistration(caller, noReauthentication)).rejects.toEqual(refused("SIGN_IN_METHOD_DISABLED"));
    await expect(s.ops.passkeySignIn.startSignIn(s.client)).rejects.toEqual(refused("SIGN_IN_METHOD_DISABLED"));
    await expect(finish("{}")).rejects.toEqual(refused("SIGN_IN_METHOD_DISABLED"));
  });
});

describe("registering, listing, renaming", () => {
  it("stores the credential with its key, counter, transports, backup flags and user handle, and mails the owner", async () => {
    const { email, caller } = await signUp();
    const authenticator = new SoftwareAuthenticator(origin);
    const { optionsJson } = await s.ops.passkeys.startRegistration(caller, noReauthentication);
    const options = JSON.parse(optionsJson);
    expect(options).toMatchObject({
      rp: { id: "example.com", name: "Example" },
      user: { name: email },
      attestation: "none",
      authenticatorSelection: { residentKey: "required", userVerification: "required" },
    });
    const view = await s.ops.passkeys.finishRegistration(
      caller,
      { credentialJson: authenticator.create(optionsJson), name: " Laptop " },
      s.client,
    );
    expect(view).toMatchObject({
      name: "Laptop",
      transports: ["internal", "hybrid"],
      backupEligible: true,
      backedUp: true,
      lastUsedAt: null,
    });
    const stored = await s.store.passkeys.findByCredentialId(view.credentialId);
    expect(stored).toMatchObject({ userId: caller.userId, counter: 0, userHandle: options.user.id });
    expect(stored?.publicKey).toMatch(/^[A-Za-z0-9_-]{60,}$/);
    await s.service.background.drain();
    expect(s.outbox.all(email, "security_notification").map((m) => m.notification)).toEqual(["passkey_added"]);

    // A second registration excludes the first credential, and reuses the user handle.
    const next = JSON.parse((await s.ops.passkeys.startRegistration(caller, noReauthentication)).optionsJson);
    expect(next.excludeCredentials).toEqual([{ id: view.credentialId, type: "public-key", transports: ["internal", "hybrid"] }]);
    expect(next.user.id).toBe(options.user.id);
  });

  it("needs a recent sign-in, or a reauthentication proof", async () => {
    const { caller } = await signUp();
    s.clock.advance(601_000);
    await expect(s.ops.passkeys.startRegistration(caller, noReauthentication)).rejects.toEqual(refused("REAUTHENTICATION_REQUIRED"));
    await expect(s.ops.passkeys.startRegistration(caller, { ...noReauthentication, password: "wrong password!!" })).rejects.toEqual(
      refused("INVALID_CREDENTIALS"),
    );
    await expect(s.ops.passkeys.startRegistration(caller, { ...noReauthentication, password })).resolves.toHaveProperty("optionsJson");
  });

  it("refuses an answer from another origin, without user verification, for another user, or twice", async () => {
    const { caller } = await signUp();
    const other = (await signUp()).caller;
    const authenticator = new SoftwareAuthenticator(origin);
    const finishWith = (c: Caller, json: string) => s.ops.passkeys.finishRegistration(c, { credentialJson: json, name: "" }, s.client);
    const start = async () => (await s.ops.passkeys.startRegistration(caller, noReauthentication)).optionsJson;

    await expect(finishWith(caller, authenticator.create(await start(), { origin: "https://evil.example.net" }))).rejects.toEqual(
      refused("INVALID_PASSKEY"),
    );
    await expect(finishWith(caller, authenticator.create(await start(), { userVerified: false }))).rejects.toEqual(
      refused("INVALID_PASSKEY"),
    );
    await expect(finishWith(other, authenticator.create(await start()))).rejects.toEqual(refused("INVALID_PASSKEY"));
    const answer = authenticator.create(await start());
    const results = await Promise.allSettled(Array.from({ length: 5 }, () => finishWith(caller, answer)));
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    expect(results.filter((r) => r.status === "rejected").map((r) => (r as PromiseRejectedResult).reason.reason)).toEqual(
      Array(4).fill("INVALID_PASSKEY"),
    );
    expect(await s.ops.passkeys.list(caller)).toHaveLength(1);
    expect(await s.ops.passkeys.list(other)).toEqual([]);
  });

  it("a newer start voids the older challenge; a challenge lives 5 minutes", async () => {
    const { caller } = await signUp();
    const authenticator = new SoftwareAuthenticator(origin);
    const older = (await s.ops.passkeys.startRegistration(caller, noReauthentication)).optionsJson;
    const newer = (await s.ops.passkeys.startRegistration(caller, noReauthentication)).optionsJson;
    const finishWith = (json: string) => s.ops.passkeys.finishRegistration(caller, { credentialJson: json, name: "" }, s.client);
    await expect(finishWith(authenticator.create(older))).rejects.toEqual(refused("INVALID_PASSKEY"));
    s.clock.advance(300_000);
    await expect(finishWith(authenticator.create(newer))).rejects.toEqual(refused("INVALID_PASSKEY"));
  });

  it("lists oldest first and renames only the caller's passkeys", async () => {
    const { caller } = await signUp();
    const other = (await signUp()).caller;
    const authenticator = new SoftwareAuthenticator(origin);
    const first = await register(caller, authenticator, "Laptop");
    s.clock.advance(1000);
    const second = await register(caller, authenticator, "");
    expect((await s.ops.passkeys.list(caller)).map((p) => p.name)).toEqual(["Laptop", "Passkey"]);
    expect(await s.ops.passkeys.rename(caller, second.id, "Phone")).toMatchObject({ id: second.id, name: "Phone" });
    await expect(s.ops.passkeys.rename(other, first.id, "Mine now")).rejects.toEqual(refused("NOT_FOUND"));
    await expect(s.ops.passkeys.rename(caller, first.id, "   ")).rejects.toEqual(refused("INVALID_ARGUMENT"));
    await expect(s.ops.passkeys.rename(caller, first.id, "x".repeat(65))).rejects.toEqual(refused("INVALID_ARGUMENT"));
    expect((await s.ops.passkeys.list(caller)).map((p) => p.name)).toEqual(["Laptop", "Phone"]);
  });
});

describe("signing in with a passkey alone", () => {
  it("opens a session like Login: tokens, a known-device token, the new-device mail; the counter and last use recorded", async () => {
    const { email, caller } = await signUp();
    const authenticator = new SoftwareAuthenticator(origin);
    const passkey = await register(caller, authenticator);
    const options = JSON.parse((await s.ops.passkeySignIn.startSignIn(s.client)).optionsJson);
    expect(options).toMatchObject({ rpId: "example.com", userVerification: "required" });
    expect(options.allowCredentials ?? []).toEqual([]);

    const result = await finish(authenticator.get(JSON.stringify(options)));
    expect(result.account).toMatchObject({ id: caller.userId, email });
    expect(result.device.known).toBe(false);
    const session = await s.ops.sessions.authenticate({ bearer: result.tokens.accessToken });
    expect(session.userId).toBe(caller.userId);
    expect(await s.store.passkeys.findByCredentialId(passkey.credentialId)).toMatchObject({ counter: 1, lastUsedAt: s.clock.now() });
    await s.service.background.drain();
    expect(s.outbox.all(email, "security_notification").map((m) => m.notification)).toContain("new_device_sign_in");

    // With the device token it got, the next sign-in is from a known device.
    const again = await finish(await passwordless(authenticator), result.device.token);
    expect(again.device.known).toBe(true);
  });

  it("counts as both factors: an account with two-factor on signs in with no code", async () => {
    const { caller } = await signUp();
    const secret = (await s.ops.twoFactor.setup(caller, { password: "", additionalDevice: false })).secret;
    await s.ops.twoFactor.enable(caller, { code: totp(secret, s.clock.now()), deviceName: "", secret: "" }, s.client);
    const authenticator = new SoftwareAuthenticator(origin);
    await register(caller, authenticator);
    const result = await finish(await passwordless(authenticator));
    expect(result.account).toMatchObject({ id: caller.userId, twoFactorEnabled: true });
  });

  it("a disabled account is told so, and gets no session", async () => {
    const { caller } = await signUp();
    const authenticator = new SoftwareAuthenticator(origin);
    await register(caller, authenticator);
    await s.store.users.update(caller.userId, { disabledAt: s.clock.now() });
    const before = (await s.store.sessions.listLive(caller.userId, s.clock.now())).length;
    await expect(finish(await passwordless(authenticator))).rejects.toEqual(refused("ACCOUNT_DISABLED"));
    expect(await s.store.sessions.listLive(caller.userId, s.clock.now())).toHaveLength(before);
  });

  it("refuses a replayed assertion, even when the copies race: exactly one signs in", async () => {
    const { caller } = await signUp();
    const authenticator = new SoftwareAuthenticator(origin);
    await register(caller, authenticator);
    const answer = await passwordless(authenticator);
    const results = await Promise.allSettled(Array.from({ length: 5 }, () => finish(answer)));
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    await expect(finish(answer)).rejects.toEqual(refused("INVALID_PASSKEY"));
  });

  it("refuses a cloned authenticator whose counter did not grow", async () => {
    const { caller } = await signUp();
    const authenticator = new SoftwareAuthenticator(origin);
    const passkey = await register(caller, authenticator);
    const clone = authenticator.clone();
    await finish(await passwordless(authenticator)); // counter 1
    await finish(await passwordless(authenticator)); // counter 2
    await expect(finish(await passwordless(clone))).rejects.toEqual(refused("INVALID_PASSKEY")); // the clone says 1
    await expect(finish(await passwordless(clone))).rejects.toEqual(refused("INVALID_PASSKEY")); // 2: not above 2
    expect(await s.store.passkeys.findByCredentialId(passkey.credentialId)).toMatchObject({ counter: 2 });
    await expect(finish(await passwordless(authenticator))).resolves.toHaveProperty("tokens"); // the original: 3
  });

  it("refuses no user verification, another origin, an expired challenge, a registration challenge, a removed passkey", async () => {
    const { caller } = await signUp();
    const authenticator = new SoftwareAuthenticator(origin);
    const passkey = await register(caller, authenticator);
    await expect(finish(await passwordless(authenticator, { userVerified: false }))).rejects.toEqual(refused("INVALID_PASSKEY"));
    await expect(finish(await passwordless(authenticator, { origin: "https://example.net" }))).rejects.toEqual(refused("INVALID_PASSKEY"));
    // Another configured origin is fine.
    await expect(finish(await passwordless(authenticator, { origin: "https://admin.example.com" }))).resolves.toHaveProperty("tokens");
    const late = await passwordless(authenticator);
    s.clock.advance(300_000);
    await expect(finish(late)).rejects.toEqual(refused("INVALID_PASSKEY"));
    // An assertion over a registration's challenge answers no sign-in.
    const registration = (
      await s.ops.passkeys.startRegistration(
        await s.ops.sessions.authenticate({ bearer: (await finish(await passwordless(authenticator))).tokens.accessToken }),
        noReauthentication,
      )
    ).optionsJson;
    const crossed = authenticator.get(JSON.stringify({ challenge: JSON.parse(registration).challenge, rpId: "example.com" }));
    await expect(finish(crossed)).rejects.toEqual(refused("INVALID_PASSKEY"));
    // Removed (the password remains a way in): its answers no longer sign in.
    const pending = await passwordless(authenticator);
    await s.ops.passkeys.remove(caller, passkey.id, { ...noReauthentication, password }, s.client);
    await expect(finish(pending)).rejects.toEqual(refused("INVALID_PASSKEY"));
  });

  it("failed assertions count per client network like wrong passwords: then RATE_LIMITED, before any check", async () => {
    const { caller } = await signUp();
    const authenticator = new SoftwareAuthenticator(origin);
    await register(caller, authenticator);
    for (let i = 0; i < 8; i++) {
      await expect(finish(await passwordless(authenticator, { userVerified: false }))).rejects.toEqual(refused("INVALID_PASSKEY"));
    }
    await expect(finish(await passwordless(authenticator))).rejects.toEqual(refused("RATE_LIMITED"));
    const elsewhere = { ...s.client, ipAddress: "198.51.100.7" };
    const json = await passwordless(authenticator);
    await expect(s.ops.passkeySignIn.finishSignIn({ credentialJson: json, rememberMe: true }, elsewhere)).resolves.toHaveProperty("tokens");
  });

  it("WEBAUTHN_MAX_STARTS_PER_CLIENT_PER_HOUR bounds the challenges one client network stores in an hour", async () => {
    await s.close();
    s = await startService({ ...env, WEBAUTHN_MAX_STARTS_PER_CLIENT_PER_HOUR: "3" });
    const start = (ipAddress: string) => s.ops.passkeySignIn.startSignIn({ ...s.client, ipAddress });
    for (let i = 0; i < 3; i++) await start("2001:db8:1:2::1");
    // The same /64 shares the budget; another network has its own.
    await expect(start("2001:db8:1:2:ffff::9")).rejects.toEqual(refused("RATE_LIMITED"));
    await expect(start("198.51.100.7")).resolves.toHaveProperty("optionsJson");
    s.clock.advance(3_601_000);
    await expect(start("2001:db8:1:2::1")).resolves.toHaveProperty("optionsJson");
  });

  it("the /64s of one IPv6 aggregate share CLIENT_IPV6_AGGREGATE_MULTIPLE times one network's starts", async () => {
    await s.close();
    s = await startService({ ...env, WEBAUTHN_MAX_STARTS_PER_CLIENT_PER_HOUR: "2", CLIENT_IPV6_AGGREGATE_MULTIPLE: "2" });
    const start = (ipAddress: string) => s.ops.passkeySignIn.startSignIn({ ...s.client, ipAddress });
    for (const ipAddress of ["2001:db8:48:1::1", "2001:db8:48:1::2", "2001:db8:48:2::1", "2001:db8:48:3::1"]) await start(ipAddress);
    await expect(start("2001:db8:48:4::1")).rejects.toEqual(refused("RATE_LIMITED"));
    await expect(start("2001:db8:49::1")).resolves.toHaveProperty("optionsJson");
  });

  it("rejects malformed answers as INVALID_ARGUMENT, before anything is looked up", async () => {
    for (const bad of ["", "not json", "[]", '{"id":1}', JSON.stringify({ id: "x", response: {}, pad: "y".repeat(40_000) })]) {
      await expect(finish(bad)).rejects.toEqual(expect.objectContaining({ reason: "INVALID_ARGUMENT", field: "credential_json" }));
    }
  });
});

describe("a passkey as the second factor after a password", () => {
  async function withTwoFactor() {
    const { email, caller } = await signUp();
    const secret = (await s.ops.twoFactor.setup(caller, { password: "", additionalDevice: false })).secret;
    await s.ops.twoFactor.enable(caller, { code: totp(secret, s.clock.now()), deviceName: "", secret: "" }, s.client);
    return { email, caller };
  }
  async function pendingLogin(email: string): Promise<string> {
    const result = await s.ops.signIn.login({ email, password, rememberMe: false }, s.client);
    if (result.state !== "second_factor_pending") throw new Error("expected a second factor");
    return result.challenge.token;
  }

  it("completes the pending sign-in, spends its challenge, and accepts presence without verification", async () => {
    const { email, caller } = await withTwoFactor();
    const authenticator = new SoftwareAuthenticator(origin);
    const passkey = await register(caller, authenticator);
    const challenge = await pendingLogin(email);
    const options = JSON.parse((await s.ops.passkeySignIn.startSecondFactor(challenge)).optionsJson);
    expect(options).toMatchObject({ userVerification: "preferred", allowCredentials: [{ id: passkey.credentialId, type: "public-key" }] });
    const credentialJson = authenticator.get(JSON.stringify(options), { userVerified: false });
    const result = await s.ops.passkeySignIn.finishSecondFactor(challenge, { credentialJson }, s.client);
    expect(result.account.id).toBe(caller.userId);
    await expect(s.ops.signIn.completeLogin(challenge, { code: "123456" }, s.client)).rejects.toEqual(refused("INVALID_CHALLENGE"));
  });

  it("refuses another account's passkey and a passwordless challenge; says SIGN_IN_METHOD_DISABLED for an account without passkeys", async () => {
    const { email, caller } = await withTwoFactor();
    const mine = new SoftwareAuthenticator(origin);
    await register(caller, mine);
    const theirs = new SoftwareAuthenticator(origin);
    await register((await signUp()).caller, theirs);
    const challenge = await pendingLogin(email);
    const options = (await s.ops.passkeySignIn.startSecondFactor(challenge)).optionsJson;
    const foreign = theirs.get(JSON.stringify({ ...JSON.parse(options), allowCredentials: [] }));
    await expect(s.ops.passkeySignIn.finishSecondFactor(challenge, { credentialJson: foreign }, s.client)).rejects.toEqual(
      refused("INVALID_PASSKEY"),
    );
    const passwordlessAnswer = await passwordless(mine);
    await expect(s.ops.passkeySignIn.finishSecondFactor(challenge, { credentialJson: passwordlessAnswer }, s.client)).rejects.toEqual(
      refused("INVALID_PASSKEY"),
    );
    // The failures count toward the account's second-factor lock, as wrong codes do.
    expect((await s.store.attempts.get(`2fa:${caller.userId}`, s.clock.now())).failures).toBe(2);

    const { email: plain } = await withTwoFactor();
    await expect(s.ops.passkeySignIn.startSecondFactor(await pendingLogin(plain))).rejects.toEqual(refused("SIGN_IN_METHOD_DISABLED"));
    await expect(s.ops.passkeySignIn.startSecondFactor("not-a-challenge")).rejects.toEqual(refused("INVALID_CHALLENGE"));
  });
});

describe("metrics", () => {
  it("counts passkey sign-ins in authd_sign_ins_total: step passkey, and second_factor", async () => {
    await s.close();
    s = await startService({ ...env, METRICS_TOKEN: "m".repeat(32) });
    const { caller } = await signUp();
    const authenticator = new SoftwareAuthenticator(origin);
    await register(caller, authenticator);
    await finish(await passwordless(authenticator));
    await expect(finish(await passwordless(authenticator, { userVerified: false }))).rejects.toEqual(refused("INVALID_PASSKEY"));
    const text = (await s.service.metrics?.scrape()) ?? "";
    expect(text).toContain('authd_sign_ins_total{step="passkey",outcome="signed_in"} 1');
    expect(text).toContain('authd_sign_ins_total{step="passkey",outcome="invalid_passkey"} 1');
  });
});

describe("removing", () => {
  it("removes with a recent sign-in and mails the owner; never the last way in", async () => {
    const { email, caller } = await signUp();
    const authenticator = new SoftwareAuthenticator(origin);
    const first = await register(caller, authenticator);
    const second = await register(caller, authenticator);
    await expect(s.ops.passkeys.remove((await signUp()).caller, first.id, noReauthentication, s.client)).rejects.toEqual(
      refused("NOT_FOUND"),
    );
    await s.ops.passkeys.remove(caller, first.id, noReauthentication, s.client);
    await s.service.background.drain();
    expect(s.outbox.all(email, "security_notification").map((m) => m.notification)).toEqual([
      "passkey_added",
      "passkey_added",
      "passkey_removed",
    ]);

    // The password goes (a passkey remains), then the last passkey cannot.
    await s.ops.accounts.unlinkAccount(caller, "password", noReauthentication, s.client);
    await expect(s.ops.passkeys.remove(caller, second.id, noReauthentication, s.client)).rejects.toEqual(refused("LAST_SIGN_IN_METHOD"));
    expect(await s.ops.passkeys.list(caller)).toHaveLength(1);
    // And the passkey alone still signs in.
    await expect(finish(await passwordless(authenticator, { credentialId: second.credentialId }))).resolves.toHaveProperty("tokens");
  });

  it("a removal whose caller a password change ended meanwhile removes nothing, does not keep that caller, nor end the owner's session", async () => {
    const email = `user${++n}@example.com`;
    const { tokens: owned } = await s.ops.accounts.register({ email, password, displayName: "" }, s.client);
    const owner = await s.ops.sessions.authenticate({ bearer: owned!.accessToken });
    const passkey = await register(owner, new SoftwareAuthenticator(origin));
    const signedIn = await s.ops.signIn.login({ email, password, rememberMe: false }, s.client);
    if (signedIn.state !== "signed_in") throw new Error("expected a session");
    // Someone else's session (signed in just now) is authenticated for the removal...
    const other = await s.ops.sessions.authenticate({ bearer: signedIn.tokens.accessToken });
    // ...the owner changes the password, which ends it...
    await s.ops.accounts.changePassword(owner, password, "the owner's new passphrase", s.client);
    // ...and then the removal runs with it.
    await expect(s.ops.passkeys.remove(other, passkey.id, noReauthentication, s.client)).rejects.toEqual(refused("SESSION_REVOKED"));
    expect((await s.ops.passkeys.list(owner)).map((p) => p.id)).toEqual([passkey.id]);
    await expect(s.ops.sessions.authenticate({ bearer: signedIn.tokens.accessToken })).rejects.toEqual(refused("SESSION_REVOKED"));
    await expect(s.ops.sessions.authenticate({ bearer: owned!.accessToken })).resolves.toHaveProperty("sessionId", owner.sessionId);
  });

  it("needs a recent sign-in or a proof", async () => {
    const { caller } = await signUp();
    const passkey = await register(caller, new SoftwareAuthenticator(origin));
    s.clock.advance(601_000);
    await expect(s.ops.passkeys.remove(caller, passkey.id, noReauthentication, s.client)).rejects.toEqual(
      refused("REAUTHENTICATION_REQUIRED"),
    );
    await s.ops.passkeys.remove(caller, passkey.id, { ...noReauthentication, password }, s.client);
    expect(await s.ops.passkeys.list(caller)).toEqual([]);
  });

  it("a reset by the mailbox's owner drops the passkeys added while the address was unproven (pre-hijacking)", async () => {
    // Someone registered with the address, unverified, and added a passkey of theirs.
    const { email, caller } = await signUp();
    const intruder = new SoftwareAuthenticator(origin);
    const theirs = await register(caller, intruder);
    const reset = async (next: string) => {
      await s.ops.accounts.requestPasswordReset(email, s.client);
      await s.service.background.drain();
      const mail = s.outbox.latest(email, "password_reset");
      if (mail === undefined) throw new Error("no reset mail");
      await s.ops.accounts.resetPassword(mail.code, next, s.client);
    };
    await reset("the owner's own passphrase");
    expect(await s.store.passkeys.findByCredentialId(theirs.credentialId)).toBeNull();
    await expect(finish(await passwordless(intruder))).rejects.toEqual(refused("INVALID_PASSKEY"));
    // A passkey added once the address is proven stays through a later reset.
    const signedIn = await s.ops.signIn.login({ email, password: "the owner's own passphrase", rememberMe: false }, s.client);
    if (!("tokens" in signedIn)) throw new Error("expected tokens");
    const owner = await s.ops.sessions.authenticate({ bearer: signedIn.tokens.accessToken });
    const own = await register(owner, new SoftwareAuthenticator(origin));
    await reset("another passphrase of the owner");
    expect(await s.store.passkeys.findByCredentialId(own.credentialId)).not.toBeNull();
  });

  it("account deletion removes the passkeys", async () => {
    const { caller } = await signUp();
    const passkey = await register(caller, new SoftwareAuthenticator(origin));
    await s.ops.accounts.deleteAccount(caller, noReauthentication, s.client);
    expect(await s.store.passkeys.findByCredentialId(passkey.credentialId)).toBeNull();
  });
});
