// A server too busy to hash (ARGON2_MAX_WAITING calls already waiting for ARGON2_MAX_CONCURRENT
// places) refuses more sign-ins at once as RATE_LIMITED, and a refused sign-in was no guess: it
// counts against neither the account nor the client, so a flood of others' calls can never lock
// an owner out. The production hasher, one hash at a time, one waiting.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { failure, fetchDriver, grpcJsDriver, type Driver } from "../support/drivers.ts";
import { startHarness, type Harness } from "../support/harness.ts";

const password = "correct horse battery staple";
let h: Harness;
let d: Driver;
beforeAll(async () => {
  h = await startHarness({ EMAIL_VERIFICATION_REQUIRED: "false", ARGON2_MAX_CONCURRENT: "1", ARGON2_MAX_WAITING: "1" }, undefined, {
    realHasher: true,
  });
  d = fetchDriver(h.url, "busy");
});
afterAll(() => h.close());

describe("a full hashing queue", () => {
  it("refuses the sign-ins over it as RATE_LIMITED, and counts none of them as a guess", async () => {
    const email = "busy@example.com";
    await d.call("AuthService/Register", { email, password });
    const g = grpcJsDriver(h.url);
    const results = await Promise.allSettled(
      Array.from({ length: 8 }, (_, i) => g.call("AuthService/Login", { email, password: `wrong guess ${i}` })),
    );
    g.close();
    const reasons = results.map((r) => (r.status === "rejected" ? r.reason.reason : "ok"));
    const checked = reasons.filter((r) => r === "INVALID_CREDENTIALS").length;
    // One hashing, one waiting: at least those two were checked; the rest found the queue full.
    expect(checked).toBeGreaterThanOrEqual(2);
    expect(reasons.filter((r) => r === "RATE_LIMITED")).toHaveLength(8 - checked);
    const busy = results.find((r) => r.status === "rejected" && r.reason.reason === "RATE_LIMITED") as PromiseRejectedResult;
    expect(busy.reason.message).toMatch(/busy/);
    // Only the guesses checked count: the account's counter holds them and no more.
    expect(await h.store.attempts.get(`password:${email}`, h.clock.now())).toEqual({ failures: checked, lockedUntil: null });
    // And the owner, one call at a time, signs in.
    expect((await d.call("AuthService/Login", { email, password })).tokens.accessToken).toBeTruthy();
    expect((await failure(d.call("AuthService/Login", { email, password: "one more wrong" }))).reason).toBe("INVALID_CREDENTIALS");
  });
});
