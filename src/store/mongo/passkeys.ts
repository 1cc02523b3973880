// The `passkeys` collection: _id = WebAuthn credential id, so the credential's uniqueness across
// all users is the primary key's. Our own id (`id`, unique index) names it in the API.
//
// A use is a single-document conditional update on the counter read before the signature was
// checked: of two assertions racing with the same counter, one is recorded.

import type { Collection } from "mongodb";
import type { PasskeyRecord, PasskeyStore } from "../port.ts";
import type { Limit, Run } from "./connection.ts";
import { LogicError, isDuplicateKey } from "./errors.ts";

export type PasskeyDoc = Omit<PasskeyRecord, "credentialId"> & { _id: string };

// ---- mapping (explicit field lists: no `_id`, no stray fields in either direction) ----

function passkeyToDoc(p: PasskeyRecord): PasskeyDoc {
  return {
    _id: p.credentialId,
    id: p.id,
    userId: p.userId,
    publicKey: p.publicKey,
    counter: p.counter,
    transports: [...p.transports],
    backupEligible: p.backupEligible,
    backedUp: p.backedUp,
    userHandle: p.userHandle,
    name: p.name,
    createdAt: p.createdAt,
    lastUsedAt: p.lastUsedAt,
  };
}

function passkeyFromDoc(d: PasskeyDoc): PasskeyRecord {
  return {
    id: d.id,
    userId: d.userId,
    credentialId: d._id,
    publicKey: d.publicKey,
    counter: d.counter,
    transports: [...(d.transports ?? [])],
    backupEligible: d.backupEligible === true,
    backedUp: d.backedUp === true,
    userHandle: d.userHandle,
    name: d.name,
    createdAt: d.createdAt,
    lastUsedAt: d.lastUsedAt ?? null,
  };
}

export function mongoPasskeys(run: Run<{ passkeys: Collection<PasskeyDoc> }>, limit: Limit): PasskeyStore {
  return {
    insert: (passkey) =>
      run(async (c) => {
        try {
          await c.passkeys.insertOne(passkeyToDoc(passkey), limit);
          return true;
        } catch (err) {
          if (!isDuplicateKey(err)) throw err;
          // Which index refused: our own id (a bug, as the memory store says) or the credential.
          if ((await c.passkeys.countDocuments({ id: passkey.id }, { limit: 1, ...limit })) > 0) {
            throw new LogicError(`passkey id already exists: ${passkey.id}`, err);
          }
          return false;
        }
      }),

    findByCredentialId: (credentialId) =>
      run(async (c) => {
        const doc = await c.passkeys.findOne({ _id: credentialId }, limit);
        return doc === null ? null : passkeyFromDoc(doc);
      }),

    listForUser: (userId) =>
      run(async (c) => {
        // id breaks ties: MongoDB returns equal sort keys in no set order.
        const docs = await c.passkeys.find({ userId }, limit).sort({ createdAt: 1, id: 1 }).toArray();
        return docs.map(passkeyFromDoc);
      }),

    rename: (userId, id, name) =>
      run(async (c) => {
        const doc = await c.passkeys.findOneAndUpdate({ id, userId }, { $set: { name } }, { returnDocument: "after", ...limit });
        return doc === null ? null : passkeyFromDoc(doc);
      }),

    recordUse: (id, ifCounter, use) =>
      run(async (c) => {
        const doc = await c.passkeys.findOneAndUpdate(
          { id, counter: ifCounter },
          { $set: { counter: use.counter, backedUp: use.backedUp, lastUsedAt: use.lastUsedAt } },
          { returnDocument: "after", ...limit },
        );
        return doc !== null;
      }),

    delete: (userId, id) =>
      run(async (c) => {
        const result = await c.passkeys.deleteOne({ id, userId }, limit);
        return result.deletedCount === 1;
      }),

    deleteAllForUser: (userId) =>
      run(async (c) => {
        await c.passkeys.deleteMany({ userId }, limit);
      }),
  };
}
