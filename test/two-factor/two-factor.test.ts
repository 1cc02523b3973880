// Two-factor authentication end to end, over three kinds of client (Connect's gRPC client, plain
// @grpc/grpc-js, fetch with JSON): enrolment with a QR code decoded back to its URL, the second
// login step in both styles, recovery codes, replay, the lock, devices, reset, regeneration and
// disabling with each proof. Codes are computed by the test's own HOTP on node:crypto, on the
// server's (test-controlled) clock.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { connectDriver, failure, fetchDriver, grpcJsDriver, type Driver, type Json } from "../support/drivers.ts";
import { grpcTransport, startHarness, type Harness } from "../support/harness.ts";
import { decodeQrDataUrl, totp, wrongCode } from "../support/totp.ts";

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ EMAIL_VERIFICATION_REQUIRED: "false", TOTP_ISSUER: "Example Auth" });
});
afterAll(() => h.close());

const password = "a long enough passphrase";
const num = (v: unknown) => Number(v ?? 0);
/** Moves the server clock to the next 30-second step, so a fresh code exists. */
const nextStep = () => h.clock.advance(30_000);

interface Tokens {
  accessToken: string;
  refreshToken: string;
  sessionId: string;
}
type Account = Tokens & { userId: string };

const drivers: Array<[string, (url: string) => Driver]> = [
  ["connect-grpc", (url) => connectDriver("connect-grpc", grpcTransport(url), "2fa-test/grpc")],
  ["grpc-js", (url) => grpcJsDriver(url)],
  ["fetch-json", (url) => fetchDriver(url, "2fa-test/fetch")],
];

