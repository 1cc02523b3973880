import http2 from "node:http2";
import net from "node:net";
import tls from "node:tls";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startHarness, testTls, type Harness } from "../support/harness.ts";

interface Raw {
  socket: net.Socket;
  /** Everything the server sent so far. */
  answer(): string;
  /** Resolves with everything the server sent once the connection is closed. */
  closed: Promise<string>;
}

function raw(port: number, localAddress = "127.0.0.1"): Promise<Raw> {
  return new Promise((resolve, reject) => {
    let answer = "";
    let done!: (s: string) => void;
    const closed = new Promise<string>((r) => (done = r));
    const socket = net.connect({ port, host: "127.0.0.1", localAddress }, () => resolve({ socket, answer: () => answer, closed }));
    socket.on("data", (c: Buffer) => (answer += c.toString("latin1")));
    socket.on("close", () => done(answer));
    socket.on("error", (err) => {
      if (!socket.connecting) return; // a reset after connecting shows as 'close'
      reject(err);
    });
  });
}

/** Sends `head`, then `text` one byte at a time until the server closes; resolves with its answer. */
function dribble(r: Raw, head: string, text: string): Promise<string> {
  r.socket.write(head);
  let i = 0;
  const timer = setInterval(() => {
    if (r.socket.destroyed || r.socket.writableEnded) return clearInterval(timer);
    r.socket.write(text[i % text.length] ?? "x");
    i++;
  }, 20);
  r.socket.once("close", () => clearInterval(timer));
  return r.closed;
}

/** A plain request on an open connection; resolves with the status line's code. */
function livez(r: Raw): Promise<number> {
  const before = r.answer().length;
  r.socket.write("GET /livez HTTP/1.1\r\nHost: t\r\n\r\n");
  return new Promise((resolve, reject) => {
    const check = () => {
      const text = r.answer().slice(before);
      const m = /^HTTP\/1\.1 (\d{3})/.exec(text);
      if (m !== null && text.includes('"alive"')) {
        r.socket.off("data", check);
        resolve(Number(m[1]));
      }
    };
    r.socket.on("data", check);
    r.closed.then(() => reject(new Error("connection closed")));
  });
}

const open: Raw[] = [];
afterEach(() => {
  for (const r of open.splice(0)) r.socket.destroy();
});
async function connect(port: number, localAddress?: string): Promise<Raw> {
  const r = await raw(port, localAddress);
  open.push(r);
  return r;
}

describe("slow clients", () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({
      HTTP_HEADERS_TIMEOUT_MS: "300",
      HTTP_REQUEST_TIMEOUT_MS: "60000",
      HTTP_MIN_BODY_BYTES_PER_SECOND: "1024",
      HTTP_BODY_RATE_WINDOW_MS: "200",
      MAX_BODY_BYTES: "1024",
    });
  });
  afterAll(() => h.close());

  it("closes a connection that dribbles its headers, with 408", async () => {
    const head = "POST /auth.v1.AuthService/Login HTTP/1.1\r\nHost: t\r\n";
    const answer = await dribble(await connect(h.server.port), head, "X-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
    expect(answer).toMatch(/^HTTP\/1\.1 408/);
  });

  it("closes a connection that sends nothing at all", async () => {
    const r = await connect(h.server.port);
    expect(await r.closed).toBe("");
  });

  it("closes a connection whose body comes slower than the minimum rate, with 408", async () => {
    const head = "POST /auth.v1.AuthService/Login HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 900\r\n\r\n{";
    expect(await dribble(await connect(h.server.port), head, " ")).toMatch(/^HTTP\/1\.1 408/);
    expect(h.server.connectionStats().slowBodies).toBeGreaterThan(0);
  });

  it("serves a keep-alive connection that is idle between requests", async () => {
    const r = await connect(h.server.port);
    expect(await livez(r)).toBe(200);
    expect(await livez(r)).toBe(200);
  });

  for (const [name, path, type, status] of [
    ["Connect", "/auth.v1.AuthService/Login", "application/json", 429],
    ["REST", "/auth/login", "application/json", 413],
  ] as const) {
    it(`answers a ${name} body declared oversize and closes the connection without reading it`, async () => {
      const r = await connect(h.server.port);
      // Declared far over MAX_BODY_BYTES; only a few bytes are ever sent.
      r.socket.write(`POST ${path} HTTP/1.1\r\nHost: t\r\nContent-Type: ${type}\r\nContent-Length: 100000000\r\n\r\n{"email":`);
      const answer = await r.closed;
      expect(answer).toMatch(new RegExp(`^HTTP/1\\.1 ${status}`));
      expect(answer.toLowerCase()).toContain("connection: close");
    });
  }
});

