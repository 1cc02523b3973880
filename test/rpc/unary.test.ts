// The unary fast path (src/rpc/unary.ts) against its oracle, Connect's own handler: two servers
// over one store, one with the fast path and one without, get the same requests, and every answer
// must be the same on the wire: status, headers (but the date and request id), body byte for byte,
// gRPC trailers, and the access-log line's protocol, route, status and reason. The requests cover
// what the fast path serves (Connect JSON and Protobuf over HTTP/1.1 and HTTP/2, gRPC; successes,
// our errors with their details and metadata, compressed answers, deadlines) and what it must hand
// to Connect (bad bodies, compressed requests, bad deadlines, several gRPC frames, oversized and
// undeclared-length bodies, GET, gRPC over HTTP/1.1, no content type).
import { generateKeyPairSync } from "node:crypto";
import http from "node:http";
import http2 from "node:http2";
import net, { type AddressInfo } from "node:net";
import { gzipSync } from "node:zlib";
import { toBinary, create } from "@bufbuild/protobuf";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GetCurrentUserRequestSchema, RegisterRequestSchema } from "../../gen/auth/v1/auth_service_pb.js";
import {
  Code,
  ConnectError,
  type ConnectRouter,
  type ConnectRouterOptions,
  createContextKey,
  createContextValues,
  type Interceptor,
} from "@connectrpc/connect";
import { Health, HealthCheckRequestSchema, HealthCheckResponse_ServingStatus } from "../../gen/grpc/health/v1/health_pb.js";
import { createRpcHandler, optionFastPathIgnores } from "../../src/rpc/adapter.ts";
import { requestHeader } from "../../src/rpc/context.ts";
import type { Store } from "../../src/store/port.ts";
import { startHarness, type Harness } from "../support/harness.ts";
import { openTestStore } from "../support/stores.ts";
import { frame, h2Request } from "../support/wire.ts";

const password = "correct horse battery staple";
const maxBodyBytes = 4096;
let shared: Store;
let fast: Harness;
let connect: Harness;
let accessToken = "";

beforeAll(async () => {
  shared = await openTestStore("unary_fast_path");
  const env = {
    EMAIL_VERIFICATION_REQUIRED: "false",
    MAX_BODY_BYTES: String(maxBodyBytes),
    JWT_PRIVATE_KEY: generateKeyPairSync("ed25519").privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
    SERVER_SECRET: "5e".repeat(32),
  };
  const view = (): Store => ({ ...shared, kind: shared.kind, close: async () => undefined });
  fast = await startHarness(env, view());
  connect = await startHarness({ ...env, RPC_FAST_PATH: "false" }, view());
  // Enough sessions that ListSessions' answer passes Connect's 1 KiB compression threshold.
  for (let i = 0; i < 8; i++) {
    const res = await fetch(`${fast.url}/auth.v1.AuthService/${i === 0 ? "Register" : "Login"}`, {
      method: "POST",
      headers: { "content-type": "application/json", "user-agent": `device ${i}` },
      body: JSON.stringify({ email: "ada@example.com", password }),
    });
    const body = (await res.json()) as { tokens?: { accessToken: string }; result?: { tokens: { accessToken: string } } };
    accessToken = body.tokens?.accessToken ?? body.result?.tokens.accessToken ?? accessToken;
  }
  expect(accessToken).not.toBe("");
});

afterAll(async () => {
  await fast?.close();
  await connect?.close();
  await shared?.close();
});

interface Request {
  h2: boolean;
  method?: string;
  path: string;
  headers: Record<string, string>;
  body?: Uint8Array;
  /** Send Content-Length (HTTP/2 only; HTTP/1.1 always does for a body). */
  contentLength?: boolean;
}

interface Answer {
  status: number;
  headers: Record<string, string>;
  trailers: Record<string, string>;
  body: string;
}

const ignored = new Set(["date", "x-request-id", "keep-alive", "connection"]);
const kept = (h: Record<string, string>) => Object.fromEntries(Object.entries(h).filter(([k]) => !ignored.has(k) && !k.startsWith(":")));

