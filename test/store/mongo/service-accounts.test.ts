// The MongoDB service-account adapter without a MongoDB server: its filters, sorts and update
// documents run on mingo (an independent implementation of MongoDB's query and update language)
// behind a collection double whose every call is one synchronous step, as a single-document
// operation is atomic on the server. The storage contract then runs with this adapter for service
// accounts (the other record kinds are the memory store's), so the conditional revocation and key
// replacement and the newest-first paging are proven on the adapter's own MongoDB operations.
import type { Collection } from "mongodb";
import { Query } from "mingo";
import { updateOne } from "mingo/updater";
import { createMemoryStore } from "../../../src/store/memory.ts";
import { mongoServiceAccounts, type ServiceAccountDoc } from "../../../src/store/mongo/service-accounts.ts";
import type { Store } from "../../../src/store/port.ts";
import { storageContract } from "../contract.ts";

type Filter = Record<string, unknown>;

/** The few Collection methods the adapter calls, over an array of documents. */
function fakeCollection(): Collection<ServiceAccountDoc> {
  const docs: ServiceAccountDoc[] = [];
  const first = (filter: Filter) => docs.find((d) => new Query(filter).test(d));
  // structuredClone in and out: the driver serializes both ways, so no object is ever shared.
  const fake = {
    async insertOne(doc: ServiceAccountDoc) {
      if (docs.some((d) => d._id === doc._id)) throw Object.assign(new Error("E11000 duplicate key"), { code: 11000 });
      docs.push(structuredClone(doc));
      return { acknowledged: true, insertedId: doc._id };
    },
    async findOne(filter: Filter) {
      const doc = first(filter);
      return doc === undefined ? null : structuredClone(doc);
    },
    find(filter: Filter) {
      let sort: Record<string, 1 | -1> = {};
      let limit = Number.POSITIVE_INFINITY;
      const cursor = {
        sort(s: Record<string, 1 | -1>) {
          sort = s;
          return cursor;
        },
        limit(n: number) {
          limit = n;
          return cursor;
        },
        async toArray() {
          return new Query(filter)
            .find<ServiceAccountDoc>(docs)
            .sort(sort)
            .limit(limit)
            .all()
            .map((d) => structuredClone(d));
        },
      };
      return cursor;
    },
    async findOneAndUpdate(filter: Filter, update: Record<string, unknown>, options: { returnDocument: "before" | "after" }) {
      const doc = first(filter);
      if (doc === undefined) return null;
      const before = structuredClone(doc);
      updateOne([doc], { _id: doc._id }, structuredClone(update));
      return structuredClone(options.returnDocument === "before" ? before : doc);
    },
    async updateOne(filter: Filter, update: Record<string, unknown>) {
      const doc = first(filter);
      if (doc !== undefined) updateOne([doc], { _id: doc._id }, structuredClone(update));
      return { acknowledged: true, matchedCount: doc === undefined ? 0 : 1 };
    },
  };
  return fake as unknown as Collection<ServiceAccountDoc>;
}

storageContract("mongodb service accounts on mingo", async (): Promise<Store> => {
  const memory = createMemoryStore();
  const serviceAccounts = fakeCollection();
  return {
    ...memory,
    kind: "mongodb",
    serviceAccounts: mongoServiceAccounts((op) => op({ serviceAccounts }), { maxTimeMS: 1_000 }),
  };
});
