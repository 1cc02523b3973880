// What one client address may hold on the server (server/request-limits.ts), against a real
// server: an HTTP/2 answer the client never takes is reset at HTTP_REQUEST_TIMEOUT_MS like a slow
// body; an address has HTTP2_MAX_STREAMS_PER_ADDRESS streams at once across its connections; and
// long-lived requests (Health/Watch, server reflection) have MAX_LONG_LIVED_REQUESTS_PER_ADDRESS,
// on either protocol. Limits are configured small so that the test is quick.
import http from "node:http";
import http2 from "node:http2";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.ts";
import { createListener } from "../../src/server/listener.ts";
import { startHarness, type Harness } from "../support/harness.ts";

const timeoutMs = 300;
const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The RST_STREAM code the stream ended with, or "open" if it is still open after `ms`. */
function endWithin(stream: http2.ClientHttp2Stream, ms: number): Promise<number | "open"> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve("open"), ms);
    stream.on("error", () => undefined);
    stream.once("close", () => {
      clearTimeout(timer);
      resolve(stream.rstCode ?? -1);
    });
  });
}

/** A gRPC Health/Watch call: one request, then answers for as long as the client listens. */
function watch(on: http2.ClientHttp2Session): http2.ClientHttp2Stream {
  const stream = on.request({
    ":method": "POST",
    ":path": "/grpc.health.v1.Health/Watch",
    "content-type": "application/grpc",
    te: "trailers",
  });
  stream.end(Buffer.from([0, 0, 0, 0, 0])); // an empty HealthCheckRequest
  stream.resume();
  return stream;
}

const connect = (url: string, settings: http2.Settings = {}) => {
  const session = http2.connect(url, { settings });
  session.on("error", () => undefined);
  return session;
};

describe("what an address may hold", () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({
      HTTP_HEADERS_TIMEOUT_MS: String(timeoutMs),
      HTTP_REQUEST_TIMEOUT_MS: String(timeoutMs),
      HTTP2_MAX_STREAMS_PER_ADDRESS: "6",
      MAX_LONG_LIVED_REQUESTS_PER_ADDRESS: "5",
    });
  });
  afterAll(() => h.close());

  it("an answer the client does not take (a receive window of zero) is reset at the deadline, and counted", async () => {
    const stalled = connect(h.url, { initialWindowSize: 0 });
    try {
      const before = h.server.connectionStats();
      const stream = stalled.request({ ":method": "GET", ":path": "/openapi.json" });
      expect(await endWithin(stream, timeoutMs * 10)).toBe(http2.constants.NGHTTP2_CANCEL);
      const after = h.server.connectionStats();
      expect(after.stalledStreams).toBe(before.stalledStreams + 1);
      // The server's reset is not the client's: no reset budget spent.
      expect(after.http2Resets).toBe(before.http2Resets);
    } finally {
      stalled.destroy();
    }
  });

  it("an address has HTTP2_MAX_STREAMS_PER_ADDRESS streams across its connections; one more is refused until one ends", async () => {
    const a = connect(h.url, { initialWindowSize: 0 });
    const b = connect(h.url, { initialWindowSize: 0 });
    try {
      // Held open by the window of zero (each within the deadline).
      const held = [a, a, a, b, b, b].map((s) => s.request({ ":method": "GET", ":path": "/openapi.json" }));
      const ends = Promise.all(held.map((stream) => endWithin(stream, timeoutMs * 10)));
      await wait(50);
      const before = h.server.connectionStats().refusedStreams;
      const over = b.request({ ":method": "GET", ":path": "/livez" });
      expect(await endWithin(over, timeoutMs)).toBe(http2.constants.NGHTTP2_REFUSED_STREAM);
      expect(h.server.connectionStats().refusedStreams).toBe(before + 1);
      // Once they end (the deadline resets them), the address has its places back.
      expect(await ends).toEqual(Array(6).fill(http2.constants.NGHTTP2_CANCEL));
      const fresh = connect(h.url);
      try {
        const ok = fresh.request({ ":method": "GET", ":path": "/livez" });
        ok.resume();
        expect(await new Promise((resolve) => ok.once("response", (headers) => resolve(headers[":status"])))).toBe(200);
      } finally {
        fresh.destroy();
      }
    } finally {
      a.destroy();
      b.destroy();
    }
  });

  it("Health/Watch is long-lived: past the deadline it stays open, and an address has MAX_LONG_LIVED_REQUESTS_PER_ADDRESS", async () => {
    const a = connect(h.url);
    const b = connect(h.url);
    try {
      // Four on one connection (its share), one on the next: five, the address's budget.
      const held = [a, a, a, a, b].map(watch);
      await wait(50);
      expect(await endWithin(watch(a), timeoutMs)).toBe(http2.constants.NGHTTP2_REFUSED_STREAM); // the connection's share
      expect(await endWithin(watch(b), timeoutMs)).toBe(http2.constants.NGHTTP2_REFUSED_STREAM); // the address's budget
      expect(await Promise.all(held.map((stream) => endWithin(stream, timeoutMs * 2)))).toEqual(Array(5).fill("open"));
      // Over HTTP/1.1 (Connect's streaming protocol) the same budget holds: the connection is closed.
      const closed = await new Promise<string>((resolve) => {
        const req = http.request(`${h.url}/grpc.health.v1.Health/Watch`, {
          method: "POST",
          headers: { "content-type": "application/connect+json" },
        });
        req.on("error", (err: NodeJS.ErrnoException) => resolve(err.code ?? "error"));
        req.on("response", (res) => resolve(`answered ${res.statusCode}`));
        req.end(Buffer.concat([Buffer.from([0, 0, 0, 0, 2]), Buffer.from("{}")]));
      });
      expect(closed).toBe("ECONNRESET");
      held[4]?.close(http2.constants.NGHTTP2_CANCEL);
      await wait(100);
      expect(await endWithin(watch(b), timeoutMs)).toBe("open");
    } finally {
      a.destroy();
      b.destroy();
    }
  });
});

