// The server on MongoDB as it really behaves when MongoDB is down, comes back, steps down or
// fails, driven through the real driver against a wire-protocol stand-in (test/support/fake-mongod.ts),
// since no MongoDB server can run on these machines.
import { createServer } from "node:net";
import { Writable } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.ts";
import { createLogger } from "../../src/log.ts";
import { createOutbox } from "../../src/mail/mailer.ts";
import { startServer, type RunningServer } from "../../src/server/app.ts";
import { fetchDriver, failure } from "../support/drivers.ts";
import { startFakeMongod, type FakeMongod } from "../support/fake-mongod.ts";

const password = "correct horse battery staple";
let server: RunningServer | undefined;
let fake: FakeMongod | undefined;

afterEach(async () => {
  await server?.close();
  await fake?.close();
  server = undefined;
  fake = undefined;
});

async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const address = probe.address();
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}

function logSink(lines: string[]) {
  return createLogger(
    "info",
    new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(chunk.toString("utf8"));
        done();
      },
    }),
  );
}

async function start(mongoPort: number, lines: string[] = []): Promise<RunningServer> {
  const config = loadConfig(
    {
      PORT: "0",
      HOST: "127.0.0.1",
      MONGODB_URI: `mongodb://127.0.0.1:${mongoPort}/authd_outage`,
      MONGODB_SERVER_SELECTION_TIMEOUT_MS: "400",
      MONGODB_OPERATION_TIMEOUT_MS: "3000",
      TOTP_ENCRYPTION_KEY: "ab".repeat(32),
      MAIL_TO_LOG: "true",
      EMAIL_VERIFICATION_REQUIRED: "false",
      SHUTDOWN_GRACE_MS: "200",
    },
    () => {
      throw new Error("no files");
    },
  );
  return startServer(config, { mailer: createOutbox(), log: logSink(lines) });
}

async function status(url: string, path: string): Promise<number> {
  return (await fetch(`${url}${path}`)).status;
}

