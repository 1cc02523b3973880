// OpenTelemetry tracing (issue 11, item 7): off by default, on with the OTEL_* settings. A call
// over any protocol is one SERVER span named after the RPC or the REST route template, with its
// storage and password-hashing calls as child spans of the same trace; an incoming traceparent is
// continued; the call's log lines carry its trace id; and no span carries a secret.
import { execFile } from "node:child_process";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { promisify } from "node:util";
import { SpanKind, SpanStatusCode } from "@opentelemetry/api";
import { InMemorySpanExporter, type ReadableSpan } from "@opentelemetry/sdk-trace";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  connectClients,
  connectJsonTransport,
  grpcJsCall,
  grpcJsClients,
  repoRoot,
  startHarness,
  type Harness,
} from "../support/harness.ts";
import { rest } from "../support/rest.ts";

const password = "correct horse battery staple";
const email = "traced@example.com";
const exporter = new InMemorySpanExporter();
/** Every secret and personal value a test sent or received: none may appear in any span. */
const secrets = new Set<string>([email, password, "127.0.0.1", "legacy-client"]);
const claimed = new Set<string>();

let h: Harness;
let grpc: ReturnType<typeof grpcJsClients>;

beforeAll(async () => {
  h = await startHarness(
    { EMAIL_VERIFICATION_REQUIRED: "false", REFRESH_REUSE_GRACE_SECONDS: "0", OTEL_TRACES_EXPORTER: "otlp" },
    undefined,
    { spanExporter: exporter },
  );
  grpc = grpcJsClients(h.url);
});
afterAll(async () => {
  grpc?.close();
  await h?.close();
});

const idOf = (span: ReadableSpan) => span.spanContext().spanId;
const traceOf = (span: ReadableSpan) => span.spanContext().traceId;

/**
 * The server span of the call just made, once it has ended (it ends when the response closes,
 * which can come a moment after the client has read the answer). Each span is claimed once.
 */
