import { afterEach, expect, it } from "vitest";
import { DuplicateProviderLinkError, StorageFailureError } from "../src/store/errors.ts";
import { planMongoConnection } from "../src/store/mongo/connection-plan.ts";
import { createMongoStore, type MongoStore } from "../src/store/mongo.ts";
import { startFakeMongod, type FakeMongod } from "./support/fake-mongod.ts";

let fake: FakeMongod | undefined;
let store: MongoStore | undefined;
afterEach(async () => {
  await store?.close();
  await fake?.close();
});

it("provider link duplicate through the real run()", async () => {
  fake = await startFakeMongod();
  store = createMongoStore(
    planMongoConnection(`mongodb://127.0.0.1:${fake.port}/authd_scratch?directConnection=true`, {
      serverSelectionTimeoutMS: 500,
      operationTimeoutMS: 2000,
    }),
  );
  await store.started;
  expect(store.connected()).toBe(true);
  fake.respond("insert", () => ({
    ok: 1,
    n: 0,
    writeErrors: [
      {
        index: 0,
        code: 11000,
        errmsg:
          'E11000 duplicate key error collection: authd_scratch.provider_links index: provider_issuer_subject_unique dup key: { provider: "g", issuer: "i", subject: "s" }',
        keyPattern: { provider: 1, issuer: 1, subject: 1 },
        keyValue: { provider: "g", issuer: "i", subject: "s" },
      },
    ],
  }));
  fake.respond("aggregate", (body) => ({
    cursor: { id: 0n, ns: `authd_scratch.${String(body["aggregate"])}`, firstBatch: [] },
    ok: 1,
  }));
  const err = await store.providerLinks
    .insert({ id: "l2", userId: "u2", provider: "g", issuer: "i", subject: "s", email: "", createdAt: new Date() })
    .then(
      () => null,
      (e: unknown) => e,
    );
  console.log("ERR", (err as Error)?.name, (err as Error)?.message, ((err as Error)?.cause as Error)?.name);
  const cmds = fake.commands.filter((c) => ["insert", "aggregate"].includes(c.name));
  console.log(JSON.stringify(cmds.map((c) => ({ name: c.name, wc: c.body["writeConcern"], rc: c.body["readConcern"] }))));
  expect(err).toBeInstanceOf(StorageFailureError);
  expect(err).not.toBeInstanceOf(DuplicateProviderLinkError);
});
