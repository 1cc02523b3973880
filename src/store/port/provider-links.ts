// The linked provider accounts of the storage port (the rules every adapter honours are in ../port.ts).

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