function h1Request(url: string, r: Request): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${url}${r.path}`, { method: r.method ?? "POST", headers: r.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: kept(Object.fromEntries(Object.entries(res.headers).map(([k, v]) => [k, String(v)]))),
          trailers: kept(Object.fromEntries(Object.entries(res.trailers).map(([k, v]) => [k, String(v)]))),
          body: Buffer.concat(chunks).toString("base64"),
        }),
      );
    });
    req.on("error", reject);
    req.end(r.body === undefined ? undefined : Buffer.from(r.body));
  });
}

async function send(server: Harness, r: Request): Promise<{ answer: Answer; logged: Record<string, unknown> | undefined }> {
  const before = server.logs.length;
  let answer: Answer;
  if (r.h2) {
    const headers = {
      ...r.headers,
      ...(r.contentLength === true && r.body !== undefined ? { "content-length": String(r.body.length) } : {}),
    };
    const a = await h2Request(server.url, r.method ?? "POST", r.path, headers, r.body);
    answer = { status: a.status, headers: kept(a.headers), trailers: kept(a.trailers), body: a.body.toString("base64") };
  } else {
    answer = await h1Request(server.url, r);
  }
  // The access-log line is written when the response closes, which may be just after the client has it.
  for (let i = 0; i < 50 && !server.logs.slice(before).some((l) => l.msg === "request"); i++)
    await new Promise((res) => setTimeout(res, 5));
  const line = server.logs.slice(before).find((l) => l.msg === "request");
  const logged =
    line === undefined
      ? undefined
      : { protocol: line.protocol, route: line.route, status: line.status, rpcCode: line.rpcCode, reason: line.reason };
  return { answer, logged };
}

const json = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
const HEALTH = "/grpc.health.v1.Health/Check";
const ME = "/auth.v1.AuthService/GetCurrentUser";
const REGISTER = "/auth.v1.AuthService/Register";
const SESSIONS = "/auth.v1.SessionService/ListSessions";
const jsonType = { "content-type": "application/json" };
const protoType = { "content-type": "application/proto" };
const grpcType = { "content-type": "application/grpc", te: "trailers" };
const bearer = () => ({ authorization: `Bearer ${accessToken}` });
const healthProto = () => toBinary(HealthCheckRequestSchema, create(HealthCheckRequestSchema, {}));
const meProto = () => toBinary(GetCurrentUserRequestSchema, create(GetCurrentUserRequestSchema, {}));
const badEmailProto = () => toBinary(RegisterRequestSchema, create(RegisterRequestSchema, { email: "not an address", password }));

/** [name, request, what the fast path must do with it]. */
const cases: Array<[string, () => Request]> = [
  // Served by the fast path.
  ["Health/Check, Connect JSON, HTTP/1.1", () => ({ h2: false, path: HEALTH, headers: jsonType, body: json({}) })],
  ["Health/Check, Connect JSON, HTTP/2", () => ({ h2: true, path: HEALTH, headers: jsonType, body: json({}) })],
  ["Health/Check, Connect Protobuf, HTTP/2", () => ({ h2: true, path: HEALTH, headers: protoType, body: healthProto() })],
  ["Health/Check, Connect Protobuf, empty body", () => ({ h2: false, path: HEALTH, headers: protoType, body: new Uint8Array(0) })],
  ["Health/Check, gRPC", () => ({ h2: true, path: HEALTH, headers: grpcType, body: frame(0, healthProto()) })],
  [
    "Health/Check, gRPC +proto",
    () => ({ h2: true, path: HEALTH, headers: { ...grpcType, "content-type": "application/grpc+proto" }, body: frame(0, healthProto()) }),
  ],
  ["Health/Check, unknown JSON fields", () => ({ h2: false, path: HEALTH, headers: jsonType, body: json({ nope: 1 }) })],
  [
    "Health/Check, JSON with a charset",
    () => ({ h2: false, path: HEALTH, headers: { "content-type": "application/json; charset=utf-8" }, body: json({}) }),
  ],
  [
    "Health/Check, an unknown service (NOT_FOUND)",
    () => ({ h2: false, path: HEALTH, headers: jsonType, body: json({ service: "nope.v1.Nope" }) }),
  ],
  ["GetCurrentUser, Connect JSON, HTTP/1.1", () => ({ h2: false, path: ME, headers: { ...jsonType, ...bearer() }, body: json({}) })],
  ["GetCurrentUser, Connect JSON, HTTP/2", () => ({ h2: true, path: ME, headers: { ...jsonType, ...bearer() }, body: json({}) })],
  ["GetCurrentUser, Connect Protobuf, HTTP/2", () => ({ h2: true, path: ME, headers: { ...protoType, ...bearer() }, body: meProto() })],
  ["GetCurrentUser, gRPC", () => ({ h2: true, path: ME, headers: { ...grpcType, ...bearer() }, body: frame(0, meProto()) })],
  ["GetCurrentUser, Connect, no token (UNAUTHENTICATED, details)", () => ({ h2: false, path: ME, headers: jsonType, body: json({}) })],
  ["GetCurrentUser, gRPC, no token", () => ({ h2: true, path: ME, headers: grpcType, body: frame(0, meProto()) })],
  [
    "GetCurrentUser, Connect, a forged token",
    () => ({ h2: true, path: ME, headers: { ...jsonType, authorization: "Bearer e30.e30.AAAA" }, body: json({}) }),
  ],
  [
    "Register, Connect, a bad address (field metadata, BadRequest)",
    () => ({ h2: false, path: REGISTER, headers: jsonType, body: json({ email: "not an address", password }) }),
  ],
  ["Register, gRPC, a bad address", () => ({ h2: true, path: REGISTER, headers: grpcType, body: frame(0, badEmailProto()) })],
  ["Register, Connect Protobuf, a bad address", () => ({ h2: true, path: REGISTER, headers: protoType, body: badEmailProto() })],
  [
    "ListSessions, Connect JSON, no compression asked",
    () => ({ h2: false, path: SESSIONS, headers: { ...jsonType, ...bearer() }, body: json({}) }),
  ],
  [
    "ListSessions, Connect JSON, gzip accepted (compressed answer)",
    () => ({ h2: false, path: SESSIONS, headers: { ...jsonType, ...bearer(), "accept-encoding": "gzip" }, body: json({}) }),
  ],
  [
    "ListSessions, Connect JSON, br then gzip accepted",
    () => ({ h2: true, path: SESSIONS, headers: { ...jsonType, ...bearer(), "accept-encoding": "br, gzip" }, body: json({}) }),
  ],
  [
    "ListSessions, gRPC, gzip accepted (compressed frame)",
    () => ({
      h2: true,
      path: SESSIONS,
      headers: { ...grpcType, ...bearer(), "grpc-accept-encoding": "gzip" },
      body: frame(0, new Uint8Array(0)),
    }),
  ],
  [
    "Health/Check, Connect, a deadline",
    () => ({ h2: false, path: HEALTH, headers: { ...jsonType, "connect-timeout-ms": "5000" }, body: json({}) }),
  ],
  [
    "Health/Check, gRPC, a deadline",
    () => ({ h2: true, path: HEALTH, headers: { ...grpcType, "grpc-timeout": "5S" }, body: frame(0, healthProto()) }),
  ],
  [
    "Health/Check, gRPC, a deadline past any timer (clamped)",
    () => ({ h2: true, path: HEALTH, headers: { ...grpcType, "grpc-timeout": "99999999H" }, body: frame(0, healthProto()) }),
  ],
  [
    "Health/Check, Connect, body with a Content-Length, HTTP/2",
    () => ({ h2: true, path: HEALTH, headers: jsonType, body: json({}), contentLength: true }),
  ],
  [
    "Health/Check, gRPC, grpc-encoding: identity",
    () => ({ h2: true, path: HEALTH, headers: { ...grpcType, "grpc-encoding": "identity" }, body: frame(0, healthProto()) }),
  ],
  [
    "Health/Check, Connect, a Connect-Protocol-Version of 7 (not required, so ignored)",
    () => ({ h2: false, path: HEALTH, headers: { ...jsonType, "connect-protocol-version": "7" }, body: json({}) }),
  ],
  // Checked by hand in review, kept here: served or handed over, as fastWire decides.
  [
    "Connect, an upper-case content type",
    () => ({ h2: false, path: HEALTH, headers: { "content-type": "APPLICATION/JSON" }, body: json({}) }),
  ],
  [
    "Connect, JSON in latin1",
    () => ({ h2: false, path: HEALTH, headers: { "content-type": "application/json; charset=latin1" }, body: json({}) }),
  ],
  [
    "Connect, content-encoding: IDENTITY",
    () => ({ h2: false, path: HEALTH, headers: { ...jsonType, "content-encoding": "IDENTITY" }, body: json({}) }),
  ],
  [
    "gRPC, a content type with a parameter",
    () => ({
      h2: true,
      path: HEALTH,
      headers: { ...grpcType, "content-type": "application/grpc+proto;foo" },
      body: frame(0, healthProto()),
    }),
  ],
  [
    "gRPC, an upper-case content type",
    () => ({ h2: true, path: HEALTH, headers: { ...grpcType, "content-type": "APPLICATION/GRPC" }, body: frame(0, healthProto()) }),
  ],
  ["HEAD", () => ({ h2: false, method: "HEAD", path: HEALTH, headers: jsonType })],
  ["OPTIONS", () => ({ h2: false, method: "OPTIONS", path: HEALTH, headers: jsonType })],
  ["PUT", () => ({ h2: false, method: "PUT", path: HEALTH, headers: jsonType, body: json({}) })],
  // Handed to Connect.
  [
    "Connect JSON that does not parse",
    () => ({ h2: false, path: REGISTER, headers: jsonType, body: new TextEncoder().encode('{"email": "a@b.c", "password": s3cret') }),
  ],
  [
    "Connect JSON of the wrong types",
    () => ({ h2: true, path: REGISTER, headers: jsonType, body: json({ email: 5, password: ["s3cret"] }) }),
  ],
  ["Connect JSON, an empty body", () => ({ h2: false, path: HEALTH, headers: jsonType, body: new Uint8Array(0) })],
  [
    "Connect Protobuf that does not decode",
    () => ({ h2: true, path: REGISTER, headers: protoType, body: new Uint8Array([0x0a, 0xff, 0x01]) }),
  ],
  [
    "Connect, a gzip request",
    () => ({ h2: false, path: HEALTH, headers: { ...jsonType, "content-encoding": "gzip" }, body: gzipSync(json({})) }),
  ],
  [
    "Connect, an unknown request encoding",
    () => ({ h2: false, path: HEALTH, headers: { ...jsonType, "content-encoding": "zstd" }, body: json({}) }),
  ],
  [
    "Connect, a malformed deadline",
    () => ({ h2: false, path: HEALTH, headers: { ...jsonType, "connect-timeout-ms": "soon" }, body: json({}) }),
  ],
  [
    "Connect, a streaming content type on a unary method",
    () => ({ h2: true, path: HEALTH, headers: { "content-type": "application/connect+json" }, body: frame(0, json({})) }),
  ],
  ["Connect, no content type", () => ({ h2: false, path: HEALTH, headers: {}, body: json({}) })],
  ["Connect, an unsupported content type", () => ({ h2: false, path: HEALTH, headers: { "content-type": "text/plain" }, body: json({}) })],
  [
    "Connect, GET of a method with side effects",
    () => ({ h2: false, method: "GET", path: `${REGISTER}?encoding=json&message=%7B%7D`, headers: {} }),
  ],
  [
    "Connect, a body declared larger than the limit",
    () => ({ h2: true, path: HEALTH, headers: jsonType, body: json({ service: "x".repeat(maxBodyBytes) }), contentLength: true }),
  ],
  [
    "Connect, a body larger than the limit with no length declared",
    () => ({ h2: true, path: HEALTH, headers: jsonType, body: json({ service: "x".repeat(maxBodyBytes * 3) }) }),
  ],
  [
    "gRPC, two messages on a unary method",
    () => ({ h2: true, path: HEALTH, headers: grpcType, body: Buffer.concat([frame(0, healthProto()), frame(0, healthProto())]) }),
  ],
  ["gRPC, no message", () => ({ h2: true, path: HEALTH, headers: grpcType, body: new Uint8Array(0) })],
  [
    "gRPC, a truncated frame",
    () => ({ h2: true, path: HEALTH, headers: grpcType, body: frame(0, json({ service: "abc" })).subarray(0, 7) }),
  ],
  [
    "gRPC, a compressed frame with no encoding declared",
    () => ({ h2: true, path: HEALTH, headers: grpcType, body: frame(1, gzipSync(healthProto())) }),
  ],
  [
    "gRPC, a gzip frame",
    () => ({ h2: true, path: HEALTH, headers: { ...grpcType, "grpc-encoding": "gzip" }, body: frame(1, gzipSync(healthProto())) }),
  ],
  [
    "gRPC, Protobuf that does not decode",
    () => ({ h2: true, path: REGISTER, headers: grpcType, body: frame(0, new Uint8Array([0x0a, 0xff, 0x01])) }),
  ],
  [
    "gRPC, a malformed deadline",
    () => ({ h2: true, path: HEALTH, headers: { ...grpcType, "grpc-timeout": "5 seconds" }, body: frame(0, healthProto()) }),
  ],
  [
    "gRPC, a message larger than the limit",
    () => ({ h2: true, path: HEALTH, headers: grpcType, body: frame(0, new Uint8Array(maxBodyBytes + 1)) }),
  ],
  [
    "gRPC, JSON-coded",
    () => ({ h2: true, path: HEALTH, headers: { ...grpcType, "content-type": "application/grpc+json" }, body: frame(0, json({})) }),
  ],
  [
    "gRPC over HTTP/1.1",
    () => ({ h2: false, path: HEALTH, headers: { "content-type": "application/grpc" }, body: frame(0, healthProto()) }),
  ],
  [
    "gRPC-Web",
    () => ({ h2: false, path: HEALTH, headers: { "content-type": "application/grpc-web+proto" }, body: frame(0, healthProto()) }),
  ],
];

/** One raw HTTP/1.x request on its own connection; the answer as sent, less its Date and request id. */
function rawH1(url: string, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(new URL(url).port), "127.0.0.1", () => socket.end(request));
    const chunks: Buffer[] = [];
    socket.on("data", (c: Buffer) => chunks.push(c));
    socket.on("error", reject);
    socket.on("close", () =>
      resolve(
        Buffer.concat(chunks)
          .toString("latin1")
          .split("\r\n")
          .filter((line) => !/^(date|x-request-id):/i.test(line))
          .join("\r\n"),
      ),
    );
  });
}

describe("the unary fast path answers exactly as Connect's handler does", () => {
  it.each([
    ["HTTP/1.0 without a Host", "HTTP/1.0", undefined],
    ["a Host that is no authority", "HTTP/1.1", "bad host"],
  ])("a request with no usable authority: %s", async (_name, version, host) => {
    const request = (body: string) =>
      `POST ${HEALTH} ${version}\r\n${host === undefined ? "" : `Host: ${host}\r\n`}Content-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`;
    const viaConnect = await rawH1(connect.url, request("{}"));
    const viaFast = await rawH1(fast.url, request("{}"));
    expect(viaConnect).toMatch(/^HTTP\/1\.1 400 /);
    expect(viaFast).toBe(viaConnect);
  });

  it.each(cases)("%s", async (_name, request) => {
    const viaConnect = await send(connect, request());
    const viaFast = await send(fast, request());
    expect(viaFast.answer).toEqual(viaConnect.answer);
    expect(viaFast.logged).toEqual(viaConnect.logged);
    expect(viaFast.logged).toBeDefined();
  });
});

/** What a Health/Check implementation saw of its context: kept by the small servers below. */
interface Seen {
  signal: AbortSignal;
  timeoutMsAtStart: number | undefined;
  abortedAtStart: boolean;
}

/**
 * The RPC adapter alone on plain node:http and node:http2 servers, with or without the fast path,
 * and a Health/Check that records its context and waits `holdMs` before answering.
 */
async function smallServers(
  fast: boolean,
  holdMs = 0,
  register?: Parameters<typeof createRpcHandler>[0]["routes"],
  interceptors: Interceptor[] = [],
  connectOptions: Partial<ConnectRouterOptions> = {},
) {
  const seen: Seen[] = [];
  const handler = createRpcHandler({
    ...connectOptions,
    unaryFastPath: fast,
    interceptors,
    routes(router) {
      router.service(Health, {
        async check(_req, ctx) {
          seen.push({ signal: ctx.signal, timeoutMsAtStart: ctx.timeoutMs(), abortedAtStart: ctx.signal.aborted });
          if (holdMs > 0) await new Promise((r) => setTimeout(r, holdMs));
          return { status: HealthCheckResponse_ServingStatus.SERVING };
        },
        async *watch() {},
      });
      register?.(router);
    },
    contextValues: () => createContextValues(),
    fallback: (_req, res) => res.end(),
    badRequest: (_req, res) => {
      res.statusCode = 400;
      res.end();
    },
    log: () => undefined,
  });
  const h1 = http.createServer(handler);
  const h2 = http2.createServer(handler);
  await Promise.all([new Promise<void>((r) => h1.listen(0, "127.0.0.1", r)), new Promise<void>((r) => h2.listen(0, "127.0.0.1", r))]);
  const url = (s: http.Server | http2.Http2Server) => `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
  return {
    seen,
    h1Url: url(h1),
    h2Url: url(h2),
    close() {
      h1.close();
      h2.close();
    },
  };
}

