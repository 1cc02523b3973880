import { MongoClient } from "mongodb";
import { describe, expect, it } from "vitest";
import { StorageUnavailableError } from "../../src/store/errors.ts";
import { createMongoStore, dbNameFromUri } from "../../src/store/mongo.ts";
import { storageContract } from "./contract.ts";

const MEMORY_SERVER_TIMEOUT_MS = 60_000;

type MongoTarget =
  | { available: true; source: string; uri: string; stop: () => Promise<void> }
  | { available: false; reason: string };

/** Rewrites the database in a MongoDB URI's path, keeping hosts, credentials and options. */
function withDbName(uri: string, dbName: string): string {
  const scheme = /^mongodb(\+srv)?:\/\//i.exec(uri);
  if (scheme === null) throw new Error("MONGODB_URI must start with mongodb:// or mongodb+srv://");
  const rest = uri.slice(scheme[0].length);
  const queryAt = rest.indexOf("?");
  const beforeQuery = queryAt === -1 ? rest : rest.slice(0, queryAt);
  const query = queryAt === -1 ? "" : rest.slice(queryAt);
  const slash = beforeQuery.indexOf("/");
  const hosts = slash === -1 ? beforeQuery : beforeQuery.slice(0, slash);
  return `${scheme[0]}${hosts}/${encodeURIComponent(dbName)}${query}`;
}

function shortReason(err: unknown): string {
  if (err !== null && typeof err === "object" && "msg" in err && typeof err.msg === "string") return err.msg;
  const message = err instanceof Error ? err.message : String(err);
  const firstLine = message.split("\n").find((l) => l.trim() !== "") ?? "unknown error";
  return firstLine.length > 160 ? `${firstLine.slice(0, 157)}...` : firstLine;
}

async function findMongo(dbName: string): Promise<MongoTarget> {
  const envUri = process.env["MONGODB_URI"];
  if (envUri !== undefined && envUri !== "") {
    // The user asked for this server: do not skip if it is down, let the suite fail.
    return { available: true, source: "MONGODB_URI", uri: withDbName(envUri, dbName), stop: async () => {} };
  }
  let timer: NodeJS.Timeout | undefined;
  try {
    const { MongoMemoryServer } = await import("mongodb-memory-server-core");
    const starting = MongoMemoryServer.create();
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no server after ${MEMORY_SERVER_TIMEOUT_MS / 1000} s`)), MEMORY_SERVER_TIMEOUT_MS);
    });
    let gaveUp = false;
    // If it starts after we gave up, stop it rather than leak a mongod.
    starting.then((server) => (gaveUp ? server.stop() : undefined)).catch(() => undefined);
    try {
      const server = await Promise.race([starting, timeout]);
      return {
        available: true,
        source: "mongodb-memory-server",
        uri: server.getUri(dbName),
        stop: async () => {
          await server.stop();
        },
      };
    } catch (err) {
      gaveUp = true;
      throw err;
    }
  } catch (err) {
    const reason = shortReason(err);
    return { available: false, reason };
  } finally {
    clearTimeout(timer);
  }
}

const dbName = `authd_test_${process.pid}_${Date.now()}`;
const target = await findMongo(dbName);

if (target.available) {
  console.log(`[mongo.test] running the MongoDB adapter contract against ${target.source}, database ${dbName}`);
  storageContract(
    `mongodb (${target.source})`,
    () => createMongoStore(target.uri, { serverSelectionTimeoutMS: 5000 }),
    async () => {
      const client = new MongoClient(target.uri, { serverSelectionTimeoutMS: 5000 });
      try {
        await client.db(dbName).dropDatabase();
      } finally {
        await client.close();
        await target.stop();
      }
    },
  );
} else {
  const skipped = `MongoDB adapter contract skipped: no MONGODB_URI and mongodb-memory-server could not obtain a binary or start a server (${target.reason})`;
  console.warn(`[mongo.test] ${skipped}. Set MONGODB_URI=mongodb://host:port to run it.`);
  describe("storage contract: mongodb", () => {
    it.skip(skipped, () => {});
  });
}

describe("mongodb adapter without a server", () => {
  it("createMongoStore against an unreachable server rejects with StorageUnavailableError, quickly", async () => {
    const started = Date.now();
    const error: unknown = await createMongoStore("mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=300").then(
      () => new Error("createMongoStore resolved"),
      (err: unknown) => err,
    );
    expect(Date.now() - started).toBeLessThan(5000);
    expect(error).toBeInstanceOf(StorageUnavailableError);
    // The driver error is kept as the cause, for server-side logs only.
    expect((error as StorageUnavailableError).cause).toBeInstanceOf(Error);
    expect((error as StorageUnavailableError).message).toBe("storage unavailable");
  });

  it("an unparsable URI also surfaces as StorageUnavailableError, not a driver error", async () => {
    await expect(createMongoStore("not-a-mongodb-uri")).rejects.toBeInstanceOf(StorageUnavailableError);
  });

  it("reads the database name from the URI path", () => {
    expect(dbNameFromUri("mongodb://localhost:27017/authprod?retryWrites=true")).toBe("authprod");
    expect(dbNameFromUri("mongodb://u:p%2F@h1:1,h2:2/my%20db")).toBe("my db");
    expect(dbNameFromUri("mongodb+srv://cluster.example.net/authd2")).toBe("authd2");
    expect(dbNameFromUri("mongodb://localhost:27017/?serverSelectionTimeoutMS=300")).toBeUndefined();
    expect(dbNameFromUri("mongodb://localhost:27017")).toBeUndefined();
  });
});
