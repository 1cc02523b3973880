// Refreshing: spending a refresh token for a new pair (rotation), and what a spent token presented
// again is: the same client racing itself within the grace window, which gets the same pair back
// (sealed with the spent token as its successor), or reuse, which revokes the whole session.

import { addSeconds, type Clock } from "../clock.ts";
import { AuthError } from "../errors.ts";
import type { SecurityEvents } from "../events.ts";
import { checkOpaque } from "../input.ts";
import type { Logger } from "../log.ts";
import type { SecretSealer } from "../secrets/server-secrets.ts";
import type { RefreshSuccessor, RefreshTokenRecord, SessionRecord, Store, UserRecord } from "../store/port.ts";
import { tokenHash } from "../tokens/opaque.ts";
import type { TokenPair } from "./pairs.ts";

export interface RefreshDeps {
  store: Pick<Store, "sessions" | "refreshTokens">;
  clock: Clock;
  /** Seals the pair a refresh handed out, kept with the spent token for the grace window. */
  successorSealer: SecretSealer;
  log: Pick<Logger, "info" | "warn">;
  /** Hears of refresh-token reuse and of replays within the grace window. */
  events: Pick<SecurityEvents, "refreshReuse" | "refreshGraceReplay">;
  /** SessionPolicy's (sessions.ts) figures for refreshing. */
  policy: { sessionMaxLifetimeSeconds: number; refreshReuseDetectionSeconds: number; refreshReuseGraceSeconds: number };
  /** The sliding lifetime of a session's refresh tokens. */
  ttlFor: (rememberMe: boolean) => number;
  /** The session and its user if it is live now (sessions.ts's liveSession). */
  liveSession: (sessionId: string, userId: string, now: Date) => Promise<{ session: SessionRecord; user: UserRecord } | null>;
  issuePair: (session: SessionRecord, user: UserRecord, expiresAt: Date) => Promise<TokenPair>;
  /** Ends a session (sessions.ts's endSession): revoked, its refresh tokens kept for reuse detection only. */
  endSession: (sessionId: string, userId: string, now: Date) => Promise<boolean>;
}

/** What is sealed of a pair for the grace window: the two tokens and their expiries. */
interface SealedPair {
  accessToken: string;
  refreshToken: string;
  accessTokenExpiresAt: number;
  refreshTokenExpiresAt: number;
}

/**
 * How many spent refresh tokens a session keeps for reuse detection. Without a bound, one session
 * refreshing as fast as it can (about 2,000 a second on one core) left a spent token of about 450
 * bytes each time, kept for REFRESH_REUSE_DETECTION_SECONDS (a day): 0.9 MB a second, held for a
 * day, from one account. 128 spends of a client refreshing every 15 minutes (an access token's
 * default lifetime) span 32 hours, more than that day, so reuse is still detected for as long as
 * it was; a token spent longer ago than that (or 128 refreshes ago) is unknown instead, refused
 * as INVALID_REFRESH without ending the session. At most 128 × 450 bytes, 58 kB, a session.
 */
export const spentTokensKeptPerSession = 128;