const untilSeen = async (seen: Seen[], n: number) => {
  for (let i = 0; i < 200 && seen.length < n; i++) await new Promise((r) => setTimeout(r, 5));
};

describe("which handler serves a call", () => {
  // The comparison above would pass with the fast path never taken. Connect aborts every call's
  // signal when the call ends (the cost the fast path avoids); the fast path aborts it only when
  // the client went first. So a signal still live after a completed call says who served it.
  let servers: Awaited<ReturnType<typeof smallServers>>;
  beforeAll(async () => {
    servers = await smallServers(true);
  });
  afterAll(() => servers.close());

  it.each([
    ["Connect JSON, HTTP/1.1", false, { h2: false, path: HEALTH, headers: jsonType, body: json({}) }],
    ["Connect Protobuf, HTTP/2", false, { h2: true, path: HEALTH, headers: protoType, body: healthProto() }],
    ["gRPC", false, { h2: true, path: HEALTH, headers: grpcType, body: frame(0, healthProto()) }],
    [
      "a gzip request (Connect's)",
      true,
      { h2: false, path: HEALTH, headers: { ...jsonType, "content-encoding": "gzip" }, body: gzipSync(json({})) },
    ],
    [
      "gRPC-Web (Connect's)",
      true,
      { h2: false, path: HEALTH, headers: { "content-type": "application/grpc-web+proto" }, body: frame(0, healthProto()) },
    ],
  ] as Array<[string, boolean, Request]>)("%s", async (_name, connectServes, r) => {
    servers.seen.length = 0;
    const answer = r.h2 ? await h2Request(servers.h2Url, "POST", r.path, r.headers, r.body) : await h1Request(servers.h1Url, r);
    expect(answer.status).toBe(200);
    expect(servers.seen).toHaveLength(1);
    expect(servers.seen[0]?.signal.aborted).toBe(connectServes);
  });

  it("a method registered again, with options of its own, is no longer served from the first registration", async () => {
    const again = await smallServers(true, 0, (router) =>
      router.service(
        Health,
        { check: () => ({ status: HealthCheckResponse_ServingStatus.NOT_SERVING }), async *watch() {} },
        { interceptors: [] },
      ),
    );
    try {
      const answer = await h1Request(again.h1Url, { h2: false, path: HEALTH, headers: jsonType, body: json({}) });
      expect(Buffer.from(answer.body, "base64").toString()).toBe('{"status":"NOT_SERVING"}');
      expect(again.seen).toHaveLength(0);
    } finally {
      again.close();
    }
  });
});

