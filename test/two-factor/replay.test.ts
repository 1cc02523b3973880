// Issue 10, item 11: a TOTP code that was just accepted, presented again (a double-submitted
// form, a retried request, the losers of a race on one valid code), is refused without counting
// as a wrong guess, so it can never lock the owner's second factor. Wrong codes still count, and
// a lock still refuses every code. The same holds for a recovery code of the current set; one of
// a set that was replaced is a wrong guess like any other.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { failure, fetchDriver, grpcJsDriver, type Driver } from "../support/drivers.ts";
import { startHarness, type Harness } from "../support/harness.ts";
import { totp, wrongCode } from "../support/totp.ts";

const password = "correct horse battery staple";
let h: Harness;
let d: Driver;
beforeAll(async () => {
  h = await startHarness({ EMAIL_VERIFICATION_REQUIRED: "false" });
  d = fetchDriver(h.url, "replay");
});
afterAll(() => h.close());

/** A user with 2FA on; the clock is moved past the step Enable spent. */
async function enrolled(email: string) {
  const reg = await d.call("AuthService/Register", { email, password });
  const token = reg.tokens.accessToken;
  const setup = await d.call("TwoFactorService/Setup", {}, token);
  const enabled = await d.call("TwoFactorService/Enable", { code: totp(setup.secret, h.clock.now()) }, token);
  h.clock.advance(30_000);
  return { secret: setup.secret as string, key: `2fa:${reg.user.id as string}`, recoveryCodes: enabled.recoveryCodes as string[], token };
}

const reasons = (results: PromiseSettledResult<unknown>[]) =>
  results.map((r) => (r.status === "rejected" ? (r.reason as { reason: string }).reason : "ok"));

describe("a replayed TOTP code", () => {
  it("10 concurrent CompleteLogin with one valid code: one signs in, nine are refused, none counts or locks", async () => {
    const email = "race-one-code@example.com";
    const { secret, key } = await enrolled(email);
    const challenge = (await d.call("AuthService/Login", { email, password })).secondFactor.challengeToken;
    // Three wrong codes first: with the losers counted, the fifth failure would lock the account.
    for (let i = 0; i < 3; i++) {
      const f = await failure(d.call("AuthService/CompleteLogin", { challengeToken: challenge, code: wrongCode(secret, h.clock.now()) }));
      expect(f.reason).toBe("INVALID_TWO_FACTOR_CODE");
    }
    expect((await h.store.attempts.get(key, h.clock.now())).failures).toBe(3);

    const code = totp(secret, h.clock.now());
    const g = grpcJsDriver(h.url);
    const results = await Promise.allSettled(
      Array.from({ length: 10 }, () => g.call("AuthService/CompleteLogin", { challengeToken: challenge, code })),
    );
    g.close();
    const got = reasons(results);
    expect(got.filter((r) => r === "ok")).toHaveLength(1);
    // A loser that raced the winner on the code is refused as a spent code; one that arrives after
    // the winner has used up the challenge finds no challenge. Which of the two each gets depends
    // on how the server interleaves the calls; either way none counts.
    for (const r of got.filter((r) => r !== "ok")) expect(["INVALID_TWO_FACTOR_CODE", "INVALID_CHALLENGE"]).toContain(r);
    expect(got.filter((r) => r !== "ok")).toHaveLength(9);
    // The success forgave the three wrong codes; the nine replays added nothing and locked nothing.
    expect(await h.store.attempts.get(key, h.clock.now())).toEqual({ failures: 0, lockedUntil: null });
  });

  it("replays of a code already accepted leave the wrong-code count as it was", async () => {
    const email = "replayed-later@example.com";
    const { secret, key } = await enrolled(email);
    const code = totp(secret, h.clock.now());
    expect((await d.call("AuthService/Login", { email, password, loginCode: code })).tokens.accessToken).toBeTruthy();
    for (let i = 0; i < 2; i++) {
      await failure(d.call("AuthService/Login", { email, password, loginCode: wrongCode(secret, h.clock.now()) }));
    }
    // Ten replays of the accepted code, one after another and then at once: far past the limit of 5.
    for (let i = 0; i < 10; i++) {
      const f = await failure(d.call("AuthService/Login", { email, password, loginCode: code }));
      expect([f.code, f.reason]).toEqual(["unauthenticated", "INVALID_TWO_FACTOR_CODE"]);
    }
    const raced = await Promise.allSettled(
      Array.from({ length: 10 }, () => d.call("AuthService/Login", { email, password, loginCode: code })),
    );
    expect(reasons(raced)).toEqual(Array(10).fill("INVALID_TWO_FACTOR_CODE"));
    expect(await h.store.attempts.get(key, h.clock.now())).toEqual({ failures: 2, lockedUntil: null });
    // The code of the next step is fresh and signs in.
    h.clock.advance(30_000);
    expect(
      (await d.call("AuthService/Login", { email, password, loginCode: totp(secret, h.clock.now()) })).tokens.accessToken,
    ).toBeTruthy();
  });

  it("wrong codes still count and lock; while locked a replay, like any code, gets TWO_FACTOR_LOCKED", async () => {
    const email = "replay-locked@example.com";
    const { secret, key } = await enrolled(email);
    const code = totp(secret, h.clock.now());
    await d.call("AuthService/Login", { email, password, loginCode: code });
    for (let i = 0; i < 5; i++) {
      const f = await failure(d.call("AuthService/Login", { email, password, loginCode: wrongCode(secret, h.clock.now()) }));
      expect(f.reason).toBe("INVALID_TWO_FACTOR_CODE");
    }
    const replay = await failure(d.call("AuthService/Login", { email, password, loginCode: code }));
    expect([replay.code, replay.reason]).toEqual(["resource_exhausted", "TWO_FACTOR_LOCKED"]);
    const fresh = await failure(d.call("AuthService/Login", { email, password, loginCode: totp(secret, h.clock.now(), 1) }));
    expect(fresh.reason).toBe("TWO_FACTOR_LOCKED");
    expect((await h.store.attempts.get(key, h.clock.now())).failures).toBe(5);
  });
});

