/**
 * A tiny MongoDB wire-protocol responder that the real `mongodb` driver accepts.
 *
 * It lets tests simulate MongoDB being down (close()), coming back (start a new
 * fake on the same port), stepping down or answering errors (respond()), without
 * a real mongod. It understands:
 *   - OP_QUERY (2004): the driver's initial handshake (`isMaster` on admin.$cmd)
 *     is always sent this way, because before the handshake the driver does not
 *     know the server speaks OP_MSG. Answered with OP_REPLY (1).
 *   - OP_MSG (2013): every later command. Kind-1 sections are merged into the body
 *     under their identifier; an optional CRC32 trailer is skipped (not verified).
 *     Requests with the moreToCome bit (w:0 writes) are recorded but not answered.
 *
 * Monitoring: by default the hello reply carries no `topologyVersion`, so the
 * driver polls (one hello per heartbeatFrequencyMS) instead of streaming. If a
 * hello handler adds a `topologyVersion`, the driver switches to the streaming
 * protocol (hello with exhaustAllowed + maxAwaitTimeMS); the fake then answers
 * like a real server: each reply is held for maxAwaitTimeMS, carries the
 * moreToCome bit, and the stream continues. Replacing the hello handler flushes
 * every waiting awaitable hello at once (like a real server announcing a state
 * change). Answering a streamed hello WITHOUT moreToCome would make the driver
 * fail the heartbeat ("Server ended moreToCome unexpectedly") and clear the pool.
 */
import net from "node:net";
import { BSON } from "mongodb";

export interface FakeMongod {
  port: number;
  uri: string;
  /** Every command received, in order: { db, name, body } (name = first key of the command doc). */
  commands: Array<{ db: string; name: string; body: Record<string, unknown> }>;
  /**
   * Replace the answer to a command by name; return undefined to fall back to the default.
   * Pass undefined as the handler to remove it. A handler registered for any of
   * `hello` / `isMaster` / `ismaster` also answers the other two spellings, unless
   * that exact spelling has its own handler.
   */
  respond(name: string, handler: ((body: Record<string, unknown>) => Record<string, unknown> | undefined) | undefined): void;
  /** Closes the listener and destroys every open socket. */
  close(): Promise<void>;
}

type Doc = Record<string, unknown>;
type Handler = (body: Doc) => Doc | undefined;

const OP_REPLY = 1;
const OP_QUERY = 2004;
const OP_MSG = 2013;
const FLAG_CHECKSUM_PRESENT = 1 << 0;
const FLAG_MORE_TO_COME = 1 << 1;
const FLAG_EXHAUST_ALLOWED = 1 << 16;
const HEADER_SIZE = 16;
const MAX_MESSAGE_SIZE = 48_000_000;
const HELLO_NAMES = ["hello", "isMaster", "ismaster"];

/** An awaitable hello waiting for its (next) answer. */
interface PendingHello {
  socket: net.Socket;
  db: string;
  body: Doc;
  /** requestID of the request, then of our previous streamed reply. */
  responseTo: number;
  /** true: exhaust stream (keep answering with moreToCome); false: one delayed answer. */
  streaming: boolean;
  delayMS: number;
  timer: NodeJS.Timeout | undefined;
}

