// The storage port. The domain owns these interfaces; `memory.ts` and `mongo.ts` implement them,
// and `test/store/contract.ts` holds the one suite both must pass.
//
// Rules every adapter honours:
// - Emails are stored already normalized; `users.insert` rejects a second user with the same
//   email by throwing DuplicateEmailError, atomically (two concurrent inserts: exactly one wins).
// - Expiry: records whose `expiresAt` is not after `now` are treated as absent by every read that
//   takes `now`, and are eventually purged (MongoDB TTL indexes, a sweep in memory).
// - Writes that must not race are single atomic operations: consuming a refresh token or a
//   one-time code succeeds for exactly one of any number of concurrent callers.
// - Failures to reach the database (network, server selection, no primary, shutdown, write
//   concern, time limit) surface as StorageUnavailableError; any other database failure as
//   StorageFailureError. Never a driver error.
// - Strings are stored as given; callers pass only well-formed UTF-16 (see src/input.ts).
// - Records returned are copies: mutating them never changes what is stored.

/**
 * Ends sessions without touching them: every session records the generation it was opened under,
 * and a session whose generation is older than its user's current one is refused, unless it is
 * the one the change kept (the caller's own). Raising the generation is written in the same
 * single-document update as the security change that requires it, so the sessions end even if
 * the process dies or MongoDB fails over before the session records are cleaned up.
 */
export interface SessionCutoff {
  generation: number;
  /** The session the latest change let through (the one that made it); null for none. */
  keptSessionId: string | null;
}

export const noCutoff: SessionCutoff = { generation: 0, keptSessionId: null };

/** The role every account has unless an administrator changes it (see src/permissions/). */
export const defaultRole = "user";

