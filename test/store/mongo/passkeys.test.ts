// The MongoDB passkeys adapter without a MongoDB server: its filters and update documents run on
// mingo behind the collection double (support/mingo-collection.ts). The storage contract runs with
// this adapter for passkeys (the other record kinds are the memory store's), so the credential
// id's uniqueness (the primary key) and the use recorded over the counter read are proven on the
// adapter's own MongoDB operations.
import type { Collection } from "mongodb";
import { MongoServerError } from "mongodb";
import { createMemoryStore } from "../../../src/store/memory.ts";
import { mongoPasskeys, type PasskeyDoc } from "../../../src/store/mongo/passkeys.ts";
import type { Store } from "../../../src/store/port.ts";
import { fakeCollection } from "../../support/mingo-collection.ts";
import { storageContract } from "../contract.ts";

const duplicateKey = () => new MongoServerError({ message: "E11000 duplicate key error", code: 11000 });

/** The passkeys collection: _id (the credential id) and the unique `id`, refused as the server does. */
function fakePasskeys(): Collection<PasskeyDoc> {
  const docs: PasskeyDoc[] = [];
  const collection = fakeCollection<PasskeyDoc>(docs, {
    duplicateOf: (doc, existing) => (existing.some((d) => d.id === doc.id) ? duplicateKey() : undefined),
  });
  const insertOne = collection.insertOne.bind(collection);
  return Object.assign(collection, {
    insertOne: (doc: PasskeyDoc) => {
      if (docs.some((d) => d._id === doc._id)) return Promise.reject(duplicateKey());
      return insertOne(doc);
    },
  });
}

storageContract("mongodb passkeys on mingo", async (): Promise<Store> => {
  const memory = createMemoryStore();
  const passkeys = fakePasskeys();
  return { ...memory, kind: "mongodb", passkeys: mongoPasskeys((op) => op({ passkeys }), { maxTimeMS: 1_000 }) };
});
