// Wrong TOTP codes in a row, across locks (NIST SP 800-63B 5.2.2: at most 100 consecutive failures
// per account). The per-window lock alone lifts after TWO_FACTOR_LOCK_SECONDS, so someone holding
// the password could go on guessing at its pace for ever (480 a day at the defaults). After
// TWO_FACTOR_MAX_CONSECUTIVE_FAILURES in a row, TOTP codes are refused; recovery codes (beyond
// guessing) still prove the second factor, so the owner is never locked out, and a right one lifts
// it. The owner is mailed when wrong codes set a lock after the first step of signing in (ASVS 5.0
// 6.3.5: partially successful authentication). Configured small so that the test is quick.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { failure, fetchDriver, type Driver } from "../support/drivers.ts";
import { startHarness, type Harness } from "../support/harness.ts";
import { totp, wrongCode } from "../support/totp.ts";

const password = "correct horse battery staple";
const perWindow = 5;
const inARow = 10;
const lockSeconds = 60;
let h: Harness;
let d: Driver;
beforeAll(async () => {
  h = await startHarness({
    EMAIL_VERIFICATION_REQUIRED: "false",
    TWO_FACTOR_MAX_FAILURES: String(perWindow),
    TWO_FACTOR_LOCK_SECONDS: String(lockSeconds),
    TWO_FACTOR_MAX_CONSECUTIVE_FAILURES: String(inARow),
  });
  d = fetchDriver(h.url, "in-a-row");
});
afterAll(async () => {
  d.close();
  await h.close();
});

/** A user with 2FA on; the clock is moved past the step Enable spent. */
async function enrolled(email: string) {
  const reg = await d.call("AuthService/Register", { email, password });
  const token = reg.tokens.accessToken;
  // A proven address: a reset of a never-proven one drops a second factor its maker may have added.
  await d.call("AuthService/ResendVerificationEmail", { email });
  await d.call("AuthService/VerifyEmail", { code: (await h.mail(email, "email_verification")).code });
  const setup = await d.call("TwoFactorService/Setup", {}, token);
  const enabled = await d.call("TwoFactorService/Enable", { code: totp(setup.secret, h.clock.now()) }, token);
  h.clock.advance(30_000);
  return { userId: reg.user.id as string, secret: setup.secret as string, recoveryCodes: enabled.recoveryCodes as string[], token };
}

const signIn = (email: string, proof: { loginCode?: string; recoveryCode?: string }) =>
  d.call("AuthService/Login", { email, password, ...proof });

/** Wrong codes at sign-in, a window's worth at a time, the lock waited out between: `count` in all. */
async function guess(email: string, secret: string, count: number) {
  for (let i = 0; i < count; i++) {
    if (i > 0 && i % perWindow === 0) h.clock.advance(lockSeconds * 1000 + 1000);
    const f = await failure(signIn(email, { loginCode: wrongCode(secret, h.clock.now()) }));
    expect(f.reason).toBe("INVALID_TWO_FACTOR_CODE");
  }
  h.clock.advance(lockSeconds * 1000 + 1000);
}

const guessedMails = (email: string) =>
  h.outbox.all(email, "security_notification").filter((m) => m.notification === "second_factor_guessed");
const settle = () => new Promise((resolve) => setTimeout(resolve, 50));

