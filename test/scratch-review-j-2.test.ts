import { afterEach, it } from "vitest";
import { planMongoConnection } from "../src/store/mongo/connection-plan.ts";
import { createMongoStore, type MongoStore } from "../src/store/mongo.ts";
import { startFakeMongod, type FakeMongod } from "./support/fake-mongod.ts";

let fake: FakeMongod | undefined;
let store: MongoStore | undefined;
afterEach(async () => {
  await store?.close();
  await fake?.close();
});

it("commands as sent", async () => {
  fake = await startFakeMongod();
  store = createMongoStore(planMongoConnection(`mongodb://127.0.0.1:${fake.port}/authd_scratch?directConnection=true`, { serverSelectionTimeoutMS: 500, operationTimeoutMS: 2000 }));
  await store.started;
  const before = fake.commands.length;
  const now = new Date();
  await store.refreshTokens.consume("h", now, now).catch((e) => console.log("consume err", e));
  await store.refreshTokens.dropSpentBeyond("s", 128).catch((e) => console.log("drop err", e));
  await store.refreshTokens.expireSession("s", "u", now).catch((e) => console.log("exp err", e));
  await store.sessions.moreLiveThan("u", now, 3).catch((e) => console.log("more err", e));
  await store.attempts.fail("k", now, { maxFailures: 5, windowSeconds: 60, lockSeconds: 60 }).catch((e) => console.log("fail err", (e as Error).message));
  await store.codes.add({ codeHash: "c", purpose: "login_challenge", userId: "u", createdAt: now, expiresAt: now }).catch((e) => console.log("add err", e));
  for (const c of fake.commands.slice(before)) {
    const { lsid, $clusterTime, $db, ...rest } = c.body as Record<string, unknown>;
    console.log(c.name, JSON.stringify(rest, (_k, v) => (typeof v === "bigint" ? String(v) : v)).slice(0, 600));
  }
});