export function createRefresh(deps: RefreshDeps) {
  const { store, clock, policy, ttlFor, liveSession, issuePair } = deps;

  /**
   * A refresh token presented after it was spent means it leaked or was replayed: the whole
   * session (every token descended from the same sign-in) is revoked.
   */
  async function reuseDetected(sessionId: string, userId: string, now: Date): Promise<never> {
    await deps.endSession(sessionId, userId, now);
    deps.log.warn({ sessionId, userId }, "refresh token reuse: session revoked");
    deps.events.refreshReuse();
    throw new AuthError("REFRESH_REVOKED", "the refresh token was already used; the session has been revoked");
  }

  /**
   * The successor record of a spend: the pair sealed to the spent token itself (not its hash, so
   * nothing stored opens it), for the grace window.
   */
  function successorOf(spentToken: string, pair: TokenPair, now: Date): RefreshSuccessor | null {
    if (policy.refreshReuseGraceSeconds === 0) return null;
    const sealed: SealedPair = {
      accessToken: pair.accessToken,
      refreshToken: pair.refreshToken,
      accessTokenExpiresAt: pair.accessTokenExpiresAt.getTime(),
      refreshTokenExpiresAt: pair.refreshTokenExpiresAt.getTime(),
    };
    return {
      tokenHash: tokenHash(pair.refreshToken),
      sealedPair: deps.successorSealer.seal(Buffer.from(JSON.stringify(sealed), "utf8"), spentToken),
      graceUntil: addSeconds(now, policy.refreshReuseGraceSeconds),
    };
  }

  const isUnspent = (token: RefreshTokenRecord | null): boolean => token !== null && token.consumedAt === null;
  const unspent = async (hash: string): Promise<boolean> => isUnspent(await store.refreshTokens.find(hash));

  /**
   * A spent token presented again. Within the grace window, and only while the pair it was
   * rotated into is still the live one (its refresh token unspent), it is the same client racing
   * itself (two tabs, a retry after a lost answer): it gets that same pair, and nothing is
   * revoked. Anything else (after the window, an older token, a successor already rotated) is
   * reuse, and the whole session is revoked.
   */
  async function replayed(spent: RefreshTokenRecord, presented: string, now: Date): Promise<TokenPair> {
    const successor = spent.successor;
    if (successor === null || successor.graceUntil.getTime() <= now.getTime()) {
      return reuseDetected(spent.sessionId, spent.userId, now);
    }
    const [next, live] = await Promise.all([
      store.refreshTokens.find(successor.tokenHash),
      liveSession(spent.sessionId, spent.userId, now),
    ]);
    if (!isUnspent(next)) return reuseDetected(spent.sessionId, spent.userId, now);
    if (live === null) throw new AuthError("REFRESH_REVOKED", "the session has ended; sign in again");
    let pair: SealedPair;
    try {
      pair = JSON.parse(Buffer.from(deps.successorSealer.open(successor.sealedPair, presented)).toString("utf8")) as SealedPair;
    } catch (err) {
      // Sealed under another SERVER_SECRET (rotated since): the pair cannot be given again, but the
      // client holding it did nothing wrong, so nothing is revoked.
      deps.log.warn({ err, sessionId: spent.sessionId }, "refresh grace: the stored pair does not open");
      throw new AuthError("INVALID_REFRESH", "the refresh token is invalid", { field: "refresh_token" });
    }
    // The read above may be stale by now: the owner may have rotated the successor while it was
    // in flight. A pair handed out after that would let its holder replay it within its own grace
    // for the live pair, so the predecessor of a rotated successor would never revoke. Checked
    // again as the last step before the pair goes out (nothing is awaited after it).
    if (!(await unspent(successor.tokenHash))) return reuseDetected(spent.sessionId, spent.userId, now);
    deps.log.info(
      { sessionId: spent.sessionId, userId: spent.userId },
      "refresh token replayed within the grace window: same pair returned",
    );
    deps.events.refreshGraceReplay();
    return {
      accessToken: pair.accessToken,
      refreshToken: pair.refreshToken,
      tokenType: "Bearer",
      expiresIn: Math.max(0, Math.floor((pair.accessTokenExpiresAt - now.getTime()) / 1000)),
      accessTokenExpiresAt: new Date(pair.accessTokenExpiresAt),
      refreshTokenExpiresAt: new Date(pair.refreshTokenExpiresAt),
      sessionId: spent.sessionId,
    };
  }

  /**
   * Spends a refresh token for a new pair; a spent one presented again is a replay within the
   * grace window or reuse (see replayed).
   */
  return async function refresh(rawToken: string): Promise<TokenPair> {
    const token = checkOpaque("refresh_token", rawToken, "INVALID_REFRESH");
    const hash = tokenHash(token);
    const now = clock.now();
    const found = await store.refreshTokens.find(hash);
    if (found === null) {
      throw new AuthError("INVALID_REFRESH", "the refresh token is invalid", { field: "refresh_token" });
    }
    if (found.consumedAt !== null) return replayed(found, token, now);
    if (found.expiresAt.getTime() <= now.getTime()) {
      throw new AuthError("REFRESH_EXPIRED", "the refresh token has expired; sign in again");
    }
    // Liveness is checked before the spend: concurrent callers that lose the spend revoke the
    // session only after it, so they cannot turn the single winner into a failure. The winner's
    // new pair then dies with the session, because every call checks that the session is live.
    const live = await liveSession(found.sessionId, found.userId, now);
    if (live === null) throw new AuthError("REFRESH_REVOKED", "the session has ended; sign in again");
    const { session } = live;
    const sliding = addSeconds(now, ttlFor(session.rememberMe));
    const absolute = addSeconds(session.createdAt, policy.sessionMaxLifetimeSeconds);
    const expiresAt = new Date(Math.min(sliding.getTime(), absolute.getTime()));
    // The new pair is made and its refresh token stored before the spend, so that the spend
    // records it in the same atomic step: a racing caller that loses the spend then finds the
    // pair, and the token in it already works.
    const pair = await issuePair(session, live.user, expiresAt);
    const keepSpentUntil = addSeconds(now, policy.refreshReuseDetectionSeconds);
    const spent = await store.refreshTokens.consume(hash, now, keepSpentUntil, successorOf(token, pair, now));
    if (spent.outcome !== "consumed") {
      // Lost the race: this pair was never handed out.
      await store.refreshTokens.delete(tokenHash(pair.refreshToken));
      if (spent.outcome === "reused") return replayed(spent.record, token, now);
      throw new AuthError("INVALID_REFRESH", "the refresh token is invalid", { field: "refresh_token" });
    }
    await store.sessions.touch(session.id, now, expiresAt);
    // The spent token is kept for reuse detection; a session keeps its last ones only. The pair
    // is the client's already: a failure here costs some storage, not the refresh.
    await store.refreshTokens.dropSpentBeyond(session.id, spentTokensKeptPerSession).catch((err: unknown) => {
      deps.log.warn({ err, sessionId: session.id }, "could not drop a session's oldest spent refresh tokens");
    });
    return pair;
  };
}