describe("Connect options the fast path does not apply send every call through Connect", () => {
  // A request gate or a protocol switched off refuses calls before the implementation runs; a
  // fast path that skipped them would serve what they refuse. Each case: the refused request,
  // then one the option lets through, both with the fast path on.
  const healthJson = { h2: false, path: HEALTH, headers: jsonType, body: json({}) };
  const healthGrpc = { h2: true, path: HEALTH, headers: grpcType, body: frame(0, healthProto()) };
  const send = (servers: Awaited<ReturnType<typeof smallServers>>, r: Request) =>
    r.h2 ? h2Request(servers.h2Url, "POST", r.path, r.headers, r.body) : h1Request(servers.h1Url, r);
  const gate: Partial<ConnectRouterOptions> = {
    requestGate(ctx) {
      if (ctx.requestHeader.get("x-gate") !== "open") throw new ConnectError("closed", Code.PermissionDenied);
    },
  };

  it.each([
    ["a request gate", gate, healthJson, 403, { ...healthJson, headers: { ...jsonType, "x-gate": "open" } }],
    [
      "the Connect protocol-version header required",
      { requireConnectProtocolHeader: true },
      healthJson,
      400,
      { ...healthJson, headers: { ...jsonType, "connect-protocol-version": "1" } },
    ],
    ["the Connect protocol off", { connect: false }, healthJson, 415, healthGrpc],
    ["gRPC off", { grpc: false }, healthGrpc, 415, healthJson],
  ] as Array<[string, Partial<ConnectRouterOptions>, Request, number, Request]>)(
    "%s",
    async (_name, connectOptions, refused, refusedStatus, allowed) => {
      const servers = await smallServers(true, 0, undefined, [], connectOptions);
      try {
        const answer = await send(servers, refused);
        expect(answer.status).toBe(refusedStatus);
        expect(servers.seen).toHaveLength(0);
        expect((await send(servers, allowed)).status).toBe(200);
        // Connect's handler served it: it aborts the call's signal at the end, the fast path does not.
        expect(servers.seen.map((s) => s.signal.aborted)).toEqual([true]);
      } finally {
        servers.close();
      }
    },
  );

  it("names the option it would not apply, including one it does not know; Connect's defaults are applied", () => {
    const base = {
      routes: () => undefined,
      contextValues: createContextValues,
      fallback: () => undefined,
      badRequest: () => undefined,
      log: () => undefined,
    };
    expect(optionFastPathIgnores(base)).toBeUndefined();
    expect(
      optionFastPathIgnores({
        ...base,
        requireConnectProtocolHeader: false,
        connect: true,
        grpc: true,
        grpcWeb: false,
        readMaxBytes: 5,
        requestGate: undefined,
      }),
    ).toBeUndefined();
    expect(optionFastPathIgnores({ ...base, ...gate })).toBe("requestGate");
    expect(optionFastPathIgnores({ ...base, grpc: false })).toBe("grpc");
    expect(optionFastPathIgnores({ ...base, someLaterOption: 1 } as never)).toBe("someLaterOption");
  });
});

