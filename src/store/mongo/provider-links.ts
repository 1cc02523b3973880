// The `provider_links` collection: _id = link id, one document per provider account linked to a
// user. The unique index on (provider, issuer, subject) makes "one user per provider account" a
// single atomic insert: of two concurrent first sign-ins with the same account, one link wins.

import type { Collection } from "mongodb";
import { DuplicateProviderLinkError } from "../errors.ts";
import type { ProviderLinkRecord, ProviderLinkStore } from "../port.ts";
import type { Limit, Run } from "./connection.ts";
import { LogicError, isDuplicateKey } from "./errors.ts";

export type ProviderLinkDoc = Omit<ProviderLinkRecord, "id"> & { _id: string };

// ---- mapping (explicit field lists: no `_id`, no stray fields in either direction) ----

function linkToDoc(l: ProviderLinkRecord): ProviderLinkDoc {
  return {
    _id: l.id,
    userId: l.userId,
    provider: l.provider,
    issuer: l.issuer,
    subject: l.subject,
    email: l.email,
    createdAt: l.createdAt,
  };
}

function linkFromDoc(d: ProviderLinkDoc): ProviderLinkRecord {
  return {
    id: d._id,
    userId: d.userId,
    provider: d.provider,
    issuer: d.issuer,
    subject: d.subject,
    email: d.email,
    createdAt: d.createdAt,
  };
}

export function mongoProviderLinks(run: Run<{ providerLinks: Collection<ProviderLinkDoc> }>, limit: Limit): ProviderLinkStore {
  return {
    insert: (link) =>
      run(async (c) => {
        try {
          await c.providerLinks.insertOne(linkToDoc(link), limit);
        } catch (err) {
          if (!isDuplicateKey(err)) throw err;
          // Which index refused: the id (a bug) or the provider account (a second link).
          if ((await c.providerLinks.countDocuments({ _id: link.id }, { limit: 1, ...limit })) > 0) {
            throw new LogicError(`provider link id already exists: ${link.id}`, err);
          }
          throw new DuplicateProviderLinkError();
        }
      }),

    findBySubject: (provider, issuer, subject) =>
      run(async (c) => {
        const doc = await c.providerLinks.findOne({ provider, issuer, subject }, limit);
        return doc === null ? null : linkFromDoc(doc);
      }),

    listForUser: (userId) =>
      run(async (c) => {
        const docs = await c.providerLinks.find({ userId }, limit).sort({ createdAt: 1, _id: 1 }).toArray();
        return docs.map(linkFromDoc);
      }),

    delete: (id, userId) =>
      run(async (c) => {
        const result = await c.providerLinks.deleteOne({ _id: id, userId }, limit);
        return result.deletedCount === 1;
      }),

    deleteAllForUser: (userId) =>
      run(async (c) => {
        await c.providerLinks.deleteMany({ userId }, limit);
      }),
  };
}
