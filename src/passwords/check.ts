import { limitedAttempt } from "../attempt-limit.ts";
import type { Clock } from "../clock.ts";
import { AuthError } from "../errors.ts";
import type { AttemptPolicy, AttemptStore, UserRecord } from "../store/port.ts";
import type { PasswordHasher } from "./hasher.ts";

export interface PasswordCheckDeps {
  attempts: AttemptStore;
  clock: Clock;
  hasher: PasswordHasher;
  /** Wrong passwords per address before it locks; undefined when the limit is off. */
  limit: AttemptPolicy | undefined;
}

/** The guessing-limit key of an address's password (an account's, or a would-be account's). */
export const passwordAttemptKey = (email: string): string => `password:${email}`;

/** Checks a presented password for the account with that (normalized) email. */
export type PasswordCheck = (email: string, user: UserRecord | null, password: string) => Promise<boolean>;

/**
 * Password checks under the account's guessing limit. The key is the email, whether or not an
 * account has it, and an unknown account costs the same argon2 work, so neither the answer, the
 * time nor a lock reveals whether the account exists.
 */
export function createPasswordCheck(deps: PasswordCheckDeps): PasswordCheck {
  const { hasher } = deps;
  return async (email, user, password) => {
    const ok = await limitedAttempt(
      deps,
      passwordAttemptKey(email),
      deps.limit,
      (retryAfterSeconds) => new AuthError("RATE_LIMITED", "too many failed attempts; try again later", { retryAfterSeconds }),
      async () => {
        if (user === null || user.passwordHash === null) {
          await hasher.burn(password);
          return null;
        }
        return (await hasher.verify(user.passwordHash, password)) ? true : null;
      },
    );
    return ok === true;
  };
}