describe("headers and trailers the implementation reads and sets", () => {
  // The fast path makes the context's Headers only when asked for (rpc/unary.ts): what a call
  // sets, and what it reads of the request, must still be what Connect's handler gives.
  const register = (router: ConnectRouter) =>
    router.service(Health, {
      check(req, ctx) {
        ctx.responseHeader.set("x-seen", ctx.requestHeader.get("x-in") ?? "none");
        ctx.responseHeader.append("set-cookie", "a=1");
        ctx.responseHeader.append("set-cookie", "b=2");
        ctx.responseTrailer.set("x-trailer", "t");
        if (req.service === "fail") throw new ConnectError("no", Code.FailedPrecondition, { "x-meta": "m" });
        return { status: HealthCheckResponse_ServingStatus.SERVING };
      },
      async *watch() {},
    });
  let fastServers: Awaited<ReturnType<typeof smallServers>>;
  let connectServers: Awaited<ReturnType<typeof smallServers>>;
  beforeAll(async () => {
    fastServers = await smallServers(true, 0, register);
    connectServers = await smallServers(false, 0, register);
  });
  afterAll(() => {
    fastServers.close();
    connectServers.close();
  });
  const failing = () => toBinary(HealthCheckRequestSchema, create(HealthCheckRequestSchema, { service: "fail" }));

  it.each([
    ["Connect JSON, HTTP/1.1", { h2: false, path: HEALTH, headers: { ...jsonType, "x-in": " padded\t" }, body: json({}) }],
    ["Connect JSON, HTTP/1.1, an error", { h2: false, path: HEALTH, headers: jsonType, body: json({ service: "fail" }) }],
    ["Connect Protobuf, HTTP/2", { h2: true, path: HEALTH, headers: { ...protoType, "x-in": "v" }, body: healthProto() }],
    ["gRPC", { h2: true, path: HEALTH, headers: { ...grpcType, "x-in": "v" }, body: frame(0, healthProto()) }],
    ["gRPC, an error", { h2: true, path: HEALTH, headers: grpcType, body: frame(0, failing()) }],
  ] as Array<[string, Request]>)("%s", async (_name, r) => {
    const ask = async (servers: typeof fastServers) => {
      servers.seen.length = 0;
      const a = r.h2 ? await h2Request(servers.h2Url, "POST", r.path, r.headers, r.body) : await h1Request(servers.h1Url, r);
      return r.h2
        ? { status: a.status, headers: kept(a.headers), trailers: kept(a.trailers), body: Buffer.from(a.body).toString("base64") }
        : a;
    };
    const viaFast = await ask(fastServers);
    const viaConnect = await ask(connectServers);
    expect(viaFast).toEqual(viaConnect);
    expect(JSON.stringify(viaFast)).toContain("x-seen");
  });
});