async function serverSpan(name: string): Promise<ReadableSpan> {
  for (let i = 0; i < 200; i++) {
    const found = exporter.getFinishedSpans().filter((s) => s.kind === SpanKind.SERVER && s.name === name && !claimed.has(idOf(s)));
    if (found.length > 1) throw new Error(`more than one unclaimed ${name} span`);
    const span = found[0];
    if (span !== undefined) {
      claimed.add(idOf(span));
      return span;
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`no server span ${name}; have ${exporter.getFinishedSpans().map((s) => s.name)}`);
}

/** The spans beneath a span, in the same trace, at any depth. */
function descendants(parent: ReadableSpan): ReadableSpan[] {
  const all = exporter.getFinishedSpans();
  const out: ReadableSpan[] = [];
  const walk = (id: string) => {
    for (const s of all) {
      if (s.parentSpanContext?.spanId === id && traceOf(s) === traceOf(parent)) {
        out.push(s);
        walk(idOf(s));
      }
    }
  };
  walk(idOf(parent));
  return out;
}

function requestLine(requestId: string): Record<string, unknown> {
  const lines = h.logs.filter((l) => l.msg === "request" && l.requestId === requestId);
  expect(lines).toHaveLength(1);
  return lines[0] as Record<string, unknown>;
}

async function waitForRequestLine(requestId: string): Promise<Record<string, unknown>> {
  for (let i = 0; i < 200 && !h.logs.some((l) => l.msg === "request" && l.requestId === requestId); i++) {
    await new Promise((r) => setTimeout(r, 10));
  }
  return requestLine(requestId);
}

let accessToken = "";
let refreshToken = "";

describe("tracing on", () => {
  it("makes one server span per Connect call, with its storage and hashing calls beneath it", async () => {
    const { auth } = connectClients(connectJsonTransport(h.url));
    const res = await auth.register({ email, password, displayName: "Traced" }, { headers: { "x-request-id": "traced-register" } });
    accessToken = res.tokens?.accessToken ?? "";
    refreshToken = res.tokens?.refreshToken ?? "";
    secrets
      .add(accessToken)
      .add(refreshToken)
      .add(res.user?.id ?? "never");

    const span = await serverSpan("auth.v1.AuthService/Register");
    expect(span.parentSpanContext).toBeUndefined(); // no traceparent sent: a new trace
    expect(span.attributes).toMatchObject({
      "rpc.system.name": "connectrpc",
      "rpc.method": "auth.v1.AuthService/Register",
      "rpc.status_code": "OK",
      "http.request.method": "POST",
      "http.response.status_code": 200,
      "network.protocol.version": "1.1",
    });
    expect(span.status.code).toBe(SpanStatusCode.UNSET);
    const beneath = descendants(span);
    const names = beneath.map((s) => s.name);
    expect(names).toContain("insert users");
    expect(names).toContain("insert sessions");
    expect(names).toContain("password.hash");
    const insert = beneath.find((s) => s.name === "insert users");
    expect(insert?.parentSpanContext?.spanId).toBe(idOf(span));
    expect(insert?.attributes).toEqual({ "db.collection.name": "users", "db.operation.name": "insert" });
    expect(insert?.kind).toBe(SpanKind.INTERNAL); // the embedded store: no remote call

    // The access-log line names the call's trace and span.
    const line = await waitForRequestLine("traced-register");
    expect(line.trace_id).toBe(traceOf(span));
    expect(line.span_id).toBe(idOf(span));
  });

  it("makes one server span per gRPC call: a refusal is the client's fault, not a failed span", async () => {
    await expect(
      grpcJsCall(grpc.auth, "login", { email, password: "wrong password entirely" }, { "x-request-id": "traced-login" }),
    ).rejects.toMatchObject({ code: 16 });

    const span = await serverSpan("auth.v1.AuthService/Login");
    expect(span.attributes).toMatchObject({
      "rpc.system.name": "grpc",
      "rpc.method": "auth.v1.AuthService/Login",
      "rpc.status_code": "UNAUTHENTICATED",
      "rpc.grpc.status_code": 16,
      "error.type": "INVALID_CREDENTIALS",
      "network.protocol.version": "2",
    });
    expect(span.status.code).toBe(SpanStatusCode.UNSET);
    const names = descendants(span).map((s) => s.name);
    expect(names).toContain("findByEmail users");
    expect(names).toContain("password.verify");
    expect(names).toContain("fail attempts");
    expect(await waitForRequestLine("traced-login")).toMatchObject({ trace_id: traceOf(span), span_id: idOf(span) });
  });

  it("continues an incoming W3C traceparent", async () => {
    const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
    const parentId = "00f067aa0ba902b7";
    await grpcJsCall(
      grpc.auth,
      "getCurrentUser",
      {},
      { authorization: `Bearer ${accessToken}`, traceparent: `00-${traceId}-${parentId}-01` },
    );

    const span = await serverSpan("auth.v1.AuthService/GetCurrentUser");
    expect(traceOf(span)).toBe(traceId);
    expect(span.parentSpanContext?.spanId).toBe(parentId);
    expect(span.parentSpanContext?.isRemote).toBe(true);
    const beneath = descendants(span);
    expect(beneath.map((s) => s.name)).toContain("findLive sessions");
    for (const child of beneath) expect(traceOf(child)).toBe(traceId);
  });

  it("follows the caller's sampling decision, and still names the trace in the access log", async () => {
    const traceId = "0af7651916cd43dd8448eb211c80319c";
    const before = exporter.getFinishedSpans().length;
    await grpcJsCall(
      grpc.auth,
      "getCurrentUser",
      {},
      { authorization: `Bearer ${accessToken}`, traceparent: `00-${traceId}-b7ad6b7169203331-00`, "x-request-id": "traced-unsampled" },
    );
    const line = await waitForRequestLine("traced-unsampled");
    expect(line.trace_id).toBe(traceId);
    expect(exporter.getFinishedSpans().length).toBe(before);
  });

  it("names a REST call after its route template, never the raw path", async () => {
    const other = await rest(h, "POST", "/api/v1/auth/login", { body: { email, password } });
    expect(other.status).toBe(200);
    const otherAccess = other.body.data.accessToken as string;
    refreshToken = other.body.data.refreshToken as string;
    secrets.add(otherAccess).add(refreshToken);
    const listed = await rest(h, "GET", "/api/v1/sessions", { token: otherAccess });
    const victim = (listed.body.data as Array<{ id: string; current: boolean }>).find((s) => !s.current)?.id ?? "";
    secrets.add(victim);

    const revoked = await rest(h, "DELETE", `/api/v1/sessions/${victim}`, {
      token: otherAccess,
      headers: { "x-request-id": "traced-rest" },
    });
    expect(revoked.status).toBe(200);
    const span = await serverSpan("DELETE /api/v1/sessions/:id");
    expect(span.attributes).toMatchObject({
      "http.route": "/api/v1/sessions/:id",
      "http.request.method": "DELETE",
      "http.response.status_code": 200,
    });
    expect(span.attributes["rpc.method"]).toBeUndefined();
    const names = descendants(span).map((s) => s.name);
    expect(names).toContain("findLive sessions");
    expect(names).toContain("revoke sessions");
    expect(await waitForRequestLine("traced-rest")).toMatchObject({ trace_id: traceOf(span), span_id: idOf(span) });
  });

  // OpenTelemetry's HTTP conventions: a method outside the known set is _OTHER, named HTTP. Taken
  // as sent, any HTTP/2 token (3,000 characters, sent in a byte or two once HPACK indexed it) went
  // into the span's name and attribute, to every exporter, on every request.
  it("a method no HTTP specification defines is _OTHER, not the client's token", async () => {
    const { h2Request } = await import("../support/wire.ts");
    const answer = await h2Request(h.url, "M".repeat(3000), "/auth/login", {});
    expect(answer.status).toBe(405);
    const span = await serverSpan("HTTP");
    expect(span.attributes["http.request.method"]).toBe("_OTHER");
    expect(JSON.stringify(span.attributes)).not.toContain("MMMM");
  });

  it("puts the call's trace id on every log line written during the call", async () => {
    // Spending a refresh token twice (no grace here) is reuse: the session is revoked and a
    // warning is logged inside the call.
    const { auth } = connectClients(connectJsonTransport(h.url));
    const rotated = await auth.refreshToken({ refreshToken });
    secrets.add(rotated.tokens?.accessToken ?? "").add(rotated.tokens?.refreshToken ?? "");
    await serverSpan("auth.v1.AuthService/RefreshToken");
    await expect(auth.refreshToken({ refreshToken })).rejects.toThrow();
    const reuse = await serverSpan("auth.v1.AuthService/RefreshToken");
    const warning = h.logs.find((l) => l.msg === "refresh token reuse: session revoked");
    expect(warning?.trace_id).toBe(traceOf(reuse));
    expect(warning?.span_id).toBe(idOf(reuse));
    // Lines written outside any call carry no trace.
    expect(h.logs.find((l) => typeof l.msg === "string" && l.msg.startsWith("listening"))?.trace_id).toBeUndefined();
  });

  it("carries no secret or personal value in any span", () => {
    const spans = exporter.getFinishedSpans();
    expect(spans.length).toBeGreaterThan(10);
    for (const span of spans) {
      const text = JSON.stringify({ name: span.name, attributes: span.attributes, events: span.events, status: span.status });
      for (const secret of secrets) {
        if (secret !== "") expect(text, span.name).not.toContain(secret);
      }
    }
  });

  it("makes no span for the probes, the gRPC health check or the JWKS", async () => {
    const before = exporter.getFinishedSpans().length;
    await fetch(`${h.url}/livez`).then((r) => r.arrayBuffer());
    await fetch(`${h.url}/.well-known/jwks.json`).then((r) => r.arrayBuffer());
    await fetch(`${h.url}/grpc.health.v1.Health/Check`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{}",
    }).then((r) => r.arrayBuffer());
    await fetch(`${h.url}/livez`, { headers: { "x-request-id": "traced-probe" } }).then((r) => r.arrayBuffer());
    expect((await waitForRequestLine("traced-probe")).trace_id).toBeUndefined();
    expect(exporter.getFinishedSpans().length).toBe(before);
  });
});

