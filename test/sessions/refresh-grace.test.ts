// Refresh races must not log users out (issue 10, item 10): within REFRESH_REUSE_GRACE_SECONDS the
// immediate predecessor of the live refresh token gets the same pair back, under any concurrency;
// after the window, an older token, or a predecessor whose successor was already rotated still
// revoke the whole session. The pair kept for the window is stored sealed, never in plain text.
import { randomBytes } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { deriveServerSecrets } from "../../src/secrets/server-secrets.ts";
import type { TokenPair } from "../../src/sessions/sessions.ts";
import { createMemoryStore, type MemoryStore } from "../../src/store/memory.ts";
import { tokenHash } from "../../src/tokens/opaque.ts";
import { TestClock } from "../support/harness.ts";
import { startService, type InProcess } from "../support/service.ts";

const password = "correct horse battery staple";
let s: InProcess;
let store: MemoryStore;
let clock: TestClock;
afterEach(() => s.close());

async function start(env: Record<string, string> = {}): Promise<void> {
  clock = new TestClock();
  store = createMemoryStore({ clock });
  s = await startService({ EMAIL_VERIFICATION_REQUIRED: "false", ...env }, store, clock);
}

async function signedIn(email: string): Promise<TokenPair> {
  const { tokens } = await s.ops.accounts.register({ email, password, displayName: "" }, s.client);
  return tokens!;
}

/** The outcome of a refresh: the pair, or the refusal's reason. */
function settle(p: Promise<TokenPair>): Promise<TokenPair | string> {
  return p.then(
    (pair) => pair,
    (err: { reason?: string }) => err.reason ?? String(err),
  );
}

/** A fresh service and account whose first token has been refreshed once. */
async function rotatedOnce(email: string, env: Record<string, string> = {}): Promise<{ first: TokenPair; pair: TokenPair }> {
  await start(env);
  const first = await signedIn(email);
  return { first, pair: await s.ops.sessions.refresh(first.refreshToken) };
}

const alive = (pair: TokenPair) => s.ops.sessions.authenticate({ bearer: pair.accessToken });

