// The MongoDB users adapter without a MongoDB server: its filters and update documents run on
// mingo behind a collection double (mingo-collection.ts) that keeps the unique email index. For the
// adapter's own tests, and for the operations whose rules live in the user record's conditional
// writes (the session cutoffs), to run them on the adapter's filters as well as on the embedded store.
import { MongoServerError } from "mongodb";
import { createMemoryStore } from "../../src/store/memory.ts";
import { mongoUsers, type UserDoc } from "../../src/store/mongo/users.ts";
import type { Store, UserStore } from "../../src/store/port.ts";
import { fakeCollection } from "./mingo-collection.ts";

function duplicateKey(keyPattern: Record<string, 1>): MongoServerError {
  return Object.assign(new MongoServerError({ message: "E11000 duplicate key error", code: 11000 }), { keyPattern });
}

/** The MongoDB users adapter over `docs` (kept by reference), as MongoDB would run it. */
export function mingoUsers(docs: UserDoc[] = []): UserStore {
  const users = fakeCollection<UserDoc>(docs, {
    duplicateOf: (doc, existing) => (existing.some((d) => d.email === doc.email) ? duplicateKey({ email: 1 }) : undefined),
  });
  return mongoUsers((op) => op({ users }), { maxTimeMS: 1_000 });
}

/** The embedded store with its users on the MongoDB adapter over mingo. */
export function memoryStoreWithMingoUsers(): Store {
  return { ...createMemoryStore(), kind: "mongodb", users: mingoUsers() };
}
