import type { Clock } from "./clock.ts";
import type { AuthError } from "./errors.ts";
import type { AttemptPolicy, AttemptStore } from "./store/port.ts";

/**
 * Runs one guess (a password, a second-factor code) under a guessing limit. The attempt is counted
 * in storage before the check and forgiven after a success, so any number of parallel guesses
 * cannot get more than `maxFailures` checks before the key locks; a locked key fails at once with
 * the error `locked` builds from the seconds left.
 */
export async function limitedAttempt<T>(
  deps: { attempts: AttemptStore; clock: Clock },
  key: string,
  policy: AttemptPolicy | undefined,
  locked: (retryAfterSeconds: number) => AuthError,
  check: () => Promise<T | null>,
): Promise<T | null> {
  if (policy !== undefined) {
    const now = deps.clock.now();
    const { counted, state } = await deps.attempts.fail(key, now, policy);
    if (!counted) {
      const until = state.lockedUntil?.getTime() ?? now.getTime();
      throw locked(Math.max(1, Math.ceil((until - now.getTime()) / 1000)));
    }
  }
  const result = await check();
  if (result !== null && policy !== undefined) await deps.attempts.clear(key);
  return result;
}