describe("wrong TOTP codes in a row", () => {
  it("at the limit, across locks, even the right code is refused; a recovery code still signs in and lifts it", async () => {
    const email = "in-a-row@example.com";
    const { secret, recoveryCodes } = await enrolled(email);
    await guess(email, secret, inARow);
    // The window's lock has lifted; the count in a row has not.
    const refused = await failure(signIn(email, { loginCode: totp(secret, h.clock.now()) }));
    expect([refused.code, refused.reason]).toEqual(["resource_exhausted", "TWO_FACTOR_LOCKED"]);
    expect(refused.message).toMatch(/recovery code/);
    // It holds for 30 days.
    h.clock.advance(29 * 24 * 3600 * 1000);
    expect((await failure(signIn(email, { loginCode: totp(secret, h.clock.now()) }))).reason).toBe("TWO_FACTOR_LOCKED");
    // The owner is not locked out: a recovery code signs in, and lifts the count.
    const inWith = await signIn(email, { recoveryCode: recoveryCodes[0] });
    expect(inWith.tokens.accessToken).toBeTruthy();
    h.clock.advance(30_000);
    expect((await signIn(email, { loginCode: totp(secret, h.clock.now()) })).tokens.accessToken).toBeTruthy();
  });

  it("a right code before the limit starts the count again", async () => {
    const email = "counted-again@example.com";
    const { secret } = await enrolled(email);
    await guess(email, secret, inARow - 1);
    expect((await signIn(email, { loginCode: totp(secret, h.clock.now()) })).tokens.accessToken).toBeTruthy();
    h.clock.advance(30_000);
    await guess(email, secret, inARow - 1);
    h.clock.advance(30_000);
    expect((await signIn(email, { loginCode: totp(secret, h.clock.now()) })).tokens.accessToken).toBeTruthy();
  });

  it("a password reset does not lift it: the mailbox does not prove the second factor", async () => {
    const email = "reset-keeps@example.com";
    const { userId, secret } = await enrolled(email);
    await guess(email, secret, inARow);
    await d.call("AuthService/RequestPasswordReset", { email });
    const mail = await h.mail(email, "password_reset");
    await d.call("AuthService/ResetPassword", { code: mail.code, newPassword: password });
    expect((await failure(signIn(email, { loginCode: totp(secret, h.clock.now()) }))).reason).toBe("TWO_FACTOR_LOCKED");
    expect((await h.store.attempts.get(`2fa-in-a-row:${userId}`, h.clock.now())).failures).toBe(inARow);
  });

  it("a new authenticator the owner confirms (a Reset) is not refused for the old one's wrong codes", async () => {
    const email = "replaced@example.com";
    const { secret, token } = await enrolled(email);
    await guess(email, secret, inARow);
    // The owner, told of the guessing, replaces the authenticator from a session it holds.
    const reset = await d.call("TwoFactorService/Reset", { password }, token);
    await d.call("TwoFactorService/Enable", { code: totp(reset.secret, h.clock.now()) }, token);
    h.clock.advance(30_000);
    // A code of the new secret, which Enable has just seen proven, signs in.
    expect((await signIn(email, { loginCode: totp(reset.secret, h.clock.now()) })).tokens.accessToken).toBeTruthy();
  });

  it("recovery codes, beyond guessing, do not count in a row", async () => {
    const email = "recovery-guesses@example.com";
    const { userId, secret } = await enrolled(email);
    for (let i = 0; i < inARow + 2; i++) {
      if (i > 0 && i % perWindow === 0) h.clock.advance(lockSeconds * 1000 + 1000);
      const f = await failure(signIn(email, { recoveryCode: "aaaa-bbbb-cccc" }));
      expect(f.reason).toBe("INVALID_TWO_FACTOR_CODE");
    }
    h.clock.advance(lockSeconds * 1000 + 1000);
    expect((await h.store.attempts.get(`2fa-in-a-row:${userId}`, h.clock.now())).failures).toBe(0);
    expect((await signIn(email, { loginCode: totp(secret, h.clock.now()) })).tokens.accessToken).toBeTruthy();
  });
});

describe("the owner is told", () => {
  it("when wrong codes after the password set a lock, once per lock, naming the client", async () => {
    const email = "told@example.com";
    const { secret } = await enrolled(email);
    for (let i = 0; i < perWindow - 1; i++) await failure(signIn(email, { loginCode: wrongCode(secret, h.clock.now()) }));
    await settle();
    expect(guessedMails(email)).toHaveLength(0);
    await failure(signIn(email, { loginCode: wrongCode(secret, h.clock.now()) }));
    await settle();
    const mails = guessedMails(email);
    expect(mails).toHaveLength(1);
    expect(mails[0]?.text).toMatch(/wrong two-factor codes/);
    expect(mails[0]?.text).toContain("in-a-row");
    // Refusals while the lock holds mail nothing more.
    await failure(signIn(email, { loginCode: wrongCode(secret, h.clock.now()) }));
    await settle();
    expect(guessedMails(email)).toHaveLength(1);
  });
});

describe("TOTP_SETUP_MAX_PER_HOUR", () => {
  it("an account's Setups (each draws a QR code) are budgeted per hour; one over is RATE_LIMITED and stores nothing", async () => {
    const few = await startHarness({ EMAIL_VERIFICATION_REQUIRED: "false", TOTP_SETUP_MAX_PER_HOUR: "3" });
    const f = fetchDriver(few.url, "setup-budget");
    try {
      const reg = await f.call("AuthService/Register", { email: "setups@example.com", password });
      const token = reg.tokens.accessToken;
      const secrets: string[] = [];
      for (let i = 0; i < 3; i++) secrets.push((await f.call("TwoFactorService/Setup", {}, token)).secret);
      const refused = await failure(f.call("TwoFactorService/Setup", {}, token));
      expect([refused.code, refused.reason]).toEqual(["resource_exhausted", "RATE_LIMITED"]);
      // The last secret handed out is still the one to confirm.
      const last = secrets[2] as string;
      expect((await f.call("TwoFactorService/Enable", { code: totp(last, few.clock.now()) }, token)).recoveryCodes).toHaveLength(10);
      // Another account has its own budget, whole; spent, it is whole again an hour later.
      const other = await f.call("AuthService/Register", { email: "other-setups@example.com", password });
      for (let i = 0; i < 3; i++) expect((await f.call("TwoFactorService/Setup", {}, other.tokens.accessToken)).secret).toBeTruthy();
      expect((await failure(f.call("TwoFactorService/Setup", {}, other.tokens.accessToken))).reason).toBe("RATE_LIMITED");
      few.clock.advance(3_600_000 + 1000);
      const again = await f.call("AuthService/Login", { email: "other-setups@example.com", password });
      expect((await f.call("TwoFactorService/Setup", {}, again.tokens.accessToken)).secret).toBeTruthy();
    } finally {
      f.close();
      await few.close();
    }
  });
});
