// Password guessing is limited per account (LOGIN_MAX_FAILURES, default 10 per 15 minutes), in
// storage, atomically, and identically for unknown addresses.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { failure, fetchDriver, grpcJsDriver, type Driver } from "../support/drivers.ts";
import { startHarness, type Harness } from "../support/harness.ts";

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