describe("interceptors that pass on a request or answer of their own", () => {
  // The fast path hands the interceptors a request and an answer whose headers are read when asked
  // for (rpc/invoke-unary.ts); one an interceptor builds instead must reach the implementation
  // and the wire exactly as in Connect's handler.
  const register = (router: ConnectRouter) =>
    router.service(Health, {
      check(_req, ctx) {
        // Read as the service's own handlers read a header (the bearer token, the user agent).
        ctx.responseHeader.set("x-seen", `${requestHeader(ctx, "x-in") ?? "none"}/${ctx.values.get(tagKey)}`);
        return { status: HealthCheckResponse_ServingStatus.SERVING };
      },
      async *watch() {},
    });
  const tagKey = createContextKey("untagged");
  const interceptors: Array<[string, Interceptor]> = [
    ["a new request with headers of its own", (next) => (req) => next({ ...req, header: new Headers({ "x-in": "replaced" }) })],
    [
      "the request's headers changed in place",
      (next) => (req) => {
        req.header.set("x-in", "changed");
        return next(req);
      },
    ],
    [
      "a request header deleted in place",
      (next) => (req) => {
        req.header.delete("x-in");
        return next(req);
      },
    ],
    [
      "a spread copy of the request with other values",
      (next) => (req) => next({ ...req, contextValues: req.contextValues.set(tagKey, "tagged") }),
    ],
  ];
  const requests: Request[] = [
    { h2: false, path: HEALTH, headers: { ...jsonType, "x-in": "sent" }, body: json({}) },
    { h2: true, path: HEALTH, headers: { ...grpcType, "x-in": "sent" }, body: frame(0, healthProto()) },
  ];
  const ask = async (servers: Awaited<ReturnType<typeof smallServers>>, r: Request) => {
    const a = r.h2 ? await h2Request(servers.h2Url, "POST", r.path, r.headers, r.body) : await h1Request(servers.h1Url, r);
    return r.h2
      ? { status: a.status, headers: kept(a.headers), trailers: kept(a.trailers), body: Buffer.from(a.body).toString("base64") }
      : a;
  };

  it.each(interceptors)("%s", async (_name, interceptor) => {
    const fastServers = await smallServers(true, 0, register, [interceptor]);
    const connectServers = await smallServers(false, 0, register, [interceptor]);
    try {
      for (const r of requests) {
        const viaFast = await ask(fastServers, r);
        expect(viaFast).toEqual(await ask(connectServers, r));
        expect(viaFast.status).toBe(200);
      }
    } finally {
      fastServers.close();
      connectServers.close();
    }
  });

  it("an answer with headers and trailers of its own replaces the implementation's", async () => {
    // Not compared with Connect's handler: its copyHeaders (invoke-implementation.js) deletes
    // while it iterates, which leaves every other header it meant to delete (here the
    // implementation's x-seen stays and the content type goes). The fast path replaces them all.
    const interceptor: Interceptor = (next) => async (req) => ({
      ...(await next(req)),
      header: new Headers({ "x-own": "1" }),
      trailer: new Headers({ "x-t": "2" }),
    });
    const fastServers = await smallServers(true, 0, register, [interceptor]);
    try {
      const [h1, grpc] = [await ask(fastServers, requests[0] as Request), await ask(fastServers, requests[1] as Request)];
      // The adapter's own no-store goes on every answer, whatever the interceptor said (node-response.ts).
      expect(h1.headers).toEqual({
        "content-type": "application/json",
        "content-length": "20",
        "x-own": "1",
        "trailer-x-t": "2",
        "cache-control": "no-store",
      });
      expect(grpc.headers).toEqual({ "content-type": "application/grpc+proto", "x-own": "1", "cache-control": "no-store" });
      expect(grpc.trailers).toEqual({ "grpc-status": "0", "x-t": "2" });
    } finally {
      fastServers.close();
    }
  });
});

