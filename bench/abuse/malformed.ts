// A bounded abuse script, not a test: sends N malformed requests of many kinds over every protocol
// (REST on every declared route, Connect JSON, gRPC over HTTP/2, gRPC-Web) and every RPC, to one
// in-process server, then prints how many access-log lines it wrote against how many requests
// reached it, how many answers were 5xx or gRPC INTERNAL/UNKNOWN (must be 0), and whether the log
// stayed JSON with no process warning. Run: npm run bench:malformed  (N=20000 for the outside
// tester's scale; default 3000). Prints figures for a person to read.
import http2 from "node:http2";
import net from "node:net";
import { Writable } from "node:stream";
import { brotliCompressSync, gzipSync } from "node:zlib";
import { AuthService } from "../../gen/auth/v1/auth_service_pb.js";
import { SessionService } from "../../gen/auth/v1/session_service_pb.js";
import { TwoFactorService } from "../../gen/auth/v1/two_factor_service_pb.js";
import { loadConfig } from "../../src/config.ts";
import { createLogger } from "../../src/log.ts";
import { createOutbox } from "../../src/mail/mailer.ts";
import { routes } from "../../src/rest/routes/index.ts";
import { startServer } from "../../src/server/app.ts";
import { createCheapHasher } from "../../test/support/cheap-hasher.ts";
import { frame, grpcWebTrailer } from "../../test/support/wire.ts";

const total = Number(process.env.N ?? 3000);
const concurrency = Number(process.env.CONCURRENCY ?? 16);

let logLines = 0;
let requestLines = 0;
let nonJson = 0;
const byProtocol = new Map<string, number>();
const sink = new Writable({
  write(chunk: Buffer, _enc, done) {
    for (const line of chunk.toString("utf8").split("\n")) {
      if (line.trim() === "") continue;
      logLines++;
      try {
        const entry = JSON.parse(line) as { msg?: string; protocol?: string };
        if (entry.msg === "request") {
          requestLines++;
          byProtocol.set(entry.protocol ?? "?", (byProtocol.get(entry.protocol ?? "?") ?? 0) + 1);
        }
      } catch {
        nonJson++;
      }
    }
    done();
  },
});
const warnings: string[] = [];
process.on("warning", (w) => warnings.push(`${w.name}: ${w.message}`));

const config = loadConfig(
  {
    PORT: "0",
    HOST: "127.0.0.1",
    LOG_LEVEL: "info",
    EMAIL_VERIFICATION_REQUIRED: "false",
    MAX_BODY_BYTES: "4096",
    SHUTDOWN_GRACE_MS: "500",
  },
  () => "",
);
const server = await startServer(config, { hasher: await createCheapHasher(), mailer: createOutbox(), log: createLogger("info", sink) });
const url = server.url;
const port = server.port;

// A live session cookie, for forged cross-site requests.
const reg = await fetch(`${url}/auth/register`, {
  method: "POST",
  headers: { "content-type": "application/json" },
  body: JSON.stringify({ email: "abuser@example.com", password: "correct horse battery staple" }),
});
await reg.arrayBuffer();
const login = await fetch(`${url}/auth/login`, {
  method: "POST",
  headers: { "content-type": "application/json" },
  body: JSON.stringify({ email: "abuser@example.com", password: "correct horse battery staple" }),
});
await login.arrayBuffer();
const cookie = /(session=[^;]*)/.exec(login.headers.get("set-cookie") ?? "")?.[1] ?? "";
const setupRequests = 2;

/** What the client saw: an HTTP status and, for gRPC, the grpc-status. */
interface Seen {
  status: number;
  grpcStatus?: number;
  aborted?: boolean;
}
type Kind = { name: string; protocol: string; send(): Promise<Seen> };

const junk = Buffer.from("\u0000\u00ff junk {[ not anything");
const big = Buffer.alloc(8192, 0x61);
const json = { "content-type": "application/json" };

async function http1(method: string, path: string, headers: Record<string, string>, body?: Uint8Array | string): Promise<Seen> {
  const res = await fetch(`${url}${path}`, { method, headers, body: method === "GET" || method === "HEAD" ? undefined : body });
  const bytes = new Uint8Array(await res.arrayBuffer());
  const ct = res.headers.get("content-type") ?? "";
  if (ct.startsWith("application/grpc-web")) return { status: res.status, grpcStatus: Number(grpcWebTrailer(bytes)["grpc-status"] ?? -1) };
  return { status: res.status };
}