describe("connection caps", () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ MAX_CONNECTIONS: "5", MAX_CONNECTIONS_PER_ADDRESS: "3" });
  });
  afterAll(() => h.close());

  it("refuses connections over the per-address and the total cap, and serves again once some close", async () => {
    const port = h.server.port;
    const first = [await connect(port), await connect(port), await connect(port)];
    for (const r of first) expect(await livez(r)).toBe(200);
    // A fourth from the same address is closed at once, unanswered.
    const fourth = await connect(port);
    fourth.socket.write("GET /livez HTTP/1.1\r\nHost: t\r\n\r\n");
    expect(await fourth.closed).toBe("");
    // Another address still gets in, up to the total of five.
    const other = [await connect(port, "127.0.0.2"), await connect(port, "127.0.0.2")];
    for (const r of other) expect(await livez(r)).toBe(200);
    // At the total, with every connection busy (a request half sent on each), a sixth is refused.
    for (const r of [...first, ...other]) r.socket.write("GET /livez HTTP/1.1\r\n");
    await new Promise((resolve) => setTimeout(resolve, 50));
    const sixth = await connect(port, "127.0.0.3");
    sixth.socket.write("GET /livez HTTP/1.1\r\nHost: t\r\n\r\n");
    expect(await sixth.closed).toBe("");
    expect(h.server.connectionStats().refused).toBe(2);

    first[0]?.socket.destroy();
    await first[0]?.closed;
    // The server sees the close a moment after the client: retry until a slot is free.
    let again: Raw | undefined;
    for (let i = 0; i < 50 && again === undefined; i++) {
      const r = await connect(port);
      r.socket.write("GET /livez HTTP/1.1\r\nHost: t\r\n\r\n");
      const answered = await Promise.race([
        r.closed.then(() => false),
        new Promise<boolean>((res) => r.socket.once("data", () => res(true))),
      ]);
      if (answered) again = r;
    }
    expect(again?.answer()).toMatch(/^HTTP\/1\.1 200/);
  });
});

describe("at the total cap, idle connections make room", () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ MAX_CONNECTIONS: "4", MAX_CONNECTIONS_PER_ADDRESS: "2" });
  });
  afterAll(() => h.close());

  it("a new connection takes the place of the oldest one with nothing in flight; a busy one is kept", async () => {
    const port = h.server.port;
    // Two addresses hold the four places: the first connection busy (a request half sent), the rest idle.
    const held = [await connect(port), await connect(port), await connect(port, "127.0.0.2"), await connect(port, "127.0.0.2")];
    for (const r of held) expect(await livez(r)).toBe(200);
    held[0]?.socket.write("GET /livez HTTP/1.1\r\n");
    await new Promise((resolve) => setTimeout(resolve, 50));
    // Two more addresses get in, one right after the other: the oldest idle connection is closed
    // for each, a different one each time (the first, still closing, is not counted twice).
    for (const from of ["127.0.0.3", "127.0.0.4"]) expect(await livez(await connect(port, from))).toBe(200);
    await held[1]?.closed;
    await held[2]?.closed;
    expect(h.server.connectionStats()).toMatchObject({ idleClosed: 2, refused: 0 });
    // A connection that has sent nothing yet is the first to go: a client reconnecting silently
    // to hold places displaces only its own kind.
    const quiet = await connect(port, "127.0.0.5"); // in, by closing the last idle one of the first four
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(await livez(await connect(port, "127.0.0.6"))).toBe(200);
    await quiet.closed;
    expect(h.server.connectionStats()).toMatchObject({ idleClosed: 4 });
    // The busy one was kept: its request, finished now, is answered.
    const busy = held[0];
    if (busy === undefined) throw new Error("unreachable");
    const before = busy.answer().length;
    busy.socket.write("Host: t\r\n\r\n");
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(busy.answer().slice(before)).toMatch(/^HTTP\/1\.1 200/);
  });
});

