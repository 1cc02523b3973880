// Starts the real server on an ephemeral port, with an outbox instead of SMTP and a clock the test
// can move, and builds the clients its users would use.
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Writable } from "node:stream";
import { createClient, type Client, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import protobuf from "protobufjs";
import { AuthService } from "../../gen/auth/v1/auth_service_pb.js";
import { SessionService } from "../../gen/auth/v1/session_service_pb.js";
import { loadConfig, type Config } from "../../src/config.ts";
import { createLogger } from "../../src/log.ts";
import { createOutbox, type Mail, type MailKind, type Outbox } from "../../src/mail/mailer.ts";
import { startServer, type RunningServer } from "../../src/server/app.ts";
import { openTestStore } from "./stores.ts";
import type { Store } from "../../src/store/port.ts";

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const protoRoot = path.join(repoRoot, "proto");

export class TestClock {
  private t: number;
  constructor(start = Date.now()) {
    this.t = start;
  }
  now(): Date {
    return new Date(this.t);
  }
  advance(ms: number): void {
    this.t += ms;
  }
}

export interface Harness {
  server: RunningServer;
  store: Store;
  outbox: Outbox;
  clock: TestClock;
  /** Every log line the server wrote, parsed. */
  logs: Array<Record<string, unknown>>;
  url: string;
  close(): Promise<void>;
  /** Waits for the latest mail of a kind to an address (delivery may finish after the response). */
  mail(to: string, kind: MailKind): Promise<Mail>;
}

export async function startHarness(env: Record<string, string> = {}, store?: Store): Promise<Harness> {
  const config: Config = loadConfig(
    { PORT: "0", HOST: "127.0.0.1", LOG_LEVEL: "info", SHUTDOWN_GRACE_MS: "2000", ...env },
    () => {
      throw new Error("no files in tests");
    },
  );
  const logs: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString("utf8").split("\n")) {
        if (line.trim() !== "") logs.push(JSON.parse(line) as Record<string, unknown>);
      }
      done();
    },
  });
  const outbox = createOutbox();
  const clock = new TestClock();
  const theStore = store ?? (await openTestStore("harness"));
  const server = await startServer(config, { store: theStore, mailer: outbox, clock, log: createLogger("info", sink) });
  return {
    server,
    store: theStore,
    outbox,
    clock,
    logs,
    url: server.url,
    close: () => server.close(),
    async mail(to, kind) {
      for (let i = 0; i < 200; i++) {
        const m = outbox.latest(to, kind);
        if (m !== undefined) return m;
        await new Promise((r) => setTimeout(r, 10));
      }
      throw new Error(`no ${kind} mail to ${to}`);
    },
  };
}

export interface ConnectClients {
  auth: Client<typeof AuthService>;
  sessions: Client<typeof SessionService>;
}

export function connectClients(transport: Transport): ConnectClients {
  return { auth: createClient(AuthService, transport), sessions: createClient(SessionService, transport) };
}

/** Connect's Node client over the gRPC protocol (HTTP/2, prior knowledge). */
export const grpcTransport = (url: string) => createGrpcTransport({ baseUrl: url });
/** Connect protocol with JSON over HTTP/1.1, as a browser using Connect-Web would. */
export const connectJsonTransport = (url: string) =>
  createConnectTransport({ baseUrl: url, httpVersion: "1.1", useBinaryFormat: false });
/** gRPC-Web over HTTP/1.1. */
export const grpcWebTransport = (url: string) =>
  createGrpcWebTransport({ baseUrl: url, httpVersion: "1.1", useBinaryFormat: true });

export function bearer(accessToken: string): { headers: Record<string, string> } {
  return { headers: { authorization: `Bearer ${accessToken}` } };
}

// ---- @grpc/grpc-js: a client that knows nothing of Connect, built from the .proto files ----

type Callback = (err: grpc.ServiceError | null, res: Record<string, unknown>) => void;
type UnaryFn = (req: object, md: grpc.Metadata, cb: Callback) => void;
export type GrpcJsClient = grpc.Client & Record<string, UnaryFn>;