describe("an answer that cannot be written", () => {
  // Node's HTTP/1.1 refuses a header value with a control character (ERR_INVALID_CHAR), thrown
  // while the answer is written, after the implementation ran. The failure is logged, and the call
  // must then end (the connection closed; on HTTP/2, the stream reset), not stay open with the
  // client waiting for an answer until its own deadline, if it has one.
  const register = (router: ConnectRouter) =>
    router.service(Health, {
      check(_req, ctx) {
        ctx.responseHeader.set("x-unwritable", "a\u0001b");
        return { status: HealthCheckResponse_ServingStatus.SERVING };
      },
      async *watch() {},
    });
  // Over HTTP/2 Node drops such a header instead; HTTP/1.1 throws.
  const requests: Array<[string, Request]> = [
    ["Connect JSON", { h2: false, path: HEALTH, headers: jsonType, body: json({}) }],
    ["Connect Protobuf", { h2: false, path: HEALTH, headers: protoType, body: healthProto() }],
    ["gRPC-Web", { h2: false, path: HEALTH, headers: { "content-type": "application/grpc-web+proto" }, body: frame(0, healthProto()) }],
  ];
  it.each([true, false])("ends the call (fast path: %s)", async (fast) => {
    const servers = await smallServers(fast, 0, register);
    try {
      for (const [name, r] of requests) {
        const call = r.h2 ? h2Request(servers.h2Url, "POST", r.path, r.headers, r.body) : h1Request(servers.h1Url, r);
        const hung = new Promise<string>((resolve) => setTimeout(() => resolve("hung"), 2000).unref());
        const outcome = await Promise.race([
          call.then(
            () => "answered",
            () => "ended",
          ),
          hung,
        ]);
        expect(outcome, name).toBe("ended");
      }
    } finally {
      servers.close();
    }
  });
});