describe.each(drivers)("two-factor authentication over %s", (name, make) => {
  let d: Driver;
  const email = `two-factor-${name}@example.com`;
  let main: Account; // the session that manages 2FA throughout
  let secret: string; // the first device's secret
  let recoveryCodes: string[];
  let firstDeviceId: string;

  const status = async () => {
    const s = await d.call("TwoFactorService/GetStatus", {}, main.accessToken);
    return { enabled: s.enabled === true, devices: num(s.deviceCount), codes: num(s.recoveryCodesRemaining), enableTime: s.enableTime };
  };
  const login = (extra: Json = {}): Promise<Json> => d.call("AuthService/Login", { email, password, ...extra });
  const challenge = async (): Promise<string> => {
    const res = await login();
    expect(res.tokens ?? null).toBeNull();
    expect(res.secondFactor.challengeToken).toMatch(/^[A-Za-z0-9_-]{43}$/);
    return res.secondFactor.challengeToken;
  };
  const signedIn = (res: Json): Tokens => {
    expect(res.tokens.accessToken).toBeTruthy();
    return res.tokens;
  };
  const stillWorks = (t: Tokens) => d.call("AuthService/GetCurrentUser", {}, t.accessToken);

  beforeAll(async () => {
    d = make(h.url);
    const reg = await d.call("AuthService/Register", { email, password });
    main = { ...reg.tokens, userId: reg.user.id };
  });
  afterAll(() => d.close());
  // The tests move the clock by many minutes: start each with a fresh access token.
  beforeEach(async () => {
    const res = await d.call("AuthService/RefreshToken", { refreshToken: main.refreshToken });
    main = { ...res.tokens, userId: main.userId };
  });

  it("Setup returns a 160-bit secret, its otpauth URL, and a QR code that decodes to exactly that URL", async () => {
    expect(await status()).toMatchObject({ enabled: false, devices: 0, codes: 0 });
    const setup = await d.call("TwoFactorService/Setup", {}, main.accessToken);
    secret = setup.secret;
    expect(secret).toMatch(/^[A-Z2-7]{32}$/);
    expect(setup.existing ?? false).toBe(false);
    expect(setup.expireTime).toBeTruthy();
    const url = new URL(setup.otpauthUrl);
    expect(`${url.protocol}//${url.host}`).toBe("otpauth://totp");
    expect(decodeURIComponent(url.pathname)).toBe(`/Example Auth:${email}`);
    expect(Object.fromEntries(url.searchParams)).toEqual({
      issuer: "Example Auth",
      secret,
      algorithm: "SHA1",
      digits: "6",
      period: "30",
    });
    expect(setup.qrCodeDataUrl).toMatch(/^data:image\/png;base64,/);
    expect(decodeQrDataUrl(setup.qrCodeDataUrl)).toBe(setup.otpauthUrl);
    // Nothing is on until confirmed.
    expect(await status()).toMatchObject({ enabled: false, devices: 0 });
    expect(signedIn(await login()).accessToken).toBeTruthy();
  });

  it("Enable refuses a wrong code, then turns 2FA on with the right one, returns 10 recovery codes once, and revokes other sessions", async () => {
    const other = signedIn(await login());
    const wrong = await failure(d.call("TwoFactorService/Enable", { code: wrongCode(secret, h.clock.now()) }, main.accessToken));
    expect([wrong.code, wrong.reason]).toEqual(["unauthenticated", "INVALID_TWO_FACTOR_CODE"]);
    expect((await status()).enabled).toBe(false);

    const res = await d.call("TwoFactorService/Enable", { code: totp(secret, h.clock.now()), deviceName: "Phone" }, main.accessToken);
    recoveryCodes = res.recoveryCodes;
    firstDeviceId = res.device.id;
    expect(recoveryCodes).toHaveLength(10);
    expect(new Set(recoveryCodes).size).toBe(10);
    expect(res.device.name).toBe("Phone");
    expect(num(res.revokedSessionCount)).toBeGreaterThanOrEqual(2); // `other`, and the setup test's login
    const revoked = await failure(stillWorks(other));
    expect(revoked.reason).toBe("SESSION_REVOKED");
    await stillWorks(main);

    expect(await status()).toMatchObject({ enabled: true, devices: 1, codes: 10 });
    expect((await status()).enableTime).toBeTruthy();
    expect((await stillWorks(main)).user.twoFactorEnabled).toBe(true);
    // The confirming code is spent: enabling again (or signing in with it) is refused.
    const again = await failure(d.call("TwoFactorService/Enable", { code: totp(secret, h.clock.now()) }, main.accessToken));
    expect(again.reason).toBe("TWO_FACTOR_ALREADY_ENABLED");
    const reused = await failure(login({ loginCode: totp(secret, h.clock.now()) }));
    expect(reused.reason).toBe("INVALID_TWO_FACTOR_CODE");
  });

  it("Login then issues no tokens but a challenge, which CompleteLogin redeems once with a current code", async () => {
    nextStep();
    const res = await login({ rememberMe: true });
    expect(res.tokens ?? null).toBeNull();
    expect(res.user.email).toBe(email);
    expect(res.user.twoFactorEnabled).toBe(true);
    // Who is signing in, but not the profile: that waits for the second factor.
    expect(res.user.displayName || undefined).toBeUndefined();
    expect(res.user.createTime ?? undefined).toBeUndefined();
    const token = res.secondFactor.challengeToken;
    expect(res.secondFactor.expireTime).toBeTruthy();

    const wrong = await failure(d.call("AuthService/CompleteLogin", { challengeToken: token, code: wrongCode(secret, h.clock.now()) }));
    expect([wrong.code, wrong.reason]).toEqual(["unauthenticated", "INVALID_TWO_FACTOR_CODE"]);
    // A wrong code does not burn the challenge.
    const done = await d.call("AuthService/CompleteLogin", { challengeToken: token, code: totp(secret, h.clock.now()) });
    const tokens = signedIn(done);
    expect(done.user.email).toBe(email);
    await stillWorks(tokens);
    // The session remembers remember_me from the first step (a 30-day refresh token).
    const refreshLifetime = Date.parse(done.tokens.refreshTokenExpireTime ?? "") - h.clock.now().getTime();
    if (name !== "grpc-js") expect(Math.round(refreshLifetime / 86_400_000)).toBe(30);

    nextStep();
    const reused = await failure(d.call("AuthService/CompleteLogin", { challengeToken: token, code: totp(secret, h.clock.now()) }));
    expect([reused.code, reused.reason]).toEqual(["unauthenticated", "INVALID_CHALLENGE"]);
  });

  it("the challenge lives 5 minutes and is not an access token", async () => {
    const token = await challenge();
    const asBearer = await failure(d.call("AuthService/GetCurrentUser", {}, token));
    expect(asBearer.code).toBe("unauthenticated");
    h.clock.advance(5 * 60_000 + 1000);
    const expired = await failure(d.call("AuthService/CompleteLogin", { challengeToken: token, code: totp(secret, h.clock.now()) }));
    expect(expired.reason).toBe("INVALID_CHALLENGE");
  });

  it("Login with the password plus login_code signs in in one call; the same code a second time is refused (replay)", async () => {
    nextStep();
    const code = totp(secret, h.clock.now());
    signedIn(await login({ loginCode: code }));
    const replay = await failure(login({ loginCode: code }));
    expect([replay.code, replay.reason]).toEqual(["unauthenticated", "INVALID_TWO_FACTOR_CODE"]);
    // Also refused through the other completion style, still inside the code's window.
    const replay2 = await failure(d.call("AuthService/CompleteLogin", { challengeToken: await challenge(), code }));
    expect(replay2.reason).toBe("INVALID_TWO_FACTOR_CODE");
    // A wrong password with a right code is still a wrong password.
    nextStep();
    const badPassword = await failure(
      d.call("AuthService/Login", { email, password: "not the password", loginCode: totp(secret, h.clock.now()) }),
    );
    expect(badPassword.reason).toBe("INVALID_CREDENTIALS");
  });

  it("a recovery code works once, in either completion style, and never twice", async () => {
    const [first, second] = recoveryCodes as [string, string];
    signedIn(await d.call("AuthService/CompleteLogin", { challengeToken: await challenge(), recoveryCode: first }));
    const again = await failure(d.call("AuthService/CompleteLogin", { challengeToken: await challenge(), recoveryCode: first }));
    expect(again.reason).toBe("INVALID_TWO_FACTOR_CODE");
    // Case, dashes and spaces do not matter.
    signedIn(await login({ recoveryCode: ` ${second.toUpperCase().replace(/-/g, " ")} ` }));
    const again2 = await failure(login({ recoveryCode: second }));
    expect(again2.reason).toBe("INVALID_TWO_FACTOR_CODE");
    expect(await status()).toMatchObject({ enabled: true, codes: 8 });
  });

  it("5 wrong codes lock the second factor: the right code is refused with the time left, and works after 15 minutes", async () => {
    // Wrong codes count until a success forgives them: start from a success.
    nextStep();
    signedIn(await login({ loginCode: totp(secret, h.clock.now()) }));
    expect(await h.store.attempts.get(`2fa:${main.userId}`, h.clock.now())).toEqual({ failures: 0, lockedUntil: null });
    nextStep();
    const token = await challenge();
    const bad = wrongCode(secret, h.clock.now());
    for (let i = 0; i < 5; i++) {
      const f = await failure(d.call("AuthService/CompleteLogin", { challengeToken: token, code: bad }));
      expect(f.reason).toBe("INVALID_TWO_FACTOR_CODE");
    }
    const state = await h.store.attempts.get(`2fa:${main.userId}`, h.clock.now());
    expect(state).toEqual({ failures: 5, lockedUntil: new Date(h.clock.now().getTime() + 900_000) });
    const locked = await failure(d.call("AuthService/CompleteLogin", { challengeToken: token, code: totp(secret, h.clock.now()) }));
    expect([locked.code, locked.reason]).toEqual(["resource_exhausted", "TWO_FACTOR_LOCKED"]);
    expect(Number(locked.metadata.retry_after_seconds)).toBe(900);
    // Every path to the second factor is locked, recovery codes too.
    h.clock.advance(10 * 60_000);
    const viaLogin = await failure(login({ loginCode: totp(secret, h.clock.now()) }));
    expect(viaLogin.reason).toBe("TWO_FACTOR_LOCKED");
    expect(Number(viaLogin.metadata.retry_after_seconds)).toBe(300);
    const viaRecovery = await failure(login({ recoveryCode: recoveryCodes[2] }));
    expect(viaRecovery.reason).toBe("TWO_FACTOR_LOCKED");
    const viaVerify = await failure(d.call("TwoFactorService/Verify", { code: totp(secret, h.clock.now()) }, main.accessToken));
    expect(viaVerify.reason).toBe("TWO_FACTOR_LOCKED");

    h.clock.advance(5 * 60_000);
    const after = signedIn(await login({ loginCode: totp(secret, h.clock.now()) }));
    const s = await d.call("TwoFactorService/GetStatus", {}, after.accessToken);
    expect(num(s.recoveryCodesRemaining)).toBe(8); // the refused recovery code was not spent
  });

  it("Verify checks a code without changing the enrolment, and spends it", async () => {
    nextStep();
    const code = totp(secret, h.clock.now());
    const res = await d.call("TwoFactorService/Verify", { code }, main.accessToken);
    expect(res.deviceId).toBe(firstDeviceId);
    const replay = await failure(d.call("TwoFactorService/Verify", { code }, main.accessToken));
    expect(replay.reason).toBe("INVALID_TWO_FACTOR_CODE");
    expect(await status()).toMatchObject({ enabled: true, devices: 1, codes: 8 });
  });

  it("a second device: Setup for an additional device, AddDevice, either device signs in, RemoveDevice (never the last)", async () => {
    // An access token alone cannot start adding a device: that would hand the second factor to a token thief.
    const tokenOnly = await failure(d.call("TwoFactorService/Setup", { additionalDevice: true }, main.accessToken));
    expect([tokenOnly.code, tokenOnly.reason, tokenOnly.metadata.field]).toEqual(["invalid_argument", "INVALID_ARGUMENT", "password"]);
    const setup = await d.call("TwoFactorService/Setup", { additionalDevice: true, password }, main.accessToken);
    const secret2: string = setup.secret;
    expect(secret2).not.toBe(secret);
    expect(decodeQrDataUrl(setup.qrCodeDataUrl)).toBe(setup.otpauthUrl);
    // The pending secret signs nothing in until it is added.
    nextStep();
    const early = await failure(login({ loginCode: totp(secret2, h.clock.now()) }));
    expect(early.reason).toBe("INVALID_TWO_FACTOR_CODE");

    const added = await d.call(
      "TwoFactorService/AddDevice",
      { secret: secret2, code: totp(secret2, h.clock.now()), deviceName: "Tablet" },
      main.accessToken,
    );
    expect(added.device.name).toBe("Tablet");
    const list = await d.call("TwoFactorService/ListDevices", {}, main.accessToken);
    expect(list.devices.map((x: Json) => x.name)).toEqual(["Phone", "Tablet"]);
    expect(list.devices[0].lastUseTime).toBeTruthy();
    expect(await status()).toMatchObject({ devices: 2 });

    nextStep();
    const viaSecond = signedIn(await login({ loginCode: totp(secret2, h.clock.now()) }));
    signedIn(await login({ loginCode: totp(secret, h.clock.now()) }));

    // The main session signed in long ago (by the test clock): removing a device needs a fresh proof.
    const stale = await failure(d.call("TwoFactorService/RemoveDevice", { deviceId: added.device.id }, main.accessToken));
    expect([stale.code, stale.reason]).toEqual(["unauthenticated", "REAUTHENTICATION_REQUIRED"]);
    nextStep();
    const reauthentication = { password, code: totp(secret, h.clock.now()) };
    const removed = await d.call("TwoFactorService/RemoveDevice", { deviceId: added.device.id, reauthentication }, main.accessToken);
    expect(num(removed.revokedSessionCount)).toBeGreaterThanOrEqual(2);
    expect((await failure(stillWorks(viaSecond))).reason).toBe("SESSION_REVOKED");
    nextStep();
    const gone = await failure(login({ loginCode: totp(secret2, h.clock.now()) }));
    expect(gone.reason).toBe("INVALID_TWO_FACTOR_CODE");

    const last = await failure(d.call("TwoFactorService/RemoveDevice", { deviceId: firstDeviceId }, main.accessToken));
    expect([last.code, last.reason]).toEqual(["failed_precondition", "LAST_DEVICE"]);
    const unknown = await failure(d.call("TwoFactorService/RemoveDevice", { deviceId: added.device.id }, main.accessToken));
    expect([unknown.code, unknown.reason]).toEqual(["not_found", "NOT_FOUND"]);
    expect(await status()).toMatchObject({ devices: 1 });
  });

  it("Setup while enabled never replaces the authenticator: it needs the password and returns the existing enrolment", async () => {
    const noPassword = await failure(d.call("TwoFactorService/Setup", {}, main.accessToken));
    expect([noPassword.code, noPassword.reason]).toEqual(["invalid_argument", "INVALID_ARGUMENT"]);
    const wrongPassword = await failure(d.call("TwoFactorService/Setup", { password: "not it at all" }, main.accessToken));
    expect(wrongPassword.reason).toBe("INVALID_CREDENTIALS");
    const existing = await d.call("TwoFactorService/Setup", { password }, main.accessToken);
    expect(existing.existing).toBe(true);
    expect(existing.secret).toBe(secret);
    expect(decodeQrDataUrl(existing.qrCodeDataUrl)).toBe(existing.otpauthUrl);
    nextStep();
    signedIn(await login({ loginCode: totp(secret, h.clock.now()) }));
  });

  it("Reset needs the password; the old enrolment works until a code from the new secret confirms it, which replaces devices and recovery codes", async () => {
    const wrong = await failure(d.call("TwoFactorService/Reset", { password: "not it at all" }, main.accessToken));
    expect(wrong.reason).toBe("INVALID_CREDENTIALS");
    const reset = await d.call("TwoFactorService/Reset", { password }, main.accessToken);
    const secret3: string = reset.secret;
    expect(decodeQrDataUrl(reset.qrCodeDataUrl)).toBe(reset.otpauthUrl);
    nextStep();
    signedIn(await login({ loginCode: totp(secret, h.clock.now()) })); // still the old one

    const other = signedIn(await login({ recoveryCode: recoveryCodes[3] }));
    const confirmed = await d.call(
      "TwoFactorService/Enable",
      { code: totp(secret3, h.clock.now()), deviceName: "New phone" },
      main.accessToken,
    );
    expect(confirmed.recoveryCodes).toHaveLength(10);
    expect((await failure(stillWorks(other))).reason).toBe("SESSION_REVOKED");
    const devices = await d.call("TwoFactorService/ListDevices", {}, main.accessToken);
    expect(devices.devices.map((x: Json) => x.name)).toEqual(["New phone"]);

    nextStep();
    const old = await failure(login({ loginCode: totp(secret, h.clock.now()) }));
    expect(old.reason).toBe("INVALID_TWO_FACTOR_CODE");
    const oldRecovery = await failure(login({ recoveryCode: recoveryCodes[4] }));
    expect(oldRecovery.reason).toBe("INVALID_TWO_FACTOR_CODE");
    signedIn(await login({ loginCode: totp(secret3, h.clock.now()) }));
    secret = secret3;
    recoveryCodes = confirmed.recoveryCodes;
    firstDeviceId = confirmed.device.id;
    expect(await status()).toMatchObject({ enabled: true, devices: 1, codes: 10 });
  });

  it("RegenerateRecoveryCodes needs a current code; the old set stops working at once", async () => {
    const notARecoveryCode = await failure(
      d.call("TwoFactorService/RegenerateRecoveryCodes", { code: recoveryCodes[0] }, main.accessToken),
    );
    expect(notARecoveryCode.reason).toBe("INVALID_ARGUMENT");
    nextStep();
    const res = await d.call("TwoFactorService/RegenerateRecoveryCodes", { code: totp(secret, h.clock.now()) }, main.accessToken);
    expect(res.recoveryCodes).toHaveLength(10);
    expect(res.recoveryCodes.some((c: string) => recoveryCodes.includes(c))).toBe(false);
    const old = await failure(login({ recoveryCode: recoveryCodes[0] }));
    expect(old.reason).toBe("INVALID_TWO_FACTOR_CODE");
    recoveryCodes = res.recoveryCodes;
    signedIn(await login({ recoveryCode: recoveryCodes[0] }));
    expect(await status()).toMatchObject({ codes: 9 });
  });

  /** Sets 2FA up again from scratch (after a Disable), the way root-auth-totp.md's clients do: passing the secret back. */
  async function reEnable(): Promise<void> {
    // The session signed in long ago (by the test clock): enrolling again takes the password.
    const setup = await d.call("TwoFactorService/Setup", { password }, main.accessToken);
    nextStep();
    const notIssued = await failure(
      d.call(
        "TwoFactorService/Enable",
        { secret: "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", code: totp("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", h.clock.now()) },
        main.accessToken,
      ),
    );
    expect([notIssued.code, notIssued.reason, notIssued.metadata.field]).toEqual(["invalid_argument", "INVALID_ARGUMENT", "secret"]);
    const res = await d.call(
      "TwoFactorService/Enable",
      { secret: setup.secret, code: totp(setup.secret, h.clock.now()), deviceName: "iPhone 15" },
      main.accessToken,
    );
    secret = setup.secret;
    recoveryCodes = res.recoveryCodes;
    expect(await status()).toMatchObject({ enabled: true, devices: 1, codes: 10 });
  }

  async function expectDisabled(): Promise<void> {
    expect(await status()).toMatchObject({ enabled: false, devices: 0, codes: 0 });
    expect((await status()).enableTime ?? null).toBeNull();
    const res = await login();
    signedIn(res);
    expect(res.user.twoFactorEnabled ?? false).toBe(false);
  }

  it("Disable needs exactly one proof; with the password it turns 2FA off and revokes other sessions", async () => {
    const none = await failure(d.call("TwoFactorService/Disable", {}, main.accessToken));
    expect(none.reason).toBe("INVALID_ARGUMENT");
    const two = await failure(d.call("TwoFactorService/Disable", { password, recoveryCode: recoveryCodes[1] }, main.accessToken));
    expect(two.reason).toBe("INVALID_ARGUMENT");
    const wrong = await failure(d.call("TwoFactorService/Disable", { password: "not it at all" }, main.accessToken));
    expect(wrong.reason).toBe("INVALID_CREDENTIALS");
    expect((await status()).enabled).toBe(true);

    const other = signedIn(await login({ recoveryCode: recoveryCodes[1] }));
    const res = await d.call("TwoFactorService/Disable", { password }, main.accessToken);
    expect(num(res.revokedSessionCount)).toBeGreaterThanOrEqual(1);
    expect((await failure(stillWorks(other))).reason).toBe("SESSION_REVOKED");
    await expectDisabled();
    const notEnabled = await failure(d.call("TwoFactorService/Verify", { code: totp(secret, h.clock.now()) }, main.accessToken));
    expect([notEnabled.code, notEnabled.reason]).toEqual(["failed_precondition", "TWO_FACTOR_NOT_ENABLED"]);
  });

  it("Disable with a current code", async () => {
    await reEnable();
    nextStep();
    const wrong = await failure(d.call("TwoFactorService/Disable", { code: wrongCode(secret, h.clock.now()) }, main.accessToken));
    expect(wrong.reason).toBe("INVALID_TWO_FACTOR_CODE");
    await d.call("TwoFactorService/Disable", { code: totp(secret, h.clock.now()) }, main.accessToken);
    await expectDisabled();
  });

  it("Disable with a recovery code", async () => {
    await reEnable();
    await d.call("TwoFactorService/Disable", { recoveryCode: recoveryCodes[5] }, main.accessToken);
    await expectDisabled();
  });
});

