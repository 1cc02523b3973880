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

// One module per record kind under port/, as memory/ and mongo/ are split; this file assembles them
// into Store and hands every name on, so that the port is imported from here alone.
import type { AttemptStore } from "./port/attempts.ts";
import type { AuditStore } from "./port/audit.ts";
import type { CodeStore } from "./port/codes.ts";
import type { PasskeyStore } from "./port/passkeys.ts";
import type { ProviderLinkStore } from "./port/provider-links.ts";
import type { RefreshTokenStore } from "./port/refresh-tokens.ts";
import type { ServiceAccountStore } from "./port/service-accounts.ts";
import type { SessionStore } from "./port/sessions.ts";
import type { TwoFactorStore } from "./port/two-factor.ts";
import type { UserStore } from "./port/users.ts";

export * from "./port/shared.ts";
export * from "./port/attempts.ts";
export * from "./port/audit.ts";
export * from "./port/codes.ts";
export * from "./port/passkeys.ts";
export * from "./port/provider-links.ts";
export * from "./port/refresh-tokens.ts";
export * from "./port/service-accounts.ts";
export * from "./port/sessions.ts";
export * from "./port/two-factor.ts";
export * from "./port/users.ts";

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
