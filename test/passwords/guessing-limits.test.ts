// Password guessing is limited per account (LOGIN_MAX_FAILURES, default 10 per 15 minutes), in
// storage, atomically, and identically for unknown addresses. Second-factor guessing has its own
// counter (5 per 15 minutes), just as atomic; codes and challenges are spent exactly once however
// many requests race for them.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { failure, fetchDriver, grpcJsDriver, type Driver } from "../support/drivers.ts";
import { startHarness, type Harness } from "../support/harness.ts";
import { totp, wrongCode } from "../support/totp.ts";

const password = "correct horse battery staple";
let h: Harness;
let d: Driver;
beforeAll(async () => {
  h = await startHarness({ EMAIL_VERIFICATION_REQUIRED: "false" });
  d = fetchDriver(h.url, "limits");
});
afterAll(() => h.close());

describe("password guessing limits", () => {
  it("locks an account after 10 wrong passwords, refuses even the right one, and unlocks after 15 minutes", async () => {
    const email = "guessed@example.com";
    await d.call("AuthService/Register", { email, password });
    for (let i = 0; i < 10; i++) {
      const f = await failure(d.call("AuthService/Login", { email, password: `wrong guess ${i}` }));
      expect([f.code, f.reason]).toEqual(["unauthenticated", "INVALID_CREDENTIALS"]);
    }
    const locked = await failure(d.call("AuthService/Login", { email, password }));
    expect([locked.code, locked.reason]).toEqual(["resource_exhausted", "RATE_LIMITED"]);
    expect(Number(locked.metadata.retry_after_seconds)).toBe(900);

    h.clock.advance(15 * 60 * 1000);
    const ok = await d.call("AuthService/Login", { email, password });
    expect(ok.tokens.accessToken).toBeTruthy();
    // A success forgives earlier failures.
    await failure(d.call("AuthService/Login", { email, password: "one more wrong" }));
    expect(await h.store.attempts.get(`password:${email}`, h.clock.now())).toEqual({ failures: 1, lockedUntil: null });
  });

  it("treats an unknown address exactly like a known one", async () => {
    const email = "nobody-here@example.com";
    for (let i = 0; i < 10; i++) {
      const f = await failure(d.call("AuthService/Login", { email, password: `guess ${i}` }));
      expect(f.reason).toBe("INVALID_CREDENTIALS");
    }
    const locked = await failure(d.call("AuthService/Login", { email, password }));
    expect([locked.code, locked.reason]).toEqual(["resource_exhausted", "RATE_LIMITED"]);
  });

  it("20 parallel wrong guesses: exactly 10 are checked, the rest are refused", async () => {
    const email = "parallel@example.com";
    await d.call("AuthService/Register", { email, password });
    const g = grpcJsDriver(h.url);
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, (_, i) => g.call("AuthService/Login", { email, password: `parallel guess ${i}` })),
    );
    g.close();
    const reasons = results.map((r) => (r.status === "rejected" ? r.reason.reason : "ok"));
    expect(reasons.filter((r) => r === "INVALID_CREDENTIALS")).toHaveLength(10);
    expect(reasons.filter((r) => r === "RATE_LIMITED")).toHaveLength(10);
  });

  it("counts wrong current passwords in ChangePassword against the same limit", async () => {
    const email = "changer@example.com";
    await d.call("AuthService/Register", { email, password });
    const token = (await d.call("AuthService/Login", { email, password })).tokens.accessToken;
    for (let i = 0; i < 10; i++) {
      const f = await failure(
        d.call("AuthService/ChangePassword", { currentPassword: `nope ${i}`, newPassword: "a whole new passphrase" }, token),
      );
      expect(f.reason).toBe("INVALID_CREDENTIALS");
    }
    const locked = await failure(
      d.call("AuthService/ChangePassword", { currentPassword: password, newPassword: "a whole new passphrase" }, token),
    );
    expect(locked.reason).toBe("RATE_LIMITED");
    const before = (await h.store.users.findByEmail(email))!.passwordHash;
    expect(before).toBe((await h.store.users.findByEmail(email))!.passwordHash);
  });
});

