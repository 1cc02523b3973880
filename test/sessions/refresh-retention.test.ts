// Refresh churn must not grow the embedded store (issue 10, item 3): a spent refresh token is kept
// only for the reuse-detection window, and everything that expires actually leaves the store when
// the service's clock says so. A test clock moves time; the sweep runs on that same clock.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createMemoryStore, type MemoryStore } from "../../src/store/memory.ts";
import { TestClock } from "../support/harness.ts";
import { startService, type InProcess } from "../support/service.ts";

const password = "correct horse battery staple";
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

let clock: TestClock;
let store: MemoryStore;
let s: InProcess;
beforeEach(async () => {
  clock = new TestClock();
  store = createMemoryStore({ clock });
  s = await startService({ EMAIL_VERIFICATION_REQUIRED: "false", REFRESH_REUSE_DETECTION_SECONDS: "3600" }, store, clock);
});
afterEach(() => s.close());

describe("refresh churn leaves nothing behind", () => {
  it("spent refresh tokens leave the store once the reuse-detection window has passed", async () => {
    const { tokens } = await s.ops.accounts.register({ email: "churn@example.com", password, displayName: "" }, s.client);
    const first = tokens!.refreshToken;
    let current = first;
    for (let i = 0; i < 50; i++) {
      clock.advance(60_000); // past the grace window: each refresh is an ordinary rotation
      current = (await s.ops.sessions.refresh(current)).refreshToken;
    }
    // 50 spent and 1 current, all inside the window (the last spend was just now).
    store.sweep();
    expect(store.recordCounts()).toMatchObject({ users: 1, sessions: 1, refreshTokens: 51 });

    clock.advance(HOUR);
    // Not yet swept: reads already treat nothing differently, and the records are still held.
    expect(store.recordCounts().refreshTokens).toBe(51);
    store.sweep();
    // Only the current token is left, however long the session lives on.
    expect(store.recordCounts()).toMatchObject({ users: 1, sessions: 1, refreshTokens: 1 });

    // The forgotten tokens are simply unknown now; the session and its current token live on.
    await expect(s.ops.sessions.refresh(first)).rejects.toMatchObject({ reason: "INVALID_REFRESH" });
    await expect(s.ops.sessions.refresh(current)).resolves.toMatchObject({ sessionId: tokens!.sessionId });
  });

  it("every record with an expiry (sessions, refresh tokens, codes, attempts) leaves once expired", async () => {
    await s.ops.accounts.register({ email: "leaves@example.com", password, displayName: "" }, s.client);
    await s.ops.signIn.login({ email: "leaves@example.com", password, rememberMe: false }, s.client);
    await expect(
      s.ops.signIn.login({ email: "leaves@example.com", password: "a wrong password", rememberMe: false }, s.client),
    ).rejects.toMatchObject({ reason: "INVALID_CREDENTIALS" });
    await s.ops.accounts.requestPasswordReset("leaves@example.com", s.client);
    await s.service.background.drain();
    const before = store.recordCounts();
    expect(before.sessions).toBe(2);
    expect(before.refreshTokens).toBe(2);
    expect(before.codes).toBeGreaterThanOrEqual(1);
    expect(before.attempts).toBeGreaterThanOrEqual(1);

    // Past every expiry: sessions (7 days without remember-me), codes (an hour), attempts.
    clock.advance(8 * DAY);
    store.sweep();
    expect(store.recordCounts()).toEqual({
      users: 1,
      sessions: 0,
      refreshTokens: 0,
      codes: 0,
      attempts: 0,
      twoFactor: 0,
      serviceAccounts: 0,
      audit: 0,
      providerLinks: 0,
    });
  });
});
