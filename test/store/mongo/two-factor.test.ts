// The MongoDB two-factor adapter without a MongoDB server: its filters run on mingo behind the
// collection double (support/mingo-collection.ts). The storage contract runs with this adapter for
// two-factor records (the other record kinds are the memory store's), so the version
// compare-and-set every change relies on is proven on the adapter's own MongoDB operations; and a
// document written before a field existed reads with that field's default.
import type { Collection } from "mongodb";
import { MongoServerError } from "mongodb";
import { describe, expect, it } from "vitest";
import { createMemoryStore } from "../../../src/store/memory.ts";
import { mongoTwoFactor, type TwoFactorDoc } from "../../../src/store/mongo/two-factor.ts";
import type { Store } from "../../../src/store/port.ts";
import { fakeCollection } from "../../support/mingo-collection.ts";
import { storageContract } from "../contract.ts";

/** The two_factor collection: a second insert of one user's _id is refused as the server refuses it. */
function fakeTwoFactor(docs: TwoFactorDoc[] = []): Collection<TwoFactorDoc> {
  const collection = fakeCollection<TwoFactorDoc>(docs);
  const insertOne = collection.insertOne.bind(collection);
  return Object.assign(collection, {
    insertOne: (doc: TwoFactorDoc) => {
      if (docs.some((d) => d._id === doc._id)) {
        return Promise.reject(new MongoServerError({ message: "E11000 duplicate key error", code: 11000 }));
      }
      return insertOne(doc);
    },
  });
}

storageContract("mongodb two-factor on mingo", async (): Promise<Store> => {
  const memory = createMemoryStore();
  const twoFactor = fakeTwoFactor();
  return { ...memory, kind: "mongodb", twoFactor: mongoTwoFactor((op) => op({ twoFactor }), { maxTimeMS: 1_000 }) };
});

describe("mongodb two-factor records written by an older release", () => {
  it("a document without session cutoff or used recovery codes reads with none, and keeps its codes through a save", async () => {
    const enabledAt = new Date("2026-01-01T00:00:00Z");
    const old = { _id: "usr_old", version: 3, enabledAt, devices: [], recoveryCodeHashes: ["aa", "bb"], pending: [] };
    const docs = [old as TwoFactorDoc];
    const store = mongoTwoFactor((op) => op({ twoFactor: fakeTwoFactor(docs) }), { maxTimeMS: 1_000 });

    const read = await store.get("usr_old");
    expect(read).toEqual({
      userId: "usr_old",
      version: 3,
      enabledAt,
      devices: [],
      recoveryCodeHashes: ["aa", "bb"],
      spentRecoveryCodeHashes: [],
      pending: [],
      sessionCutoff: { generation: 0, keptSessionId: null },
    });
    if (read === null) throw new Error("unreachable");
    expect(await store.save({ ...read, version: 4, recoveryCodeHashes: ["bb"], spentRecoveryCodeHashes: ["aa"] }, 3)).toBe(true);
    expect(docs[0]).toMatchObject({ version: 4, recoveryCodeHashes: ["bb"], spentRecoveryCodeHashes: ["aa"] });
  });
});
