// The MongoDB codes adapter without a MongoDB server: its filters run on mingo behind a collection
// double (as in users.test.ts), and the storage contract runs with this adapter for codes (the
// other record kinds are the memory store's), so every field a code carries (a challenge's
// remember-me and generation, a provider flow's provider and session) makes the round trip
// through the adapter's own mapping.
import { createMemoryStore } from "../../../src/store/memory.ts";
import { type CodeDoc, mongoCodes } from "../../../src/store/mongo/codes.ts";
import type { Store } from "../../../src/store/port.ts";
import { fakeCollection } from "../../support/mingo-collection.ts";
import { storageContract } from "../contract.ts";

storageContract("mongodb codes on mingo", async (): Promise<Store> => {
  const memory = createMemoryStore();
  const codes = fakeCollection<CodeDoc>();
  return { ...memory, kind: "mongodb", codes: mongoCodes((op) => op({ codes }), { maxTimeMS: 1_000 }) };
});
