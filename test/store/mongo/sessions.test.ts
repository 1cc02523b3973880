// The MongoDB sessions adapter without a MongoDB server: its filters, sorts, counts and update
// documents run on mingo (an independent implementation of MongoDB's query and update language)
// behind a collection double, as in users.test.ts. The storage contract runs with this adapter for
// sessions; the other record kinds are the memory store's.
import { createMemoryStore } from "../../../src/store/memory.ts";
import { mongoSessions, type SessionDoc } from "../../../src/store/mongo/sessions.ts";
import type { Store } from "../../../src/store/port.ts";
import { fakeCollection } from "../../support/mingo-collection.ts";
import { storageContract } from "../contract.ts";

storageContract("mongodb sessions on mingo", async (): Promise<Store> => {
  const memory = createMemoryStore();
  const sessions = fakeCollection<SessionDoc>();
  return { ...memory, kind: "mongodb", sessions: mongoSessions((op) => op({ sessions }), { maxTimeMS: 1_000 }) };
});
