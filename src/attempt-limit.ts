import { clientNetwork } from "./client-network.ts";
import type { Clock } from "./clock.ts";
import type { AuthError } from "./errors.ts";
import type { AttemptPolicy, AttemptStore } from "./store/port.ts";

type LockedError = (retryAfterSeconds: number) => AuthError;

function secondsUntil(until: Date | null, now: Date): number {
  return Math.max(1, Math.ceil(((until ?? now).getTime() - now.getTime()) / 1000));
}

/**
 * Counts one guess against a key atomically, or throws `locked` when the key is locked. Whatever
 * number of guesses race, at most `maxFailures` of them get through before the lock. Returns
 * whether this guess's count set the lock (it stands unless the guess turns out right).
 */
export async function countGuess(
  deps: { attempts: AttemptStore; clock: Clock },
  key: string,
  policy: AttemptPolicy,
  locked: LockedError,
): Promise<boolean> {
  const now = deps.clock.now();
  const { counted, state } = await deps.attempts.fail(key, now, policy);
  if (!counted) throw locked(secondsUntil(state.lockedUntil, now));
  return state.lockedUntil !== null;
}

/** Throws `locked` while the key is locked, without counting anything. */
export async function refuseIfLocked(deps: { attempts: AttemptStore; clock: Clock }, key: string, locked: LockedError): Promise<void> {
  const now = deps.clock.now();
  const { lockedUntil } = await deps.attempts.get(key, now);
  if (lockedUntil !== null) throw locked(secondsUntil(lockedUntil, now));
}

/**
 * Runs one guess (a password, a second-factor code) under a guessing limit. The attempt is counted
 * in storage before the check and forgiven after a success, so any number of parallel guesses
 * cannot get more than `maxFailures` checks before the key locks; a locked key fails at once with
 * the error `locked` builds from the seconds left. `onLocked` hears of a lock this guess set and
 * left standing (it was wrong, or its check failed).
 */
export async function limitedAttempt<T>(
  deps: { attempts: AttemptStore; clock: Clock; onLocked?: () => void },
  key: string,
  policy: AttemptPolicy | undefined,
  locked: LockedError,
  check: () => Promise<T | null>,
): Promise<T | null> {
  const lockedNow = policy !== undefined && (await countGuess(deps, key, policy, locked));
  let result: T | null = null;
  try {
    result = await check();
  } finally {
    if (lockedNow && result === null) deps.onLocked?.();
  }
  if (result !== null && policy !== undefined) await deps.attempts.clear(key);
  return result;
}

/**
 * Counts one start of an unauthenticated ceremony that stores something until it expires (a
 * provider flow, a passkey challenge) against the client network's hourly budget, or throws
 * `refused` once the budget is spent: anyone may start one, so without this one client could
 * fill the store. `perHour` 0 is no limit.
 */
export async function countClientStart(
  deps: { attempts: AttemptStore; clock: Clock },
  kind: string,
  address: string,
  perHour: number,
  refused: LockedError,
): Promise<void> {
  if (perHour <= 0) return;
  const policy = { maxFailures: perHour, windowSeconds: 3_600, lockSeconds: 3_600 };
  await countGuess(deps, `${kind}:${clientNetwork(address)}`, policy, refused);
}
