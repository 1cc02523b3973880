// The users of the storage port (the rules every adapter honours are in ../port.ts).

import type { SessionCutoff } from "./shared.ts";

/** The role every account has unless an administrator changes it (see src/permissions/). */
export const defaultRole = "user";

export interface UserRecord {
  id: string;
  /** Normalized: trimmed and lower-cased. Unique. */
  email: string;
  emailVerified: boolean;
  /**
   * When the address was first proven (null while it is not): a way in added before then was
   * added by whoever made the account, who may not own the address (account pre-hijacking).
   * Records written before this field existed read a verified address as proven at creation.
   */
  emailVerifiedAt: Date | null;
  displayName: string;
  /** argon2id PHC string; null once the password credential is unlinked. */
  passwordHash: string | null;
  passwordUpdatedAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
  /**
   * Raised by every change that ends sessions: password changes and resets, RevokeOtherSessions,
   * removing a sign-in method, disabling the account, and the two-factor changes that end the
   * other sessions (which also raise their own record's cutoff; see UserUpdateOptions.endSessions).
   */
  sessionCutoff: SessionCutoff;
  /**
   * How many of sessionCutoff's raises two-factor changes made (`endSessions.twoFactorChange`).
   * What binds to the account's credentials rather than to its sessions (known-device tokens,
   * sign-in challenges) binds to the generation without them: see credentialGeneration. Records
   * written before it existed read 0.
   */
  twoFactorCutoffRaises: number;
  /**
   * The user's roles (src/permissions/), each once, sorted; ["user"] for a new account. Records
   * written before roles existed read as ["user"].
   */
  roles: string[];
  /** When an administrator disabled the account; null while enabled (and in older records). */
  disabledAt: Date | null;
}

/** The fields of a user that may change after creation. */
export type UserPatch = Partial<
  Pick<
    UserRecord,
    "emailVerified" | "emailVerifiedAt" | "displayName" | "passwordHash" | "passwordUpdatedAt" | "updatedAt" | "roles" | "disabledAt"
  >
>;

/** The keys of UserPatch, listed for adapters so that nothing else (id, email, createdAt) can be patched. */
export const PATCHABLE_USER_FIELDS = [
  "emailVerified",
  "emailVerifiedAt",
  "displayName",
  "passwordHash",
  "passwordUpdatedAt",
  "updatedAt",
  "roles",
  "disabledAt",
] as const satisfies readonly (keyof UserPatch)[];

export interface UserUpdateOptions {
  ifPasswordHash?: string | null;
  /**
   * Only while the user's roles are still exactly these, as read (the same names in the same
   * order; a record written before roles existed reads as the default role alone and matches
   * that). A write allowed by what the roles were (AdminService reaches only accounts whose roles
   * grant nothing the caller lacks) must not land on an account promoted in the meantime.
   */
  ifRoles?: readonly string[];
  /**
   * Only while the user's session cutoff still lets this session through: its generation is at
   * least the cutoff's, or it is the session the cutoff kept. A change made from a session that a
   * concurrent security change has just ended must not land, and above all must not keep (revive)
   * that session with `endSessions` while ending the one that made the other change.
   */
  ifSessionPasses?: { sessionId: string; generation: number };
  /**
   * Raises the session cutoff by one, keeping only `keep` (or none). `twoFactorChange`: the raise
   * is a two-factor change's, counted in twoFactorCutoffRaises as well, in the same write.
   */
  endSessions?: { keep: string | null; twoFactorChange?: boolean };
}

/**
 * The generation of the account's credentials: the session cutoff's without the raises two-factor
 * changes made. Known-device tokens and sign-in challenges bind to it: a password change or reset,
 * RevokeOtherSessions or a removed sign-in method voids them, and a two-factor change leaves them
 * current, as it did when it raised only the two-factor record's cutoff.
 */
export function credentialGeneration(user: Pick<UserRecord, "sessionCutoff" | "twoFactorCutoffRaises">): number {
  return user.sessionCutoff.generation - user.twoFactorCutoffRaises;
}

/** A page of users in email order (see UserStore.list). */
export interface UserListQuery {
  /** Only users whose email starts with this (already normalized) prefix; "" for all. */
  emailPrefix: string;
  /** Only users whose email sorts after this one (the last of the previous page); null from the start. */
  afterEmail: string | null;
  limit: number;
}

export interface UserStore {
  /** Throws DuplicateEmailError when the email is taken. */
  insert(user: UserRecord): Promise<void>;
  findById(id: string): Promise<UserRecord | null>;
  findByEmail(email: string): Promise<UserRecord | null>;
  /**
   * Applies the patch and returns the updated user, or null when there is no such user, or when
   * `ifPasswordHash` is given and the stored hash is no longer that one (a compare-and-set, so a
   * stale writer cannot overwrite a password changed in the meantime), or when `ifSessionPasses`
   * is given and the stored cutoff no longer lets that session through, or when `ifRoles` is
   * given and the stored roles are no longer those. With `endSessions`, the
   * same atomic write raises the user's session cutoff generation by one and keeps only
   * `endSessions.keep` (or none), and with `endSessions.twoFactorChange` raises
   * twoFactorCutoffRaises by one as well.
   */
  update(id: string, patch: UserPatch, options?: UserUpdateOptions): Promise<UserRecord | null>;
  /** Returns whether a user was deleted. */
  delete(id: string): Promise<boolean>;
  /** Up to `limit` users in ascending email order (emails are unique, so the order is total). */
  list(query: UserListQuery): Promise<UserRecord[]>;
}
