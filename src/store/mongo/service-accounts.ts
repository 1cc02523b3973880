// The `service_accounts` collection: _id = service account id.
//
// Rotation and revocation are single-document conditional updates on `revokedAt: null`, so a key
// rotated after a revocation (or two revocations) cannot race into an active account.

import type { Collection, Filter } from "mongodb";
import type { ServiceAccountRecord, ServiceAccountStore } from "../port.ts";
import type { Limit, Run } from "./connection.ts";
import { LogicError, isDuplicateKey } from "./errors.ts";

export type ServiceAccountDoc = Omit<ServiceAccountRecord, "id"> & { _id: string };

// ---- mapping (explicit field lists: no `_id`, no stray fields in either direction) ----

function accountToDoc(a: ServiceAccountRecord): ServiceAccountDoc {
  return {
    _id: a.id,
    name: a.name,
    permissions: [...a.permissions],
    keyHash: a.keyHash,
    keyCreatedAt: a.keyCreatedAt,
    createdBy: a.createdBy,
    createdAt: a.createdAt,
    lastUsedAt: a.lastUsedAt,
    revokedAt: a.revokedAt,
  };
}

function accountFromDoc(d: ServiceAccountDoc): ServiceAccountRecord {
  return {
    id: d._id,
    name: d.name,
    permissions: [...d.permissions],
    keyHash: d.keyHash,
    keyCreatedAt: d.keyCreatedAt,
    createdBy: d.createdBy,
    createdAt: d.createdAt,
    lastUsedAt: d.lastUsedAt ?? null,
    revokedAt: d.revokedAt ?? null,
  };
}

export function mongoServiceAccounts(run: Run<{ serviceAccounts: Collection<ServiceAccountDoc> }>, limit: Limit): ServiceAccountStore {
  const active = (id: string): Filter<ServiceAccountDoc> => ({ _id: id, revokedAt: null });
  return {
    insert: (account) =>
      run(async (c) => {
        try {
          await c.serviceAccounts.insertOne(accountToDoc(account), limit);
        } catch (err) {
          if (isDuplicateKey(err)) throw new LogicError(`service account id already exists: ${account.id}`, err);
          throw err;
        }
      }),

    findById: (id) =>
      run(async (c) => {
        const doc = await c.serviceAccounts.findOne({ _id: id }, limit);
        return doc === null ? null : accountFromDoc(doc);
      }),

    list: (count, after) =>
      run(async (c) => {
        const filter: Filter<ServiceAccountDoc> =
          after === undefined
            ? {}
            : { $or: [{ createdAt: { $lt: after.createdAt } }, { createdAt: after.createdAt, _id: { $lt: after.id } }] };
        const docs = await c.serviceAccounts.find(filter, limit).sort({ createdAt: -1, _id: -1 }).limit(count).toArray();
        return docs.map(accountFromDoc);
      }),

    replaceKey: (id, keyHash, now) =>
      run(async (c) => {
        const doc = await c.serviceAccounts.findOneAndUpdate(
          active(id),
          { $set: { keyHash, keyCreatedAt: now } },
          { returnDocument: "after", ...limit },
        );
        return doc === null ? null : accountFromDoc(doc);
      }),

    revoke: (id, now) =>
      run(async (c) => {
        const doc = await c.serviceAccounts.findOneAndUpdate(
          active(id),
          { $set: { revokedAt: now } },
          { returnDocument: "after", ...limit },
        );
        return doc === null ? null : accountFromDoc(doc);
      }),

    touch: (id, now) =>
      run(async (c) => {
        await c.serviceAccounts.updateOne(active(id), { $set: { lastUsedAt: now } }, limit);
      }),
  };
}
