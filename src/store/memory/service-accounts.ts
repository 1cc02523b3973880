// Service accounts, by id.

import type { ServiceAccountCursor, ServiceAccountRecord, ServiceAccountStore } from "../port.ts";
import { copyRecord, type MemoryKind, type OpenState } from "./shared.ts";

/** Newest first: createdAt, then id, descending (the order of ServiceAccountStore.list). */
const newestFirst = (a: ServiceAccountCursor, b: ServiceAccountCursor): number =>
  b.createdAt.getTime() - a.createdAt.getTime() || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);

export function memoryServiceAccounts({ assertOpen }: OpenState): MemoryKind<ServiceAccountStore> {
  const serviceAccountsById = new Map<string, ServiceAccountRecord>();

  const serviceAccountStore: ServiceAccountStore = {
    async insert(account) {
      assertOpen();
      if (serviceAccountsById.has(account.id)) throw new Error(`service account id already exists: ${account.id}`);
      serviceAccountsById.set(account.id, copyRecord(account));
    },
    async findById(id) {
      assertOpen();
      const account = serviceAccountsById.get(id);
      return account === undefined ? null : copyRecord(account);
    },
    async list(limit, after) {
      assertOpen();
      return [...serviceAccountsById.values()]
        .filter((a) => after === undefined || newestFirst(after, a) < 0)
        .sort(newestFirst)
        .slice(0, limit)
        .map((a) => copyRecord(a));
    },
    async replaceKey(id, keyHash, now) {
      assertOpen();
      const current = serviceAccountsById.get(id);
      if (current === undefined || current.revokedAt !== null) return null;
      const next: ServiceAccountRecord = { ...current, keyHash, keyCreatedAt: new Date(now.getTime()) };
      serviceAccountsById.set(id, next);
      return copyRecord(next);
    },
    async revoke(id, now) {
      assertOpen();
      const current = serviceAccountsById.get(id);
      if (current === undefined || current.revokedAt !== null) return null;
      const next: ServiceAccountRecord = { ...current, revokedAt: new Date(now.getTime()) };
      serviceAccountsById.set(id, next);
      return copyRecord(next);
    },
    async touch(id, now) {
      assertOpen();
      const current = serviceAccountsById.get(id);
      if (current === undefined || current.revokedAt !== null) return;
      serviceAccountsById.set(id, { ...current, lastUsedAt: new Date(now.getTime()) });
    },
  };

  return { store: serviceAccountStore, count: () => serviceAccountsById.size };
}
