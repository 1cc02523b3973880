// The sessions of the storage port (the rules every adapter honours are in ../port.ts).

export interface SessionRecord {
  id: string;
  userId: string;
  userAgent: string;
  ipAddress: string;
  rememberMe: boolean;
  createdAt: Date;
  lastActiveAt: Date;
  /** The session ends at this instant unless a refresh moves it later. */
  expiresAt: Date;
  /** Set when the session was revoked (logout, revoke, password change...). */
  revokedAt: Date | null;
  /** The cutoff generations of the user and of their two-factor record when the sign-in began. */
  generations: { user: number; twoFactor: number };
}

export interface SessionStore {
  insert(session: SessionRecord): Promise<void>;
  /** The session if it exists, is not revoked and has not expired at `now`. */
  findLive(id: string, now: Date): Promise<SessionRecord | null>;
  /** The user's live sessions at `now`, newest (createdAt) first. */
  listLive(userId: string, now: Date): Promise<SessionRecord[]>;
  /**
   * Whether listLive would return more than `limit` (a whole number, 0 or more) sessions: the
   * user's sessions neither revoked nor expired at `now`. Asked on every sign-in, so it stops
   * counting at `limit` + 1 live sessions; the revoked and expired ones not yet removed that it
   * meets on the way are still looked at. The cutoffs a security change raised are the domain's
   * to apply (sessions.ts), so this counts an upper bound on the sessions that are really live.
   */
  moreLiveThan(userId: string, now: Date, limit: number): Promise<boolean>;
  /** Sets lastActiveAt (and expiresAt when given) of a live session. Returns whether it was live. */
  touch(id: string, now: Date, expiresAt?: Date): Promise<boolean>;
  /**
   * Revokes one live session, only if it belongs to `userId`. Returns whether a live session of
   * that user was revoked (false for unknown, foreign, expired or already revoked).
   */
  revoke(id: string, userId: string, now: Date): Promise<boolean>;
  /** Revokes every live session of the user except `exceptId`. Returns how many. */
  revokeAllForUser(userId: string, now: Date, exceptId?: string): Promise<number>;
  /** Removes every session record of the user (account deletion). */
  deleteAllForUser(userId: string): Promise<void>;
}
