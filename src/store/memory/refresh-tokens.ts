// Refresh tokens, indexed by user, and the successor pairs kept for the reuse grace.

import type { Clock } from "../../clock.ts";
import type { ConsumeRefreshResult, RefreshSuccessor, RefreshTokenRecord, RefreshTokenStore } from "../port.ts";
import { type ExpiringKind, type OpenState, UserIndexedTable } from "./shared.ts";

/**
 * A refresh token as this store holds it: its times as epoch milliseconds. Every refresh leaves
 * the spent token behind for REFRESH_REUSE_DETECTION_SECONDS (a day by default), so a busy
 * server holds many of them, and a Date costs V8 about 100 bytes against 16 for a number: with
 * Dates a spent token held about 540 bytes, with numbers under 300 (bench/lib/store-memory.ts).
 * Rows never leave the store: reads rebuild the port's record (with fresh Dates, so callers still
 * get copies).
 */
interface StoredRefreshToken {
  tokenHash: string;
  sessionId: string;
  userId: string;
  createdAt: number;
  expiresAt: number;
  consumedAt: number | null;
  successor: StoredSuccessor | null;
}

interface StoredSuccessor {
  tokenHash: string;
  sealedPair: string;
  graceUntil: number;
}

function storedRefreshToken(t: RefreshTokenRecord): StoredRefreshToken {
  return {
    tokenHash: t.tokenHash,
    sessionId: t.sessionId,
    userId: t.userId,
    createdAt: t.createdAt.getTime(),
    expiresAt: t.expiresAt.getTime(),
    consumedAt: t.consumedAt === null ? null : t.consumedAt.getTime(),
    successor: storedSuccessor(t.successor),
  };
}

function storedSuccessor(s: RefreshSuccessor | null): StoredSuccessor | null {
  return s === null ? null : { tokenHash: s.tokenHash, sealedPair: s.sealedPair, graceUntil: s.graceUntil.getTime() };
}

function refreshTokenRecord(t: StoredRefreshToken): RefreshTokenRecord {
  const s = t.successor;
  return {
    tokenHash: t.tokenHash,
    sessionId: t.sessionId,
    userId: t.userId,
    createdAt: new Date(t.createdAt),
    expiresAt: new Date(t.expiresAt),
    consumedAt: t.consumedAt === null ? null : new Date(t.consumedAt),
    successor: s === null ? null : { tokenHash: s.tokenHash, sealedPair: s.sealedPair, graceUntil: new Date(s.graceUntil) },
  };
}

export interface MemoryRefreshTokens extends ExpiringKind<RefreshTokenStore> {
  /** Stops the timer that frees lapsed successor pairs (the store's close()). */
  close(): void;
}

