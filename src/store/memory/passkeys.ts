// WebAuthn passkeys, indexed by user, each credential id unique.

import type { PasskeyRecord, PasskeyStore } from "../port.ts";
import { copyRecord, type MemoryKind, type OpenState, UserIndexedTable } from "./shared.ts";

export function memoryPasskeys({ assertOpen }: OpenState): MemoryKind<PasskeyStore> {
  const passkeys = new UserIndexedTable<PasskeyRecord>();
  /** credential id -> passkey id: the credential id's uniqueness, checked and set in one turn. */
  const passkeyIdByCredential = new Map<string, string>();

  const passkeyStore: PasskeyStore = {
    async insert(passkey) {
      assertOpen();
      if (passkeyIdByCredential.has(passkey.credentialId)) return false;
      if (passkeys.rows.has(passkey.id)) throw new Error(`passkey id already exists: ${passkey.id}`);
      passkeys.set(passkey.id, copyRecord(passkey));
      passkeyIdByCredential.set(passkey.credentialId, passkey.id);
      return true;
    },
    async findByCredentialId(credentialId) {
      assertOpen();
      const id = passkeyIdByCredential.get(credentialId);
      const passkey = id === undefined ? undefined : passkeys.rows.get(id);
      return passkey === undefined ? null : copyRecord(passkey);
    },
    async listForUser(userId) {
      assertOpen();
      return passkeys
        .forUser(userId)
        .map(([, p]) => copyRecord(p))
        .sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime() || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    },
    async rename(userId, id, name) {
      assertOpen();
      const current = passkeys.rows.get(id);
      if (current === undefined || current.userId !== userId) return null;
      const next = { ...current, name };
      passkeys.set(id, next);
      return copyRecord(next);
    },
    async recordUse(id, ifCounter, use) {
      assertOpen();
      const current = passkeys.rows.get(id);
      if (current === undefined || current.counter !== ifCounter) return false;
      passkeys.set(id, { ...current, counter: use.counter, backedUp: use.backedUp, lastUsedAt: new Date(use.lastUsedAt.getTime()) });
      return true;
    },
    async delete(userId, id) {
      assertOpen();
      const current = passkeys.rows.get(id);
      if (current === undefined || current.userId !== userId) return false;
      passkeys.delete(id);
      passkeyIdByCredential.delete(current.credentialId);
      return true;
    },
    async deleteAllForUser(userId) {
      assertOpen();
      for (const [, p] of passkeys.forUser(userId)) passkeyIdByCredential.delete(p.credentialId);
      passkeys.deleteAllForUser(userId);
    },
  };

  return { store: passkeyStore, count: () => passkeys.rows.size };
}
