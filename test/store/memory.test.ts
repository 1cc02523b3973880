import { randomUUID } from "node:crypto";
import { afterEach, describe, expect, it, vi } from "vitest";
import { StorageUnavailableError } from "../../src/store/errors.ts";
import { createMemoryStore } from "../../src/store/memory.ts";
import type { CodeRecord, RefreshTokenRecord, SessionRecord } from "../../src/store/port.ts";
import { TestClock } from "../support/harness.ts";
import { storageContract } from "./contract.ts";

storageContract("memory", async () => createMemoryStore());

const SWEEP_MS = 50;
const HOUR = 3_600_000;
/** A keep-until that never shortens a spent token's life. */
const farFuture = new Date(Date.now() + 365 * 24 * HOUR);

function hash(): string {
  return (randomUUID() + randomUUID()).replaceAll("-", "");
}

describe("memory store: expiry sweep", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("purges expired sessions, refresh tokens and codes on the sweep, and keeps live ones", async () => {
    // Only the interval timer is faked; Date stays real, so the sweep judges expiry by the real clock.
    vi.useFakeTimers({ toFake: ["setInterval", "clearInterval"] });
    const store = createMemoryStore({ sweepIntervalMs: SWEEP_MS });
    const realNow = new Date();
    const expiredAt = new Date(realNow.getTime() - 1000); // already expired by the real clock
    /** A `now` before expiry: reads with it would still see the records if they were stored. */
    const beforeExpiry = new Date(expiredAt.getTime() - HOUR);
    const userId = `usr_${randomUUID()}`;

    const session = (expiresAt: Date): SessionRecord => ({
      id: `ses_${randomUUID()}`,
      userId,
      userAgent: "sweep-test",
      ipAddress: "192.0.2.1",
      rememberMe: false,
      createdAt: new Date(beforeExpiry.getTime() - HOUR),
      lastActiveAt: new Date(beforeExpiry.getTime() - HOUR),
      expiresAt,
      generations: { user: 0, twoFactor: 0 },
      revokedAt: null,
    });
    const token = (expiresAt: Date): RefreshTokenRecord => ({
      tokenHash: hash(),
      sessionId: "ses_x",
      userId,
      createdAt: new Date(beforeExpiry.getTime() - HOUR),
      expiresAt,
      consumedAt: null,
      successor: null,
    });
    const code = (u: string, expiresAt: Date): CodeRecord => ({
      codeHash: hash(),
      purpose: "password_reset",
      userId: u,
      createdAt: new Date(beforeExpiry.getTime() - HOUR),
      expiresAt,
    });

    const expiredSession = session(expiredAt);
    const liveSession = session(new Date(realNow.getTime() + HOUR));
    await store.sessions.insert(expiredSession);
    await store.sessions.insert(liveSession);

    // Two expired tokens: one is spent before the sweep (proving it was stored and readable
    // with an earlier `now`), the other is tried after the sweep.
    const expiredTokenBefore = token(expiredAt);
    const expiredTokenAfter = token(expiredAt);
    const liveToken = token(new Date(realNow.getTime() + HOUR));
    for (const t of [expiredTokenBefore, expiredTokenAfter, liveToken]) await store.refreshTokens.insert(t);

    // Codes are one per user+purpose, so use distinct users.
    const expiredCodeBefore = code(`usr_${randomUUID()}`, expiredAt);
    const expiredCodeAfter = code(`usr_${randomUUID()}`, expiredAt);
    const liveCode = code(`usr_${randomUUID()}`, new Date(realNow.getTime() + HOUR));
    for (const c of [expiredCodeBefore, expiredCodeAfter, liveCode]) await store.codes.replace(c);

    // Before the sweep: expired records are still stored (visible with an earlier `now`),
    // and invisible with the real `now`.
    expect(await store.sessions.findLive(expiredSession.id, beforeExpiry)).toEqual(expiredSession);
    expect(await store.sessions.findLive(expiredSession.id, realNow)).toBeNull();
    expect((await store.refreshTokens.consume(expiredTokenBefore.tokenHash, beforeExpiry, farFuture)).outcome).toBe("consumed");
    expect(await store.codes.consume(expiredCodeBefore.codeHash, "password_reset", beforeExpiry)).toEqual(expiredCodeBefore);

    vi.advanceTimersByTime(SWEEP_MS);

    // After the sweep: expired records are gone even for a `now` before their expiry.
    expect(await store.sessions.findLive(expiredSession.id, beforeExpiry)).toBeNull();
    expect(await store.sessions.listLive(userId, beforeExpiry)).toEqual([liveSession]);
    expect(await store.refreshTokens.consume(expiredTokenBefore.tokenHash, beforeExpiry, farFuture)).toEqual({ outcome: "unknown" });
    expect(await store.refreshTokens.consume(expiredTokenAfter.tokenHash, beforeExpiry, farFuture)).toEqual({ outcome: "unknown" });
    expect(await store.codes.consume(expiredCodeAfter.codeHash, "password_reset", beforeExpiry)).toBeNull();

    // Live records survive the sweep.
    expect(await store.sessions.findLive(liveSession.id, realNow)).toEqual(liveSession);
    expect(await store.refreshTokens.consume(liveToken.tokenHash, realNow, farFuture)).toEqual({
      outcome: "consumed",
      record: liveToken,
    });
    expect(await store.codes.consume(liveCode.codeHash, "password_reset", realNow)).toEqual(liveCode);

    await store.close();
  });

  it("judges expiry by the store's clock: the periodic sweep removes what that clock has expired", async () => {
    vi.useFakeTimers({ toFake: ["setInterval", "clearInterval"] });
    const clock = new TestClock();
    const store = createMemoryStore({ sweepIntervalMs: SWEEP_MS, clock });
    const userId = `usr_${randomUUID()}`;
    await store.refreshTokens.insert({
      tokenHash: hash(),
      sessionId: "ses_x",
      userId,
      createdAt: clock.now(),
      expiresAt: new Date(clock.now().getTime() + HOUR),
      consumedAt: null,
      successor: null,
    });
    vi.advanceTimersByTime(SWEEP_MS);
    expect(store.recordCounts().refreshTokens).toBe(1);
    clock.advance(HOUR); // by the real clock nothing has expired; by the store's, the token has
    vi.advanceTimersByTime(SWEEP_MS);
    expect(store.recordCounts().refreshTokens).toBe(0);
    await store.close();
  });

  it("sweeps periodically with a real timer too", async () => {
    const store = createMemoryStore({ sweepIntervalMs: 20 });
    const expiredAt = new Date(Date.now() - 1000);
    const s: SessionRecord = {
      id: `ses_${randomUUID()}`,
      userId: `usr_${randomUUID()}`,
      userAgent: "sweep-test",
      ipAddress: "192.0.2.1",
      rememberMe: true,
      createdAt: new Date(expiredAt.getTime() - 2 * HOUR),
      lastActiveAt: new Date(expiredAt.getTime() - 2 * HOUR),
      expiresAt: expiredAt,
      revokedAt: null,
      generations: { user: 0, twoFactor: 0 },
    };
    const earlier = new Date(expiredAt.getTime() - HOUR);
    await store.sessions.insert(s);
    expect(await store.sessions.findLive(s.id, earlier)).toEqual(s);
    await vi.waitFor(
      async () => {
        expect(await store.sessions.findLive(s.id, earlier)).toBeNull();
      },
      { timeout: 2000, interval: 10 },
    );
    await store.close();
  });

  it("close clears the sweep timer", async () => {
    vi.useFakeTimers({ toFake: ["setInterval", "clearInterval"] });
    const before = vi.getTimerCount();
    const store = createMemoryStore({ sweepIntervalMs: SWEEP_MS });
    expect(vi.getTimerCount()).toBe(before + 1);
    await store.close();
    expect(vi.getTimerCount()).toBe(before);
  });

  it("the sweep timer does not keep the process alive (unref)", async () => {
    const spy = vi.spyOn(globalThis, "setInterval");
    try {
      const store = createMemoryStore({ sweepIntervalMs: SWEEP_MS });
      const timer = spy.mock.results[0]?.value as NodeJS.Timeout | undefined;
      expect(timer).toBeDefined();
      expect(timer?.hasRef()).toBe(false);
      await store.close();
    } finally {
      spy.mockRestore();
    }
  });

  it("rejects a non-positive sweep interval", () => {
    expect(() => createMemoryStore({ sweepIntervalMs: 0 })).toThrow(RangeError);
  });

  it("after close, ping and operations reject with StorageUnavailableError", async () => {
    const store = createMemoryStore();
    await store.close();
    await expect(store.ping()).rejects.toBeInstanceOf(StorageUnavailableError);
    await expect(store.users.findById("usr_x")).rejects.toBeInstanceOf(StorageUnavailableError);
  });
});

