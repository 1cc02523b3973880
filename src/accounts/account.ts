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