let session: http2.ClientHttp2Session | undefined;
function h2(path: string, headers: Record<string, string>, body: Uint8Array): Promise<Seen> {
  if (session === undefined || session.closed || session.destroyed) {
    session = http2.connect(url);
    session.on("error", () => undefined);
  }
  const s = session;
  return new Promise((resolve) => {
    const req = s.request({ ":method": "POST", ":path": path, "content-type": "application/grpc", te: "trailers", ...headers });
    let status = 0;
    let grpcStatus: number | undefined;
    req.on("response", (h) => {
      status = Number(h[":status"]);
      if (h["grpc-status"] !== undefined) grpcStatus = Number(h["grpc-status"]);
    });
    req.on("trailers", (t) => (grpcStatus = Number(t["grpc-status"])));
    req.on("data", () => undefined);
    req.on("error", () => undefined);
    req.on("close", () => resolve(status === 0 ? { status, aborted: true } : { status, grpcStatus }));
    req.end(body);
  });
}

/** Declares a body and hangs up half-way through it. */
function abandon(path: string): Promise<Seen> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1", () => {
      socket.write(`POST ${path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 500\r\n\r\n{"email":`);
      setTimeout(() => socket.destroy(), 20);
    });
    socket.on("error", () => undefined);
    socket.on("close", () => resolve({ status: 0, aborted: true }));
  });
}

const kinds: Kind[] = [];
// REST: every declared route, with the refusals of each step of the pipeline.
for (const r of routes) {
  const path = r.path.replace(/:\w+/g, "%E0%A4%A");
  const other = r.method === "DELETE" ? "PUT" : "DELETE";
  const add = (name: string, send: () => Promise<Seen>) => kinds.push({ name: `${r.method} ${r.path}: ${name}`, protocol: "rest", send });
  add("wrong method", () => http1(other, path, json, "{}"));
  add("unknown sub-path", () => http1(r.method, `${path}/%%zz/../x`, json, "{}"));
  if (r.method === "GET") {
    add("repeated query field", () => http1("GET", `${path}?code=a&code=b`, {}));
    add("forged cookie", () => http1("GET", path, { cookie, origin: "https://evil.example" }));
    continue;
  }
  add("text/plain", () => http1(r.method, path, { "content-type": "text/plain" }, junk));
  add("malformed JSON", () => http1(r.method, path, json, '{"email":'));
  add("JSON array", () => http1(r.method, path, json, "[1,2,3]"));
  add("wrong field types", () =>
    http1(r.method, path, json, JSON.stringify(Object.fromEntries(Object.keys(r.body ?? { x: 1 }).map((k) => [k, { $gt: "" }])))),
  );
  add("oversize", () => http1(r.method, path, json, big));
  add("gzip junk", () => http1(r.method, path, { ...json, "content-encoding": "gzip" }, junk));
  add("forged text/plain with cookie", () => http1(r.method, path, { cookie, "content-type": "text/plain" }, junk));
  add("bad bearer", () => http1(r.method, path, { ...json, authorization: "Bearer eyJhbGciOiJub25lIn0.e30." }, "{}"));
}
// RPC: every method of the three services, over Connect JSON, gRPC and gRPC-Web.
for (const service of [AuthService, SessionService, TwoFactorService]) {
  for (const m of service.methods) {
    const path = `/${service.typeName}/${m.name}`;
    const add = (protocol: string, name: string, send: () => Promise<Seen>) =>
      kinds.push({ name: `${protocol} ${path}: ${name}`, protocol, send });
    add("connect", "malformed JSON", () => http1("POST", path, json, '{"email":'));
    add("connect", "wrong types", () => http1("POST", path, json, JSON.stringify({ email: 5, password: [], code: {}, deviceId: true })));
    add("connect", "gzip junk", () => http1("POST", path, { ...json, "content-encoding": "gzip" }, junk));
    add("connect", "truncated gzip", () => http1("POST", path, { ...json, "content-encoding": "gzip" }, gzipSync("{}").subarray(0, 8)));
    add("connect", "br junk", () => http1("POST", path, { ...json, "content-encoding": "br" }, junk));
    add("connect", "zstd", () => http1("POST", path, { ...json, "content-encoding": "zstd" }, junk));
    add("connect", "oversize", () => http1("POST", path, json, big));
    add("connect", "unsupported type", () => http1("POST", path, { "content-type": "text/xml" }, junk));
    add("connect", "bad timeout", () => http1("POST", path, { ...json, "connect-timeout-ms": "soon" }, "{}"));
    add("connect", "huge timeout", () => http1("POST", path, { ...json, "connect-timeout-ms": "9999999999" }, "{}"));
    add("connect", "GET", () => http1("GET", `${path}?message=%7B&encoding=json`, {}));
    add("connect", "abandoned body", () => abandon(path));
    add("grpc", "junk protobuf", () => h2(path, {}, frame(0, junk)));
    add("grpc", "frame shorter than declared", () => h2(path, {}, frame(0, junk).subarray(0, 12)));
    add("grpc", "compressed without encoding", () => h2(path, {}, frame(1, junk)));
    add("grpc", "gzip junk", () => h2(path, { "grpc-encoding": "gzip" }, frame(1, junk)));
    add("grpc", "truncated br", () => h2(path, { "grpc-encoding": "br" }, frame(1, brotliCompressSync(big).subarray(0, 10))));
    add("grpc", "deflate", () => h2(path, { "grpc-encoding": "deflate" }, frame(1, junk)));
    add("grpc", "huge timeout", () => h2(path, { "grpc-timeout": "99999999H" }, frame(0, new Uint8Array())));
    add("grpc", "bad timeout", () => h2(path, { "grpc-timeout": "1X" }, frame(0, new Uint8Array())));
    add("grpc", "oversize", () => h2(path, {}, frame(0, big)));
    add("grpc-web", "junk protobuf", () => http1("POST", path, { "content-type": "application/grpc-web+proto" }, frame(0, junk)));
    add("grpc-web", "gzip junk", () =>
      http1("POST", path, { "content-type": "application/grpc-web+proto", "grpc-encoding": "gzip" }, frame(1, junk)),
    );
  }
}
kinds.push({ name: "unknown path", protocol: "http", send: () => http1("POST", "/x/../../etc/passwd", json, "{}") });
kinds.push({ name: "unknown RPC", protocol: "http", send: () => h2("/auth.v1.AuthService/Nope", {}, frame(0, junk)) });

