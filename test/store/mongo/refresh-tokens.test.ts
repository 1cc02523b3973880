// The MongoDB refresh-token adapter without a MongoDB server: its filters and update documents run
// on mingo (an independent implementation of MongoDB's query and update language) behind a
// collection double whose every call is one synchronous step, as a single-document operation is
// atomic on the server. The storage contract then runs with this adapter for refresh tokens (the
// other record kinds are the memory store's), so the spend with its successor, the grace window's
// one atomic step, is proven on the adapter's own MongoDB operations.
import type { Collection } from "mongodb";
import { Query } from "mingo";
import { updateOne } from "mingo/updater";
import { createMemoryStore } from "../../../src/store/memory.ts";
import { mongoRefreshTokens, type RefreshTokenDoc } from "../../../src/store/mongo/refresh-tokens.ts";
import type { Store } from "../../../src/store/port.ts";
import { storageContract } from "../contract.ts";

type Filter = Record<string, unknown>;

/** The few Collection methods the adapter calls, over an array of documents. */
function fakeCollection(): Collection<RefreshTokenDoc> {
  const docs: RefreshTokenDoc[] = [];
  const first = (filter: Filter) => docs.find((d) => new Query(filter).test(d));
  // structuredClone in and out: the driver serializes both ways, so no object is ever shared.
  const fake = {
    async insertOne(doc: RefreshTokenDoc) {
      if (docs.some((d) => d._id === doc._id)) throw new Error("E11000 duplicate key");
      docs.push(structuredClone(doc));
      return { acknowledged: true, insertedId: doc._id };
    },
    async findOne(filter: Filter) {
      const doc = first(filter);
      return doc === undefined ? null : structuredClone(doc);
    },
    async findOneAndUpdate(filter: Filter, update: Record<string, unknown>, options: { returnDocument: "before" | "after" }) {
      const doc = first(filter);
      if (doc === undefined) return null;
      const before = structuredClone(doc);
      updateOne([doc], { _id: doc._id }, structuredClone(update));
      return structuredClone(options.returnDocument === "before" ? before : doc);
    },
    async deleteOne(filter: Filter) {
      const doc = first(filter);
      if (doc !== undefined) docs.splice(docs.indexOf(doc), 1);
      return { acknowledged: true, deletedCount: doc === undefined ? 0 : 1 };
    },
    async deleteMany(filter: Filter) {
      const before = docs.length;
      for (let i = docs.length - 1; i >= 0; i--) if (new Query(filter).test(docs[i]!)) docs.splice(i, 1);
      return { acknowledged: true, deletedCount: before - docs.length };
    },
  };
  return fake as unknown as Collection<RefreshTokenDoc>;
}

storageContract("mongodb refresh tokens on mingo", async (): Promise<Store> => {
  const memory = createMemoryStore();
  const refresh = fakeCollection();
  return {
    ...memory,
    kind: "mongodb",
    refreshTokens: mongoRefreshTokens((op) => op({ refresh }), { maxTimeMS: 1_000 }),
  };
});
