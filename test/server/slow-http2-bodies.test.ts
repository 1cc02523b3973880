// Slow HTTP/2 request bodies: a stream whose body is not complete HTTP_REQUEST_TIMEOUT_MS after its
// headers is reset with CANCEL (HTTP/1.1 has its own rules, test/server/slow-clients.test.ts). The
// timeout is configured small so that the test is quick; no assertion depends on how long
// anything took beyond "longer than the timeout".
import http2 from "node:http2";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { maxLongLivedStreamsPerSession } from "../../src/server/request-limits.ts";
import { startHarness, type Harness } from "../support/harness.ts";

const timeoutMs = 300;
const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The RST_STREAM code the stream ended with, or "open" if it is still open after `ms`. */
function endWithin(stream: http2.ClientHttp2Stream, ms: number): Promise<number | "open"> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve("open"), ms);
    stream.on("error", () => undefined); // a reset shows as an error too; its code is what counts
    stream.once("close", () => {
      clearTimeout(timer);
      resolve(stream.rstCode ?? -1);
    });
  });
}

/** A server-reflection stream, opened and left open: a bidirectional call with no end in sight. */
function reflectionStream(on: http2.ClientHttp2Session): http2.ClientHttp2Stream {
  const stream = on.request(
    {
      ":method": "POST",
      ":path": "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
      "content-type": "application/grpc",
      te: "trailers",
    },
    { endStream: false },
  );
  stream.resume();
  return stream;
}

describe("slow HTTP/2 request bodies", () => {
  let h: Harness;
  let session: http2.ClientHttp2Session;
  beforeAll(async () => {
    h = await startHarness({ HTTP_HEADERS_TIMEOUT_MS: String(timeoutMs), HTTP_REQUEST_TIMEOUT_MS: String(timeoutMs) });
    session = http2.connect(h.url);
    session.on("error", () => undefined);
  });
  afterAll(async () => {
    session.destroy();
    await h.close();
  });

  it("resets a stream whose body is still coming at the deadline, and counts it as a slow body, not as the client's reset", async () => {
    const before = h.server.connectionStats().slowBodies;
    const resetsBefore = h.server.connectionStats().http2Resets;
    const stream = session.request(
      { ":method": "POST", ":path": "/auth.v1.AuthService/Login", "content-type": "application/json" },
      { endStream: false },
    );
    stream.write('{"email":');
    // Dribbled well within any rate, but never finished.
    const dribble = setInterval(() => stream.writable && stream.write(" "), 50);
    try {
      expect(await endWithin(stream, timeoutMs * 10)).toBe(http2.constants.NGHTTP2_CANCEL);
    } finally {
      clearInterval(dribble);
    }
    expect(h.server.connectionStats().slowBodies).toBe(before + 1);
    // The server's own reset must not spend the client's reset budget (HTTP2_MAX_RESETS_*).
    expect(h.server.connectionStats().http2Resets).toBe(resetsBefore);
    // The connection itself is still good: another call on it is answered.
    const ok = session.request({ ":method": "GET", ":path": "/livez" });
    ok.resume();
    const status = await new Promise<number | undefined>((resolve) => ok.once("response", (headers) => resolve(headers[":status"])));
    expect(status).toBe(200);
  });

  it("leaves alone a stream whose body completes in time and whose answer is taken", async () => {
    const stream = session.request(
      { ":method": "POST", ":path": "/auth.v1.AuthService/Login", "content-type": "application/json" },
      { endStream: false },
    );
    stream.write('{"email":"nobody@example.com",');
    await wait(timeoutMs / 3);
    stream.end('"password":"not the password"}');
    const status = await new Promise<number | undefined>((resolve) => stream.once("response", (headers) => resolve(headers[":status"])));
    stream.resume();
    expect(status).toBe(401);
    expect(await endWithin(stream, timeoutMs * 10)).toBe(http2.constants.NGHTTP2_NO_ERROR);
  });

  it("leaves the server reflection stream open past the deadline: a client asks on it as long as it likes", async () => {
    const stream = reflectionStream(session);
    expect(await endWithin(stream, timeoutMs * 3)).toBe("open");
    stream.close(http2.constants.NGHTTP2_CANCEL);
  });

  it("refuses a connection more long-lived streams than its share, without counting that as the client's reset", async () => {
    const own = http2.connect(h.url);
    own.on("error", () => undefined);
    const reflection = () => reflectionStream(own);
    try {
      await wait(100); // the previous test's own reset (a client's CANCEL) is counted by now
      const resetsBefore = h.server.connectionStats().http2Resets;
      const held = Array.from({ length: maxLongLivedStreamsPerSession }, reflection);
      await wait(100); // all of them reached the server before the next
      const refused = reflection();
      expect(await endWithin(refused, timeoutMs * 10)).toBe(http2.constants.NGHTTP2_REFUSED_STREAM);
      for (const stream of held) expect(await endWithin(stream, 50)).toBe("open");
      // One ends: its place is free again.
      held[0]?.close(http2.constants.NGHTTP2_NO_ERROR);
      await wait(100);
      expect(await endWithin(reflection(), timeoutMs)).toBe("open");
      expect(h.server.connectionStats().http2Resets).toBe(resetsBefore);
    } finally {
      own.destroy();
    }
  });
});