const seen = { requests: 0, fivexx: 0, unimplemented: 0, grpcInternal: 0, aborted: 0, failedToSend: 0 };
const worst = new Map<string, number>();
let next = 0;
const started = performance.now();
async function worker(): Promise<void> {
  while (next < total) {
    const kind = kinds[next++ % kinds.length];
    if (kind === undefined) continue;
    seen.requests++;
    try {
      const r = await kind.send();
      if (r.aborted === true) seen.aborted++;
      // The Connect protocol maps UNIMPLEMENTED (an encoding the server does not offer, which the
      // specification says to answer so) to HTTP 501: counted apart, it is no server failure.
      if (r.status === 501 && kind.protocol === "connect") seen.unimplemented++;
      else if (r.status >= 500) {
        seen.fivexx++;
        worst.set(kind.name, r.status);
      }
      if (r.grpcStatus === 13 || r.grpcStatus === 2) {
        seen.grpcInternal++;
        worst.set(kind.name, r.grpcStatus);
      }
    } catch (err) {
      seen.failedToSend++;
      worst.set(`${kind.name} (${err instanceof Error ? err.message : String(err)})`, -1);
    }
  }
}
await Promise.all(Array.from({ length: concurrency }, () => worker()));
const seconds = (performance.now() - started) / 1000;
session?.close();
await server.close(); // every response has closed, so every access line is written

const reached = seen.requests + setupRequests;
console.log(`kinds of malformed request: ${kinds.length} (${routes.length} REST routes, every RPC of 3 services, 4 protocols)`);
console.log(`requests sent: ${seen.requests} (+${setupRequests} setup) in ${seconds.toFixed(1)} s, ${concurrency} in flight`);
console.log(`access-log lines: ${requestLines} for ${reached} requests (${[...byProtocol].map(([p, n]) => `${p} ${n}`).join(", ")})`);
console.log(
  `answers 5xx: ${seen.fivexx} (and ${seen.unimplemented} Connect 501 unimplemented for zstd, as the spec says); gRPC INTERNAL/UNKNOWN: ${seen.grpcInternal}; abandoned by the client: ${seen.aborted}; failed to send: ${seen.failedToSend}`,
);
console.log(
  `log lines in all: ${logLines}, not JSON: ${nonJson}; process warnings: ${warnings.length}${warnings.length > 0 ? ` (${warnings[0]})` : ""}`,
);
for (const [name, status] of worst) console.log(`  ${status}: ${name}`);
const ok = requestLines === reached && seen.fivexx === 0 && seen.grpcInternal === 0 && nonJson === 0 && warnings.length === 0;
console.log(ok ? "PASS: one line per request, no 5xx, the log stays JSON" : "FAIL");
process.exitCode = ok ? 0 : 1;
