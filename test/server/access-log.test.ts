// Every request gets exactly one access-log line with its outcome (issue 10, item 15): served or
// refused, on every protocol, including the refusals the protocol layers make before any handler
// runs (bad content type, malformed or undecompressable body, wrong method, oversize, forgery,
// unknown path) and requests the client abandons. Each request carries its own X-Request-Id, and
// each id must appear on exactly one "request" line saying what the client was answered.
import net from "node:net";
import { gzipSync } from "node:zlib";
import { create, toBinary } from "@bufbuild/protobuf";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RequestPasswordResetRequestSchema } from "../../gen/auth/v1/auth_service_pb.js";
import { startHarness, type Harness } from "../support/harness.ts";
import { rest, sessionCookie } from "../support/rest.ts";
import { frame, h2Request } from "../support/wire.ts";

const password = "correct horse battery staple";
const email = "access-log@example.com";
const reset = "/auth.v1.AuthService/RequestPasswordReset";
const resetProto = Buffer.from(toBinary(RequestPasswordResetRequestSchema, create(RequestPasswordResetRequestSchema, { email })));
const resetJson = JSON.stringify({ email });

interface Expected {
  protocol: string;
  status?: number;
  rpcCode?: string;
  reason?: string;
  route?: string;
  aborted?: boolean;
}

let h: Harness;
let cookie: string;
let seq = 0;
const sent = new Map<string, Expected>();

/** Sends one request with a fresh request id, and records what its log line must say. */
async function send(expected: Expected, call: (id: { "x-request-id": string }) => Promise<unknown>): Promise<void> {
  const id = `access-${++seq}`;
  sent.set(id, expected);
  await call({ "x-request-id": id });
}

const post = (path: string, headers: Record<string, string>, body?: string | Uint8Array) =>
  fetch(`${h.url}${path}`, { method: "POST", headers, body }).then((r) => r.arrayBuffer());

beforeAll(async () => {
  h = await startHarness({ EMAIL_VERIFICATION_REQUIRED: "false", MAX_BODY_BYTES: "2048" });
  await rest(h, "POST", "/auth/register", { body: { email, password } });
  cookie = sessionCookie(await rest(h, "POST", "/auth/login", { body: { email, password } }));
});
afterAll(() => h?.close());

