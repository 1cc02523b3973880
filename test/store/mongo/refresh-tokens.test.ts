// The MongoDB refresh-token adapter without a MongoDB server: its filters and update documents run
// on mingo (an independent implementation of MongoDB's query and update language) behind a
// collection double whose every call is one synchronous step, as a single-document operation is
// atomic on the server. The storage contract then runs with this adapter for refresh tokens (the
// other record kinds are the memory store's), so the spend with its successor, the grace window's
// one atomic step, is proven on the adapter's own MongoDB operations.
import { createMemoryStore } from "../../../src/store/memory.ts";
import { mongoRefreshTokens, type RefreshTokenDoc } from "../../../src/store/mongo/refresh-tokens.ts";
import type { Store } from "../../../src/store/port.ts";
import { fakeCollection } from "../../support/mingo-collection.ts";
import { storageContract } from "../contract.ts";

storageContract("mongodb refresh tokens on mingo", async (): Promise<Store> => {
  const memory = createMemoryStore();
  const refresh = fakeCollection<RefreshTokenDoc>();
  return {
    ...memory,
    kind: "mongodb",
    refreshTokens: mongoRefreshTokens((op) => op({ refresh }), { maxTimeMS: 1_000 }),
  };
});