describe("tracing off (the default)", () => {
  it("creates no span, wraps nothing and writes no trace id", async () => {
    const unused = new InMemorySpanExporter();
    const off = await startHarness({ EMAIL_VERIFICATION_REQUIRED: "false" }, undefined, { spanExporter: unused });
    try {
      expect(off.server.deps.tracing).toBeUndefined();
      expect(off.server.deps.store).toBe(off.store); // the port, not a decorator over it
      const { auth } = connectClients(connectJsonTransport(off.url));
      await auth.register({ email, password }, { headers: { "x-request-id": "untraced" } });
      for (let i = 0; i < 200 && !off.logs.some((l) => l.requestId === "untraced"); i++) await new Promise((r) => setTimeout(r, 10));
      const line = off.logs.find((l) => l.msg === "request" && l.requestId === "untraced");
      expect(line).toBeDefined();
      expect(off.logs.every((l) => !("trace_id" in l))).toBe(true);
      expect(unused.getFinishedSpans()).toEqual([]);
    } finally {
      await off.close();
    }
  });
});

/**
 * Starts and stops the real server in a fresh Node process with these settings, and returns the
 * OpenTelemetry modules it loaded (a module hook sees every import, static or dynamic).
 */
async function otelModulesLoaded(env: Record<string, string>): Promise<string[]> {
  const script = `
    import { registerHooks } from "node:module";
    const loaded = [];
    registerHooks({ resolve(specifier, context, next) {
      const found = next(specifier, context);
      if (found.url.includes("/@opentelemetry/")) loaded.push(found.url);
      return found;
    } });
    const root = ${JSON.stringify(repoRoot)};
    const { loadConfig } = await import(root + "/src/config.ts");
    const { createLogger } = await import(root + "/src/log.ts");
    const { startServer } = await import(root + "/src/server/app.ts");
    const config = loadConfig({ PORT: "0", HOST: "127.0.0.1", ...${JSON.stringify(env)} }, () => "");
    const server = await startServer(config, { log: createLogger("silent") });
    await server.close();
    console.log(JSON.stringify(loaded));`;
  const { stdout } = await promisify(execFile)(process.execPath, ["--input-type=module", "-e", script], { cwd: repoRoot });
  return JSON.parse(stdout.trim().split("\n").at(-1) ?? "[]") as string[];
}