async function eventually(check: () => Promise<boolean>, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

/** Answers findAndModify on `attempts` as a fresh counter would, so a wrong password is counted. */
function countAttempts(f: FakeMongod): void {
  f.respond("findAndModify", (body) => ({
    lastErrorObject: { n: 1, updatedExisting: false },
    value: {
      _id: (body["query"] as { _id: string })._id,
      failures: 1,
      windowStartedAt: new Date(),
      lockedUntil: null,
      expiresAt: new Date(Date.now() + 60_000),
      counted: true,
    },
    ok: 1,
  }));
}

describe("MongoDB down at start-up, then back", () => {
  it("starts anyway, not ready and answering STORAGE_UNAVAILABLE, and serves once MongoDB answers, without a restart", async () => {
    const port = await freePort();
    const started = Date.now();
    server = await start(port);
    expect(Date.now() - started).toBeLessThan(5_000);

    expect(await status(server.url, "/livez")).toBe(200); // alive: an orchestrator must not restart it
    expect(await status(server.url, "/readyz")).toBe(503); // but not ready for traffic
    expect(await status(server.url, "/healthz")).toBe(503);
    const d = fetchDriver(server.url, "outage");
    const t0 = Date.now();
    const f = await failure(d.call("AuthService/Login", { email: "ada@example.com", password }));
    expect([f.code, f.reason]).toEqual(["unavailable", "STORAGE_UNAVAILABLE"]);
    expect(Date.now() - t0).toBeLessThan(1_000); // fails at once, no hang

    fake = await startFakeMongod({ port });
    countAttempts(fake);
    const url = server.url;
    expect(await eventually(async () => (await status(url, "/readyz")) === 200, 8_000)).toBe(true);
    expect(fake.commands.filter((c) => c.name === "createIndexes").map((c) => c.body["createIndexes"])).toEqual(
      expect.arrayContaining(["users", "sessions", "refresh_tokens", "codes", "attempts"]),
    );
    const served = await failure(d.call("AuthService/Login", { email: "ada@example.com", password }));
    expect([served.code, served.reason]).toEqual(["unauthenticated", "INVALID_CREDENTIALS"]);
    d.close();
  }, 20_000);
});

describe("failures while connected are mapped by cause", () => {
  it("a stepped-down primary is STORAGE_UNAVAILABLE; any other server error is INTERNAL; neither shows the driver's message", async () => {
    fake = await startFakeMongod();
    countAttempts(fake);
    const lines: string[] = [];
    server = await start(fake.port, lines);
    expect(await status(server.url, "/readyz")).toBe(200);
    const d = fetchDriver(server.url, "causes");

    fake.respond("find", () => ({ ok: 0, code: 10107, codeName: "NotWritablePrimary", errmsg: "not primary: secret-topology-detail" }));
    const stepped = await failure(d.call("AuthService/Login", { email: "ada@example.com", password }));
    expect([stepped.code, stepped.reason]).toEqual(["unavailable", "STORAGE_UNAVAILABLE"]);
    expect(JSON.stringify(stepped)).not.toContain("secret-topology-detail");

    fake.respond("find", () => ({ ok: 0, code: 2, codeName: "BadValue", errmsg: "secret-query-detail" }));
    // The driver rediscovers the member after a "not primary" (its monitor waits at least 500 ms),
    // and calls meanwhile are still STORAGE_UNAVAILABLE: wait until the answer is the server's.
    let broken = await failure(d.call("AuthService/Login", { email: "ada@example.com", password }));
    for (let i = 0; i < 30 && broken.reason === "STORAGE_UNAVAILABLE"; i++) {
      await new Promise((r) => setTimeout(r, 100));
      broken = await failure(d.call("AuthService/Login", { email: "ada@example.com", password }));
    }
    expect([broken.code, broken.reason, broken.message]).toEqual(["internal", "INTERNAL", "internal/INTERNAL: internal error"]);
    expect(JSON.stringify(broken)).not.toContain("secret-query-detail");
    // The cause is in the server's log, for the operator.
    expect(lines.join("")).toContain("secret-query-detail");

    fake.respond("find", undefined);
    fake.respond("insert", () => ({
      n: 1,
      ok: 1,
      writeConcernError: { code: 64, codeName: "WriteConcernTimeout", errmsg: "waiting for replication timed out" },
    }));
    const unconfirmed = await failure(d.call("AuthService/Register", { email: "new@example.com", password }));
    expect([unconfirmed.code, unconfirmed.reason]).toEqual(["unavailable", "STORAGE_UNAVAILABLE"]);
    d.close();
  }, 20_000);

  it("every write carries the pinned write concern and every read goes to the primary", async () => {
    fake = await startFakeMongod();
    countAttempts(fake);
    server = await start(fake.port);
    const d = fetchDriver(server.url, "pinned");
    await failure(d.call("AuthService/Register", { email: "pin@example.com", password: "short" }));
    await d.call("AuthService/Register", { email: "pin@example.com", password }).catch(() => undefined);
    d.close();
    const writes = fake.commands.filter((c) => ["insert", "update", "delete", "findAndModify"].includes(c.name));
    expect(writes.length).toBeGreaterThan(0);
    for (const w of writes) {
      expect(w.body["writeConcern"]).toEqual({ w: "majority", j: true, wtimeout: 3000 });
      expect(w.body["maxTimeMS"]).toBe(3000);
    }
    // A sign-up reads once: the count of the user's sessions against the cap (an aggregate),
    // which stops one past the cap (MAX_SESSIONS_PER_USER, 100 by default) however many there are.
    const reads = fake.commands.filter((c) => ["find", "aggregate", "count"].includes(c.name));
    expect(reads.length).toBeGreaterThan(0);
    const sessionCount = reads.find((r) => r.name === "aggregate" && r.body["aggregate"] === "sessions");
    expect(sessionCount?.body["pipeline"]).toContainEqual({ $limit: 101 });
    for (const r of reads) {
      // Primary reads carry no $readPreference (primary is the server's default); never another mode.
      expect(r.body["$readPreference"]).toBeUndefined();
      expect(r.body["maxTimeMS"]).toBe(3000);
    }
  }, 20_000);
});

describe("indexes at start-up", () => {
  it("a changed TTL is reconciled with collMod; a conflicting unique index stops the start with one clear error", async () => {
    fake = await startFakeMongod();
    let ttlConflict = true;
    fake.respond("createIndexes", (body) => {
      if (body["createIndexes"] === "sessions" && ttlConflict) {
        ttlConflict = false;
        return {
          ok: 0,
          code: 85,
          codeName: "IndexOptionsConflict",
          errmsg: "An equivalent index already exists with a different name and options",
        };
      }
      return undefined;
    });
    fake.respond("listIndexes", (body) => ({
      cursor: {
        id: 0n,
        ns: `authd_outage.${String(body["listIndexes"])}`,
        firstBatch: [
          { v: 2, key: { _id: 1 }, name: "_id_" },
          { v: 2, key: { userId: 1, createdAt: -1 }, name: "userId_createdAt" },
          { v: 2, key: { expiresAt: 1 }, name: "expiresAt_ttl", expireAfterSeconds: 3600 },
        ],
      },
      ok: 1,
    }));
    fake.respond("collMod", () => ({ ok: 1 }));
    server = await start(fake.port);
    expect(await status(server.url, "/readyz")).toBe(200);
    expect(fake.commands.filter((c) => c.name === "collMod").map((c) => c.body)).toEqual([
      expect.objectContaining({ collMod: "sessions", index: { name: "expiresAt_ttl", expireAfterSeconds: 0 } }),
    ]);
    await server.close();
    server = undefined;

    fake.respond("createIndexes", (body) =>
      body["createIndexes"] === "users"
        ? { ok: 0, code: 86, codeName: "IndexKeySpecsConflict", errmsg: "Index already exists with a different name or options" }
        : undefined,
    );
    fake.respond("listIndexes", () => ({
      cursor: {
        id: 0n,
        ns: "authd_outage.users",
        firstBatch: [
          { v: 2, key: { _id: 1 }, name: "_id_" },
          { v: 2, key: { email: 1 }, name: "email_unique" },
        ],
      },
      ok: 1,
    }));
    const error = await start(fake.port).then(
      (s) => {
        server = s;
        return new Error("started");
      },
      (err: unknown) => err as Error,
    );
    expect(error.name).toBe("IndexConflictError");
    expect(error.message).toContain("users");
    expect(error.message).toContain("email_unique");
    // The start failed for good: nothing keeps retrying behind it.
    const tries = fake.commands.filter((c) => c.name === "createIndexes").length;
    await new Promise((r) => setTimeout(r, 700));
    expect(fake.commands.filter((c) => c.name === "createIndexes").length).toBe(tries);
  }, 20_000);

  it("credentials MongoDB refuses stop the start with a clear error instead of retrying as if it were down", async () => {
    fake = await startFakeMongod();
    fake.respond("createIndexes", () => ({
      ok: 0,
      code: 13,
      codeName: "Unauthorized",
      errmsg: "not authorized on authd_outage to execute command",
    }));
    const error = await start(fake.port).then(
      (s) => {
        server = s;
        return new Error("started");
      },
      (err: unknown) => err as Error,
    );
    expect(error.message).toContain("not authorized");
    const tries = fake.commands.filter((c) => c.name === "createIndexes").length;
    await new Promise((r) => setTimeout(r, 700));
    expect(fake.commands.filter((c) => c.name === "createIndexes").length).toBe(tries);
  }, 20_000);
});
