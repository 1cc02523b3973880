// The MongoDB adapter: the storage contract on a real MongoDB when MONGODB_URI is set, and what
// the adapter does without one (start-up while MongoDB is unreachable, duplicate-key attribution).
import { Writable } from "node:stream";
import { MongoServerError } from "mongodb";
import { createLogger } from "../../src/log.ts";
import { describe, expect, it } from "vitest";
import { DuplicateEmailError, DuplicateProviderLinkError, StorageUnavailableError } from "../../src/store/errors.ts";
import { planMongoConnection } from "../../src/store/mongo/connection-plan.ts";
import { createMongoStore } from "../../src/store/mongo.ts";
import { duplicateUserField } from "../../src/store/mongo/users.ts";
import { startFakeMongod } from "../support/fake-mongod.ts";
import { dropDatabase, mongoRequired, mongoUri, noMongoReason, openMongoStore, testDatabaseName } from "../support/stores.ts";
import { makeUser, storageContract } from "./contract.ts";

if (mongoUri !== undefined) {
  const dbName = testDatabaseName("contract");
  console.log(`[mongo.test] running the storage contract on MONGODB_URI, database ${dbName}`);
  storageContract(
    "mongodb",
    () => openMongoStore(dbName),
    () => dropDatabase(dbName),
  );
} else if (mongoRequired) {
  describe("storage contract: mongodb", () => {
    it("runs, because MONGODB_REQUIRED=1", () => {
      throw new Error(`MONGODB_REQUIRED=1 but ${noMongoReason}`);
    });
  });
} else {
  console.warn(`[mongo.test] MongoDB storage contract skipped: ${noMongoReason}`);
  describe("storage contract: mongodb", () => {
    it.skip(`skipped: ${noMongoReason}`, () => {});
  });
}

describe("mongodb adapter without a server", () => {
  const unreachable = planMongoConnection("mongodb://127.0.0.1:1/authd_unreachable", {
    serverSelectionTimeoutMS: 300,
    operationTimeoutMS: 1_000,
  });

  it("starts without MongoDB: the first attempt settles, every call fails at once with StorageUnavailableError", async () => {
    const warnings: string[] = [];
    const log = createLogger(
      "warn",
      new Writable({
        write(chunk: Buffer, _e, done) {
          warnings.push(chunk.toString());
          done();
        },
      }),
    );
    const store = createMongoStore(unreachable, { log, retry: { initialMs: 50, maxMs: 100 } });
    try {
      await store.started; // resolves: an outage is not a reason not to start
      expect(store.connected()).toBe(false);
      const started = Date.now();
      const error = await store.users.findById("u").then(
        () => new Error("resolved"),
        (err: unknown) => err,
      );
      expect(Date.now() - started).toBeLessThan(100); // no 30 s hang while disconnected
      expect(error).toBeInstanceOf(StorageUnavailableError);
      expect((error as Error).message).toBe("storage unavailable");
      await expect(store.ping()).rejects.toBeInstanceOf(StorageUnavailableError);
      // It keeps retrying in the background, with a warning per failed attempt.
      await new Promise((r) => setTimeout(r, 900));
      expect(warnings.length).toBeGreaterThanOrEqual(2);
      expect(warnings.every((w) => w.includes("STORAGE_UNAVAILABLE"))).toBe(true);
    } finally {
      await store.close();
    }
    await expect(store.users.findById("u")).rejects.toBeInstanceOf(StorageUnavailableError);
  });
});

describe("through the connection, with the real driver (support/fake-mongod.ts)", () => {
  // The adapters' own errors pass through the connection's error mapping as they are: a second
  // link of one provider account is an answer (federation signs in or says PROVIDER_ACCOUNT_LINKED),
  // not a storage failure.
  it("a duplicate provider account is DuplicateProviderLinkError, and a taken email DuplicateEmailError", async () => {
    const fake = await startFakeMongod();
    const silent = createLogger("silent", new Writable({ write: (_c, _e, done) => done() }));
    const store = createMongoStore(
      planMongoConnection(`mongodb://127.0.0.1:${fake.port}/authd_duplicates?directConnection=true`, {
        serverSelectionTimeoutMS: 1_000,
        operationTimeoutMS: 2_000,
      }),
      { log: silent },
    );
    try {
      await store.started;
      const duplicate = (index: string, keyPattern: Record<string, number>) => ({
        n: 0,
        ok: 1,
        writeErrors: [{ index: 0, code: 11000, errmsg: `E11000 duplicate key error index: ${index}`, keyPattern }],
      });
      fake.respond("insert", (body) =>
        body["insert"] === "provider_links"
          ? duplicate("provider_issuer_subject_unique", { provider: 1, issuer: 1, subject: 1 })
          : duplicate("email_unique", { email: 1 }),
      );
      const now = new Date();
      const link = {
        id: "lnk",
        userId: "usr",
        provider: "google",
        issuer: "https://accounts.google.com",
        subject: "s",
        email: "",
        createdAt: now,
      };
      await expect(store.providerLinks.insert(link)).rejects.toBeInstanceOf(DuplicateProviderLinkError);
      await expect(store.users.insert(makeUser(now, { id: "usr", email: "taken@example.com" }))).rejects.toBeInstanceOf(
        DuplicateEmailError,
      );
    } finally {
      await store.close();
      await fake.close();
    }
  });
});

describe("duplicate keys in users are attributed even when the server omits keyPattern and keyValue", () => {
  const dup = (message: string, extra: Record<string, unknown> = {}) =>
    new MongoServerError({ message, code: 11000, codeName: "DuplicateKey", ...extra });
  const never = async () => {
    throw new Error("must not ask the database");
  };

  it("from keyPattern", async () => {
    expect(await duplicateUserField(dup("E11000", { keyPattern: { email: 1 }, keyValue: { email: "a@b.c" } }), never)).toBe("email");
    expect(await duplicateUserField(dup("E11000", { keyPattern: { _id: 1 } }), never)).toBe("_id");
  });

  it("from the index named in the message", async () => {
    expect(
      await duplicateUserField(
        dup('E11000 duplicate key error collection: authd.users index: email_unique dup key: { email: "x" }'),
        never,
      ),
    ).toBe("email");
    expect(
      await duplicateUserField(dup('E11000 duplicate key error collection: authd.users index: _id_ dup key: { _id: "x" }'), never),
    ).toBe("_id");
  });

  it("from the database when the error names nothing", async () => {
    const bare = dup("E11000 duplicate key error");
    expect(await duplicateUserField(bare, async () => true)).toBe("_id");
    expect(await duplicateUserField(bare, async () => false)).toBe("email");
  });
});