describe("start-up cost", () => {
  it("loads none of OpenTelemetry while tracing is off, and the SDK once it is on", async () => {
    expect(await otelModulesLoaded({})).toEqual([]);
    const on = await otelModulesLoaded({ OTEL_TRACES_EXPORTER: "none,console" });
    expect(on.some((url) => url.includes("/@opentelemetry/sdk-trace/"))).toBe(true);
    // The OTLP exporter (and its encoders) only for OTLP.
    expect(on.some((url) => url.includes("/@opentelemetry/exporter-trace-otlp-proto/"))).toBe(false);
  }, 60_000);
});

describe("OTLP export", () => {
  it("sends the spans as OTLP/HTTP protobuf to the configured collector, the last ones at shutdown", async () => {
    const received: Array<{ path: string; type: string; body: Buffer }> = [];
    const collector = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        received.push({ path: req.url ?? "", type: req.headers["content-type"] ?? "", body: Buffer.concat(chunks) });
        res.writeHead(200, { "content-type": "application/x-protobuf" }).end();
      });
    });
    await new Promise<void>((resolve) => collector.listen(0, "127.0.0.1", resolve));
    const { port } = collector.address() as AddressInfo;
    try {
      // A long batch delay: only the shutdown can have sent them.
      const otlp = await startHarness({
        EMAIL_VERIFICATION_REQUIRED: "false",
        OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`,
        OTEL_SERVICE_NAME: "authd-under-test",
        OTEL_BSP_SCHEDULE_DELAY: "600000",
      });
      const { auth } = connectClients(connectJsonTransport(otlp.url));
      await auth.register({ email: "otlp@example.com", password });
      expect(received).toEqual([]);
      await otlp.close();
      expect(received.length).toBeGreaterThan(0);
      expect(received[0]?.path).toBe("/v1/traces");
      expect(received[0]?.type).toBe("application/x-protobuf");
      // Protobuf carries strings as UTF-8 bytes: the names are there, the email is not.
      const body = Buffer.concat(received.map((r) => r.body));
      expect(body.includes("auth.v1.AuthService/Register")).toBe(true);
      expect(body.includes("insert users")).toBe(true);
      expect(body.includes("authd-under-test")).toBe(true);
      expect(body.includes("otlp@example.com")).toBe(false);
    } finally {
      collector.close();
    }
  });
});
