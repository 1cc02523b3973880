import https from "node:https";
import http2 from "node:http2";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startHarness, testTls, type Harness } from "../support/harness.ts";

const idleMs = 300;
const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Whether the session closes within `ms`. */
function closesWithin(session: http2.ClientHttp2Session, ms: number): Promise<boolean> {
  if (session.closed || session.destroyed) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    session.once("close", () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/** A gRPC Health/Watch call; resolves once its first answer (the status now) has come. */
async function watch(on: http2.ClientHttp2Session): Promise<http2.ClientHttp2Stream> {
  const stream = on.request({
    ":method": "POST",
    ":path": "/grpc.health.v1.Health/Watch",
    "content-type": "application/grpc",
    te: "trailers",
  });
  stream.on("error", () => undefined);
  stream.end(Buffer.from([0, 0, 0, 0, 0])); // an empty HealthCheckRequest
  await new Promise<void>((resolve, reject) => {
    stream.once("data", () => resolve());
    stream.once("close", () => reject(new Error(`the watch ended before its first answer (${stream.rstCode})`)));
  });
  stream.resume();
  return stream;
}

/** One short call on the session, answered and done. */
async function livez(session: http2.ClientHttp2Session): Promise<void> {
  const answered = session.request({ ":method": "GET", ":path": "/livez" });
  answered.resume();
  await new Promise((resolve) => answered.once("close", resolve));
}

const connect = (url: string) => {
  const session = http2.connect(url);
  session.on("error", () => undefined);
  return session;
};

describe("idle connections (HTTP_IDLE_TIMEOUT_MS)", () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ HTTP_IDLE_TIMEOUT_MS: String(idleMs) });
  });
  afterAll(() => h.close());

  it("an HTTP/2 session with nothing open is closed once idle for the timeout", async () => {
    const session = connect(h.url);
    try {
      await livez(session);
      expect(await closesWithin(session, idleMs * 10)).toBe(true);
    } finally {
      session.destroy();
    }
  });

  it("a Health/Watch that hears nothing for many timeouts keeps its session; once it ends, the session is idle again", async () => {
    const session = connect(h.url);
    try {
      const watching = await watch(session);
      // Several idle timeouts with no frame either way: the status does not change.
      expect(await closesWithin(session, idleMs * 6)).toBe(false);
      expect(watching.closed).toBe(false);
      watching.close(http2.constants.NGHTTP2_CANCEL);
      expect(await closesWithin(session, idleMs * 10)).toBe(true);
    } finally {
      session.destroy();
    }
  });

  it("a session whose only long-lived stream ended long ago is still closed when idle (the rule is re-armed, not dropped)", async () => {
    const session = connect(h.url);
    try {
      const watching = await watch(session);
      await wait(idleMs * 3);
      watching.close(http2.constants.NGHTTP2_CANCEL);
      await livez(session); // a short call after it, then silence
      expect(await closesWithin(session, idleMs * 10)).toBe(true);
    } finally {
      session.destroy();
    }
  });
});

describe("idle connections over TLS", () => {
  const { ca } = testTls;
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ ...testTls.env, HTTP_IDLE_TIMEOUT_MS: String(idleMs) });
  });
  afterAll(() => h.close());

  /** A request on its own HTTP/1.1 connection; resolves with its answer's status once its headers came, and the socket. */
  const h1Request = (urlPath: string, body?: Buffer) =>
    new Promise<{ status: number | undefined; closed: Promise<void> }>((resolve, reject) => {
      const req = https.request(`https://127.0.0.1:${h.server.port}${urlPath}`, {
        method: body === undefined ? "GET" : "POST",
        ca,
        agent: new https.Agent({ keepAlive: true, ca }),
        headers: body === undefined ? {} : { "content-type": "application/connect+json" },
      });
      req.on("error", reject);
      req.on("socket", (socket) => {
        const closed = new Promise<void>((done) => socket.once("close", () => done()));
        req.on("response", (res) => {
          res.resume();
          resolve({ status: res.statusCode, closed });
        });
      });
      req.end(body);
    });

  const within = (closed: Promise<void>, ms: number) =>
    Promise.race([closed.then(() => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), ms))]);

  it("a Connect-streaming Health/Watch over HTTP/1.1 keeps its connection past the timeout", async () => {
    const watching = await h1Request("/grpc.health.v1.Health/Watch", Buffer.concat([Buffer.from([0, 0, 0, 0, 2]), Buffer.from("{}")]));
    expect(watching.status).toBe(200);
    expect(await within(watching.closed, idleMs * 6)).toBe(false);
  });

  it("a quiet HTTP/1.1 Health/Watch gathers no idle-timeout listener at each timeout", async () => {
    // Node's socketOnTimeout stays on an HTTP/1.1 socket and emits the server's 'timeout' again;
    // a listener added at each timeout as well was one more every time.
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(`${w.name}: ${w.message}`);
    process.on("warning", onWarning);
    try {
      const watching = await h1Request("/grpc.health.v1.Health/Watch", Buffer.concat([Buffer.from([0, 0, 0, 0, 2]), Buffer.from("{}")]));
      expect(watching.status).toBe(200);
      // Fifteen timeouts: at the eleventh listener Node warns of a leak.
      expect(await within(watching.closed, idleMs * 15)).toBe(false);
    } finally {
      process.off("warning", onWarning);
    }
    expect(warnings.filter((w) => w.includes("timeout listeners"))).toEqual([]);
  });

  it("an HTTP/2 Health/Watch over TLS keeps its session past the timeout", async () => {
    const session = http2.connect(`https://127.0.0.1:${h.server.port}`, { ca });
    session.on("error", () => undefined);
    try {
      const watching = await watch(session);
      expect(await closesWithin(session, idleMs * 6)).toBe(false);
      watching.close(http2.constants.NGHTTP2_CANCEL);
      expect(await closesWithin(session, idleMs * 10)).toBe(true);
    } finally {
      session.destroy();
    }
  });
});
