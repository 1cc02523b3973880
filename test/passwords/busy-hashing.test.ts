// A server too busy to hash (ARGON2_MAX_WAITING calls already waiting for ARGON2_MAX_CONCURRENT
// places) refuses more sign-ins at once as RATE_LIMITED, and a refused sign-in was no guess: it
// counts against neither the account nor the client, so a flood of others' calls can never lock
// an owner out. The production hasher, one hash at a time, one waiting.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { failure, fetchDriver, grpcJsDriver, type Driver } from "../support/drivers.ts";
import { startHarness, type Harness } from "../support/harness.ts";
import { createCheapHasher } from "../support/cheap-hasher.ts";
import { outcome, startService } from "../support/service.ts";
import { HashingBusyError, type PasswordHasher } from "../../src/passwords/hasher.ts";

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

describe("a reset that finds the hashing queue full", () => {
  it("changes nothing and keeps the code: the owner retries it once the server is free", async () => {
    const cheap = await createCheapHasher();
    let busy = false;
    const hasher: PasswordHasher = {
      ...cheap,
      hash: (p) => (busy ? Promise.reject(new HashingBusyError()) : cheap.hash(p)),
    };
    const s = await startService({ EMAIL_VERIFICATION_REQUIRED: "false" }, undefined, undefined, hasher);
    try {
      const email = "busy-reset@example.com";
      await s.ops.accounts.register({ email, password, displayName: "" }, s.client);
      await s.ops.accounts.requestPasswordReset(email, s.client);
      await s.service.background.drain();
      const code = s.outbox.latest(email, "password_reset")?.code ?? "";
      const before = await s.store.users.findByEmail(email);

      busy = true;
      expect(await outcome(s.ops.accounts.resetPassword(code, "a brand new long passphrase", s.client))).toBe("RATE_LIMITED");
      // Nothing happened: the password, the sessions' generation and the code are as they were.
      expect(await s.store.users.findByEmail(email)).toEqual(before);

      busy = false;
      expect(await outcome(s.ops.accounts.resetPassword(code, "a brand new long passphrase", s.client))).toBe("OK");
      const login = await s.ops.signIn.login({ email, password: "a brand new long passphrase", rememberMe: false }, s.client);
      expect(login.state).toBe("signed_in");
    } finally {
      await s.close();
    }
  });
});

describe("one client's share of the hashing queue (ARGON2_MAX_PER_CLIENT)", () => {
  it("a client with the right password cannot fill the queue: its checks over the share are refused as busy, others' are not", async () => {
    const cheap = await createCheapHasher();
    // Verifications wait until the test lets them go: the checks stay under way meanwhile.
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    let holding = false;
    const hasher: PasswordHasher = {
      ...cheap,
      verify: async (h, p) => (holding ? held.then(() => cheap.verify(h, p)) : cheap.verify(h, p)),
    };
    const s = await startService({ EMAIL_VERIFICATION_REQUIRED: "false", ARGON2_MAX_PER_CLIENT: "2" }, undefined, undefined, hasher);
    try {
      const email = "share@example.com";
      await s.ops.accounts.register({ email, password, displayName: "" }, s.client);
      const signIn = (ipAddress: string) => s.ops.signIn.login({ email, password, rememberMe: false }, { ...s.client, ipAddress });
      holding = true;
      const flooder = "2001:db8:1:2::7";
      const first = [signIn(flooder), signIn("2001:db8:1:2::8")]; // one /64: one client
      await new Promise((resolve) => setTimeout(resolve, 20));
      // Over the share: refused at once, nothing counted for the client.
      expect(await outcome(signIn("2001:db8:1:2::9"))).toBe("RATE_LIMITED");
      expect(await s.store.attempts.get("password-address:2001:db8:1:2::/64", s.clock.now())).toEqual({ failures: 2, lockedUntil: null });
      // Another client is not refused.
      const other = signIn("198.51.100.20");
      holding = false;
      release();
      for (const result of await Promise.all([...first, other])) expect(result.state).toBe("signed_in");
      // Its share is back once its checks are done.
      expect((await signIn(flooder)).state).toBe("signed_in");
    } finally {
      await s.close();
    }
  });
});

describe("one client's share, signed in", () => {
  it("a client cannot multiply its share by holding several sessions of one account", async () => {
    const cheap = await createCheapHasher();
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    let holding = false;
    let underWay = 0;
    const hasher: PasswordHasher = {
      ...cheap,
      verify: async (h, p) => {
        if (!holding) return cheap.verify(h, p);
        underWay++;
        return held.then(() => cheap.verify(h, p));
      },
    };
    const s = await startService({ EMAIL_VERIFICATION_REQUIRED: "false", ARGON2_MAX_PER_CLIENT: "2" }, undefined, undefined, hasher);
    try {
      const email = "sessions-share@example.com";
      await s.ops.accounts.register({ email, password, displayName: "" }, s.client);
      // One client network signs in four times: four sessions of one account.
      const callers = [];
      for (let i = 0; i < 4; i++) {
        const signedIn = await s.ops.signIn.login({ email, password, rememberMe: false }, s.client);
        if (signedIn.state !== "signed_in") throw new Error("expected a session");
        callers.push(await s.ops.sessions.authenticate({ bearer: signedIn.tokens.accessToken }));
      }
      holding = true;
      // The right password and a new one the policy refuses: a check that changes nothing, at will.
      const calls = callers.flatMap((caller) =>
        [0, 1].map(() => outcome(s.ops.accounts.changePassword(caller, password, "short", s.client))),
      );
      await new Promise((resolve) => setTimeout(resolve, 50));
      // At most its share of checks under way at once, however many sessions it holds.
      expect(underWay).toBeLessThanOrEqual(2);
      holding = false;
      release();
      await Promise.all(calls);
    } finally {
      await s.close();
    }
  });
});