export interface UserRecord {
  id: string;
  /** Normalized: trimmed and lower-cased. Unique. */
  email: string;
  emailVerified: boolean;
  displayName: string;
  /** argon2id PHC string; null once the password credential is unlinked. */
  passwordHash: string | null;
  passwordUpdatedAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
  /** Raised by password changes and resets and by unlinking a credential. */
  sessionCutoff: SessionCutoff;
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
  Pick<UserRecord, "emailVerified" | "displayName" | "passwordHash" | "passwordUpdatedAt" | "updatedAt" | "roles" | "disabledAt">
>;

/** The keys of UserPatch, listed for adapters so that nothing else (id, email, createdAt) can be patched. */
export const PATCHABLE_USER_FIELDS = [
  "emailVerified",
  "displayName",
  "passwordHash",
  "passwordUpdatedAt",
  "updatedAt",
  "roles",
  "disabledAt",
] as const satisfies readonly (keyof UserPatch)[];

export interface SessionRecord {
  id: string;
  userId: string;
  userAgent: string;
  ipAddress: string;
  rememberMe: boolean;
  createdAt: Date;
  lastActiveAt: Date;
  /** The session ends at this instant unless a refresh moves it later. */
  expiresAt: Date;
  /** Set when the session was revoked (logout, revoke, password change...). */
  revokedAt: Date | null;
  /** The cutoff generations of the user and of their two-factor record when the sign-in began. */
  generations: { user: number; twoFactor: number };
}

export interface RefreshTokenRecord {
  /** SHA-256 of the opaque token, hex. The token itself is never stored. */
  tokenHash: string;
  sessionId: string;
  userId: string;
  createdAt: Date;
  expiresAt: Date;
  /** Set, atomically, by the one call that spent the token. */
  consumedAt: Date | null;
  /** Written in the same atomic step as consumedAt: what the spend handed out (null: none kept). */
  successor: RefreshSuccessor | null;
}

/**
 * What a refresh rotated a token into, kept with the spent token so that the same client racing
 * itself (two tabs, a retry) gets the same answer for a short while instead of revoking the session.
 */
export interface RefreshSuccessor {
  /** SHA-256 of the refresh token handed out: tells a replay of its immediate predecessor apart. */
  tokenHash: string;
  /** The pair handed out, AES-256-GCM sealed (src/secrets/server-secrets.ts); opaque to storage. */
  sealedPair: string;
  /** Until when a replay may be answered with the pair; after it the pair is useless, and dropped. */
  graceUntil: Date;
}

/**
 * email_sign_in_*: the code and the magic link of an email sign-in (src/sign-in/email.ts);
 * provider_*: a sign-in or link with an OpenID Connect provider (src/federation/).
 */
export type CodePurpose =
  | "email_verification"
  | "password_reset"
  | "login_challenge"
  | "email_sign_in_code"
  | "email_sign_in_link"
  // WebAuthn challenges (src/passkeys/), one purpose per ceremony so none answers another's.
  | "passkey_registration"
  | "passkey_sign_in"
  | "passkey_second_factor"
  | "provider_sign_in"
  | "provider_link";

export interface CodeRecord {
  /** SHA-256 of the code, hex. The code itself is never stored. */
  codeHash: string;
  purpose: CodePurpose;
  /** The user it belongs to; "" for a passwordless sign-in's challenge, issued before anyone is known. */
  userId: string;
  createdAt: Date;
  expiresAt: Date;
  /** login_challenge only: whether the session to open was asked to be remembered. */
  rememberMe?: boolean;
  /**
   * login_challenge only: the user's session cutoff generation when the password was checked. A
   * password change or reset since then raises it, and the challenge is void.
   */
  userGeneration?: number;
  /** provider_sign_in and provider_link only: the configured provider id the flow runs with. */
  provider?: string;
  /** provider_link only: the session that started the link; only it may finish it. */
  sessionId?: string;
}

/**
 * An account at an OpenID Connect provider linked to a user: a way to sign in. The provider's
 * (issuer, subject) pair names it (OpenID Connect Core 5.7: the only stable identifier; never the
 * email). Unique on (provider, issuer, subject).
 */
export interface ProviderLinkRecord {
  id: string;
  userId: string;
  /** The configured provider id (OIDC_PROVIDERS), e.g. "google". */
  provider: string;
  /** The ID token's `iss` (for a multi-tenant Microsoft provider, the user's tenant's issuer). */
  issuer: string;
  /** The ID token's `sub`. */
  subject: string;
  /** The provider's email address when linked, for people to recognise the link; never matched on. */
  email: string;
  createdAt: Date;
}

/** An authenticator device: one TOTP secret. */
export interface TotpDeviceRecord {
  id: string;
  name: string;
  /** The secret, AES-256-GCM encrypted (see src/secrets/server-secrets.ts). Never stored in clear. */
  secretCiphertext: string;
  createdAt: Date;
  lastUsedAt: Date | null;
  /** The latest TOTP time step accepted from this device; codes of this step or earlier are refused. */
  lastUsedStep: number | null;
}

/**
 * A secret issued but not yet confirmed with a code: "enrol" turns 2FA on, "replace" (from Reset)
 * replaces every device, "device" adds a device.
 */
export interface PendingSecretRecord {
  purpose: "enrol" | "replace" | "device";
  secretCiphertext: string;
  createdAt: Date;
  expiresAt: Date;
}

/**
 * A user's whole two-factor state, kept as one record so that every change to it (a code spent,
 * a device added, recovery codes replaced) is a single atomic compare-and-set on `version`.
 */
export interface TwoFactorRecord {
  userId: string;
  /** Starts at 1 and grows by one with every write. */
  version: number;
  /** When 2FA was turned on; null while it is off. */
  enabledAt: Date | null;
  devices: TotpDeviceRecord[];
  /** Keyed hashes of the unused recovery codes (see src/two-factor/recovery-codes.ts). */
  recoveryCodeHashes: string[];
  pending: PendingSecretRecord[];
  /** Raised by Enable, Disable, a confirmed Reset and device removal, in the same write. */
  sessionCutoff: SessionCutoff;
}

/**
 * A passkey: one WebAuthn credential registered to a user (src/passkeys/). Only its public key is
 * kept; the private key never leaves the authenticator.
 */
export interface PasskeyRecord {
  /** Opaque id of our own (the API's passkey_id). */
  id: string;
  userId: string;
  /** The WebAuthn credential id, base64url. Unique across all users. */
  credentialId: string;
  /** The COSE public key, base64url. */
  publicKey: string;
  /** The authenticator's signature counter as last seen; 0 for authenticators that keep none. */
  counter: number;
  transports: string[];
  /** WebAuthn's BE flag at registration: the credential may be synced (a multi-device passkey). */
  backupEligible: boolean;
  /** WebAuthn's BS flag as last seen: it was backed up. */
  backedUp: boolean;
  /** The WebAuthn user handle the credential was created under, base64url. */
  userHandle: string;
  name: string;
  createdAt: Date;
  lastUsedAt: Date | null;
}

/** What a successful assertion changes on a passkey. */
export interface PasskeyUse {
  counter: number;
  backedUp: boolean;
  lastUsedAt: Date;
}

/**
 * A service's credential holder (src/service-accounts/): a name, some of the configured
 * permissions, and the hash of its one current API key.
 */
export interface ServiceAccountRecord {
  /** 24 lower-case hex digits; also the `<id>` of its keys (`authd_sk_<id>_<secret>`). */
  id: string;
  name: string;
  permissions: string[];
  /** SHA-256 of the whole current API key, hex. The key itself is never stored. */
  keyHash: string;
  /** When the current key was made (creation or the latest rotation). */
  keyCreatedAt: Date;
  /** `user:<id>` or `service:<id>`: who created it. */
  createdBy: string;
  createdAt: Date;
  /** When its key was last accepted (written at most about once a minute). */
  lastUsedAt: Date | null;
  /** Set once, when it is revoked; a revoked account is never active again. */
  revokedAt: Date | null;
}

/** Where a page of service accounts starts: after this one in newest-first order. */
export interface ServiceAccountCursor {
  createdAt: Date;
  id: string;
}

/** Failed guesses counted for one key (an account's password, later its second factor). */
export interface AttemptRecord {
  key: string;
  failures: number;
  /** When the first failure of the current count happened; the count lasts `windowSeconds`. */
  windowStartedAt: Date;
  lockedUntil: Date | null;
  /** When the record stops mattering (end of window or lock); purged after. */
  expiresAt: Date;
}

export interface AttemptState {
  failures: number;
  lockedUntil: Date | null;
}

export interface AttemptPolicy {
  maxFailures: number;
  windowSeconds: number;
  lockSeconds: number;
}

export interface UserUpdateOptions {
  ifPasswordHash?: string | null;
  endSessions?: { keep: string | null };
}

/** A page of users in email order (see UserStore.list). */
export interface UserListQuery {
  /** Only users whose email starts with this (already normalized) prefix; "" for all. */
  emailPrefix: string;
  /** Only users whose email sorts after this one (the last of the previous page); null from the start. */
  afterEmail: string | null;
  limit: number;
}

/** One administrative call, as the audit log keeps it. */
export interface AuditEventRecord {
  id: string;
  at: Date;
  /**
   * A user (id, session) or a service account (id; sessionId "") through AdminService or
   * ServiceAccountService, or the server itself (ADMIN_EMAILS at start-up: id and sessionId "").
   */
  actor: { kind: "user" | "service" | "system"; id: string; sessionId: string };
  /** What was done, e.g. "admin.users.disable". */
  action: string;
  /** Whom it was done to; null for calls on no one user. */
  targetUserId: string | null;
  client: { ipAddress: string; userAgent: string };
  /** "OK", or the reason the call failed. */
  outcome: string;
  /** What the call changed, where the action does not say (e.g. "roles=admin,user"); "" for nothing. */
  detail: string;
  /** The end of its retention (AUDIT_RETENTION_DAYS after `at`); purged after. */
  expiresAt: Date;
}

/** A page of audit events, newest first (see AuditStore.list). */
export interface AuditListQuery {
  /** Only events about this user; null for all. */
  targetUserId: string | null;
  /** Only events older than this one (the last of the previous page, by `at` then `id`); null from the newest. */
  before: { at: Date; id: string } | null;
  limit: number;
  now: Date;
}

export interface AuditStore {
  insert(event: AuditEventRecord): Promise<void>;
  /** Live (unexpired at `now`) events, newest first: by `at` descending, then `id` descending. */
  list(query: AuditListQuery): Promise<AuditEventRecord[]>;
}

export interface UserStore {
  /** Throws DuplicateEmailError when the email is taken. */
  insert(user: UserRecord): Promise<void>;
  findById(id: string): Promise<UserRecord | null>;
  findByEmail(email: string): Promise<UserRecord | null>;
  /**
   * Applies the patch and returns the updated user, or null when there is no such user, or when
   * `ifPasswordHash` is given and the stored hash is no longer that one (a compare-and-set, so a
   * stale writer cannot overwrite a password changed in the meantime). With `endSessions`, the
   * same atomic write raises the user's session cutoff generation by one and keeps only
   * `endSessions.keep` (or none).
   */
  update(id: string, patch: UserPatch, options?: UserUpdateOptions): Promise<UserRecord | null>;
  /** Returns whether a user was deleted. */
  delete(id: string): Promise<boolean>;
  /** Up to `limit` users in ascending email order (emails are unique, so the order is total). */
  list(query: UserListQuery): Promise<UserRecord[]>;
}

export interface SessionStore {
  insert(session: SessionRecord): Promise<void>;
  /** The session if it exists, is not revoked and has not expired at `now`. */
  findLive(id: string, now: Date): Promise<SessionRecord | null>;
  /** The user's live sessions at `now`, newest (createdAt) first. */
  listLive(userId: string, now: Date): Promise<SessionRecord[]>;
  /** Sets lastActiveAt (and expiresAt when given) of a live session. Returns whether it was live. */
  touch(id: string, now: Date, expiresAt?: Date): Promise<boolean>;
  /**
   * Revokes one live session, only if it belongs to `userId`. Returns whether a live session of
   * that user was revoked (false for unknown, foreign, expired or already revoked).
   */
  revoke(id: string, userId: string, now: Date): Promise<boolean>;
  /** Revokes every live session of the user except `exceptId`. Returns how many. */
  revokeAllForUser(userId: string, now: Date, exceptId?: string): Promise<number>;
  /** Removes every session record of the user (account deletion). */
  deleteAllForUser(userId: string): Promise<void>;
}

export type ConsumeRefreshResult =
  | { outcome: "consumed"; record: RefreshTokenRecord }
  | { outcome: "reused"; record: RefreshTokenRecord }
  | { outcome: "unknown" };

export interface RefreshTokenStore {
  insert(token: RefreshTokenRecord): Promise<void>;
  /** The record whatever its state (spent, expired but not yet purged), or null. */
  find(tokenHash: string): Promise<RefreshTokenRecord | null>;
  /**
   * Atomically spends the token: exactly one caller gets "consumed" (with the record as it was
   * before spending); every later or concurrent caller gets "reused" (with consumedAt and the
   * winner's `successor` set, written in the same atomic step, so no loser ever sees one without
   * the other). The spent record's expiresAt moves to `keepSpentUntil` if that is sooner: reuse
   * is detectable only until the record is purged after its expiry; then it is "unknown". Expiry
   * is not checked here: the record carries `expiresAt` for the caller to judge. Unknown hashes
   * give "unknown". Adapters may drop a successor once its graceUntil has passed, or once the token
   * it names has been spent in turn: the service hands a pair out only while both hold, and takes
   * anything else as reuse either way.
   */
  consume(tokenHash: string, now: Date, keepSpentUntil: Date, successor?: RefreshSuccessor | null): Promise<ConsumeRefreshResult>;
  /** Removes one token (a successor minted for a spend that lost the race: never handed out). */
  delete(tokenHash: string): Promise<void>;
  deleteAllForUser(userId: string): Promise<void>;
}

export interface CodeStore {
  /** Stores the code and deletes every other code of the same user and purpose. */
  replace(code: CodeRecord): Promise<void>;
  /** The code if it exists with that purpose and has not expired at `now`, without using it. */
  find(codeHash: string, purpose: CodePurpose, now: Date): Promise<CodeRecord | null>;
  /**
   * Atomically removes and returns the code if it exists with that purpose and has not expired
   * at `now`; null otherwise. Exactly one of any number of concurrent callers gets the record.
   */
  consume(codeHash: string, purpose: CodePurpose, now: Date): Promise<CodeRecord | null>;
  deleteAllForUser(userId: string): Promise<void>;
  /**
   * Stores the code beside any others of its user and purpose (for challenges issued before a
   * user is known, which must not void each other).
   */
  add(code: CodeRecord): Promise<void>;
}

export interface PasskeyStore {
  /** Stores the passkey; false (nothing stored) when its credential id is already registered. */
  insert(passkey: PasskeyRecord): Promise<boolean>;
  findByCredentialId(credentialId: string): Promise<PasskeyRecord | null>;
  /** The user's passkeys, oldest (createdAt) first. */
  listForUser(userId: string): Promise<PasskeyRecord[]>;
  /** Renames the user's passkey; the updated record, or null when the user has no such passkey. */
  rename(userId: string, id: string, name: string): Promise<PasskeyRecord | null>;
  /**
   * Records a use, atomically, only while the stored counter is still `ifCounter`: of two uses
   * that read the same counter, one wins. Returns whether it was written.
   */
  recordUse(id: string, ifCounter: number, use: PasskeyUse): Promise<boolean>;
  /** Removes the user's passkey; whether one was removed. */
  delete(userId: string, id: string): Promise<boolean>;
  deleteAllForUser(userId: string): Promise<void>;
}

export interface ProviderLinkStore {
  /** Throws DuplicateProviderLinkError when (provider, issuer, subject) is linked already, atomically. */
  insert(link: ProviderLinkRecord): Promise<void>;
  findBySubject(provider: string, issuer: string, subject: string): Promise<ProviderLinkRecord | null>;
  /** The user's links, oldest (createdAt) first. */
  listForUser(userId: string): Promise<ProviderLinkRecord[]>;
  /** Removes one link, only if it belongs to `userId`. Returns whether one was removed. */
  delete(id: string, userId: string): Promise<boolean>;
  deleteAllForUser(userId: string): Promise<void>;
}

export interface AttemptStore {
  /** The count and lock of a key at `now` (zero and null when there is none). */
  get(key: string, now: Date): Promise<AttemptState>;
  /**
   * Atomically counts one failure for the key, unless it is locked at `now` (then counted is
   * false and nothing changes). The failure that reaches maxFailures locks the key until
   * now + lockSeconds. A count older than windowSeconds, or a passed lock, starts afresh. Any number
   * of concurrent calls count at most maxFailures failures before the lock.
   */
  fail(key: string, now: Date, policy: AttemptPolicy): Promise<{ counted: boolean; state: AttemptState }>;
  /**
   * Takes back one failure counted at or before `now` (a guess that turned out right, on a count
   * a success does not clear), atomically: one fewer failure, and a lock that the failure set is
   * lifted. Nothing happens to a key with no live count.
   */
  forgive(key: string, now: Date, policy: AttemptPolicy): Promise<void>;
  /** Forgets the key (after a success). */
  clear(key: string): Promise<void>;
}

export interface TwoFactorStore {
  get(userId: string): Promise<TwoFactorRecord | null>;
  /**
   * Writes `next` only if the stored record's version is `expectedVersion` (0: only if there is no
   * record), atomically. Returns whether it was written; a false means someone else wrote first,
   * and the caller reads again. `next.version` must be `expectedVersion + 1`.
   */
  save(next: TwoFactorRecord, expectedVersion: number): Promise<boolean>;
  /** Removes the user's record (account deletion). */
  delete(userId: string): Promise<void>;
}

export interface ServiceAccountStore {
  /** Throws (a logic error) when the id exists. */
  insert(account: ServiceAccountRecord): Promise<void>;
  findById(id: string): Promise<ServiceAccountRecord | null>;
  /** Up to `limit` accounts, newest first (createdAt, then id, descending), after `after` if given. */
  list(limit: number, after?: ServiceAccountCursor): Promise<ServiceAccountRecord[]>;
  /**
   * Atomically replaces the key hash (and its time) of an account that is not revoked; returns
   * the updated account, or null for none or revoked. The old key stops matching in the same write.
   */
  replaceKey(id: string, keyHash: string, now: Date): Promise<ServiceAccountRecord | null>;
  /** Atomically sets revokedAt of an account not yet revoked; returns it updated, or null. */
  revoke(id: string, now: Date): Promise<ServiceAccountRecord | null>;
  /** Sets lastUsedAt of an account that is not revoked. */
  touch(id: string, now: Date): Promise<void>;
}

export interface Store {
  readonly kind: "memory" | "mongodb";
  readonly users: UserStore;
  readonly sessions: SessionStore;
  readonly refreshTokens: RefreshTokenStore;
  readonly codes: CodeStore;
  readonly attempts: AttemptStore;
  readonly twoFactor: TwoFactorStore;
  readonly serviceAccounts: ServiceAccountStore;
  readonly audit: AuditStore;
  readonly passkeys: PasskeyStore;
  readonly providerLinks: ProviderLinkStore;
  /** Resolves when storage answers; rejects with StorageUnavailableError otherwise. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