describe("access log", () => {
  it("writes exactly one line per request, with its outcome, over every protocol", async () => {
    const json = { "content-type": "application/json" };
    const big = JSON.stringify({ email, pad: "x".repeat(4096) });

    // REST: served, and refused at each step of the pipeline.
    await send({ protocol: "rest", status: 200, route: "/api/v1/auth/forgot-password" }, (id) =>
      post("/api/v1/auth/forgot-password", { ...json, ...id }, resetJson),
    );
    await send({ protocol: "rest", status: 404, reason: "NOT_FOUND" }, (id) => post("/api/v1/nothing/here", { ...json, ...id }, "{}"));
    await send({ protocol: "rest", status: 405, reason: "METHOD_NOT_ALLOWED" }, (id) =>
      fetch(`${h.url}/api/v1/auth/forgot-password`, { headers: id }).then((r) => r.arrayBuffer()),
    );
    await send({ protocol: "rest", status: 415, reason: "UNSUPPORTED_MEDIA_TYPE" }, (id) =>
      post("/api/v1/auth/forgot-password", { "content-type": "text/plain", ...id }, resetJson),
    );
    await send({ protocol: "rest", status: 415, reason: "UNSUPPORTED_MEDIA_TYPE" }, (id) =>
      post("/api/v1/auth/forgot-password", { ...json, "content-encoding": "gzip", ...id }, gzipSync(resetJson)),
    );
    await send({ protocol: "rest", status: 400, reason: "MALFORMED_REQUEST" }, (id) =>
      post("/api/v1/auth/forgot-password", { ...json, ...id }, "{"),
    );
    await send({ protocol: "rest", status: 413, reason: "PAYLOAD_TOO_LARGE" }, (id) =>
      post("/api/v1/auth/forgot-password", { ...json, ...id }, big),
    );
    await send({ protocol: "rest", status: 403, reason: "CSRF_REJECTED" }, (id) =>
      post("/auth/logout", { cookie, origin: "https://evil.example", "content-type": "text/plain", ...id }, "bye"),
    );
    await send({ protocol: "rest", status: 401, reason: "UNAUTHENTICATED" }, (id) =>
      fetch(`${h.url}/auth/me`, { headers: id }).then((r) => r.arrayBuffer()),
    );
    await send({ protocol: "rest", status: 200 }, (id) => fetch(`${h.url}/openapi.json`, { headers: id }).then((r) => r.arrayBuffer()));
    await send({ protocol: "rest", status: 405, reason: "METHOD_NOT_ALLOWED" }, (id) => post("/openapi.json", id));

    // Connect (JSON and binary over HTTP/1.1).
    await send({ protocol: "connect", status: 200, rpcCode: "ok", route: "auth.v1.AuthService/RequestPasswordReset" }, (id) =>
      post(reset, { ...json, ...id }, resetJson),
    );
    await send({ protocol: "connect", status: 400, rpcCode: "invalid_argument", reason: "MALFORMED_REQUEST" }, (id) =>
      post(reset, { ...json, ...id }, "{not json"),
    );
    await send({ protocol: "connect", status: 400, rpcCode: "invalid_argument", reason: "MALFORMED_REQUEST" }, (id) =>
      post(reset, { ...json, "content-encoding": "gzip", ...id }, "junk"),
    );
    await send({ protocol: "connect", status: 501, rpcCode: "unimplemented" }, (id) =>
      post(reset, { ...json, "content-encoding": "zstd", ...id }, "junk"),
    );
    await send({ protocol: "connect", status: 429, rpcCode: "resource_exhausted", reason: "PAYLOAD_TOO_LARGE" }, (id) =>
      post(reset, { ...json, ...id }, big),
    );
    await send({ protocol: "connect", status: 415 }, (id) => post(reset, { "content-type": "text/plain", ...id }, resetJson));
    await send({ protocol: "connect", status: 400, rpcCode: "invalid_argument", reason: "INVALID_ARGUMENT" }, (id) =>
      post(reset, { ...json, ...id }, JSON.stringify({ email: "not an address" })),
    );
    await send({ protocol: "connect", status: 401, rpcCode: "unauthenticated", reason: "UNAUTHENTICATED" }, (id) =>
      post("/auth.v1.AuthService/GetCurrentUser", { ...json, ...id }, "{}"),
    );
    await send({ protocol: "connect", status: 200, rpcCode: "ok", route: "grpc.health.v1.Health/Check" }, (id) =>
      post("/grpc.health.v1.Health/Check", { ...json, ...id }, "{}"),
    );
    await send({ protocol: "http", status: 404 }, (id) => post("/auth.v1.AuthService/NoSuchMethod", { ...json, ...id }, "{}"));

    // gRPC over HTTP/2 with prior knowledge.
    const grpc = (headers: Record<string, string>, body: Uint8Array) =>
      h2Request(h.url, "POST", reset, { "content-type": "application/grpc", te: "trailers", ...headers }, body);
    await send({ protocol: "grpc", status: 200, rpcCode: "ok" }, (id) => grpc(id, frame(0, resetProto)));
    await send({ protocol: "grpc", status: 200, rpcCode: "invalid_argument", reason: "MALFORMED_REQUEST" }, (id) =>
      grpc(id, frame(0, Buffer.from([0xff, 0xff, 0xff]))),
    );
    await send({ protocol: "grpc", status: 200, rpcCode: "invalid_argument", reason: "MALFORMED_REQUEST" }, (id) =>
      grpc({ ...id, "grpc-encoding": "gzip" }, frame(1, Buffer.from("junk"))),
    );
    await send({ protocol: "grpc", status: 200, rpcCode: "unimplemented" }, (id) =>
      grpc({ ...id, "grpc-encoding": "zstd" }, frame(1, Buffer.from("junk"))),
    );
    await send({ protocol: "grpc", status: 200, rpcCode: "ok" }, (id) =>
      grpc({ ...id, "grpc-timeout": "99999999H" }, frame(0, resetProto)),
    );
    await send({ protocol: "grpc", status: 200, rpcCode: "resource_exhausted", reason: "PAYLOAD_TOO_LARGE" }, (id) =>
      grpc(id, frame(0, Buffer.alloc(4096, 1))),
    );

    // gRPC-Web over HTTP/1.1.
    const web = { "content-type": "application/grpc-web+proto" };
    await send({ protocol: "grpc-web", status: 200, rpcCode: "ok" }, (id) => post(reset, { ...web, ...id }, frame(0, resetProto)));
    await send({ protocol: "grpc-web", status: 200, rpcCode: "invalid_argument", reason: "MALFORMED_REQUEST" }, (id) =>
      post(reset, { ...web, ...id }, frame(0, Buffer.from([0xff, 0xff]))),
    );

    // Probes, JWKS, unknown paths, CORS preflight.
    for (const path of ["/livez", "/readyz", "/healthz", "/.well-known/jwks.json"]) {
      await send({ protocol: "http", status: 200 }, (id) => fetch(`${h.url}${path}`, { headers: id }).then((r) => r.arrayBuffer()));
    }
    await send({ protocol: "http", status: 404 }, (id) => fetch(`${h.url}/no/such/thing`, { headers: id }).then((r) => r.arrayBuffer()));
    await send({ protocol: "http", status: 204 }, (id) =>
      fetch(`${h.url}${reset}`, {
        method: "OPTIONS",
        headers: { origin: "https://app.example", "access-control-request-method": "POST", ...id },
      }).then((r) => r.arrayBuffer()),
    );

    // Abandoned: the client declares a body and hangs up half-way (HTTP/1.1), or resets the stream (HTTP/2).
    await send({ protocol: "rest", aborted: true }, (id) => abandonH1("/api/v1/auth/forgot-password", id["x-request-id"]));
    await send({ protocol: "connect", aborted: true }, (id) => abandonH1(reset, id["x-request-id"]));

    await h.close(); // every response has closed: every line is written
    const lines = h.logs.filter((l) => l.msg === "request");
    expect(lines.length).toBe(sent.size + 2); // and the register and login of beforeAll
    for (const [id, expected] of sent) {
      const mine = lines.filter((l) => l.requestId === id);
      expect(mine, id).toHaveLength(1);
      const line = mine[0] ?? {};
      expect(line, id).toMatchObject({ ...expected, clientIp: "127.0.0.1", method: expect.any(String), path: expect.any(String) });
      if (expected.reason === undefined) expect(line.reason, id).toBeUndefined();
      if (expected.aborted !== true) expect(line.aborted, id).toBeUndefined();
      expect(typeof line.ms, id).toBe("number");
    }
    // Nothing of what was sent reaches the log: no cookie, no body, no address.
    const text = JSON.stringify(h.logs);
    expect(text).not.toContain(cookie.split("=")[1]);
    expect(text).not.toContain("not an address");
  });
});

