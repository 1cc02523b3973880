// The failed-attempt counts of the storage port (the rules every adapter honours are in ../port.ts).

/** Failed guesses counted for one key (an account's password, later its second factor). */
export interface AttemptRecord {
  key: string;
  failures: number;
  /** When the first failure of the current count happened; the count lasts `windowSeconds`. */
  windowStartedAt: Date;
  lockedUntil: Date | null;
  /** When the record stops mattering (end of window or lock); purged after. */
  expiresAt: Date;
}

export interface AttemptState {
  failures: number;
  lockedUntil: Date | null;
}

export interface AttemptPolicy {
  maxFailures: number;
  windowSeconds: number;
  lockSeconds: number;
}

export interface AttemptStore {
  /** The count and lock of a key at `now` (zero and null when there is none). */
  get(key: string, now: Date): Promise<AttemptState>;
  /**
   * Atomically counts one failure for the key, unless it is locked at `now` (then counted is
   * false and nothing changes). The failure that reaches maxFailures locks the key until
   * now + lockSeconds. A count older than windowSeconds, or a passed lock, starts afresh. Any number
   * of concurrent calls count at most maxFailures failures before the lock.
   */
  fail(key: string, now: Date, policy: AttemptPolicy): Promise<{ counted: boolean; state: AttemptState }>;
  /**
   * Takes back one failure counted at or before `now` (a guess that turned out right, on a count
   * a success does not clear), atomically: one fewer failure, and a lock that the failure set is
   * lifted. Nothing happens to a key with no live count.
   */
  forgive(key: string, now: Date, policy: AttemptPolicy): Promise<void>;
  /** Forgets the key (after a success). */
  clear(key: string): Promise<void>;
}
