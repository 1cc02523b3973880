// Starts the real server on an ephemeral port, with an outbox instead of SMTP and a clock the test
// can move, and builds the clients its users would use.
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Writable } from "node:stream";
import { createClient, type Client, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { AuthService } from "../../gen/auth/v1/auth_service_pb.js";
import { SessionService } from "../../gen/auth/v1/session_service_pb.js";
import { loadConfig, type Config } from "../../src/config.ts";
import { createLogger } from "../../src/log.ts";
import { createOutbox, type MailKind, type MailOf, type Outbox } from "../../src/mail/mailer.ts";
import { startServer, type RunningServer } from "../../src/server/app.ts";
import { createCheapHasher } from "./cheap-hasher.ts";
import { openTestStore } from "./stores.ts";
import type { Store } from "../../src/store/port.ts";
import type { SpanExporter } from "@opentelemetry/sdk-trace";

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

const fixtures = path.join(repoRoot, "test/fixtures");
/**
 * The tests' TLS certificate (test/fixtures, for localhost and 127.0.0.1): the settings that make
 * the server serve it, and the CA a client trusts it by.
 */
export const testTls = {
  env: { TLS_CERT_FILE: path.join(fixtures, "tls-cert.pem"), TLS_KEY_FILE: path.join(fixtures, "tls-key.pem") },
  ca: readFileSync(path.join(fixtures, "tls-cert.pem")),
};
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
  mail<K extends MailKind>(to: string, kind: K): Promise<MailOf<K>>;
}

export interface HarnessOptions {
  /**
   * Hash with the production hasher built from the ARGON2_* settings (19456 KiB, t=2, p=1 unless
   * the env says otherwise), for the tests that check those parameters or the upgrade of hashes
   * made with other ones. Default: the cheap one in cheap-hasher.ts (argon2id, m=256 KiB, t=1).
   */
  realHasher?: boolean;
  /** Where spans go when the env turns tracing on (OTEL_TRACES_EXPORTER). */
  spanExporter?: SpanExporter;
  /** Let the configuration read the files the env names (*_FILE settings); by default it may not. */
  readFiles?: boolean;
}

export async function startHarness(env: Record<string, string> = {}, store?: Store, options: HarnessOptions = {}): Promise<Harness> {
  // The hasher's settings would be silently ignored; ARGON2_MAX_PER_CLIENT is the password check's
  // (passwords/check.ts), which runs whatever the hasher.
  const argon2Keys = Object.keys(env).filter((k) => k.startsWith("ARGON2_") && k !== "ARGON2_MAX_PER_CLIENT");
  if (argon2Keys.length > 0 && options.realHasher !== true) {
    throw new Error(`${argon2Keys.join(", ")} given to a harness with the cheap hasher: pass { realHasher: true }`);
  }
  // A short shutdown grace: the server's close() waits out the whole grace whenever an HTTP/1.1
  // keep-alive connection (fetch, Connect JSON) is still open, even idle (its HTTP/1.1 server is
  // fed sockets by hand and never listens, so closeIdleConnections() does not see them), and every
  // call a test makes has finished before it closes the harness. The graceful-shutdown test sets
  // its own.
  // Every test's requests come from 127.0.0.1: the per-client mail limit is off unless a test
  // turns it on.
  const defaults = { PORT: "0", HOST: "127.0.0.1", LOG_LEVEL: "info", SHUTDOWN_GRACE_MS: "250", MAIL_MAX_PER_CLIENT_PER_HOUR: "0" };
  const config: Config = loadConfig({ ...defaults, ...env }, (file) => {
    if (options.readFiles === true) return readFileSync(file, "utf8");
    throw new Error("no files in tests");
  });
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
  const hasher = options.realHasher === true ? undefined : await createCheapHasher();
  const server = await startServer(config, {
    store: theStore,
    hasher,
    mailer: outbox,
    clock,
    log: createLogger("info", sink),
    spanExporter: options.spanExporter,
  });
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
export const connectJsonTransport = (url: string) => createConnectTransport({ baseUrl: url, httpVersion: "1.1", useBinaryFormat: false });
/** gRPC-Web over HTTP/1.1. */
export const grpcWebTransport = (url: string) => createGrpcWebTransport({ baseUrl: url, httpVersion: "1.1", useBinaryFormat: true });

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
  serviceAccounts: GrpcJsClient;
  tokens: GrpcJsClient;
  admin: GrpcJsClient;
  emailSignIn: GrpcJsClient;
  passkeys: GrpcJsClient;
  close(): void;
} {
  const def = protoLoader.loadSync(
    [
      "auth/v1/auth_service.proto",
      "auth/v1/session_service.proto",
      "auth/v1/two_factor_service.proto",
      "auth/v1/service_account_service.proto",
      "auth/v1/token_service.proto",
      "auth/v1/admin_service.proto",
      "auth/v1/email_sign_in_service.proto",
      "auth/v1/passkey_service.proto",
    ],
    {
      includeDirs: [protoRoot],
      keepCase: false,
      longs: String,
      enums: String,
      defaults: true,
      oneofs: true,
    },
  );
  const pkg = grpc.loadPackageDefinition(def) as unknown as {
    auth: { v1: Record<string, new (addr: string, creds: grpc.ChannelCredentials) => GrpcJsClient> };
  };
  const target = new URL(url).host;
  const make = (name: string): GrpcJsClient => {
    const Ctor = pkg.auth.v1[name];
    if (Ctor === undefined) throw new Error(`${name} missing from proto`);
    return new Ctor(target, grpc.credentials.createInsecure());
  };
  const clients = {
    auth: make("AuthService"),
    sessions: make("SessionService"),
    twoFactor: make("TwoFactorService"),
    serviceAccounts: make("ServiceAccountService"),
    tokens: make("TokenService"),
    admin: make("AdminService"),
    emailSignIn: make("EmailSignInService"),
    passkeys: make("PasskeyService"),
  };
  return {
    ...clients,
    close: () => {
      for (const client of Object.values(clients)) client.close();
    },
  };
}

/** Calls a grpc-js unary method as a promise, with these headers as request metadata. */
export function grpcJsCall(
  client: GrpcJsClient,
  method: string,
  req: object,
  headers: Record<string, string> = {},
): Promise<Record<string, unknown>> {
  const md = new grpc.Metadata();
  for (const [name, value] of Object.entries(headers)) md.set(name, value);
  return new Promise((resolve, reject) => {
    const fn = client[method];
    if (fn === undefined) throw new Error(`no method ${method}`);
    fn.call(client, req, md, (err, res) => (err !== null ? reject(err) : resolve(res)));
  });
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