describe("a replayed recovery code", () => {
  it("given again, one after another and at once, it is refused and leaves the wrong-code count as it was", async () => {
    const email = "recovery-replayed@example.com";
    const { secret, key, recoveryCodes } = await enrolled(email);
    const [used] = recoveryCodes as [string];
    expect((await d.call("AuthService/Login", { email, password, recoveryCode: used })).tokens.accessToken).toBeTruthy();
    for (let i = 0; i < 2; i++) {
      await failure(d.call("AuthService/Login", { email, password, loginCode: wrongCode(secret, h.clock.now()) }));
    }
    // Spelled as typed or as printed, far past the limit of 5.
    for (const spelling of [used, used.toUpperCase(), used.replace(/-/g, " ")]) {
      for (let i = 0; i < 3; i++) {
        const f = await failure(d.call("AuthService/Login", { email, password, recoveryCode: spelling }));
        expect([f.code, f.reason]).toEqual(["unauthenticated", "INVALID_TWO_FACTOR_CODE"]);
      }
    }
    const raced = await Promise.allSettled(
      Array.from({ length: 10 }, () => d.call("AuthService/Login", { email, password, recoveryCode: used })),
    );
    expect(reasons(raced)).toEqual(Array(10).fill("INVALID_TWO_FACTOR_CODE"));
    expect(await h.store.attempts.get(key, h.clock.now())).toEqual({ failures: 2, lockedUntil: null });
    // A made-up code still counts.
    await failure(d.call("AuthService/Login", { email, password, recoveryCode: "aaaa-bbbb-cccc" }));
    expect((await h.store.attempts.get(key, h.clock.now())).failures).toBe(3);
  });

  it("10 concurrent sign-ins with one unused recovery code: one signs in, none of the others counts", async () => {
    const email = "recovery-raced@example.com";
    const { key, recoveryCodes } = await enrolled(email);
    const code = recoveryCodes[1] as string;
    const g = grpcJsDriver(h.url);
    const results = await Promise.allSettled(
      Array.from({ length: 10 }, () => g.call("AuthService/Login", { email, password, recoveryCode: code })),
    );
    g.close();
    const got = reasons(results);
    expect(got.filter((r) => r === "ok")).toHaveLength(1);
    expect(got.filter((r) => r !== "ok")).toEqual(Array(9).fill("INVALID_TWO_FACTOR_CODE"));
    expect(await h.store.attempts.get(key, h.clock.now())).toEqual({ failures: 0, lockedUntil: null });
  });

  it("a code of a set that was regenerated away counts as a wrong guess", async () => {
    const email = "recovery-regenerated@example.com";
    const { secret, key, recoveryCodes, token } = await enrolled(email);
    const [used, unused] = recoveryCodes as [string, string];
    await d.call("AuthService/Login", { email, password, recoveryCode: used });
    await d.call("TwoFactorService/RegenerateRecoveryCodes", { code: totp(secret, h.clock.now()) }, token);
    for (const old of [used, unused]) {
      const f = await failure(d.call("AuthService/Login", { email, password, recoveryCode: old }));
      expect(f.reason).toBe("INVALID_TWO_FACTOR_CODE");
    }
    expect((await h.store.attempts.get(key, h.clock.now())).failures).toBe(2);
  });
});