describe("refresh grace window (default 30 s)", () => {
  it("ten concurrent refreshes of one token all get the same pair, and the session lives on", async () => {
    await start();
    const first = await signedIn("tabs@example.com");
    const results = await Promise.all(Array.from({ length: 10 }, () => settle(s.ops.sessions.refresh(first.refreshToken))));
    const pairs = results.filter((r): r is TokenPair => typeof r !== "string");
    expect(pairs).toHaveLength(10);
    expect(new Set(pairs.map((p) => p.refreshToken)).size).toBe(1);
    expect(new Set(pairs.map((p) => p.accessToken)).size).toBe(1);
    const pair = pairs[0]!;
    expect(pair.refreshToken).not.toBe(first.refreshToken);
    expect((await alive(pair)).sessionId).toBe(first.sessionId);
    // Only the spent token and the one successor are stored: the losers' pairs were never kept.
    expect(store.recordCounts().refreshTokens).toBe(2);
    // The shared pair is a working one: its refresh token rotates normally.
    const next = await s.ops.sessions.refresh(pair.refreshToken);
    expect((await alive(next)).sessionId).toBe(first.sessionId);
  });

  it("a replay of the predecessor within the window returns the same pair, with its remaining lifetime", async () => {
    const { first, pair } = await rotatedOnce("retry@example.com");
    clock.advance(29_000);
    const again = await s.ops.sessions.refresh(first.refreshToken);
    expect([again.accessToken, again.refreshToken, again.sessionId]).toEqual([pair.accessToken, pair.refreshToken, pair.sessionId]);
    expect(again.accessTokenExpiresAt).toEqual(pair.accessTokenExpiresAt);
    expect(again.refreshTokenExpiresAt).toEqual(pair.refreshTokenExpiresAt);
    // expires_in counts what is left of the access token's life, never more.
    expect(again.expiresIn).toBe(Math.floor((pair.accessTokenExpiresAt.getTime() - clock.now().getTime()) / 1000));
    expect(again.expiresIn).toBeLessThanOrEqual(pair.expiresIn - 29);
    expect((await alive(pair)).sessionId).toBe(first.sessionId);
  });

  it("a replay after the window revokes the whole session", async () => {
    const { first, pair } = await rotatedOnce("late@example.com");
    clock.advance(30_000);
    expect(await settle(s.ops.sessions.refresh(first.refreshToken))).toBe("REFRESH_REVOKED");
    await expect(alive(pair)).rejects.toMatchObject({ reason: "SESSION_REVOKED" });
    expect(await settle(s.ops.sessions.refresh(pair.refreshToken))).toBe("REFRESH_REVOKED");
  });

  it("an older token, even within the window, revokes the whole session, under concurrency too", async () => {
    await start();
    const first = await signedIn("older@example.com");
    const second = await s.ops.sessions.refresh(first.refreshToken);
    const third = await s.ops.sessions.refresh(second.refreshToken);
    // `first`'s successor (`second`) has itself been rotated: `first` is two generations old.
    const results = await Promise.all(Array.from({ length: 10 }, () => settle(s.ops.sessions.refresh(first.refreshToken))));
    expect(new Set(results)).toEqual(new Set(["REFRESH_REVOKED"]));
    await expect(alive(third)).rejects.toMatchObject({ reason: "SESSION_REVOKED" });
  });

  it("the predecessor, replayed after its successor was rotated, revokes (the racing client is a thief)", async () => {
    await start();
    const first = await signedIn("rotated@example.com");
    const second = await s.ops.sessions.refresh(first.refreshToken);
    clock.advance(1_000);
    // The predecessor's replay and the successor's rotation race: whichever order they land in,
    // a replay that finds its successor spent revokes, and one that finds it live gets that pair.
    const [replay, rotated] = await Promise.all([
      settle(s.ops.sessions.refresh(first.refreshToken)),
      settle(s.ops.sessions.refresh(second.refreshToken)),
    ]);
    expect(typeof rotated === "string" || rotated.refreshToken !== second.refreshToken).toBe(true);
    if (typeof replay !== "string") expect(replay.refreshToken).toBe(second.refreshToken);
    // Now that the successor is spent, the predecessor is reuse, whatever happened above.
    expect(await settle(s.ops.sessions.refresh(first.refreshToken))).toBe("REFRESH_REVOKED");
    await expect(alive(second)).rejects.toMatchObject({ reason: "SESSION_REVOKED" });
  });

  it("a predecessor replay that read its successor live, while the successor was rotated, revokes", async () => {
    // The replay's read of the successor is held after it read "unspent" (a slow store), and the
    // owner rotates the successor meanwhile: the read is stale by the time the pair would go out.
    clock = new TestClock();
    store = createMemoryStore({ clock });
    let hold: { hash: string; reached: () => void; release: Promise<void> } | undefined;
    const slow: MemoryStore = {
      ...store,
      refreshTokens: {
        ...store.refreshTokens,
        async find(hash) {
          const found = await store.refreshTokens.find(hash);
          const held = hold;
          if (held?.hash === hash) {
            hold = undefined;
            held.reached();
            await held.release;
          }
          return found;
        },
      },
    };
    s = await startService({ EMAIL_VERIFICATION_REQUIRED: "false" }, slow, clock);
    const first = await signedIn("stale@example.com");
    const second = await s.ops.sessions.refresh(first.refreshToken);
    let release: () => void = () => undefined;
    const reached = new Promise<void>((resolve) => {
      const released = new Promise<void>((r) => (release = r));
      hold = { hash: tokenHash(second.refreshToken), reached: resolve, release: released };
    });
    const replay = settle(s.ops.sessions.refresh(first.refreshToken));
    await reached;
    const third = await s.ops.sessions.refresh(second.refreshToken);
    release();
    // Handing out `second` now would let its holder replay it within its own grace for `third`.
    expect(await replay).toBe("REFRESH_REVOKED");
    await expect(alive(third)).rejects.toMatchObject({ reason: "SESSION_REVOKED" });
  });

  it("a replay within the window does not revive an ended session", async () => {
    const { first, pair } = await rotatedOnce("ended@example.com");
    await s.ops.sessions.logout(await alive(pair));
    expect(await settle(s.ops.sessions.refresh(first.refreshToken))).toBe("REFRESH_REVOKED");
  });

  it("stores the pair sealed under the spent token itself, which is not stored, and forgets it after the window", async () => {
    const master = randomBytes(32);
    const { first, pair } = await rotatedOnce("sealed@example.com", { SERVER_SECRET: master.toString("hex") });
    const spent = await store.refreshTokens.find(tokenHash(first.refreshToken));
    const sealed = spent!.successor!.sealedPair;
    expect(spent!.successor!.tokenHash).toBe(tokenHash(pair.refreshToken));
    for (const plain of [pair.accessToken, pair.refreshToken, ...pair.accessToken.split(".")]) expect(sealed).not.toContain(plain);
    // With the server secret and everything stored, it still does not open: it takes the token.
    const { refreshSuccessors } = deriveServerSecrets(master);
    for (const stored of [spent!.tokenHash, spent!.sessionId, spent!.userId])
      expect(() => refreshSuccessors.open(sealed, stored)).toThrow();
    const opened = JSON.parse(Buffer.from(refreshSuccessors.open(sealed, first.refreshToken)).toString("utf8"));
    expect([opened.accessToken, opened.refreshToken]).toEqual([pair.accessToken, pair.refreshToken]);
    clock.advance(30_000);
    store.sweep();
    expect((await store.refreshTokens.find(tokenHash(first.refreshToken)))!.successor).toBeNull();
  });
});

describe("REFRESH_REUSE_GRACE_SECONDS=0", () => {
  it("turns the window off: of ten concurrent refreshes one wins, the rest revoke the session", async () => {
    await start({ REFRESH_REUSE_GRACE_SECONDS: "0" });
    const first = await signedIn("strict@example.com");
    const results = await Promise.all(Array.from({ length: 10 }, () => settle(s.ops.sessions.refresh(first.refreshToken))));
    const pairs = results.filter((r): r is TokenPair => typeof r !== "string");
    expect(pairs).toHaveLength(1);
    expect(results.filter((r) => r === "REFRESH_REVOKED")).toHaveLength(9);
    await expect(alive(pairs[0]!)).rejects.toMatchObject({ reason: "SESSION_REVOKED" });
    expect((await store.refreshTokens.find(tokenHash(first.refreshToken)))!.successor).toBeNull();
  });
});
