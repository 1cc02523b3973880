import { MongoNetworkError, MongoServerError } from "mongodb";
import type { Db } from "mongodb";
import { describe, expect, expectTypeOf, it } from "vitest";
import { indexPlan } from "../../../src/store/mongo/index-plan.ts";
import type { ExistingIndex, PlannedIndex } from "../../../src/store/mongo/index-plan.ts";
import { IndexConflictError, ensureIndexes } from "../../../src/store/mongo/indexes.ts";
import type { IndexCollection, IndexDb, IndexLog } from "../../../src/store/mongo/indexes.ts";

type Call =
  | { op: "createIndexes"; collection: string; specs: PlannedIndex[] }
  | { op: "listIndexes"; collection: string }
  | { op: "command"; command: Record<string, unknown> };

/** Records every call; per collection, createIndexes throws the queued errors in turn, then succeeds. */
class FakeDb implements IndexDb {
  readonly calls: Call[] = [];
  readonly createErrors = new Map<string, Error[]>();
  readonly indexes = new Map<string, ExistingIndex[]>();

  collection(name: string): IndexCollection {
    return {
      createIndexes: async (specs) => {
        this.calls.push({ op: "createIndexes", collection: name, specs });
        const err = this.createErrors.get(name)?.shift();
        if (err !== undefined) throw err;
        return specs.map((s) => s.name);
      },
      listIndexes: () => ({
        toArray: async () => {
          this.calls.push({ op: "listIndexes", collection: name });
          return this.indexes.get(name) ?? [];
        },
      }),
    };
  }

  async command(command: Record<string, unknown>): Promise<unknown> {
    this.calls.push({ op: "command", command });
    return { ok: 1 };
  }
}

class FakeLog implements IndexLog {
  readonly entries: { level: "info" | "warn"; obj: object; msg: string }[] = [];
  info(obj: object, msg: string): void {
    this.entries.push({ level: "info", obj, msg });
  }
  warn(obj: object, msg: string): void {
    this.entries.push({ level: "warn", obj, msg });
  }
}

// Written out rather than derived from `indexPlan`, so a change to the plan has to change this too.
const ATTEMPTS = [{ key: { expiresAt: 1 }, name: "expiresAt_ttl", expireAfterSeconds: 0 }];
const USERS = [{ key: { email: 1 }, name: "email_unique", unique: true }];
const SESSIONS = [
  { key: { userId: 1, createdAt: -1 }, name: "userId_createdAt" },
  { key: { expiresAt: 1 }, name: "expiresAt_ttl", expireAfterSeconds: 0 },
];
const REFRESH_TOKENS = [
  { key: { userId: 1 }, name: "userId" },
  { key: { sessionId: 1, consumedAt: -1, _id: 1 }, name: "sessionId_consumedAt_id" },
  { key: { expiresAt: 1 }, name: "expiresAt_ttl", expireAfterSeconds: 0 },
];
const CODES = [
  { key: { userId: 1, purpose: 1 }, name: "userId_purpose" },
  { key: { expiresAt: 1 }, name: "expiresAt_ttl", expireAfterSeconds: 0 },
];
const SERVICE_ACCOUNTS = [{ key: { createdAt: -1, _id: -1 }, name: "createdAt_id" }];
const PASSKEYS = [
  { key: { id: 1 }, name: "id_unique", unique: true },
  { key: { userId: 1, createdAt: 1 }, name: "userId_createdAt" },
];

const AUDIT_EVENTS = [
  { key: { at: -1, _id: -1 }, name: "at_id" },
  { key: { targetUserId: 1, at: -1, _id: -1 }, name: "targetUserId_at_id" },
  { key: { expiresAt: 1 }, name: "expiresAt_ttl", expireAfterSeconds: 0 },
];

const PROVIDER_LINKS = [
  { key: { provider: 1, issuer: 1, subject: 1 }, name: "provider_issuer_subject_unique", unique: true },
  { key: { userId: 1, createdAt: 1 }, name: "userId_createdAt" },
];

const create = (collection: string, specs: object[]) => ({ op: "createIndexes", collection, specs });

function optionsConflict(message: string): MongoServerError {
  return new MongoServerError({ message, code: 85, codeName: "IndexOptionsConflict" });
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error("expected a rejection");
    },
    (err: unknown) => err,
  );
}

