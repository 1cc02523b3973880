// Links to OpenID Connect provider accounts, indexed by user, each provider account linked once.

import { DuplicateProviderLinkError } from "../errors.ts";
import type { ProviderLinkRecord, ProviderLinkStore } from "../port.ts";
import { copyRecord, type MemoryKind, type OpenState, UserIndexedTable } from "./shared.ts";

export function memoryProviderLinks({ assertOpen }: OpenState): MemoryKind<ProviderLinkStore> {
  const providerLinks = new UserIndexedTable<ProviderLinkRecord>();
  /** JSON of [provider, issuer, subject] -> link id. Checked and set in the same turn as providerLinks. */
  const providerLinkIdBySubject = new Map<string, string>();
  const subjectKey = (l: Pick<ProviderLinkRecord, "provider" | "issuer" | "subject">) => JSON.stringify([l.provider, l.issuer, l.subject]);

  const providerLinkStore: ProviderLinkStore = {
    async insert(link) {
      assertOpen();
      if (providerLinkIdBySubject.has(subjectKey(link))) throw new DuplicateProviderLinkError();
      if (providerLinks.rows.has(link.id)) throw new Error(`provider link id already exists: ${link.id}`);
      providerLinks.set(link.id, copyRecord(link));
      providerLinkIdBySubject.set(subjectKey(link), link.id);
    },
    async findBySubject(provider, issuer, subject) {
      assertOpen();
      const id = providerLinkIdBySubject.get(subjectKey({ provider, issuer, subject }));
      const link = id === undefined ? undefined : providerLinks.rows.get(id);
      return link === undefined ? null : copyRecord(link);
    },
    async listForUser(userId) {
      assertOpen();
      return providerLinks
        .forUser(userId)
        .map(([, link]) => copyRecord(link))
        .sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime() || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    },
    async delete(id, userId) {
      assertOpen();
      const link = providerLinks.rows.get(id);
      if (link === undefined || link.userId !== userId) return false;
      providerLinks.delete(id);
      providerLinkIdBySubject.delete(subjectKey(link));
      return true;
    },
    async deleteAllForUser(userId) {
      assertOpen();
      for (const [, link] of providerLinks.forUser(userId)) providerLinkIdBySubject.delete(subjectKey(link));
      providerLinks.deleteAllForUser(userId);
    },
  };

  return { store: providerLinkStore, count: () => providerLinks.rows.size };
}
