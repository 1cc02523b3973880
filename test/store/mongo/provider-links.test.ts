// The MongoDB provider-links adapter without a MongoDB server: its filters and sort run on mingo
// behind a collection double (as in users.test.ts) that refuses a second document for the same
// (provider, issuer, subject) as the unique index does. The storage contract runs with this
// adapter for provider links (the other record kinds are the memory store's).
import { MongoServerError } from "mongodb";
import { createMemoryStore } from "../../../src/store/memory.ts";
import { indexPlan } from "../../../src/store/mongo/index-plan.ts";
import { mongoProviderLinks, type ProviderLinkDoc } from "../../../src/store/mongo/provider-links.ts";
import type { Store } from "../../../src/store/port.ts";
import { fakeCollection } from "../../support/mingo-collection.ts";
import { storageContract } from "../contract.ts";

const [unique] = indexPlan.provider_links;

storageContract("mongodb provider links on mingo", async (): Promise<Store> => {
  const memory = createMemoryStore();
  const providerLinks = fakeCollection<ProviderLinkDoc>([], {
    duplicateOf: (doc, existing) =>
      existing.some((d) => Object.keys(unique.key).every((k) => d[k as keyof ProviderLinkDoc] === doc[k as keyof ProviderLinkDoc]))
        ? Object.assign(new MongoServerError({ message: "E11000 duplicate key error", code: 11000 }), { keyPattern: unique.key })
        : undefined,
  });
  return { ...memory, kind: "mongodb", providerLinks: mongoProviderLinks((op) => op({ providerLinks }), { maxTimeMS: 1_000 }) };
});