describe("mongo indexes", () => {
  it("accepts the driver's Db", () => {
    expectTypeOf<Db>().toExtend<IndexDb>();
  });

  it("plans exactly the indexes authd relies on", () => {
    expect(indexPlan).toEqual({
      attempts: ATTEMPTS,
      users: USERS,
      sessions: SESSIONS,
      refresh_tokens: REFRESH_TOKENS,
      codes: CODES,
      service_accounts: SERVICE_ACCOUNTS,
      audit_events: AUDIT_EVENTS,
      passkeys: PASSKEYS,
      provider_links: PROVIDER_LINKS,
    });
  });

  it("creates every planned index, one request per collection, and nothing else", async () => {
    const db = new FakeDb();
    const log = new FakeLog();
    await ensureIndexes(db, log);
    expect(db.calls).toEqual([
      create("attempts", ATTEMPTS),
      create("users", USERS),
      create("sessions", SESSIONS),
      create("refresh_tokens", REFRESH_TOKENS),
      create("codes", CODES),
      create("service_accounts", SERVICE_ACCOUNTS),
      create("audit_events", AUDIT_EVENTS),
      create("passkeys", PASSKEYS),
      create("provider_links", PROVIDER_LINKS),
    ]);
    expect(log.entries).toEqual([{ level: "info", obj: { collections: 9, indexes: 17 }, msg: "mongo indexes ensured" }]);
  });

  it("works without a logger", async () => {
    const db = new FakeDb();
    await expect(ensureIndexes(db)).resolves.toBeUndefined();
    expect(db.calls).toHaveLength(9);
  });

  it("reconciles a changed TTL with collMod, warns, and creates the collection's indexes again", async () => {
    const db = new FakeDb();
    const log = new FakeLog();
    db.createErrors.set("sessions", [
      optionsConflict("An existing index has the same name as the requested index. ... expireAfterSeconds: 3600"),
    ]);
    db.indexes.set("sessions", [
      { v: 2, key: { _id: 1 }, name: "_id_" },
      { v: 2, key: { userId: 1, createdAt: -1 }, name: "userId_createdAt" },
      { v: 2, key: { expiresAt: 1 }, name: "expiresAt_ttl", expireAfterSeconds: 3600 },
    ]);

    await ensureIndexes(db, log);

    expect(db.calls).toEqual([
      create("attempts", ATTEMPTS),
      create("users", USERS),
      create("sessions", SESSIONS),
      { op: "listIndexes", collection: "sessions" },
      { op: "command", command: { collMod: "sessions", index: { name: "expiresAt_ttl", expireAfterSeconds: 0 } } },
      create("sessions", SESSIONS),
      create("refresh_tokens", REFRESH_TOKENS),
      create("codes", CODES),
      create("service_accounts", SERVICE_ACCOUNTS),
      create("audit_events", AUDIT_EVENTS),
      create("passkeys", PASSKEYS),
      create("provider_links", PROVIDER_LINKS),
    ]);
    expect(log.entries.filter((e) => e.level === "warn")).toEqual([
      {
        level: "warn",
        obj: { collection: "sessions", index: "expiresAt_ttl", oldExpireAfterSeconds: 3600, newExpireAfterSeconds: 0 },
        msg: "changed the TTL of a mongo index to match authd's index plan",
      },
    ]);
  });

  it("refuses to change a unique flag and tells the operator which index to drop", async () => {
    const db = new FakeDb();
    const log = new FakeLog();
    db.createErrors.set("users", [optionsConflict("An existing index has the same name as the requested index.")]);
    db.indexes.set("users", [
      { v: 2, key: { _id: 1 }, name: "_id_" },
      { v: 2, key: { email: 1 }, name: "email_unique" },
    ]);

    const err = await rejection(ensureIndexes(db, log));

    expect(err).toBeInstanceOf(IndexConflictError);
    expect(err).toMatchObject({
      name: "IndexConflictError",
      collection: "users",
      indexes: ["email_unique"],
      message:
        "index conflict on collection users: index email_unique differs: unique is false, authd expects true. " +
        'Drop index email_unique on collection users (db.getCollection("users").dropIndex("email_unique")) ' +
        "so authd can recreate it on its next start.",
    });
    expect(db.calls).toEqual([create("attempts", ATTEMPTS), create("users", USERS), { op: "listIndexes", collection: "users" }]);
    expect(log.entries).toEqual([]);
  });

  it("does not touch a TTL when the same index also differs in something else", async () => {
    const db = new FakeDb();
    db.createErrors.set("codes", [optionsConflict("An existing index has the same name as the requested index.")]);
    db.indexes.set("codes", [
      { v: 2, key: { userId: 1, purpose: 1 }, name: "userId_purpose" },
      { v: 2, key: { expiresAt: 1 }, name: "expiresAt_ttl", expireAfterSeconds: 60, sparse: true },
    ]);

    const err = await rejection(ensureIndexes(db));

    expect(err).toMatchObject({
      collection: "codes",
      indexes: ["expiresAt_ttl"],
      message:
        "index conflict on collection codes: index expiresAt_ttl differs: sparse is true, authd expects false, " +
        "expireAfterSeconds is 60, authd expects 0. " +
        'Drop index expiresAt_ttl on collection codes (db.getCollection("codes").dropIndex("expiresAt_ttl")) ' +
        "so authd can recreate it on its next start.",
    });
    expect(db.calls.some((c) => c.op === "command")).toBe(false);
  });

  it("reports a name that another key has taken (IndexKeySpecsConflict)", async () => {
    const db = new FakeDb();
    db.createErrors.set("refresh_tokens", [
      new MongoServerError({
        message: "An existing index has the same name as the requested index but different key spec",
        code: 86,
        codeName: "IndexKeySpecsConflict",
      }),
    ]);
    db.indexes.set("refresh_tokens", [
      { v: 2, key: { userId: 1, createdAt: 1 }, name: "userId" },
      { v: 2, key: { expiresAt: 1 }, name: "expiresAt_ttl", expireAfterSeconds: 0 },
    ]);

    const err = await rejection(ensureIndexes(db));

    expect(err).toMatchObject({
      name: "IndexConflictError",
      collection: "refresh_tokens",
      indexes: ["userId"],
      message:
        'index conflict on collection refresh_tokens: index userId has key {"userId":1,"createdAt":1}, authd expects {"userId":1}. ' +
        'Drop index userId on collection refresh_tokens (db.getCollection("refresh_tokens").dropIndex("userId")) ' +
        "so authd can recreate it on its next start.",
    });
  });

  it("quotes the server when it reports a conflict the index list does not show", async () => {
    const db = new FakeDb();
    const conflict = optionsConflict("Index already exists with a different name: userId_1");
    db.createErrors.set("refresh_tokens", [conflict]);
    db.indexes.set("refresh_tokens", [
      { v: 2, key: { userId: 1 }, name: "userId" },
      { v: 2, key: { expiresAt: 1 }, name: "expiresAt_ttl", expireAfterSeconds: 0 },
    ]);

    const err = await rejection(ensureIndexes(db));

    expect(err).toMatchObject({
      name: "IndexConflictError",
      collection: "refresh_tokens",
      indexes: [],
      cause: conflict,
      message:
        "index conflict on collection refresh_tokens: Index already exists with a different name: userId_1. " +
        'Compare db.getCollection("refresh_tokens").getIndexes() with authd\'s index plan, drop the indexes that differ, then restart authd.',
    });
    expect(db.calls.some((c) => c.op === "command")).toBe(false);
  });

  it.each([
    { code: 11000, extra: { keyPattern: { email: 1 }, keyValue: { email: "alice@example.com" } } },
    { code: 11001, extra: {} },
  ])("explains duplicate data under email_unique (code $code) without quoting it", async ({ code, extra }) => {
    const db = new FakeDb();
    db.createErrors.set("users", [
      new MongoServerError({
        message:
          "Index build failed: 4c1f: Collection authd.users ( 2b9e ) :: caused by :: E11000 duplicate key error " +
          'collection: authd.users index: email_unique dup key: { email: "alice@example.com" }',
        code,
        codeName: "DuplicateKey",
        ...extra,
      }),
    ]);

    const err = await rejection(ensureIndexes(db));

    expect(err).toBeInstanceOf(IndexConflictError);
    expect(err).toMatchObject({
      name: "IndexConflictError",
      collection: "users",
      indexes: ["email_unique"],
      message:
        "collection users holds duplicate values for unique index email_unique, so the index cannot be built. " +
        'List them with db.getCollection("users").aggregate([{ $group: { _id: "$email", count: { $sum: 1 } } }, ' +
        "{ $match: { count: { $gt: 1 } } }]), resolve each duplicate, then restart authd.",
    });
    const { message, cause } = err as IndexConflictError;
    expect(message).not.toMatch(/alice|example\.com|@/);
    // Loggers print causes, and the driver's error quotes the duplicated address.
    expect(cause).toBeUndefined();
    expect(db.calls).toEqual([create("attempts", ATTEMPTS), create("users", USERS)]);
  });

  it.each([
    { kind: "network", error: new MongoNetworkError("connection 4 to 10.0.0.7:27017 closed") },
    { kind: "unauthorized", error: new MongoServerError({ message: "not authorized on authd", code: 13, codeName: "Unauthorized" }) },
  ])("rethrows a $kind error unchanged and stops", async ({ error }) => {
    const db = new FakeDb();
    db.createErrors.set("sessions", [error]);

    const err = await rejection(ensureIndexes(db));

    expect(err).toBe(error);
    expect(db.calls).toEqual([create("attempts", ATTEMPTS), create("users", USERS), create("sessions", SESSIONS)]);
  });

  it("rethrows an error from listIndexes unchanged", async () => {
    const db = new FakeDb();
    const error = new MongoNetworkError("connection 5 to 10.0.0.7:27017 closed");
    db.createErrors.set("attempts", [optionsConflict("An existing index has the same name as the requested index.")]);
    db.collection = (name) => ({
      ...FakeDb.prototype.collection.call(db, name),
      listIndexes: () => ({ toArray: async () => Promise.reject(error) }),
    });

    await expect(ensureIndexes(db)).rejects.toBe(error);
  });
});