describe("over TLS", () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({
      ...testTls.env,
      HTTP_HEADERS_TIMEOUT_MS: "300",
      MAX_CONNECTIONS_PER_ADDRESS: "2",
    });
  });
  afterAll(() => h.close());

  const secure = () =>
    new Promise<tls.TLSSocket>((resolve, reject) => {
      const socket = tls.connect({ port: h.server.port, host: "127.0.0.1", ca: testTls.ca, ALPNProtocols: ["http/1.1"] }, () =>
        resolve(socket),
      );
      socket.on("error", reject);
    });

  it("times out dribbled headers and caps connections per address, as in cleartext", async () => {
    const first = await secure();
    let answer = "";
    first.on("data", (c: Buffer) => (answer += c.toString("latin1")));
    const closed = new Promise((r) => first.once("close", r));
    first.write("POST /auth.v1.AuthService/Login HTTP/1.1\r\nHost: t\r\n");
    const timer = setInterval(() => first.write("X"), 20);
    await closed;
    clearInterval(timer);
    expect(answer).toMatch(/^HTTP\/1\.1 408/);

    const kept = [await secure(), await secure()];
    // A third from the same address is closed before its handshake completes.
    await expect(secure()).rejects.toThrow();
    for (const s of kept) s.destroy();
  });

  it("closes a connection that sends nothing: before its handshake, or after it (HTTP/1.1 and h2)", async () => {
    const closedWithin = (socket: net.Socket, ms: number) =>
      new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), ms);
        socket.once("close", () => {
          clearTimeout(timer);
          resolve(true);
        });
      });
    // From an address of their own, so that no cap refuses them first: each is let in, then timed out.
    const refusedBefore = h.server.connectionStats().refused;
    // No ClientHello at all.
    const bare = await connect(h.server.port, "127.0.0.21");
    expect(["bare", await closedWithin(bare.socket, 3_000)]).toEqual(["bare", true]);
    // A handshake, then silence, over each protocol ALPN offers.
    for (const protocol of ["http/1.1", "h2"]) {
      const socket = await new Promise<tls.TLSSocket>((resolve, reject) => {
        const s = tls.connect(
          {
            socket: net.connect({ port: h.server.port, host: "127.0.0.1", localAddress: "127.0.0.22" }),
            servername: "localhost",
            ca: testTls.ca,
            ALPNProtocols: [protocol],
          },
          () => resolve(s),
        );
        s.on("error", reject);
      });
      if (protocol === "h2") socket.write("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\u0000\u0000\u0000\u0004\u0000\u0000\u0000\u0000\u0000");
      socket.on("error", () => undefined);
      socket.resume(); // what the server sends (a GOAWAY) is read, so that its close is seen
      expect([protocol, await closedWithin(socket, 3_000)]).toEqual([protocol, true]);
    }
    expect(h.server.connectionStats().refused).toBe(refusedBefore);
  });
});

describe("HTTP/2 in cleartext", () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ HTTP_HEADERS_TIMEOUT_MS: "300" });
  });
  afterAll(() => h.close());

  it("closes a session that sends its preface and then opens no stream (GOAWAY), and keeps one that does", async () => {
    const quiet = await connect(h.server.port);
    quiet.socket.write("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\u0000\u0000\u0000\u0004\u0000\u0000\u0000\u0000\u0000");
    const closed = await Promise.race([quiet.closed.then(() => true), new Promise((r) => setTimeout(() => r(false), 3_000))]);
    expect(closed).toBe(true);
    // A GOAWAY came first: a frame of 8 bytes (last stream id, error code) of type 7 on stream 0.
    expect(quiet.answer()).toContain("\u0000\u0000\u0008\u0007\u0000\u0000\u0000\u0000\u0000");
    // A session that opened a stream is past that rule (the idle timeout is minutes): still open
    // well after the first-stream deadline, and still serving.
    const busy = http2.connect(h.url);
    busy.on("error", () => undefined);
    try {
      const first = busy.request({ ":method": "GET", ":path": "/livez" });
      first.resume();
      await new Promise((resolve) => first.once("close", resolve));
      await new Promise((resolve) => setTimeout(resolve, 900));
      expect(busy.closed || busy.destroyed).toBe(false);
      const again = busy.request({ ":method": "GET", ":path": "/livez" });
      again.resume();
      expect(await new Promise((resolve) => again.once("response", (headers) => resolve(headers[":status"])))).toBe(200);
    } finally {
      busy.destroy();
    }
  });
});