describe("the call's deadline and signal, on the fast path as in Connect's handler", () => {
  for (const fast of [true, false]) {
    const name = fast ? "fast path" : "Connect's handler";

    it(`${name}: the deadline runs from the request's headers, not from the end of its body`, async () => {
      const servers = await smallServers(fast);
      try {
        for (const h2 of [false, true]) {
          servers.seen.length = 0;
          const body = json({});
          const answered = h2
            ? new Promise<void>((resolve, reject) => {
                const session = http2.connect(servers.h2Url);
                session.on("error", reject);
                const req = session.request({ ":method": "POST", ":path": HEALTH, ...jsonType, "connect-timeout-ms": "100" });
                req.on("response", () => undefined);
                req.on("close", () => {
                  session.close();
                  resolve();
                });
                req.resume();
                req.write(body.subarray(0, 1));
                setTimeout(() => req.end(body.subarray(1)), 250);
              })
            : new Promise<void>((resolve, reject) => {
                const req = http.request(
                  `${servers.h1Url}${HEALTH}`,
                  {
                    method: "POST",
                    agent: false,
                    headers: { ...jsonType, "connect-timeout-ms": "100", "content-length": String(body.length) },
                  },
                  (res) => res.resume().on("end", resolve),
                );
                req.on("error", reject);
                req.write(body.subarray(0, 1));
                setTimeout(() => req.end(body.subarray(1)), 250);
              });
          await answered;
          expect(servers.seen).toHaveLength(1);
          expect(servers.seen[0]?.abortedAtStart).toBe(true);
          expect(servers.seen[0]?.timeoutMsAtStart).toBeLessThanOrEqual(0);
        }
      } finally {
        servers.close();
      }
    });

    it(`${name}: a client that cancels an HTTP/2 call, or drops an HTTP/1.1 one, aborts its signal`, async () => {
      const servers = await smallServers(fast, 300);
      try {
        // HTTP/2: RST_STREAM(CANCEL) while the implementation is still working.
        const session = http2.connect(servers.h2Url);
        const stream = session.request({ ":method": "POST", ":path": HEALTH, ...jsonType });
        stream.on("error", () => undefined);
        stream.end(json({}));
        await untilSeen(servers.seen, 1);
        stream.close(http2.constants.NGHTTP2_CANCEL);
        // HTTP/1.1: the connection dropped while the implementation is working.
        const h1 = http.request(`${servers.h1Url}${HEALTH}`, { method: "POST", agent: false, headers: jsonType });
        h1.on("error", () => undefined);
        h1.end(json({}));
        await untilSeen(servers.seen, 2);
        h1.destroy();
        await new Promise((r) => setTimeout(r, 100));
        session.close();
        expect(servers.seen.map((s) => s.signal.aborted)).toEqual([true, true]);
      } finally {
        servers.close();
      }
    });
  }
});
