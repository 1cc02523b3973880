import { AuthError } from "../errors.ts";
import type { UserRecord } from "../store/port.ts";

/**
 * A disabled account's refusal. Told only to whoever proved the password or holds a code mailed
 * to the address, so it reveals nothing to a stranger probing addresses.
 */
export const accountDisabled = (): AuthError => new AuthError("ACCOUNT_DISABLED", "this account has been disabled by an administrator");

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

export function accountView(user: UserRecord, twoFactorEnabled: boolean): AccountView {
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
