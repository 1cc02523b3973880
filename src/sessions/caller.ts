import { AuthError } from "../errors.ts";
import type { UserRecord, UserStore } from "../store/port.ts";

/** Who made the request, as far as the transport can tell. */
export interface ClientInfo {
  ipAddress: string;
  userAgent: string;
  /** The request's X-Request-Id, for the log lines an operation writes about it (not stored). */
  requestId?: string;
  /**
   * The change is an administrator's (AdminService): a notification then says so, and names no
   * address or browser, which would stand for the administrator's.
   */
  byAdministrator?: true;
}

/** No client to tell of (a call made in-process); a notification then says "unknown". */
export const unknownClient: ClientInfo = { ipAddress: "", userAgent: "" };

/** An authenticated caller: a live session of an existing user. */
export interface Caller {
  userId: string;
  sessionId: string;
  /** When the session was opened by a sign-in (refreshes keep it): how fresh its proof of identity is. */
  signedInAt: Date;
  /** The cutoff generations the session was opened under (see SessionCutoff in store/port.ts). */
  generations: { user: number; twoFactor: number };
  /**
   * The user's roles and the permissions they grant, read from the user record by the same live
   * check that proves the session (not from the token): a change of roles counts on the next call.
   */
  roles: readonly string[];
  permissions: readonly string[];
  /**
   * The user record and second-factor state the same live check read: an operation that only shows
   * the caller their account (GetCurrentUser) answers from these instead of reading them again.
   * Without the password hash, so that a caller logged or attached to an error never carries it.
   */
  user: Omit<UserRecord, "passwordHash">;
  twoFactorEnabled: boolean;
}

/** The refusal of a call whose session has ended (revoked, expired, or cut off by a security change). */
export const sessionEnded = (): AuthError => new AuthError("SESSION_REVOKED", "the session has ended; sign in again");

/** The caller's user. A live session outlives its user only if deletion raced the call. */
export async function requireUser(users: Pick<UserStore, "findById">, caller: Caller): Promise<UserRecord> {
  const user = await users.findById(caller.userId);
  if (user === null) throw sessionEnded();
  return user;
}
