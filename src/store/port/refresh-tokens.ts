// The refresh tokens of the storage port (the rules every adapter honours are in ../port.ts).

export interface RefreshTokenRecord {
  /** SHA-256 of the opaque token, hex. The token itself is never stored. */
  tokenHash: string;
  sessionId: string;
  userId: string;
  createdAt: Date;
  expiresAt: Date;
  /** Set, atomically, by the one call that spent the token. */
  consumedAt: Date | null;
  /** Written in the same atomic step as consumedAt: what the spend handed out (null: none kept). */
  successor: RefreshSuccessor | null;
}

/**
 * What a refresh rotated a token into, kept with the spent token so that the same client racing
 * itself (two tabs, a retry) gets the same answer for a short while instead of revoking the session.
 */
export interface RefreshSuccessor {
  /** SHA-256 of the refresh token handed out: tells a replay of its immediate predecessor apart. */
  tokenHash: string;
  /** The pair handed out, AES-256-GCM sealed (src/secrets/server-secrets.ts); opaque to storage. */
  sealedPair: string;
  /** Until when a replay may be answered with the pair; after it the pair is useless, and dropped. */
  graceUntil: Date;
}

export type ConsumeRefreshResult =
  | { outcome: "consumed"; record: RefreshTokenRecord }
  | { outcome: "reused"; record: RefreshTokenRecord }
  | { outcome: "unknown" };

export interface RefreshTokenStore {
  insert(token: RefreshTokenRecord): Promise<void>;
  /** The record whatever its state (spent, expired but not yet purged), or null. */
  find(tokenHash: string): Promise<RefreshTokenRecord | null>;
  /**
   * Atomically spends the token: exactly one caller gets "consumed" (with the record as it was
   * before spending); every later or concurrent caller gets "reused" (with consumedAt and the
   * winner's `successor` set, written in the same atomic step, so no loser ever sees one without
   * the other). The spent record's expiresAt moves to `keepSpentUntil` if that is sooner: reuse
   * is detectable only until the record is purged after its expiry; then it is "unknown". Expiry
   * is not checked here: the record carries `expiresAt` for the caller to judge. Unknown hashes
   * give "unknown". Adapters may drop a successor once its graceUntil has passed, or once the token
   * it names has been spent in turn: the service hands a pair out only while both hold, and takes
   * anything else as reuse either way.
   */
  consume(tokenHash: string, now: Date, keepSpentUntil: Date, successor?: RefreshSuccessor | null): Promise<ConsumeRefreshResult>;
  /**
   * Removes the session's spent tokens but the `keep` spent most recently; its unspent ones stay.
   * "Most recently" by the order of the spends (consumedAt, as the service's clock only moves on). Each refresh leaves its spent token behind for reuse detection, so without
   * this a session refreshing as fast as it can would grow the store without bound.
   */
  dropSpentBeyond(sessionId: string, keep: number): Promise<void>;
  /**
   * Moves the expiry of every token of the session (spent or not) to `until` where that is sooner:
   * an ended session's tokens are remembered (a refresh with one is refused as the session's end)
   * only as long as a spent one is, not for the rest of their 7 or 30 days.
   */
  expireSession(sessionId: string, userId: string, until: Date): Promise<void>;
  /** As expireSession for every session of the user but `exceptSessionId` (ended together by a security change). */
  expireAllForUser(userId: string, until: Date, exceptSessionId?: string): Promise<void>;
  /** Removes one token (a successor minted for a spend that lost the race: never handed out). */
  delete(tokenHash: string): Promise<void>;
  deleteAllForUser(userId: string): Promise<void>;
}