describe("memory store: the successor pair kept for the reuse grace", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  const GRACE = 30_000;
  async function spend(store: ReturnType<typeof createMemoryStore>, clock: TestClock): Promise<string> {
    const token: RefreshTokenRecord = {
      tokenHash: hash(),
      sessionId: `ses_${randomUUID()}`,
      userId: `usr_${randomUUID()}`,
      createdAt: clock.now(),
      expiresAt: new Date(clock.now().getTime() + HOUR),
      consumedAt: null,
      successor: null,
    };
    await store.refreshTokens.insert(token);
    const successor = { tokenHash: hash(), sealedPair: "sealed", graceUntil: new Date(clock.now().getTime() + GRACE) };
    const spent = await store.refreshTokens.consume(token.tokenHash, clock.now(), farFuture, successor);
    expect(spent.outcome).toBe("consumed");
    return token.tokenHash;
  }

  // The pair is about a kilobyte, and a busy server spends thousands of tokens a second: held until
  // the next sweep (every minute), they were most of what the store held.
  it("is dropped once its window has passed, by the next spend, without waiting for the sweep", async () => {
    const clock = new TestClock();
    const store = createMemoryStore({ sweepIntervalMs: HOUR, clock });
    const first = await spend(store, clock);
    clock.advance(GRACE - 1);
    await spend(store, clock);
    expect((await store.refreshTokens.find(first))?.successor).not.toBeNull(); // still within its window
    clock.advance(2);
    await spend(store, clock);
    const spent = await store.refreshTokens.find(first);
    expect(spent?.successor).toBeNull();
    // The spent token itself stays, for reuse detection.
    expect(spent?.consumedAt).not.toBeNull();
    expect(await store.refreshTokens.consume(first, clock.now(), farFuture)).toMatchObject({ outcome: "reused" });
    await store.close();
  });

  it("is dropped as soon as the token it names is spent in turn: a session holds one pair at most", async () => {
    const clock = new TestClock();
    const store = createMemoryStore({ sweepIntervalMs: HOUR, clock });
    const token = (tokenHash: string): RefreshTokenRecord => ({
      tokenHash,
      sessionId: "ses_chain",
      userId: "usr_chain",
      createdAt: clock.now(),
      expiresAt: new Date(clock.now().getTime() + HOUR),
      consumedAt: null,
      successor: null,
    });
    const chain = [hash(), hash(), hash()];
    const pair = (next: string) => ({ tokenHash: next, sealedPair: "sealed", graceUntil: new Date(clock.now().getTime() + GRACE) });
    await store.refreshTokens.insert(token(chain[0] as string));
    await store.refreshTokens.insert(token(chain[1] as string));
    await store.refreshTokens.consume(chain[0] as string, clock.now(), farFuture, pair(chain[1] as string));
    await store.refreshTokens.insert(token(chain[2] as string));
    expect((await store.refreshTokens.find(chain[0] as string))?.successor?.tokenHash).toBe(chain[1]);
    // Within the window, the pair's token is spent: the pair can never be handed out again.
    await store.refreshTokens.consume(chain[1] as string, clock.now(), farFuture, pair(chain[2] as string));
    expect((await store.refreshTokens.find(chain[0] as string))?.successor).toBeNull();
    expect((await store.refreshTokens.find(chain[1] as string))?.successor?.tokenHash).toBe(chain[2]);
    // Both spent tokens are still known, for reuse detection.
    expect(await store.refreshTokens.consume(chain[0] as string, clock.now(), farFuture)).toMatchObject({ outcome: "reused" });
    await store.close();
  });

  it("is dropped by a timer when no other spend comes", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    const clock = new TestClock();
    const store = createMemoryStore({ sweepIntervalMs: HOUR, clock });
    const first = await spend(store, clock);
    clock.advance(GRACE + 1);
    vi.advanceTimersByTime(GRACE + 1);
    expect((await store.refreshTokens.find(first))?.successor).toBeNull();
    await store.close();
  });
});