export function memoryRefreshTokens(open: OpenState, clock: Clock): MemoryRefreshTokens {
  const { assertOpen } = open;
  const refreshTokens = new UserIndexedTable<StoredRefreshToken>();
  // The successor pair a spend keeps for the reuse grace (about 1.1 kB sealed) can be handed out
  // only while its window runs and the token it names is unspent (the service checks both and
  // takes anything else as reuse). So it is dropped at whichever comes first: when that token is
  // spent in turn (each session then holds one pair at most, however often it refreshes), or when
  // the window lapses; not at the next sweep, up to a minute later. Kept until the sweep, the pairs
  // of a few thousand refreshes a second came to hundreds of MB.
  /** successor's token hash -> the spent token holding the pair that names it */
  const pairHolders = new Map<string, string>();
  // Pairs in the order they were made: graceUntil is the spend's time plus a constant, so the head
  // is (nearly always) the first to lapse. Flat arrays: 24 bytes an entry.
  const graceUntils: number[] = [];
  const graceHolders: string[] = [];
  const graceNamed: string[] = [];
  let graceHead = 0;
  let graceTimer: NodeJS.Timeout | undefined;
  /**
   * session id -> its spent tokens' hashes in the order they were spent (a Set keeps insertion
   * order), for dropSpentBeyond: the oldest are first, so a refresh drops one without a scan.
   */
  const spentBySession = new Map<string, Set<string>>();

  function noteSpent(tokenHash: string, sessionId: string): void {
    let hashes = spentBySession.get(sessionId);
    if (hashes === undefined) {
      hashes = new Set();
      spentBySession.set(sessionId, hashes);
    }
    hashes.add(tokenHash);
  }

  /** Moves the expiry of the user's rows that `matches` to `until` where that is sooner. */
  function bringForward(userId: string, until: Date, matches: (row: StoredRefreshToken) => boolean): void {
    const untilMs = until.getTime();
    // Rows are this store's own (reads copy them): changed in place.
    for (const [, row] of refreshTokens.forUser(userId)) {
      if (matches(row) && row.expiresAt > untilMs) row.expiresAt = untilMs;
    }
  }

  /** Removes one row, and its place among its session's spent tokens. */
  function remove(tokenHash: string): void {
    const row = refreshTokens.delete(tokenHash);
    if (row === undefined || row.consumedAt === null) return;
    const hashes = spentBySession.get(row.sessionId);
    if (hashes === undefined) return;
    hashes.delete(tokenHash);
    if (hashes.size === 0) spentBySession.delete(row.sessionId);
  }

  /**
   * A successor pair past its grace window can never be handed out again (the service checks
   * graceUntil itself): frees every such pair, and arms one timer for the next to lapse.
   */
  function dropPair(holder: string, named: string): void {
    const token = refreshTokens.rows.get(holder);
    // Rows are this store's own (reads copy them): changed in place.
    if (token !== undefined && token.successor !== null && token.successor.tokenHash === named) token.successor = null;
    if (pairHolders.get(named) === holder) pairHolders.delete(named);
  }

  function dropLapsedSuccessors(): void {
    if (open.closed) return;
    const nowMs = clock.now().getTime();
    while (graceHead < graceUntils.length && (graceUntils[graceHead] as number) <= nowMs) {
      dropPair(graceHolders[graceHead] as string, graceNamed[graceHead] as string);
      graceHead++;
    }
    if (graceHead > 4096 && graceHead * 2 > graceUntils.length) {
      graceUntils.splice(0, graceHead);
      graceHolders.splice(0, graceHead);
      graceNamed.splice(0, graceHead);
      graceHead = 0;
    }
    if (graceTimer === undefined && graceHead < graceUntils.length) {
      // At least a second apart: one pass frees everything that lapsed meanwhile.
      const wait = Math.max(1000, (graceUntils[graceHead] as number) - nowMs);
      graceTimer = setTimeout(() => {
        graceTimer = undefined;
        dropLapsedSuccessors();
      }, wait);
      graceTimer.unref();
    }
  }

  const refreshTokenStore: RefreshTokenStore = {
    async insert(token) {
      assertOpen();
      if (refreshTokens.rows.has(token.tokenHash)) throw new Error("refresh token hash already exists");
      refreshTokens.set(token.tokenHash, storedRefreshToken(token));
    },

    async find(tokenHash) {
      assertOpen();
      const token = refreshTokens.rows.get(tokenHash);
      return token === undefined ? null : refreshTokenRecord(token);
    },

    async consume(tokenHash, now, keepSpentUntil, successor = null): Promise<ConsumeRefreshResult> {
      assertOpen();
      const token = refreshTokens.rows.get(tokenHash);
      if (token === undefined) return { outcome: "unknown" };
      if (token.consumedAt !== null) return { outcome: "reused", record: refreshTokenRecord(token) };
      // The record as it was before spending.
      const before = refreshTokenRecord(token);
      const holder = pairHolders.get(tokenHash);
      if (holder !== undefined) dropPair(holder, tokenHash);
      const spent: StoredRefreshToken = {
        ...token,
        consumedAt: now.getTime(),
        expiresAt: Math.min(token.expiresAt, keepSpentUntil.getTime()),
        successor: storedSuccessor(successor),
      };
      refreshTokens.set(tokenHash, spent);
      noteSpent(tokenHash, spent.sessionId);
      if (spent.successor !== null) {
        pairHolders.set(spent.successor.tokenHash, tokenHash);
        graceUntils.push(spent.successor.graceUntil);
        graceHolders.push(tokenHash);
        graceNamed.push(spent.successor.tokenHash);
      }
      dropLapsedSuccessors();
      return { outcome: "consumed", record: before };
    },

    async dropSpentBeyond(sessionId, keep) {
      assertOpen();
      const hashes = spentBySession.get(sessionId);
      if (hashes === undefined) return;
      // Oldest spend first; remove() takes each out of the set, so its size is what is left.
      for (const hash of hashes) {
        if (hashes.size <= keep) break;
        remove(hash);
      }
    },

    async expireSession(sessionId, userId, until) {
      assertOpen();
      bringForward(userId, until, (row) => row.sessionId === sessionId);
    },

    async expireAllForUser(userId, until, exceptSessionId) {
      assertOpen();
      bringForward(userId, until, (row) => row.sessionId !== exceptSessionId);
    },

    async delete(tokenHash) {
      assertOpen();
      remove(tokenHash);
    },

    async deleteAllForUser(userId) {
      assertOpen();
      for (const [hash] of refreshTokens.forUser(userId)) remove(hash);
    },
  };

  return {
    store: refreshTokenStore,
    count: () => refreshTokens.rows.size,
    sweep: (now) => {
      const nowMs = now.getTime();
      for (const [hash, row] of refreshTokens.rows) if (row.expiresAt <= nowMs) remove(hash);
      dropLapsedSuccessors();
    },
    close() {
      clearTimeout(graceTimer);
      graceTimer = undefined;
    },
  };
}
