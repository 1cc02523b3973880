// The service accounts of the storage port (the rules every adapter honours are in ../port.ts).

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
