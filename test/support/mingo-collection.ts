// A MongoDB collection double for adapter tests without a MongoDB server: filters and update
// documents run on mingo (an independent implementation of MongoDB's query and update language),
// and every call is one synchronous step, as a single-document operation is atomic on the server.
// Documents are cloned in and out: the driver serializes both ways, so no object is ever shared.
import type { Collection, Document } from "mongodb";
import { Query } from "mingo";
import { updateMany, updateOne } from "mingo/updater";

type Filter = Record<string, unknown>;

export interface FakeCollectionOptions<T> {
  /** Thrown by insertOne for a document a unique index would refuse (the _id index is built in). */
  duplicateOf?: (doc: T, existing: readonly T[]) => Error | undefined;
}

/** The Collection methods the adapters call, over an array of documents (`docs`, kept by reference). */
export function fakeCollection<T extends Document & { _id: string }>(
  docs: T[] = [],
  options: FakeCollectionOptions<T> = {},
): Collection<T> {
  const matching = (filter: Filter) => docs.filter((d) => new Query(filter).test(d));
  const fake = {
    async insertOne(doc: T) {
      if (docs.some((d) => d._id === doc._id)) throw new Error("E11000 duplicate key");
      const duplicate = options.duplicateOf?.(doc, docs);
      if (duplicate !== undefined) throw duplicate;
      docs.push(structuredClone(doc));
      return { acknowledged: true, insertedId: doc._id };
    },
    find(filter: Filter) {
      let order: Record<string, 1 | -1> = {};
      let skipped = 0;
      let count = Number.POSITIVE_INFINITY;
      const cursor = {
        sort(by: Record<string, 1 | -1>) {
          order = by;
          return cursor;
        },
        skip(n: number) {
          skipped = n;
          return cursor;
        },
        limit(n: number) {
          count = n;
          return cursor;
        },
        async toArray() {
          const found = new Query(filter).find(docs).sort(order).all() as T[];
          return found.slice(skipped, skipped + count).map((d) => structuredClone(d));
        },
      };
      return cursor;
    },
    async countDocuments(filter: Filter) {
      return matching(filter).length;
    },
    async findOne(filter: Filter) {
      const doc = matching(filter)[0];
      return doc === undefined ? null : structuredClone(doc);
    },
    async findOneAndUpdate(filter: Filter, update: Record<string, unknown>, options: { returnDocument: "before" | "after" }) {
      const doc = matching(filter)[0];
      if (doc === undefined) return null;
      const before = structuredClone(doc);
      updateOne([doc as Filter], { _id: doc._id }, structuredClone(update));
      return structuredClone(options.returnDocument === "before" ? before : doc);
    },
    async replaceOne(filter: Filter, doc: T, options: { upsert?: boolean } = {}) {
      const existing = matching(filter)[0];
      if (existing !== undefined) docs.splice(docs.indexOf(existing), 1, structuredClone(doc));
      else if (options.upsert === true) docs.push(structuredClone(doc));
      return { acknowledged: true, matchedCount: existing === undefined ? 0 : 1 };
    },
    async findOneAndDelete(filter: Filter) {
      const doc = matching(filter)[0];
      if (doc === undefined) return null;
      docs.splice(docs.indexOf(doc), 1);
      return structuredClone(doc);
    },
    async deleteOne(filter: Filter) {
      const doc = matching(filter)[0];
      if (doc !== undefined) docs.splice(docs.indexOf(doc), 1);
      return { acknowledged: true, deletedCount: doc === undefined ? 0 : 1 };
    },
    async updateOne(filter: Filter, update: Record<string, unknown>) {
      const doc = matching(filter)[0];
      if (doc === undefined) return { acknowledged: true, matchedCount: 0, modifiedCount: 0 };
      return { acknowledged: true, ...updateOne([doc as Filter], { _id: doc._id }, structuredClone(update)) };
    },
    async updateMany(filter: Filter, update: Record<string, unknown>) {
      return { acknowledged: true, ...updateMany(docs as Filter[], filter, structuredClone(update)) };
    },
    async deleteMany(filter: Filter) {
      const before = docs.length;
      for (let i = docs.length - 1; i >= 0; i--) if (new Query(filter).test(docs[i]!)) docs.splice(i, 1);
      return { acknowledged: true, deletedCount: before - docs.length };
    },
  };
  return fake as unknown as Collection<T>;
}
