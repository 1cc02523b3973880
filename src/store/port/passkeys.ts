// The passkeys of the storage port (the rules every adapter honours are in ../port.ts).

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
