// Security events that only an operation can tell apart, reported as they happen for the service's
// metrics (src/metrics/). What a call's answer already says (its status and reason) is counted
// from the answer; these are the events an answer hides: a refresh token replayed within its grace
// window answers like a refresh, a lock begins on a failure that answers like any other. They
// carry no user data (no address, id or email): only which kind of thing happened.

/** Which password-guessing counter locked (see passwords/check.ts for each one's rule). */
export type PasswordLockScope = "address" | "address_aggregate" | "account" | "account_hour" | "account_hour_known" | "device" | "session";

export interface SecurityEvents {
  /**
   * A guessing counter reached its limit with a wrong guess and locked: once per lock, not per
   * guess refused while it holds. A guess that reached the limit but was right lifts the lock it
   * set, and is not reported.
   */
  locked(factor: "password", scope: PasswordLockScope): void;
  locked(factor: "second_factor", scope: "account"): void;
  /** A spent refresh token was presented again outside its grace: its session was revoked. */
  refreshReuse(): void;
  /** A spent refresh token was presented again within its grace window and got the same pair. */
  refreshGraceReplay(): void;
}

/** For a service without metrics. */
export const noEvents: SecurityEvents = {
  locked: () => undefined,
  refreshReuse: () => undefined,
  refreshGraceReplay: () => undefined,
};
