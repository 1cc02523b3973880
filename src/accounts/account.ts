import { AuthError } from "../errors.ts";
import type { UserRecord } from "../store/port.ts";

/**
 * A disabled account's refusal. Told only to whoever proved the password or holds a code mailed
 * to the address, so it reveals nothing to a stranger probing addresses.
 */
export const accountDisabled = (): AuthError => new AuthError("ACCOUNT_DISABLED", "this account has been disabled by an administrator");

/**
 * The guessing-limit key of an address's wrong email sign-in codes in a row, across mails (the
 * address, whether or not it has an account). Here, below both, because a successful email
 * sign-in and a completed password reset both clear it.
 */
export const emailSignInFailuresKey = (email: string): string => `email-code-consecutive:${email}`;

/** The guessing-limit key of an address's mailed code (the address, whether or not it has an account). */
export const emailCodeAttemptKey = (email: string): string => `email-code:${email}`;

/**
 * Marks an address asked for within a code's life, known or not: only such an address can have a
 * live code, so only its wrong codes are counted (see src/sign-in/email.ts).
 */
export const emailCodeRequestedKey = (email: string): string => `email-code-requested:${email}`;

/**
 * The counters email sign-in keeps under the address itself that deleting the account clears, so
 * that the address (kept in clear in the key) goes with it, and whoever registers it next inherits
 * no count or lock. The one of wrong codes in a row (30 days) only when the account had `proven`
 * the address: the maker of one that never did (anyone can register an address first) is no more
 * the mailbox's owner than any stranger, and deleting the account and registering the address
 * again would give them a fresh 100 guesses each time, at the hourly mail bound: the rate the cap
 * exists to stop (and a right guess proves the address, which promotes an ADMIN_EMAILS one).
 */
export const emailSignInAttemptKeys = (email: string, proven: boolean): string[] => [
  emailCodeRequestedKey(email),
  emailCodeAttemptKey(email),
  ...(proven ? [emailSignInFailuresKey(email)] : []),
];

/**
 * A user as transports may show it: never the password hash, the session cutoff or anything
 * else only the service needs.
 */
export interface AccountView {
  id: string;
  email: string;
  emailVerified: boolean;
  displayName: string;
  createdAt: Date;
  updatedAt: Date;
  /** Whether sign-in needs a second factor. */
  twoFactorEnabled: boolean;
  /** The user's roles (src/permissions/). */
  roles: readonly string[];
}

export function accountView(user: Omit<UserRecord, "passwordHash">, twoFactorEnabled: boolean): AccountView {
  return {
    id: user.id,
    email: user.email,
    emailVerified: user.emailVerified,
    displayName: user.displayName,
    createdAt: user.createdAt,
    updatedAt: user.updatedAt,
    twoFactorEnabled,
    roles: [...user.roles],
  };
}
