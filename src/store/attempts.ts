// Counting failed guesses (passwords now, second factors later) the same way in every adapter.
// The adapters differ only in how they make `nextAttemptState` atomic.
import type { AttemptPolicy, AttemptRecord, AttemptState } from "./port.ts";

const emptyState: AttemptState = { failures: 0, lockedUntil: null };

function isLocked(record: AttemptRecord | null, now: Date): boolean {
  return record?.lockedUntil != null && record.lockedUntil.getTime() > now.getTime();
}

/** The state a stored record means at `now`: a passed window or lock counts as a fresh start. */
export function attemptStateAt(record: AttemptRecord | null, now: Date): AttemptState {
  if (record === null || record.expiresAt.getTime() <= now.getTime()) return emptyState;
  if (isLocked(record, now)) return { failures: record.failures, lockedUntil: record.lockedUntil };
  if (record.lockedUntil !== null) return emptyState; // the lock has passed
  return { failures: record.failures, lockedUntil: null };
}

/**
 * What taking back one failure does to a key (AttemptStore.forgive): null when there is no live
 * count to take from (missing, expired, or a lock that has passed).
 */
export function forgivenAttemptRecord(record: AttemptRecord | null, now: Date, policy: AttemptPolicy): AttemptRecord | null {
  if (record === null || attemptStateAt(record, now).failures === 0) return null;
  const failures = record.failures - 1;
  if (failures >= policy.maxFailures) return { ...record, failures };
  const expiresAt = new Date(record.windowStartedAt.getTime() + Math.trunc(policy.windowSeconds * 1000));
  return { ...record, failures, lockedUntil: null, expiresAt };
}

/**
 * What one more failure does to a key: nothing while it is locked (counted: false), otherwise it
 * is counted, and the failure that reaches `maxFailures` locks the key for `lockSeconds`.
 */
export function nextAttemptRecord(
  key: string,
  record: AttemptRecord | null,
  now: Date,
  policy: AttemptPolicy,
): { counted: boolean; record: AttemptRecord } {
  if (record !== null && isLocked(record, now)) return { counted: false, record };
  const current = attemptStateAt(record, now);
  const fresh = current.failures === 0;
  const windowStartedAt = fresh || record === null ? now : record.windowStartedAt;
  const failures = current.failures + 1;
  const lockedUntil = failures >= policy.maxFailures ? new Date(now.getTime() + policy.lockSeconds * 1000) : null;
  const windowEnds = new Date(windowStartedAt.getTime() + policy.windowSeconds * 1000);
  const expiresAt = lockedUntil !== null && lockedUntil > windowEnds ? lockedUntil : windowEnds;
  return { counted: true, record: { key, failures, windowStartedAt, lockedUntil, expiresAt } };
}