describe("memory store: revoked sessions", () => {
  it("are forgotten at once, not held until their expiry: a user who signs in often leaves only live sessions", async () => {
    const store = createMemoryStore();
    const now = new Date();
    const userId = `usr_${randomUUID()}`;
    const session = (): SessionRecord => ({
      id: `ses_${randomUUID()}`,
      userId,
      userAgent: "revoke-test",
      ipAddress: "192.0.2.1",
      rememberMe: false,
      createdAt: now,
      lastActiveAt: now,
      expiresAt: new Date(now.getTime() + 7 * 24 * HOUR),
      revokedAt: null,
      generations: { user: 0, twoFactor: 0 },
    });
    const [a, b, c, d] = [session(), session(), session(), session()];
    for (const s of [a, b, c, d]) await store.sessions.insert(s);
    expect(await store.sessions.revoke(a.id, userId, now)).toBe(true);
    expect(store.recordCounts().sessions).toBe(3);
    expect(await store.sessions.revokeAllForUser(userId, now, d.id)).toBe(2);
    expect(store.recordCounts().sessions).toBe(1);
    // Through the port a forgotten session is exactly a revoked one.
    expect(await store.sessions.findLive(a.id, now)).toBeNull();
    expect(await store.sessions.revoke(b.id, userId, now)).toBe(false);
    expect(await store.sessions.touch(c.id, now)).toBe(false);
    expect(await store.sessions.listLive(userId, now)).toEqual([d]);
    await store.close();
  });
});