describe("the listener alone, with a handler of the test's own", () => {
  const limitsWith = (env: Record<string, string>) =>
    loadConfig({ HTTP_HEADERS_TIMEOUT_MS: String(timeoutMs), HTTP_REQUEST_TIMEOUT_MS: String(timeoutMs), ...env }, () => {
      throw new Error("no files");
    }).limits;

  it("a handler slower than the deadline is the server's time, not the client's: answered, nothing reset", async () => {
    // It reads the body, as every handler does, then takes twice the deadline to answer.
    const listener = createListener((req, res) => req.resume().once("end", () => setTimeout(() => res.end("late"), timeoutMs * 2)), {
      limits: limitsWith({}),
      maxBodyBytes: 1_000,
    });
    const port = await listener.listen(0, "127.0.0.1");
    const session = connect(`http://127.0.0.1:${port}`);
    try {
      const stream = session.request({ ":method": "POST", ":path": "/slow" });
      stream.end("body");
      let body = "";
      stream.on("data", (chunk: Buffer) => (body += chunk.toString()));
      expect(await endWithin(stream, timeoutMs * 10)).toBe(http2.constants.NGHTTP2_NO_ERROR);
      expect(body).toBe("late");
      expect(listener.stats()).toMatchObject({ stalledStreams: 0, slowBodies: 0 });
    } finally {
      session.destroy();
      await listener.close(100);
    }
  });

  it("a request refused for what its address holds never reaches the handler", async () => {
    let handled = 0;
    const listener = createListener(
      (_req, res) => {
        handled++;
        res.end("x".repeat(100_000)); // more than the window of zero lets out: the stream stays open
      },
      { limits: limitsWith({ HTTP2_MAX_STREAMS_PER_ADDRESS: "1" }), maxBodyBytes: 1_000 },
    );
    const port = await listener.listen(0, "127.0.0.1");
    const session = connect(`http://127.0.0.1:${port}`, { initialWindowSize: 0 });
    try {
      const held = session.request({ ":method": "GET", ":path": "/one" });
      held.on("error", () => undefined);
      await wait(50);
      const refused = session.request({ ":method": "GET", ":path": "/two" });
      expect(await endWithin(refused, timeoutMs)).toBe(http2.constants.NGHTTP2_REFUSED_STREAM);
      expect(handled).toBe(1);
    } finally {
      session.destroy();
      await listener.close(100);
    }
  });
});

describe("long-lived requests over HTTP/1.1", () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ MAX_LONG_LIVED_REQUESTS_PER_ADDRESS: "2" });
  });
  afterAll(() => h.close());

  /** A Connect-streaming Health/Watch on its own connection, left open; resolves with how it went. */
  const watchOverH1 = (agent: http.Agent) =>
    new Promise<string>((resolve) => {
      const req = http.request(`${h.url}/grpc.health.v1.Health/Watch`, {
        method: "POST",
        agent,
        headers: { "content-type": "application/connect+json" },
      });
      req.on("error", (err: NodeJS.ErrnoException) => resolve(err.code ?? "error"));
      req.on("response", (res) => {
        res.resume();
        resolve(`answered ${res.statusCode}`);
      });
      req.end(Buffer.concat([Buffer.from([0, 0, 0, 0, 2]), Buffer.from("{}")]));
    });

  it("count for as long as their answer goes on, not just until their body is read", async () => {
    const agent = new http.Agent({ keepAlive: false, maxSockets: 10 });
    try {
      expect(await watchOverH1(agent)).toBe("answered 200");
      expect(await watchOverH1(agent)).toBe("answered 200");
      await wait(100);
      // Both answers still going: a third from the address has its connection closed.
      expect(await watchOverH1(agent)).toBe("ECONNRESET");
    } finally {
      agent.destroy();
    }
  });
});
