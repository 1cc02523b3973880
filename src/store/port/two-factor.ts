// The two-factor state of the storage port (the rules every adapter honours are in ../port.ts).

import type { SessionCutoff } from "./shared.ts";

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
  /**
   * Keyed hashes of this set's recovery codes already used, so that one given again (a
   * double-submitted form) is told from a guess; emptied when the set is replaced.
   */
  spentRecoveryCodeHashes: string[];
  pending: PendingSecretRecord[];
  /** Raised by Enable, Disable, a confirmed Reset and device removal, in the same write. */
  sessionCutoff: SessionCutoff;
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