describe("turning two-factor authentication on", () => {
  it("needs a recent sign-in or the password: an access token alone, from a session signed in long ago, is refused", async () => {
    const d = fetchDriver(h.url, "2fa-stale");
    const email = "stale-enrolment@example.com";
    const reg = await d.call("AuthService/Register", { email, password });
    h.clock.advance(601_000); // past REAUTH_MAX_AGE_SECONDS (600)
    const stale = await failure(d.call("TwoFactorService/Setup", {}, reg.tokens.accessToken));
    expect([stale.code, stale.reason]).toEqual(["unauthenticated", "REAUTHENTICATION_REQUIRED"]);
    const wrong = await failure(d.call("TwoFactorService/Setup", { password: "not the password at all" }, reg.tokens.accessToken));
    expect(wrong.reason).toBe("INVALID_CREDENTIALS");
    expect((await d.call("TwoFactorService/Setup", { password }, reg.tokens.accessToken)).secret).toBeTruthy();
    const fresh = await d.call("AuthService/Login", { email, password });
    expect((await d.call("TwoFactorService/Setup", {}, fresh.tokens.accessToken)).secret).toBeTruthy();
  });
});

describe("what two-factor authentication leaves in the log", () => {
  it("holds no TOTP secret, code, recovery code or challenge token", async () => {
    const d = fetchDriver(h.url, "2fa-log");
    const email = "log-check@example.com";
    const reg = await d.call("AuthService/Register", { email, password });
    const setup = await d.call("TwoFactorService/Setup", {}, reg.tokens.accessToken);
    const code = totp(setup.secret, h.clock.now());
    const enabled = await d.call("TwoFactorService/Enable", { code }, reg.tokens.accessToken);
    const login = await d.call("AuthService/Login", { email, password });
    await d.call("AuthService/CompleteLogin", {
      challengeToken: login.secondFactor.challengeToken,
      recoveryCode: enabled.recoveryCodes[0],
    });
    const log = JSON.stringify(h.logs);
    expect(log).toContain("two-factor authentication enabled"); // the events are logged...
    for (const secret of [setup.secret, login.secondFactor.challengeToken, ...enabled.recoveryCodes]) {
      expect(log).not.toContain(secret); // ...their secrets are not
    }
    // Six digits can occur inside a timestamp by chance: look for the code as a value of its own.
    expect(log).not.toMatch(new RegExp(`[":]${code}["},]`));
  });
});