function isRecord(value: unknown): value is Doc {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function readCString(buf: Buffer, offset: number): { value: string; next: number } {
  const end = buf.indexOf(0, offset);
  if (end < 0) throw new Error("unterminated cstring");
  return { value: buf.toString("utf8", offset, end), next: end + 1 };
}

function readBsonDoc(buf: Buffer, offset: number, limit: number): { doc: Doc; next: number } {
  if (offset + 4 > limit) throw new Error("truncated BSON document");
  const size = buf.readInt32LE(offset);
  if (size < 5 || offset + size > limit) throw new Error("bad BSON document size");
  const doc: Doc = BSON.deserialize(buf.subarray(offset, offset + size));
  return { doc, next: offset + size };
}

function header(totalLength: number, requestId: number, responseTo: number, opCode: number): Buffer {
  const h = Buffer.alloc(HEADER_SIZE);
  h.writeInt32LE(totalLength, 0);
  h.writeInt32LE(requestId, 4);
  h.writeInt32LE(responseTo, 8);
  h.writeInt32LE(opCode, 12);
  return h;
}

export async function startFakeMongod(opts?: { port?: number; host?: string }): Promise<FakeMongod> {
  const host = opts?.host ?? "127.0.0.1";
  const commands: FakeMongod["commands"] = [];
  const handlers = new Map<string, Handler>();
  const sockets = new Set<net.Socket>();
  const pending = new Set<PendingHello>();
  const connectionIds = new WeakMap<net.Socket, number>();
  let nextConnectionId = 1;
  let nextRequestId = 1;
  let closed = false;

  function lookupHandler(name: string): Handler | undefined {
    const own = handlers.get(name);
    if (own || !HELLO_NAMES.includes(name)) return own;
    for (const alias of HELLO_NAMES) {
      const h = handlers.get(alias);
      if (h) return h;
    }
    return undefined;
  }

  function defaultAnswer(socket: net.Socket, db: string, name: string, body: Doc): Doc {
    const collection = typeof body[name] === "string" ? body[name] : "$cmd";
    const emptyCursor = (ns: string, batch: "firstBatch" | "nextBatch"): Doc => ({
      cursor: { id: BSON.Long.ZERO, ns, [batch]: [] },
      ok: 1,
    });
    switch (name) {
      case "hello":
      case "isMaster":
      case "ismaster":
        return {
          ismaster: true,
          isWritablePrimary: true,
          helloOk: true,
          maxBsonObjectSize: 16777216,
          maxMessageSizeBytes: MAX_MESSAGE_SIZE,
          maxWriteBatchSize: 100000,
          localTime: new Date(),
          logicalSessionTimeoutMinutes: 30,
          connectionId: connectionIds.get(socket) ?? 0,
          minWireVersion: 0,
          maxWireVersion: 21,
          readOnly: false,
          ok: 1,
        };
      case "ping":
      case "endSessions":
      case "killCursors":
        return { ok: 1 };
      case "buildInfo":
      case "buildinfo":
        return { version: "7.0.0", versionArray: [7, 0, 0, 0], ok: 1 };
      case "createIndexes":
        return { numIndexesBefore: 1, numIndexesAfter: 2, ok: 1 };
      case "listIndexes":
      case "find":
        return emptyCursor(`${db}.${collection}`, "firstBatch");
      case "aggregate":
        return emptyCursor(`${db}.${collection === "$cmd" ? "$cmd.aggregate" : collection}`, "firstBatch");
      case "listCollections":
        return emptyCursor(`${db}.$cmd.listCollections`, "firstBatch");
      case "getMore": {
        const coll = typeof body.collection === "string" ? body.collection : "$cmd";
        return emptyCursor(`${db}.${coll}`, "nextBatch");
      }
      case "insert":
      case "delete":
        return { n: 1, ok: 1 };
      case "update":
        return { n: 0, nModified: 0, ok: 1 };
      case "findAndModify":
        return { lastErrorObject: { n: 0, updatedExisting: false }, value: null, ok: 1 };
      default:
        return { ok: 0, errmsg: `no such command: '${name}'`, code: 59, codeName: "CommandNotFound" };
    }
  }

  function answer(socket: net.Socket, db: string, name: string, body: Doc): Doc {
    const handler = lookupHandler(name);
    if (handler) {
      try {
        const custom = handler(body);
        if (custom !== undefined) return custom;
      } catch (err) {
        return { ok: 0, errmsg: `fake-mongod handler threw: ${String(err)}`, code: 1, codeName: "InternalError" };
      }
    }
    return defaultAnswer(socket, db, name, body);
  }

  function write(socket: net.Socket, chunks: Buffer[]): void {
    if (!socket.destroyed && socket.writable) socket.write(Buffer.concat(chunks));
  }

  function sendMsg(socket: net.Socket, responseTo: number, doc: Doc, flags: number): number {
    const bson = Buffer.from(BSON.serialize(doc));
    const requestId = nextRequestId++;
    const flagBuf = Buffer.alloc(5); // uint32 flagBits + section kind 0
    flagBuf.writeUInt32LE(flags, 0);
    flagBuf.writeUInt8(0, 4);
    write(socket, [header(HEADER_SIZE + 5 + bson.length, requestId, responseTo, OP_MSG), flagBuf, bson]);
    return requestId;
  }

  function sendReply(socket: net.Socket, responseTo: number, doc: Doc): void {
    const bson = Buffer.from(BSON.serialize(doc));
    const body = Buffer.alloc(20); // responseFlags, cursorID (int64), startingFrom, numberReturned
    body.writeInt32LE(1, 16);
    write(socket, [header(HEADER_SIZE + 20 + bson.length, nextRequestId++, responseTo, OP_REPLY), body, bson]);
  }

  function firePending(p: PendingHello): void {
    p.timer = undefined;
    if (closed || p.socket.destroyed) {
      pending.delete(p);
      return;
    }
    const doc = answer(p.socket, p.db, Object.keys(p.body)[0] ?? "hello", p.body);
    if (!p.streaming) {
      pending.delete(p);
      sendMsg(p.socket, p.responseTo, doc, 0);
      return;
    }
    p.responseTo = sendMsg(p.socket, p.responseTo, doc, FLAG_MORE_TO_COME);
    p.timer = setTimeout(() => firePending(p), p.delayMS);
  }

  function handleOpMsg(socket: net.Socket, msg: Buffer, requestId: number): void {
    const flags = msg.readUInt32LE(HEADER_SIZE);
    const end = msg.length - ((flags & FLAG_CHECKSUM_PRESENT) !== 0 ? 4 : 0);
    let offset = HEADER_SIZE + 4;
    let body: Doc | undefined;
    const sequences: Array<[string, Doc[]]> = [];
    while (offset < end) {
      const kind = msg.readUInt8(offset);
      offset += 1;
      if (kind === 0) {
        const r = readBsonDoc(msg, offset, end);
        body = r.doc;
        offset = r.next;
      } else if (kind === 1) {
        const sectionEnd = offset + msg.readInt32LE(offset);
        if (sectionEnd > end) throw new Error("bad document sequence size");
        const id = readCString(msg, offset + 4);
        const docs: Doc[] = [];
        let o = id.next;
        while (o < sectionEnd) {
          const r = readBsonDoc(msg, o, sectionEnd);
          docs.push(r.doc);
          o = r.next;
        }
        sequences.push([id.value, docs]);
        offset = sectionEnd;
      } else {
        throw new Error(`unknown OP_MSG section kind ${kind}`);
      }
    }
    if (!body) throw new Error("OP_MSG without a kind-0 section");
    for (const [id, docs] of sequences) body[id] = docs;
    const name = Object.keys(body)[0] ?? "";
    const db = typeof body.$db === "string" ? body.$db : "admin";
    commands.push({ db, name, body });
    if ((flags & FLAG_MORE_TO_COME) !== 0) return; // the client expects no reply

    if (HELLO_NAMES.includes(name) && body.topologyVersion !== undefined && typeof body.maxAwaitTimeMS === "number") {
      const p: PendingHello = {
        socket,
        db,
        body,
        responseTo: requestId,
        streaming: (flags & FLAG_EXHAUST_ALLOWED) !== 0,
        delayMS: Math.max(0, body.maxAwaitTimeMS),
        timer: undefined,
      };
      pending.add(p);
      p.timer = setTimeout(() => firePending(p), p.delayMS);
      return;
    }
    sendMsg(socket, requestId, answer(socket, db, name, body), 0);
  }

  function handleOpQuery(socket: net.Socket, msg: Buffer, requestId: number): void {
    // int32 flags, cstring fullCollectionName, int32 numberToSkip, int32 numberToReturn, query doc
    const coll = readCString(msg, HEADER_SIZE + 4);
    const { doc } = readBsonDoc(msg, coll.next + 8, msg.length);
    const body = isRecord(doc.$query) ? doc.$query : doc;
    const dot = coll.value.indexOf(".");
    const db = dot >= 0 ? coll.value.slice(0, dot) : coll.value;
    const name = Object.keys(body)[0] ?? "";
    commands.push({ db, name, body });
    sendReply(socket, requestId, answer(socket, db, name, body));
  }

  function onConnection(socket: net.Socket): void {
    if (closed) {
      socket.destroy();
      return;
    }
    sockets.add(socket);
    connectionIds.set(socket, nextConnectionId++);
    socket.setNoDelay(true);
    let buffered: Buffer = Buffer.alloc(0);
    socket.on("error", () => {
      /* ECONNRESET etc.: the driver went away; nothing to do */
    });
    socket.on("close", () => {
      sockets.delete(socket);
      for (const p of pending) {
        if (p.socket === socket) {
          clearTimeout(p.timer);
          pending.delete(p);
        }
      }
    });
    socket.on("data", (chunk: Buffer) => {
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
      try {
        while (buffered.length >= 4) {
          const length = buffered.readInt32LE(0);
          if (length < HEADER_SIZE || length > MAX_MESSAGE_SIZE) throw new Error(`bad message length ${length}`);
          if (buffered.length < length) break;
          const msg = buffered.subarray(0, length);
          buffered = buffered.subarray(length);
          const requestId = msg.readInt32LE(4);
          const opCode = msg.readInt32LE(12);
          if (opCode === OP_MSG) handleOpMsg(socket, msg, requestId);
          else if (opCode === OP_QUERY) handleOpQuery(socket, msg, requestId);
          else throw new Error(`unsupported opCode ${opCode}`);
        }
      } catch {
        // Malformed or unsupported traffic (e.g. OP_COMPRESSED, never negotiated): hang up like mongod would.
        socket.destroy();
      }
    });
  }

  const server = net.createServer(onConnection);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts?.port ?? 0, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("fake-mongod: no TCP address");
  const port = address.port;
  const uriHost = host.includes(":") ? `[${host}]` : host;

  return {
    port,
    uri: `mongodb://${uriHost}:${port}/?directConnection=true`,
    commands,
    respond(name, handler) {
      if (handler) handlers.set(name, handler);
      else handlers.delete(name);
      if (HELLO_NAMES.includes(name)) {
        // A state change: answer every waiting awaitable hello now, like a real server would.
        for (const p of pending) {
          clearTimeout(p.timer);
          firePending(p);
        }
      }
    },
    close() {
      if (closed) return Promise.resolve();
      closed = true;
      for (const p of pending) clearTimeout(p.timer);
      pending.clear();
      const done = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      sockets.clear();
      return done;
    },
  };
}
