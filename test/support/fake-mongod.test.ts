import net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import {
  BSON,
  MongoClient,
  MongoServerError,
  MongoServerSelectionError,
  type ServerHeartbeatFailedEvent,
  type ServerHeartbeatSucceededEvent,
} from "mongodb";
import { startFakeMongod, type FakeMongod } from "./fake-mongod.ts";

const fakes: FakeMongod[] = [];
const clients: MongoClient[] = [];

async function fakeMongod(opts?: { port?: number }): Promise<FakeMongod> {
  const fake = await startFakeMongod(opts);
  fakes.push(fake);
  return fake;
}

function client(uri: string, serverSelectionTimeoutMS: number, extra?: { heartbeatFrequencyMS?: number }): MongoClient {
  const c = new MongoClient(uri, { serverSelectionTimeoutMS, ...extra });
  clients.push(c);
  return c;
}

afterEach(async () => {
  for (const c of clients.splice(0)) await c.close();
  for (const f of fakes.splice(0)) await f.close();
});

const names = (fake: FakeMongod): string[] => fake.commands.map((c) => c.name);

describe("fake-mongod with the real driver", () => {
  it("handshakes, pings, finds and creates indexes", async () => {
    const fake = await fakeMongod();
    expect(fake.uri).toBe(`mongodb://127.0.0.1:${fake.port}/?directConnection=true`);
    const c = client(fake.uri, 2000);
    await c.connect();

    // The driver's handshake is a legacy OP_QUERY `ismaster` on admin.$cmd (so no $db field in the body):
    // one on the monitoring connection, one per pooled connection.
    const handshake = fake.commands[0];
    expect(handshake?.name).toBe("ismaster");
    expect(handshake?.db).toBe("admin");
    expect(handshake?.body.$db).toBeUndefined();

    await expect(c.db("x").command({ ping: 1 })).resolves.toEqual({ ok: 1 });
    await expect(c.db("x").collection("c").findOne({})).resolves.toBeNull();
    await expect(
      c
        .db("x")
        .collection("c")
        .createIndexes([{ key: { a: 1 }, unique: true }]),
    ).resolves.toEqual(["a_1"]);
    await expect(
      c
        .db("x")
        .collection("c")
        .insertMany([{ a: 1 }, { a: 2 }]),
    ).resolves.toMatchObject({ acknowledged: true });

    const ping = fake.commands.find((cmd) => cmd.name === "ping");
    expect(ping).toMatchObject({ db: "x", body: { ping: 1, $db: "x" } });
    expect(fake.commands.find((cmd) => cmd.name === "find")).toMatchObject({ db: "x", body: { find: "c", filter: {}, limit: 1 } });
    expect(fake.commands.find((cmd) => cmd.name === "createIndexes")?.body.indexes).toEqual([{ key: { a: 1 }, unique: true, name: "a_1" }]);
    const insert = fake.commands.find((cmd) => cmd.name === "insert");
    expect(insert?.body.documents).toMatchObject([{ a: 1 }, { a: 2 }]);
  });

  it("serves handler errors: NotWritablePrimary on find is retried once, then surfaces", async () => {
    const fake = await fakeMongod();
    const c = client(fake.uri, 2000);
    await c.connect();
    fake.respond("find", () => ({ ok: 0, errmsg: "not primary", code: 10107, codeName: "NotWritablePrimary" }));

    const err: unknown = await c
      .db("x")
      .collection("c")
      .findOne({})
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MongoServerError);
    expect(err).toMatchObject({ code: 10107, codeName: "NotWritablePrimary" });
    // Retryable reads: the first 10107 marks the server Unknown, the monitor re-checks it (a `hello`),
    // and the read is sent exactly once more.
    expect(names(fake).filter((n) => n === "find")).toHaveLength(2);
    expect(names(fake).slice(names(fake).indexOf("find"))).toEqual(["find", "hello", "find"]);

    // Falling back to the default again.
    fake.respond("find", undefined);
    await expect(c.db("x").collection("c").findOne({})).resolves.toBeNull();

    // A handler returning undefined also falls back; a write-concern error reaches the caller.
    fake.respond("insert", () => ({
      n: 1,
      ok: 1,
      writeConcernError: { code: 64, codeName: "WriteConcernTimeout", errmsg: "waiting for replication timed out" },
    }));
    await expect(c.db("x").collection("c").insertOne({ a: 1 })).rejects.toMatchObject({ code: 64 });
    expect(names(fake).filter((n) => n === "insert")).toHaveLength(1); // not retried
    fake.respond("ping", () => undefined);
    await expect(c.db("x").command({ ping: 1 })).resolves.toEqual({ ok: 1 });
    await expect(c.db("x").command({ noSuchThing: 1 })).rejects.toMatchObject({ code: 59, codeName: "CommandNotFound" });
  });

  it("MongoDB down, then back on the same port: the same client recovers", async () => {
    const first = await fakeMongod();
    const port = first.port;
    const c = client(first.uri, 1000);
    await c.connect();
    await expect(c.db("x").command({ ping: 1 })).resolves.toEqual({ ok: 1 });

    await first.close();
    const downStart = performance.now();
    const err: unknown = await c
      .db("x")
      .collection("c")
      .findOne({})
      .catch((e: unknown) => e);
    const downMs = performance.now() - downStart;
    expect(err).toBeInstanceOf(MongoServerSelectionError);
    expect(String(err)).toMatch(/ECONNREFUSED/);
    expect(downMs).toBeLessThan(3000);

    const second = await fakeMongod({ port });
    expect(second.uri).toBe(first.uri);
    const upStart = performance.now();
    await expect(c.db("x").collection("c").findOne({})).resolves.toBeNull();
    expect(performance.now() - upStart).toBeLessThan(2000);
    // The driver reconnected: fresh handshake, then the find, on the new listener.
    expect(names(second)[0]).toBe("ismaster");
    expect(names(second)).toContain("find");
  });

  it("copes with the streaming monitor when hello advertises a topologyVersion", async () => {
    const fake = await fakeMongod();
    const processId = new BSON.ObjectId();
    let counter = 0;
    const hello = (): Record<string, unknown> => ({
      ismaster: true,
      isWritablePrimary: true,
      helloOk: true,
      maxBsonObjectSize: 16777216,
      maxMessageSizeBytes: 48000000,
      maxWriteBatchSize: 100000,
      logicalSessionTimeoutMinutes: 30,
      minWireVersion: 0,
      maxWireVersion: 21,
      topologyVersion: { processId, counter: BSON.Long.fromNumber(counter) },
      ok: 1,
    });
    fake.respond("hello", hello);
    const c = client(fake.uri, 2000, { heartbeatFrequencyMS: 300 });
    const succeeded: ServerHeartbeatSucceededEvent[] = [];
    const failed: ServerHeartbeatFailedEvent[] = [];
    c.on("serverHeartbeatSucceeded", (e) => succeeded.push(e));
    c.on("serverHeartbeatFailed", (e) => failed.push(e));
    await c.connect();

    const cpuBefore = process.cpuUsage();
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const cpu = process.cpuUsage(cpuBefore);
    expect(failed).toEqual([]);
    expect(succeeded.filter((e) => e.awaited).length).toBeGreaterThanOrEqual(2);
    expect((cpu.user + cpu.system) / 1000).toBeLessThan(300); // no busy loop
    const awaitable = fake.commands.find((cmd) => cmd.name === "hello" && cmd.body.maxAwaitTimeMS !== undefined);
    expect(awaitable?.body.maxAwaitTimeMS).toBe(300);

    // Replacing the hello handler answers the waiting awaitable hello immediately.
    const before = succeeded.length;
    counter = 1;
    const changedAt = performance.now();
    fake.respond("hello", hello);
    await expect.poll(() => succeeded.length, { timeout: 250, interval: 5 }).toBeGreaterThan(before);
    expect(performance.now() - changedAt).toBeLessThan(250);
    await expect(c.db("x").command({ ping: 1 })).resolves.toEqual({ ok: 1 });
    expect(failed).toEqual([]);
  });

  it("frames split and coalesced OP_MSG messages on a raw socket", async () => {
    const fake = await fakeMongod();
    const opMsg = (requestId: number, doc: Record<string, unknown>): Buffer => {
      const bson = Buffer.from(BSON.serialize(doc));
      const msg = Buffer.alloc(21 + bson.length);
      msg.writeInt32LE(msg.length, 0);
      msg.writeInt32LE(requestId, 4);
      msg.writeInt32LE(0, 8);
      msg.writeInt32LE(2013, 12);
      msg.writeUInt32LE(0, 16);
      msg.writeUInt8(0, 20);
      bson.copy(msg, 21);
      return msg;
    };
    const socket = net.connect(fake.port, "127.0.0.1");
    try {
      await new Promise<void>((resolve, reject) => socket.once("connect", resolve).once("error", reject));
      const replies: Array<{ responseTo: number; doc: Record<string, unknown> }> = [];
      let buf = Buffer.alloc(0);
      socket.on("data", (chunk: Buffer) => {
        buf = Buffer.concat([buf, chunk]);
        while (buf.length >= 4 && buf.length >= buf.readInt32LE(0)) {
          const len = buf.readInt32LE(0);
          replies.push({ responseTo: buf.readInt32LE(8), doc: BSON.deserialize(buf.subarray(21, len)) });
          buf = buf.subarray(len);
        }
      });
      // One message split into single bytes, then two messages in one write.
      const split = opMsg(7, { ping: 1, $db: "admin" });
      for (const byte of split) {
        socket.write(Buffer.from([byte]));
        await new Promise((resolve) => setImmediate(resolve));
      }
      socket.write(Buffer.concat([opMsg(8, { buildInfo: 1, $db: "admin" }), opMsg(9, { whatever: 1, $db: "y" })]));
      await expect.poll(() => replies.length, { timeout: 2000 }).toBe(3);
      expect(replies[0]).toEqual({ responseTo: 7, doc: { ok: 1 } });
      expect(replies[1]).toMatchObject({ responseTo: 8, doc: { version: "7.0.0", ok: 1 } });
      expect(replies[2]).toMatchObject({ responseTo: 9, doc: { ok: 0, code: 59, codeName: "CommandNotFound" } });
      expect(names(fake)).toEqual(["ping", "buildInfo", "whatever"]);
      expect(fake.commands[2]?.db).toBe("y");
    } finally {
      socket.destroy();
    }
  });
});