// A line is the client's words only as far as a bound: the path to 200 characters, the method to
// 32. A method is any token over HTTP/2, and HPACK indexes one of 3,000 characters, after which
// each request names it in a byte or two: 32 bytes a request on the wire wrote 3.26 kB of log
// (262 bytes with POST), where a long path is sent in full every time.
describe("what a client can make one line hold", () => {
  it("a 3,000-character method is logged cut, as a long path is", async () => {
    const own = await startHarness();
    const method = "M".repeat(3000);
    const answer = await h2Request(own.url, method, `/auth/${"p".repeat(3000)}`, { "x-request-id": "long-method" });
    expect(answer.status).toBe(404);
    await own.close();
    const line = own.logs.find((l) => l.msg === "request" && l.requestId === "long-method") ?? {};
    expect(line.method).toBe(`${"M".repeat(32)}…`);
    expect(String(line.path)).toHaveLength(201);
    expect(JSON.stringify(line).length).toBeLessThan(600);
  });
});

/** Declares a 100-byte body, sends 10 bytes, and closes the connection. */
function abandonH1(path: string, requestId: string): Promise<void> {
  const { port } = new URL(h.url);
  return new Promise((resolve) => {
    const socket = net.connect(Number(port), "127.0.0.1", () => {
      socket.write(
        `POST ${path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: 100\r\nx-request-id: ${requestId}\r\n\r\n{"email":`,
      );
      // Give the server the headers before hanging up, so it has a request to log.
      setTimeout(() => socket.destroy(), 50);
    });
    socket.on("close", () => resolve());
    socket.on("error", () => undefined);
  });
}