describe("second-factor guessing limits", () => {
  /** A verified user with 2FA enabled; returns the TOTP secret, user id and recovery codes. */
  async function enrolled(email: string) {
    const reg = await d.call("AuthService/Register", { email, password });
    const token = reg.tokens.accessToken;
    const setup = await d.call("TwoFactorService/Setup", {}, token);
    const res = await d.call("TwoFactorService/Enable", { code: totp(setup.secret, h.clock.now()) }, token);
    h.clock.advance(30_000);
    return { secret: setup.secret as string, userId: reg.user.id as string, recoveryCodes: res.recoveryCodes as string[] };
  }
  const challengeFor = async (email: string) =>
    (await d.call("AuthService/Login", { email, password })).secondFactor.challengeToken as string;

  it("20 parallel wrong codes: exactly 5 are checked, 15 refused as locked, and the lock is the documented one", async () => {
    const email = "parallel-2fa@example.com";
    const { secret, userId } = await enrolled(email);
    const token = await challengeFor(email);
    const g = grpcJsDriver(h.url);
    const bad = wrongCode(secret, h.clock.now());
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, (_, i) =>
        // Half through CompleteLogin, half through Login with login_code: one counter for both.
        i % 2 === 0
          ? g.call("AuthService/CompleteLogin", { challengeToken: token, code: bad })
          : g.call("AuthService/Login", { email, password, loginCode: bad }),
      ),
    );
    g.close();
    const reasons = results.map((r) => (r.status === "rejected" ? r.reason.reason : "ok"));
    expect(reasons.filter((r) => r === "INVALID_TWO_FACTOR_CODE")).toHaveLength(5);
    expect(reasons.filter((r) => r === "TWO_FACTOR_LOCKED")).toHaveLength(15);
    expect(await h.store.attempts.get(`2fa:${userId}`, h.clock.now())).toEqual({
      failures: 5,
      lockedUntil: new Date(h.clock.now().getTime() + 15 * 60_000),
    });
    // The right code is refused while locked, and accepted once the lock has passed.
    const locked = await failure(d.call("AuthService/CompleteLogin", { challengeToken: token, code: totp(secret, h.clock.now()) }));
    expect(locked.reason).toBe("TWO_FACTOR_LOCKED");
    h.clock.advance(15 * 60_000);
    const ok = await d.call("AuthService/Login", { email, password, loginCode: totp(secret, h.clock.now()) });
    expect(ok.tokens.accessToken).toBeTruthy();
  });

  it("the same valid code sent 10 times at once signs in exactly once", async () => {
    const email = "replay-race@example.com";
    const { secret } = await enrolled(email);
    const code = totp(secret, h.clock.now());
    const results = await Promise.allSettled(
      Array.from({ length: 10 }, () => d.call("AuthService/Login", { email, password, loginCode: code })),
    );
    const reasons = results.map((r) => (r.status === "rejected" ? r.reason.reason : "ok"));
    expect(reasons.filter((r) => r === "ok")).toHaveLength(1);
    // The replays are refused without counting as wrong guesses (test/two-factor/replay.test.ts).
    expect(reasons.filter((r) => r !== "ok")).toEqual(Array(9).fill("INVALID_TWO_FACTOR_CODE"));
  });

  it("the same recovery code sent 10 times at once works exactly once", async () => {
    const email = "recovery-race@example.com";
    const { recoveryCodes } = await enrolled(email);
    const results = await Promise.allSettled(
      Array.from({ length: 10 }, () => d.call("AuthService/Login", { email, password, recoveryCode: recoveryCodes[0] })),
    );
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
  });

  it("a challenge completed 5 times at once with valid proofs opens exactly one session", async () => {
    const email = "challenge-race@example.com";
    const { recoveryCodes } = await enrolled(email);
    const token = await challengeFor(email);
    const results = await Promise.allSettled(
      recoveryCodes.slice(0, 5).map((recoveryCode) => d.call("AuthService/CompleteLogin", { challengeToken: token, recoveryCode })),
    );
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
  });

  it("wrong passwords never count against the second factor, nor wrong codes against the password", async () => {
    const email = "separate-counters@example.com";
    const { secret, userId } = await enrolled(email);
    for (let i = 0; i < 10; i++) await failure(d.call("AuthService/Login", { email, password: `wrong ${i}` }));
    expect(await h.store.attempts.get(`2fa:${userId}`, h.clock.now())).toEqual({ failures: 0, lockedUntil: null });
    h.clock.advance(15 * 60_000);
    const token = await challengeFor(email);
    for (let i = 0; i < 4; i++)
      await failure(d.call("AuthService/CompleteLogin", { challengeToken: token, code: wrongCode(secret, h.clock.now()) }));
    expect(await h.store.attempts.get(`password:${email}`, h.clock.now())).toEqual({ failures: 0, lockedUntil: null });
    const ok = await d.call("AuthService/CompleteLogin", { challengeToken: token, code: totp(secret, h.clock.now()) });
    expect(ok.tokens.accessToken).toBeTruthy();
  });
});
