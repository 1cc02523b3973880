// The storage every test that needs a whole store runs on: the embedded store, or MongoDB when
// MONGODB_URI is set (`MONGODB_URI=... npm test` runs the contract AND every end-to-end and REST
// test on it). The URI is used exactly as given, credentials and authSource included; each test
// file gets a database of its own, passed as an option, and drops only that database.
import { randomBytes } from "node:crypto";
import { MongoClient } from "mongodb";
import { createMemoryStore } from "../../src/store/memory.ts";
import { planMongoConnection, type MongoConnectionPlan } from "../../src/store/mongo/connection-plan.ts";
import { createMongoStore, type MongoStore } from "../../src/store/mongo.ts";
import type { Store } from "../../src/store/port.ts";

const fromEnv = process.env["MONGODB_URI"];
/** The MongoDB the tests were asked to use, if any. */
export const mongoUri: string | undefined = fromEnv === undefined || fromEnv.trim() === "" ? undefined : fromEnv.trim();
/** MONGODB_REQUIRED=1: a missing MongoDB fails the MongoDB tests instead of skipping them. */
export const mongoRequired = ["1", "true", "yes"].includes((process.env["MONGODB_REQUIRED"] ?? "").toLowerCase());

export const storageUnderTest: "memory" | "mongodb" = mongoUri === undefined ? "memory" : "mongodb";

/** Why the MongoDB legs do not run here, in one line for the test report. */
export const noMongoReason =
  "no MONGODB_URI: set MONGODB_URI=mongodb://host:port/?replicaSet=... to run it (MONGODB_REQUIRED=1 makes this a failure)";

export function mongoPlan(): MongoConnectionPlan {
  if (mongoUri === undefined) throw new Error("MONGODB_URI is not set");
  return planMongoConnection(mongoUri, { serverSelectionTimeoutMS: 5_000, operationTimeoutMS: 10_000 });
}

/** A fresh database name: authd_test_<label>_<pid>_<random>, within MongoDB's 63 bytes. */
export function testDatabaseName(label: string): string {
  const safe = label.replace(/[^A-Za-z0-9_]/g, "_").slice(0, 24);
  return `authd_test_${safe}_${process.pid}_${randomBytes(4).toString("hex")}`;
}

/** A MongoDB store on `dbName`, connected (or a clear failure if MONGODB_URI does not answer). */
export async function openMongoStore(dbName: string): Promise<MongoStore> {
  const store = createMongoStore(mongoPlan(), { dbName });
  await store.started;
  if (!store.connected()) {
    await store.close();
    throw new Error(`MONGODB_URI is set but MongoDB did not answer within the server-selection timeout`);
  }
  return store;
}

export async function dropDatabase(dbName: string): Promise<void> {
  const plan = mongoPlan();
  const client = new MongoClient(plan.uri, plan.options);
  try {
    await client.db(dbName).dropDatabase();
  } finally {
    await client.close();
  }
}

/**
 * The store for one test server: embedded, or MongoDB in a database of its own that closing the
 * store drops.
 */
export async function openTestStore(label: string): Promise<Store> {
  if (mongoUri === undefined) return createMemoryStore();
  const dbName = testDatabaseName(label);
  const store = await openMongoStore(dbName);
  return {
    ...store,
    kind: store.kind,
    async close() {
      try {
        await dropDatabase(dbName);
      } finally {
        await store.close();
      }
    },
  };
}