export function grpcJsClients(url: string): {
  auth: GrpcJsClient;
  sessions: GrpcJsClient;
  twoFactor: GrpcJsClient;
  close(): void;
} {
  const def = protoLoader.loadSync(["auth/v1/auth_service.proto", "auth/v1/session_service.proto", "auth/v1/two_factor_service.proto"], {
    includeDirs: [protoRoot],
    keepCase: false,
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  const pkg = grpc.loadPackageDefinition(def) as unknown as {
    auth: { v1: Record<string, new (addr: string, creds: grpc.ChannelCredentials) => GrpcJsClient> } };
  const target = new URL(url).host;
  const AuthCtor = pkg.auth.v1.AuthService;
  const SessionCtor = pkg.auth.v1.SessionService;
  const TwoFactorCtor = pkg.auth.v1.TwoFactorService;
  if (AuthCtor === undefined || SessionCtor === undefined || TwoFactorCtor === undefined) {
    throw new Error("services missing from proto");
  }
  const auth = new AuthCtor(target, grpc.credentials.createInsecure());
  const sessions = new SessionCtor(target, grpc.credentials.createInsecure());
  const twoFactor = new TwoFactorCtor(target, grpc.credentials.createInsecure());
  return { auth, sessions, twoFactor, close: () => (auth.close(), sessions.close(), twoFactor.close()) };
}

/** Calls a grpc-js unary method as a promise. */
export function grpcJsCall(
  client: GrpcJsClient,
  method: string,
  req: object,
  token?: string,
): Promise<Record<string, unknown>> {
  const md = new grpc.Metadata();
  if (token !== undefined) md.set("authorization", `Bearer ${token}`);
  return new Promise((resolve, reject) => {
    const fn = client[method];
    if (fn === undefined) throw new Error(`no method ${method}`);
    fn.call(client, req, md, (err, res) => (err !== null ? reject(err) : resolve(res)));
  });
}

// Decodes grpc-status-details-bin (google.rpc.Status with Any details) with protobufjs, an
// implementation independent of the server's.
export const statusRoot = protobuf.parse(`
syntax = "proto3";
package google.rpc;
message Any { string type_url = 1; bytes value = 2; }
message Status { int32 code = 1; string message = 2; repeated Any details = 3; }
message ErrorInfo { string reason = 1; string domain = 2; map<string, string> metadata = 3; }
`, { keepCase: true }).root;

export function grpcJsReason(err: grpc.ServiceError): { code: number; reason: string | undefined; metadata: Record<string, string> } {
  const raw = err.metadata.get("grpc-status-details-bin")[0];
  if (raw === undefined) return { code: err.code, reason: undefined, metadata: {} };
  const Status = statusRoot.lookupType("google.rpc.Status");
  const ErrorInfo = statusRoot.lookupType("google.rpc.ErrorInfo");
  const status = Status.toObject(Status.decode(raw as Buffer)) as { details?: Array<{ type_url: string; value: Uint8Array }> };
  const info = (status.details ?? []).find((d) => d.type_url === "type.googleapis.com/google.rpc.ErrorInfo");
  if (info === undefined) return { code: err.code, reason: undefined, metadata: {} };
  const decoded = ErrorInfo.toObject(ErrorInfo.decode(info.value)) as { reason: string; metadata?: Record<string, string> };
  return { code: err.code, reason: decoded.reason, metadata: decoded.metadata ?? {} };
}

/**
 * A checkpoint a test places inside a store call: `reached` resolves when the call gets there, and
 * the call waits until the test calls `release()`. Lets a test interleave requests exactly.
 */
export interface Gate {
  reached: Promise<void>;
  release(): void;
  /** Called from inside the store call. */
  pass(): Promise<void>;
}

export function createGate(): Gate {
  let arrive!: () => void;
  let open!: () => void;
  const reached = new Promise<void>((r) => (arrive = r));
  const opened = new Promise<void>((r) => (open = r));
  return {
    reached,
    release: () => open(),
    async pass() {
      arrive();
      await opened;
    },
  };
}
