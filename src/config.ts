// Configuration is read from the environment once, at start-up, into a typed object. A bad value
// stops the server with a message naming the variable.

import { type KeyObject, X509Certificate } from "node:crypto";
import { AuthError } from "./errors.ts";
import { normalizeEmail } from "./input.ts";
import { adminRole, defaultRoleMap, parseRoleMap, type RoleMap } from "./permissions/permissions.ts";
import { checkSecureUrl, parseOidcProviders, type OidcSettings } from "./oidc-providers.ts";
import { MongoUriError, checkDatabaseName, planMongoConnection, type MongoConnectionPlan } from "./store/mongo/connection-plan.ts";
import { parsePrivateKey, parsePublicKeys, samePublicKey } from "./tokens/keys.ts";

export interface Config {
  port: number;
  host: string;
  /** How to reach MongoDB (the URI as the driver parsed it, pinned options); undefined: embedded store. */
  mongodb: MongoConnectionPlan | undefined;
  /**
   * TLS on the port; with `clientCaPem` (TLS_CLIENT_CA_FILE), client certificates that CA signed
   * authenticate service accounts (mTLS, src/service-accounts/principal.ts).
   */
  tls: { certFile: string; keyFile: string; clientCaPem: string | undefined } | undefined;
  corsAllowedOrigins: string[];
  /** How many reverse proxies in front of us append to X-Forwarded-For (0: ignore the header). */
  trustProxyHops: number;
  maxBodyBytes: number;
  shutdownGraceMs: number;
  /**
   * Plain unary calls take the RPC fast path (rpc/unary.ts); false sends every call through
   * Connect's own handler, the way to rule the fast path out if a client ever answers differently.
   */
  rpcFastPath: boolean;
  /** Connection and protocol limits against slow or abusive clients; 0 turns a limit off. */
  limits: ConnectionLimits;
  /**
   * Where the Prometheus metrics are served: on their own plain-HTTP port (`port`, on `host`), or
   * without one on the main port, where the bearer `token` is then required. Undefined: metrics
   * are off (neither METRICS_PORT nor METRICS_TOKEN is set).
   */
  metrics: { port: number | undefined; host: string; token: string | undefined } | undefined;
  logLevel: "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent";
  jwt: {
    /**
     * The signing keys, Ed25519 or P-256: `current` signs (undefined: generate one, development),
     * `next` is published ahead of signing, `previous` still verify; see "Rotating the signing key".
     */
    keys: { current: KeyObject | undefined; next: KeyObject | undefined; previous: KeyObject[] };
    /** The JWKS's Cache-Control max-age: how long verifiers may go without seeing a newly published key. */
    jwksMaxAgeSeconds: number;
    issuer: string;
    audience: string;
    accessTokenTtlSeconds: number;
    /**
     * Access tokens whose signature check is remembered until they expire (0: none), so that a
     * token is checked once, not on every call; the session is still checked on every call.
     */
    accessTokenCacheSize: number;
  };
  refreshTokenTtlSeconds: number;
  refreshTokenTtlRememberMeSeconds: number;
  /** No session lives longer than this from sign-in, however often it is refreshed. */
  sessionMaxLifetimeSeconds: number;
  /** Live sessions a user may hold; opening one more revokes the oldest. */
  maxSessionsPerUser: number;
  /** How long a spent refresh token is remembered, so that presenting it again revokes its session. */
  refreshReuseDetectionSeconds: number;
  /**
   * How long after a refresh the token it spent may be presented again and get the same new pair
   * (two tabs, a retry) instead of revoking the session; 0 disables.
   */
  refreshReuseGraceSeconds: number;
  argon2: { memoryKiB: number; timeCost: number; parallelism: number };
  /**
   * Failed password guesses per account from clients without a known-device token before those
   * clients are refused; 0 disables the limit.
   */
  loginMaxFailures: number;
  /** How long failures are remembered, and how long a reached limit locks. */
  loginLockSeconds: number;
  /** Failed password guesses per client address, across accounts; 0 disables the limit. */
  loginAddressMaxFailures: number;
  /** Failed password guesses per known device; 0 disables the limit. */
  loginDeviceMaxFailures: number;
  /** The account's bound per hour, half for strangers and half for known devices; 0 disables it. */
  loginAccountMaxFailuresPerHour: number;
  /** How long a known-device token stays valid (each sign-in renews it). */
  deviceTokenTtlSeconds: number;
  registrationEnabled: boolean;
  emailVerificationRequired: boolean;
  emailVerificationTtlSeconds: number;
  passwordResetTtlSeconds: number;
  /** Passwordless sign-in by email (EMAIL_SIGN_IN); undefined: off (the default). See src/sign-in/email.ts. */
  emailSignIn: EmailSignInSettings | undefined;
  smtpUrl: string | undefined;
  mailFrom: string;
  /** Hourly mail budgets (0: no limit); see src/mail/limits.ts. */
  mailLimits: {
    perAddressPerHour: number;
    perClientPerHour: number;
    notificationsPerAddressPerHour: number;
  };
  /** Whether the REST session cookie is marked Secure (HTTPS only). */
  sessionCookieSecure: boolean;
  /**
   * The server's 32-byte symmetric secret, from which the TOTP encryption, recovery-code hashing
   * and session-cookie keys are derived; undefined means generate one (development).
   */
  serverSecret: Buffer | undefined;
  /** How long a login challenge (password right, second factor pending) lives. */
  loginChallengeTtlSeconds: number;
  /**
   * Passkeys (WebAuthn): the relying party the browser checks credentials against; undefined when
   * off (WEBAUTHN_RP_ID and WEBAUTHN_ORIGINS unset).
   */
  webauthn: WebAuthnSettings | undefined;
  /**
   * How long after signing in a session may make high-value changes (delete the account, remove a
   * sign-in method or an authenticator) without proving the password and second factor again.
   */
  reauthMaxAgeSeconds: number;
  /**
   * The Have I Been Pwned range (k-anonymity) check of new passwords; undefined when off (the
   * default). It fails open: when the API cannot answer, the local rules alone decide.
   */
  pwnedPasswords: { url: string; timeoutMs: number; minCount: number } | undefined;
  twoFactor: {
    /** Shown by authenticator apps next to the account (the otpauth issuer). */
    issuer: string;
    /** Wrong second-factor codes before the second factor locks. */
    maxFailures: number;
    /** How long wrong codes are remembered, and how long a reached limit locks. */
    lockSeconds: number;
    /** How long a secret from Setup or Reset stays confirmable. */
    setupTtlSeconds: number;
  };
  /** OpenTelemetry tracing from the standard OTEL_* variables; undefined when off (the default). */
  tracing: TracingSettings | undefined;
  /** What each role may do (ROLES or ROLES_FILE); src/permissions/ has the default map. */
  roles: RoleMap;
  /**
   * Normalized emails whose accounts get the admin role once the address is verified, at start-up
   * and when it is verified (ADMIN_EMAILS): the first administrator without editing the database.
   */
  adminEmails: string[];
  /** How long audit events are kept (each carries its own expiry, set when recorded). */
  auditRetentionDays: number;
  /** Sign-in with OpenID Connect providers (OIDC_PROVIDERS); undefined when off (the default). */
  oidc: OidcSettings | undefined;
}

export type TracesExporter = "otlp" | "console";
export type TracesSampler =
  | "always_on"
  | "always_off"
  | "traceidratio"
  | "parentbased_always_on"
  | "parentbased_always_off"
  | "parentbased_traceidratio";

export interface TracingSettings {
  /** Where finished spans go (OTEL_TRACES_EXPORTER); never empty. */
  exporters: TracesExporter[];
  /** The OTLP/HTTP (protobuf) traces URL; headers, timeout and compression the exporter reads itself. */
  otlpUrl: string;
  serviceName: string;
  /** OTEL_RESOURCE_ATTRIBUTES, decoded; OTEL_SERVICE_NAME wins over a service.name given here. */
  resourceAttributes: Record<string, string>;
  sampler: TracesSampler;
  /** The ratio of the traceidratio samplers, 0 to 1. */
  samplerRatio: number;
  /** Whether an incoming W3C traceparent is continued (OTEL_PROPAGATORS names tracecontext). */
  propagate: boolean;
  /** The batch span processor that feeds the OTLP exporter (OTEL_BSP_*). */
  batch: { scheduledDelayMillis: number; exportTimeoutMillis: number; maxQueueSize: number; maxExportBatchSize: number };
}

export interface ConnectionLimits {
  /** Open connections in all; one more is closed at once. */
  maxConnections: number;
  /** Open connections from one client address (the socket's, so a proxy's when behind one). */
  maxConnectionsPerAddress: number;
  /** Time from the first byte of an HTTP/1.1 request to the end of its headers. */
  headersTimeoutMs: number;
  /** Time from the first byte of an HTTP/1.1 request to the end of its body. */
  requestTimeoutMs: number;
  /** Slowest HTTP/1.1 request body accepted, measured over each `bodyRateWindowMs`. */
  minBodyBytesPerSecond: number;
  bodyRateWindowMs: number;
  /** SETTINGS_MAX_CONCURRENT_STREAMS announced to HTTP/2 clients. */
  http2MaxConcurrentStreams: number;
  /** Streams an HTTP/2 client may cancel (RST_STREAM) per window, on one connection and from one address. */
  http2MaxResetsPerConnection: number;
  http2MaxResetsPerAddress: number;
  http2ResetWindowMs: number;
  /**
   * Whether the address of a connection shed for HTTP/2 abuse is refused for the rest of the
   * window. Not behind a proxy, where every client shares the proxy's address.
   */
  shedAddresses: boolean;
}

function connectionLimits(env: Env, trustProxyHops: number): ConnectionLimits {
  // Behind a reverse proxy every client arrives from the proxy's address, over HTTP/2 often on
  // one connection it shares among them all: a cap or a ban per address would fall on everyone
  // at once. There the per-address limits are off unless set explicitly, and no address is shed.
  const direct = trustProxyHops === 0;
  const limits: ConnectionLimits = {
    maxConnections: int(env, "MAX_CONNECTIONS", 800, 0, 1_000_000),
    maxConnectionsPerAddress: int(env, "MAX_CONNECTIONS_PER_ADDRESS", direct ? 100 : 0, 0, 1_000_000),
    headersTimeoutMs: int(env, "HTTP_HEADERS_TIMEOUT_MS", 10_000, 0, 600_000),
    requestTimeoutMs: int(env, "HTTP_REQUEST_TIMEOUT_MS", 30_000, 0, 3_600_000),
    minBodyBytesPerSecond: int(env, "HTTP_MIN_BODY_BYTES_PER_SECOND", 1024, 0, 100_000_000),
    bodyRateWindowMs: int(env, "HTTP_BODY_RATE_WINDOW_MS", 5_000, 10, 600_000),
    http2MaxConcurrentStreams: int(env, "HTTP2_MAX_CONCURRENT_STREAMS", 128, 1, 10_000),
    http2MaxResetsPerConnection: int(env, "HTTP2_MAX_RESETS_PER_CONNECTION", 200, 0, 1_000_000),
    http2MaxResetsPerAddress: int(env, "HTTP2_MAX_RESETS_PER_ADDRESS", direct ? 1000 : 0, 0, 10_000_000),
    http2ResetWindowMs: int(env, "HTTP2_RESET_WINDOW_MS", 10_000, 100, 3_600_000),
    shedAddresses: direct,
  };
  // Node refuses a header timeout longer than the whole-request timeout.
  if (limits.requestTimeoutMs > 0 && limits.headersTimeoutMs > limits.requestTimeoutMs) {
    throw new ConfigError("HTTP_HEADERS_TIMEOUT_MS", "must not be longer than HTTP_REQUEST_TIMEOUT_MS");
  }
  return limits;
}

/** The WebAuthn relying party (src/passkeys/). */
export interface WebAuthnSettings {
  /** The RP ID: the site's registrable domain (or a host), which every credential is scoped to. */
  rpId: string;
  /** The name authenticators show. */
  rpName: string;
  /** The exact web origins the ceremonies may come from (https, or http on localhost). */
  origins: string[];
  /** How long a WebAuthn challenge lives. */
  challengeTtlSeconds: number;
  /** Passwordless sign-ins (each storing a challenge) one client network may start in an hour; 0: no limit. */
  startsPerClientPerHour: number;
}

export class ConfigError extends Error {
  constructor(variable: string, problem: string) {
    super(`invalid configuration: ${variable} ${problem}`);
    this.name = "ConfigError";
  }
}

type Env = Record<string, string | undefined>;

function str(env: Env, name: string): string | undefined {
  const v = env[name];
  return v === undefined || v.trim() === "" ? undefined : v.trim();
}

/** TLS_CLIENT_CA_FILE: a PEM CA certificate (or several), read and checked at start-up; TLS only. */
function clientCa(env: Env, readFile: (path: string) => string, tls: boolean): string | undefined {
  const file = str(env, "TLS_CLIENT_CA_FILE");
  if (file === undefined) return undefined;
  if (!tls) throw new ConfigError("TLS_CLIENT_CA_FILE", "needs TLS_CERT_FILE and TLS_KEY_FILE: client certificates exist only on TLS");
  let pem: string;
  try {
    pem = readFile(file);
  } catch {
    throw new ConfigError("TLS_CLIENT_CA_FILE", `cannot be read (${file})`);
  }
  try {
    new X509Certificate(pem);
  } catch {
    throw new ConfigError("TLS_CLIENT_CA_FILE", "is not a PEM certificate");
  }
  return pem;
}

/**
 * WEBAUTHN_RP_ID, WEBAUTHN_RP_NAME, WEBAUTHN_ORIGINS (both of RP ID and origins or neither),
 * WEBAUTHN_CHALLENGE_TTL_SECONDS, WEBAUTHN_MAX_STARTS_PER_CLIENT_PER_HOUR. The
 * RP ID is a host name (never an IP address or a URL), and every origin must be it or one of its
 * subdomains, over https (http only for localhost, which browsers treat as secure), since the
 * browser would refuse any other pairing at run time.
 */
function webauthn(env: Env): WebAuthnSettings | undefined {
  const rpId = str(env, "WEBAUTHN_RP_ID")?.toLowerCase();
  const given = origins(env, "WEBAUTHN_ORIGINS");
  if (rpId === undefined && given.length === 0) return undefined;
  if (rpId === undefined) throw new ConfigError("WEBAUTHN_RP_ID", "must be set when WEBAUTHN_ORIGINS is");
  if (given.length === 0) throw new ConfigError("WEBAUTHN_ORIGINS", "must be set when WEBAUTHN_RP_ID is");
  if (!/^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/.test(rpId) || /^[0-9.]+$/.test(rpId)) {
    throw new ConfigError("WEBAUTHN_RP_ID", `must be a host name like example.com (no scheme, port or IP address), got "${rpId}"`);
  }
  for (const origin of given) {
    if (origin === "*") throw new ConfigError("WEBAUTHN_ORIGINS", "must list exact origins, not *");
    const { protocol, hostname } = new URL(origin);
    if (hostname !== rpId && !hostname.endsWith(`.${rpId}`)) {
      throw new ConfigError("WEBAUTHN_ORIGINS", `"${origin}" is not on WEBAUTHN_RP_ID ${rpId} or a subdomain of it`);
    }
    if (protocol !== "https:" && !(protocol === "http:" && hostname === "localhost")) {
      throw new ConfigError("WEBAUTHN_ORIGINS", `"${origin}" must use https (http only on localhost)`);
    }
  }
  const rpName = str(env, "WEBAUTHN_RP_NAME") ?? str(env, "TOTP_ISSUER") ?? "authd";
  if (rpName.length > 64) throw new ConfigError("WEBAUTHN_RP_NAME", "must be at most 64 characters");
  return {
    rpId,
    rpName,
    origins: given,
    challengeTtlSeconds: int(env, "WEBAUTHN_CHALLENGE_TTL_SECONDS", 300, 30, 600),
    startsPerClientPerHour: int(env, "WEBAUTHN_MAX_STARTS_PER_CLIENT_PER_HOUR", 300, 0, 100_000),
  };
}

/** LOGIN_ACCOUNT_MAX_FAILURES_PER_HOUR: 0 (off) or 2 to 100, split in two halves. */
export interface EmailSignInSettings {
  /** Mailed codes are on. */
  code: boolean;
  /** The page magic links open (EMAIL_SIGN_IN_LINK_URL); undefined: no links. */
  linkUrl: string | undefined;
  codeTtlSeconds: number;
  codeDigits: number;
  codeMaxFailures: number;
  /** Wrong codes in a row for one address, across mails (EMAIL_SIGN_IN_MAX_CONSECUTIVE_FAILURES). */
  maxConsecutiveFailures: number;
}

const emailSignInModes = ["code", "link"] as const;

/** The page magic links open: the token goes in its fragment, which the page reads and no server receives. */
function checkLinkPage(linkUrl: string): void {
  const page = new URL(linkUrl);
  if (page.hash !== "") throw new ConfigError("EMAIL_SIGN_IN_LINK_URL", "must not have a #fragment");
  // A page served over plain HTTP could be altered on the way to read the token: local development only.
  if (page.protocol === "http:" && !["localhost", "127.0.0.1", "[::1]"].includes(page.hostname)) {
    throw new ConfigError("EMAIL_SIGN_IN_LINK_URL", "must use https (plain http only on localhost)");
  }
}

function emailSignIn(env: Env): EmailSignInSettings | undefined {
  const raw = str(env, "EMAIL_SIGN_IN");
  const linkUrl = url(env, "EMAIL_SIGN_IN_LINK_URL", ["https:", "http:"]);
  if (raw === undefined || raw === "off") {
    if (linkUrl !== undefined) throw new ConfigError("EMAIL_SIGN_IN_LINK_URL", 'is set but EMAIL_SIGN_IN does not include "link"');
    return undefined;
  }
  const modes = raw.split(",").map((m) => m.trim());
  for (const mode of modes) {
    if (!emailSignInModes.some((m) => m === mode)) {
      throw new ConfigError("EMAIL_SIGN_IN", `must be off, code, link or code,link, got "${raw}"`);
    }
  }
  const link = modes.includes("link");
  if (link && linkUrl === undefined) throw new ConfigError("EMAIL_SIGN_IN_LINK_URL", "is required when EMAIL_SIGN_IN includes link");
  if (!link && linkUrl !== undefined) throw new ConfigError("EMAIL_SIGN_IN_LINK_URL", 'is set but EMAIL_SIGN_IN does not include "link"');
  if (linkUrl !== undefined) checkLinkPage(linkUrl);
  return {
    code: modes.includes("code"),
    linkUrl,
    codeTtlSeconds: int(env, "EMAIL_SIGN_IN_CODE_TTL_SECONDS", 600, 60, 3_600),
    codeDigits: int(env, "EMAIL_SIGN_IN_CODE_DIGITS", 6, 6, 8),
    codeMaxFailures: int(env, "EMAIL_SIGN_IN_CODE_MAX_FAILURES", 5, 1, 10),
    // NIST SP 800-63B: at most 100 consecutive failed attempts on one account.
    maxConsecutiveFailures: int(env, "EMAIL_SIGN_IN_MAX_CONSECUTIVE_FAILURES", 100, 10, 1_000),
  };
}

function accountHourlyBound(env: Env): number {
  const value = int(env, "LOGIN_ACCOUNT_MAX_FAILURES_PER_HOUR", 100, 0, 100);
  if (value === 1) throw new ConfigError("LOGIN_ACCOUNT_MAX_FAILURES_PER_HOUR", "must be 0 (off) or at least 2");
  return value;
}

function int(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = str(env, name);
  if (raw === undefined) return fallback;
  if (!/^\d+$/.test(raw)) throw new ConfigError(name, `must be a whole number, got "${raw}"`);
  const n = Number(raw);
  if (n < min || n > max) throw new ConfigError(name, `must be between ${min} and ${max}, got ${n}`);
  return n;
}

function bool(env: Env, name: string, fallback: boolean): boolean {
  const raw = str(env, name)?.toLowerCase();
  if (raw === undefined) return fallback;
  if (["1", "true", "yes", "on"].includes(raw)) return true;
  if (["0", "false", "no", "off"].includes(raw)) return false;
  throw new ConfigError(name, `must be true or false, got "${raw}"`);
}

function oneOf<T extends string>(env: Env, name: string, allowed: readonly T[], fallback: T): T {
  const raw = str(env, name);
  if (raw === undefined) return fallback;
  const hit = allowed.find((a) => a === raw);
  if (hit === undefined) throw new ConfigError(name, `must be one of ${allowed.join(", ")}, got "${raw}"`);
  return hit;
}

function url(env: Env, name: string, protocols: string[]): string | undefined {
  const raw = str(env, name);
  if (raw === undefined) return undefined;
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    throw new ConfigError(name, "is not a valid URL");
  }
  if (!protocols.includes(parsed.protocol)) {
    throw new ConfigError(name, `must use ${protocols.join(" or ")}`);
  }
  return raw;
}

function origins(env: Env, name: string): string[] {
  const raw = str(env, name);
  if (raw === undefined) return [];
  return raw.split(",").map((o) => {
    const origin = o.trim();
    if (origin === "*") return origin;
    let parsed: URL;
    try {
      parsed = new URL(origin);
    } catch {
      throw new ConfigError(name, `contains an invalid origin "${origin}"`);
    }
    if (parsed.origin !== origin) {
      throw new ConfigError(name, `entries must be bare origins like https://app.example.com, got "${origin}"`);
    }
    return origin;
  });
}

/** A secret given inline as NAME or as a file path in NAME_FILE, never both. */
function secret(env: Env, name: string, readFile: (path: string) => string): string | undefined {
  const inline = str(env, name);
  const path = str(env, `${name}_FILE`);
  if (inline !== undefined && path !== undefined) {
    throw new ConfigError(`${name}_FILE`, `cannot be combined with ${name}`);
  }
  if (path === undefined) return inline;
  try {
    return readFile(path);
  } catch {
    throw new ConfigError(`${name}_FILE`, `cannot be read: ${path}`);
  }
}

function aesKey(env: Env, name: string, readFile: (path: string) => string): Buffer | undefined {
  const raw = secret(env, name, readFile)?.trim();
  if (raw === undefined) return undefined;
  if (/^[0-9a-fA-F]{64}$/.test(raw)) return Buffer.from(raw, "hex");
  if (/^[A-Za-z0-9+/_-]{43}=?$/.test(raw)) return Buffer.from(raw, "base64");
  throw new ConfigError(name, "must be 32 random bytes, as 64 hex digits or base64 (openssl rand -base64 32)");
}

/** MONGODB_URI, checked by the driver's own parser, with the settings that shape the connection. */
function mongodb(env: Env): MongoConnectionPlan | undefined {
  const database = str(env, "MONGODB_DATABASE");
  if (database !== undefined) {
    const problem = checkDatabaseName(database);
    if (problem !== undefined) throw new ConfigError("MONGODB_DATABASE", problem);
  }
  const settings = {
    database,
    serverSelectionTimeoutMS: int(env, "MONGODB_SERVER_SELECTION_TIMEOUT_MS", 5_000, 100, 120_000),
    operationTimeoutMS: int(env, "MONGODB_OPERATION_TIMEOUT_MS", 10_000, 100, 300_000),
  };
  const raw = str(env, "MONGODB_URI");
  if (raw === undefined) return undefined;
  try {
    return planMongoConnection(raw, settings);
  } catch (err) {
    if (err instanceof MongoUriError)
      throw new ConfigError("MONGODB_URI", `is not a connection string the MongoDB driver accepts: ${err.message}`);
    throw err;
  }
}

function list(env: Env, name: string): string[] | undefined {
  return str(env, name)
    ?.split(",")
    .map((v) => v.trim())
    .filter((v) => v !== "");
}

/** A number from 0 to 1 (a sampling ratio). */
function ratio(env: Env, name: string, fallback: number): number {
  const raw = str(env, name);
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!/^\d*\.?\d+$/.test(raw) || n < 0 || n > 1) throw new ConfigError(name, `must be a number from 0 to 1, got "${raw}"`);
  return n;
}

/** OTEL_RESOURCE_ATTRIBUTES: key=value pairs separated by commas, values percent-encoded. */
function resourceAttributes(env: Env): Record<string, string> {
  const attributes: Record<string, string> = {};
  for (const pair of list(env, "OTEL_RESOURCE_ATTRIBUTES") ?? []) {
    const at = pair.indexOf("=");
    const key = pair.slice(0, at).trim();
    let value: string;
    try {
      value = decodeURIComponent(pair.slice(at + 1).trim());
    } catch {
      value = "";
    }
    if (at <= 0 || key === "" || value === "") {
      throw new ConfigError("OTEL_RESOURCE_ATTRIBUTES", `must be key=value pairs separated by commas, got "${pair}"`);
    }
    attributes[key] = value;
  }
  return attributes;
}

const tracesSamplers = [
  "always_on",
  "always_off",
  "traceidratio",
  "parentbased_always_on",
  "parentbased_always_off",
  "parentbased_traceidratio",
] as const satisfies readonly TracesSampler[];

/**
 * The OpenTelemetry settings (https://opentelemetry.io/docs/specs/otel/configuration/sdk-environment-variables/).
 * Unlike the specification's default, tracing is off unless OTEL_TRACES_EXPORTER names an exporter
 * or an OTLP endpoint is given: a service that nobody collects traces from should not pay for them.
 * Every setting is checked even while tracing is off, so turning it on cannot fail.
 */
function tracing(env: Env): TracingSettings | undefined {
  const named = list(env, "OTEL_TRACES_EXPORTER");
  for (const exporter of named ?? []) {
    if (!["otlp", "console", "none"].includes(exporter)) {
      throw new ConfigError("OTEL_TRACES_EXPORTER", `must be otlp, console or none, got "${exporter}"`);
    }
  }
  for (const name of ["OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"]) {
    const protocol = str(env, name);
    if (protocol !== undefined && protocol !== "http/protobuf") {
      throw new ConfigError(name, `must be http/protobuf (the only OTLP protocol authd sends), got "${protocol}"`);
    }
  }
  const tracesEndpoint = url(env, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", ["http:", "https:"]);
  const endpoint = url(env, "OTEL_EXPORTER_OTLP_ENDPOINT", ["http:", "https:"]);
  const propagators = list(env, "OTEL_PROPAGATORS") ?? ["tracecontext", "baggage"];
  for (const propagator of propagators) {
    if (!["tracecontext", "baggage", "none"].includes(propagator)) {
      throw new ConfigError("OTEL_PROPAGATORS", `must list tracecontext, baggage or none, got "${propagator}"`);
    }
  }
  const maxQueueSize = int(env, "OTEL_BSP_MAX_QUEUE_SIZE", 2048, 1, 1_000_000);
  const settings: TracingSettings = {
    exporters: [...new Set(named ?? (tracesEndpoint === undefined && endpoint === undefined ? [] : ["otlp"]))].filter(
      (e): e is TracesExporter => e !== "none",
    ),
    // The signal-specific URL is used as given; the general one gets the signal's path appended.
    otlpUrl: tracesEndpoint ?? `${(endpoint ?? "http://localhost:4318").replace(/\/+$/, "")}/v1/traces`,
    serviceName: str(env, "OTEL_SERVICE_NAME") ?? "authd",
    resourceAttributes: resourceAttributes(env),
    sampler: oneOf(env, "OTEL_TRACES_SAMPLER", tracesSamplers, "parentbased_always_on"),
    samplerRatio: ratio(env, "OTEL_TRACES_SAMPLER_ARG", 1),
    propagate: propagators.includes("tracecontext"),
    batch: {
      scheduledDelayMillis: int(env, "OTEL_BSP_SCHEDULE_DELAY", 5_000, 1, 600_000),
      exportTimeoutMillis: int(env, "OTEL_BSP_EXPORT_TIMEOUT", 30_000, 1, 600_000),
      maxQueueSize,
      maxExportBatchSize: int(env, "OTEL_BSP_MAX_EXPORT_BATCH_SIZE", Math.min(512, maxQueueSize), 1, maxQueueSize),
    },
  };
  return bool(env, "OTEL_SDK_DISABLED", false) || settings.exporters.length === 0 ? undefined : settings;
}

/**
 * METRICS_PORT, METRICS_HOST, METRICS_TOKEN (or _FILE). The main port serves /metrics only behind
 * the token: with neither a port of their own nor a token, metrics are off.
 */
function metrics(env: Env, port: number, host: string, readFile: (path: string) => string): Config["metrics"] {
  const ownPort = str(env, "METRICS_PORT") === undefined ? undefined : int(env, "METRICS_PORT", 0, 0, 65_535);
  const ownHost = str(env, "METRICS_HOST");
  const token = secret(env, "METRICS_TOKEN", readFile)?.trim();
  if (token !== undefined && !/^[\x21-\x7e]{16,512}$/.test(token)) {
    throw new ConfigError("METRICS_TOKEN", "must be 16 to 512 visible ASCII characters, no spaces (openssl rand -hex 32)");
  }
  if (ownPort !== undefined && ownPort !== 0 && ownPort === port) {
    throw new ConfigError("METRICS_PORT", "must differ from PORT (unset it to serve /metrics on the main port, behind METRICS_TOKEN)");
  }
  if (ownHost !== undefined && ownPort === undefined) throw new ConfigError("METRICS_HOST", "needs METRICS_PORT");
  if (ownPort === undefined && token === undefined) return undefined;
  return { port: ownPort, host: ownHost ?? host, token };
}

/** PWNED_PASSWORDS_*: every setting is checked even while the check is off, so turning it on cannot fail. */
function pwnedPasswords(env: Env): Config["pwnedPasswords"] {
  const settings = {
    url: url(env, "PWNED_PASSWORDS_URL", ["https:", "http:"]) ?? "https://api.pwnedpasswords.com/range/",
    timeoutMs: int(env, "PWNED_PASSWORDS_TIMEOUT_MS", 2_000, 100, 60_000),
    minCount: int(env, "PWNED_PASSWORDS_MIN_COUNT", 1, 1, 1_000_000),
  };
  return bool(env, "PWNED_PASSWORDS_ENABLED", false) ? settings : undefined;
}

/**
 * SERVER_SECRET (or SERVER_SECRET_FILE), or its older name TOTP_ENCRYPTION_KEY (or _FILE), which
 * keeps working: it was always this one secret. Both set to different values is an error.
 */
function serverSecret(env: Env, readFile: (path: string) => string): Buffer | undefined {
  const current = aesKey(env, "SERVER_SECRET", readFile);
  const older = aesKey(env, "TOTP_ENCRYPTION_KEY", readFile);
  if (current !== undefined && older !== undefined && !current.equals(older)) {
    throw new ConfigError("TOTP_ENCRYPTION_KEY", "is the older name of SERVER_SECRET; set only one (or the same value in both)");
  }
  return current ?? older;
}

/**
 * A setting given inline as NAME or as a file in NAME_FILE (see secret), parsed by `parse`, whose
 * error message is reported against the variable as given.
 */
function parsedSecret<T>(env: Env, name: string, readFile: (path: string) => string, parse: (text: string) => T): T | undefined {
  const text = secret(env, name, readFile);
  if (text === undefined) return undefined;
  try {
    return parse(text);
  } catch (err) {
    throw new ConfigError(str(env, `${name}_FILE`) === undefined ? name : `${name}_FILE`, (err as Error).message);
  }
}

/** ROLES (inline JSON) or ROLES_FILE (a path to it), never both; the built-in map otherwise. */
function roles(env: Env, readFile: (path: string) => string): RoleMap {
  return parsedSecret(env, "ROLES", readFile, parseRoleMap) ?? defaultRoleMap;
}

/**
 * OIDC_PROVIDERS (or OIDC_PROVIDERS_FILE: it holds client secrets), OIDC_REDIRECT_URI (required
 * with them), OIDC_FLOW_TTL_SECONDS and OIDC_MAX_STARTS_PER_CLIENT_PER_HOUR.
 */
function oidc(env: Env, readFile: (path: string) => string): OidcSettings | undefined {
  const providers = parsedSecret(env, "OIDC_PROVIDERS", readFile, parseOidcProviders);
  const redirect = str(env, "OIDC_REDIRECT_URI");
  if (providers === undefined) {
    if (redirect !== undefined) throw new ConfigError("OIDC_REDIRECT_URI", "is set but OIDC_PROVIDERS is not");
    return undefined;
  }
  if (redirect === undefined) throw new ConfigError("OIDC_REDIRECT_URI", "must be set when OIDC_PROVIDERS is (the app's callback URL)");
  try {
    checkSecureUrl(redirect, "it");
  } catch (err) {
    throw new ConfigError("OIDC_REDIRECT_URI", (err as Error).message.replace(/^it /, ""));
  }
  return {
    providers,
    redirectUri: redirect,
    flowTtlSeconds: int(env, "OIDC_FLOW_TTL_SECONDS", 600, 60, 3_600),
    startsPerClientPerHour: int(env, "OIDC_MAX_STARTS_PER_CLIENT_PER_HOUR", 100, 0, 100_000),
  };
}

/** A PEM given inline (with `\n` escapes allowed, for one-line variables) or as a file. */
function pem<T>(env: Env, name: string, readFile: (path: string) => string, parse: (pem: string) => T): T | undefined {
  return parsedSecret(env, name, readFile, (text) => parse(text.replace(/\\n/g, "\n")));
}

/**
 * JWT_PRIVATE_KEY (current), JWT_NEXT_PRIVATE_KEY, JWT_PREVIOUS_PUBLIC_KEYS, each also as _FILE.
 * A key listed twice is a mistake made while rotating (a promoted key left in its old place), so
 * it stops the server instead of being quietly merged.
 */
function signingKeys(env: Env, readFile: (path: string) => string): Config["jwt"]["keys"] {
  const current = pem(env, "JWT_PRIVATE_KEY", readFile, parsePrivateKey);
  const next = pem(env, "JWT_NEXT_PRIVATE_KEY", readFile, parsePrivateKey);
  const previous = pem(env, "JWT_PREVIOUS_PUBLIC_KEYS", readFile, parsePublicKeys) ?? [];
  if (current === undefined && (next !== undefined || previous.length > 0)) {
    const given = next !== undefined ? "JWT_NEXT_PRIVATE_KEY" : "JWT_PREVIOUS_PUBLIC_KEYS";
    throw new ConfigError("JWT_PRIVATE_KEY", `must be set (or JWT_PRIVATE_KEY_FILE) when ${given} is`);
  }
  if (current !== undefined && next !== undefined && samePublicKey(current, next)) {
    throw new ConfigError("JWT_NEXT_PRIVATE_KEY", "is the same key as JWT_PRIVATE_KEY (remove it once it is promoted)");
  }
  const listed = [current, next].filter((k): k is KeyObject => k !== undefined);
  for (const key of previous) {
    if (listed.some((other) => samePublicKey(key, other))) {
      throw new ConfigError("JWT_PREVIOUS_PUBLIC_KEYS", "lists a key that is also JWT_PRIVATE_KEY or JWT_NEXT_PRIVATE_KEY, or one twice");
    }
    listed.push(key);
  }
  return { current, next, previous };
}

/** ADMIN_EMAILS: comma-separated addresses, normalized as sign-in normalizes them. */
function adminEmails(env: Env): string[] {
  return (list(env, "ADMIN_EMAILS") ?? []).map((raw) => {
    try {
      return normalizeEmail("ADMIN_EMAILS", raw);
    } catch (err) {
      if (err instanceof AuthError) throw new ConfigError("ADMIN_EMAILS", `contains an invalid email address "${raw}"`);
      throw err;
    }
  });
}

export function loadConfig(env: Env, readFile: (path: string) => string): Config {
  const certFile = str(env, "TLS_CERT_FILE");
  const keyFile = str(env, "TLS_KEY_FILE");
  if ((certFile === undefined) !== (keyFile === undefined)) {
    const [missing, given] = certFile === undefined ? ["TLS_CERT_FILE", "TLS_KEY_FILE"] : ["TLS_KEY_FILE", "TLS_CERT_FILE"];
    throw new ConfigError(missing, `must be set when ${given} is`);
  }

  const clientCaPem = clientCa(env, readFile, certFile !== undefined && keyFile !== undefined);

  const day = 86_400;
  const trustProxyHops = int(env, "TRUST_PROXY_HOPS", 0, 0, 10);
  const port = int(env, "PORT", 8080, 0, 65_535);
  const host = str(env, "HOST") ?? "0.0.0.0";
  const config: Config = {
    port,
    host,
    mongodb: mongodb(env),
    tls: certFile !== undefined && keyFile !== undefined ? { certFile, keyFile, clientCaPem } : undefined,
    corsAllowedOrigins: origins(env, "CORS_ALLOWED_ORIGINS"),
    trustProxyHops,
    maxBodyBytes: int(env, "MAX_BODY_BYTES", 64 * 1024, 1024, 16 * 1024 * 1024),
    shutdownGraceMs: int(env, "SHUTDOWN_GRACE_MS", 10_000, 0, 600_000),
    rpcFastPath: bool(env, "RPC_FAST_PATH", true),
    limits: connectionLimits(env, trustProxyHops),
    metrics: metrics(env, port, host, readFile),
    logLevel: oneOf(env, "LOG_LEVEL", ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const, "info"),
    jwt: {
      keys: signingKeys(env, readFile),
      // Short enough that publishing a next key and promoting it can be minutes apart, long enough
      // that verifiers do not fetch the key set on every token.
      jwksMaxAgeSeconds: int(env, "JWKS_CACHE_MAX_AGE_SECONDS", 300, 0, 86_400),
      issuer: str(env, "JWT_ISSUER") ?? "authd",
      audience: str(env, "JWT_AUDIENCE") ?? "authd",
      accessTokenTtlSeconds: int(env, "ACCESS_TOKEN_TTL_SECONDS", 900, 30, day),
      // About 300 bytes each (npm run bench:authenticate): the default holds 3 MB at most.
      accessTokenCacheSize: int(env, "ACCESS_TOKEN_CACHE_SIZE", 10_000, 0, 10_000_000),
    },
    refreshTokenTtlSeconds: int(env, "REFRESH_TOKEN_TTL_SECONDS", 7 * day, 60, 365 * day),
    refreshTokenTtlRememberMeSeconds: int(env, "REFRESH_TOKEN_TTL_REMEMBER_ME_SECONDS", 30 * day, 60, 365 * day),
    // NIST SP 800-63B: re-authenticate at least every 30 days.
    sessionMaxLifetimeSeconds: int(env, "SESSION_MAX_LIFETIME_SECONDS", 30 * day, 60, 365 * day),
    maxSessionsPerUser: int(env, "MAX_SESSIONS_PER_USER", 100, 1, 10_000),
    refreshReuseDetectionSeconds: int(env, "REFRESH_REUSE_DETECTION_SECONDS", day, 60, 365 * day),
    // Long enough for a retry or a second tab, short enough that a stolen spent token is of little use.
    refreshReuseGraceSeconds: int(env, "REFRESH_REUSE_GRACE_SECONDS", 30, 0, 300),
    argon2: {
      // OWASP Password Storage Cheat Sheet: argon2id, m=19 MiB, t=2, p=1 as the minimum.
      memoryKiB: int(env, "ARGON2_MEMORY_KIB", 19_456, 19_456, 4_194_304),
      timeCost: int(env, "ARGON2_TIME_COST", 2, 2, 100),
      parallelism: int(env, "ARGON2_PARALLELISM", 1, 1, 64),
    },
    loginMaxFailures: int(env, "LOGIN_MAX_FAILURES", 10, 0, 1000),
    loginLockSeconds: int(env, "LOGIN_LOCK_SECONDS", 900, 1, 86_400),
    loginAddressMaxFailures: int(env, "LOGIN_ADDRESS_MAX_FAILURES", 100, 0, 1_000_000),
    loginDeviceMaxFailures: int(env, "LOGIN_DEVICE_MAX_FAILURES", 10, 0, 1000),
    // NIST SP 800-63B 5.2.2: no more than 100 failed attempts on one account. At least 2, so
    // that each half (strangers, known devices) is at least 1.
    loginAccountMaxFailuresPerHour: accountHourlyBound(env),
    deviceTokenTtlSeconds: int(env, "DEVICE_TOKEN_TTL_SECONDS", 90 * day, 3_600, 400 * day),
    registrationEnabled: bool(env, "REGISTRATION_ENABLED", true),
    emailVerificationRequired: bool(env, "EMAIL_VERIFICATION_REQUIRED", true),
    emailVerificationTtlSeconds: int(env, "EMAIL_VERIFICATION_TTL_SECONDS", day, 60, 30 * day),
    passwordResetTtlSeconds: int(env, "PASSWORD_RESET_TTL_SECONDS", 3_600, 60, day),
    emailSignIn: emailSignIn(env),
    smtpUrl: url(env, "SMTP_URL", ["smtp:", "smtps:"]),
    mailFrom: str(env, "MAIL_FROM") ?? "authd <no-reply@localhost>",
    mailLimits: {
      perAddressPerHour: int(env, "MAIL_MAX_PER_ADDRESS_PER_HOUR", 5, 0, 1_000),
      perClientPerHour: int(env, "MAIL_MAX_PER_CLIENT_PER_HOUR", 20, 0, 100_000),
      notificationsPerAddressPerHour: int(env, "MAIL_MAX_NOTIFICATIONS_PER_ADDRESS_PER_HOUR", 10, 0, 1_000),
    },
    sessionCookieSecure: bool(env, "SESSION_COOKIE_SECURE", true),
    serverSecret: serverSecret(env, readFile),
    loginChallengeTtlSeconds: int(env, "LOGIN_CHALLENGE_TTL_SECONDS", 300, 30, 3_600),
    webauthn: webauthn(env),
    reauthMaxAgeSeconds: int(env, "REAUTH_MAX_AGE_SECONDS", 600, 0, day),
    pwnedPasswords: pwnedPasswords(env),
    twoFactor: {
      issuer: str(env, "TOTP_ISSUER") ?? "authd",
      maxFailures: int(env, "TWO_FACTOR_MAX_FAILURES", 5, 1, 100),
      lockSeconds: int(env, "TWO_FACTOR_LOCK_SECONDS", 900, 1, 86_400),
      setupTtlSeconds: int(env, "TOTP_SETUP_TTL_SECONDS", 600, 60, day),
    },
    tracing: tracing(env),
    roles: roles(env, readFile),
    adminEmails: adminEmails(env),
    auditRetentionDays: int(env, "AUDIT_RETENTION_DAYS", 365, 1, 3650),
    oidc: oidc(env, readFile),
  };
  if (config.refreshTokenTtlRememberMeSeconds < config.refreshTokenTtlSeconds) {
    throw new ConfigError("REFRESH_TOKEN_TTL_REMEMBER_ME_SECONDS", "must not be shorter than REFRESH_TOKEN_TTL_SECONDS");
  }
  if (config.sessionMaxLifetimeSeconds < config.refreshTokenTtlRememberMeSeconds) {
    throw new ConfigError("SESSION_MAX_LIFETIME_SECONDS", "must not be shorter than REFRESH_TOKEN_TTL_REMEMBER_ME_SECONDS");
  }
  if (config.refreshReuseGraceSeconds >= config.refreshReuseDetectionSeconds) {
    throw new ConfigError("REFRESH_REUSE_GRACE_SECONDS", "must be shorter than REFRESH_REUSE_DETECTION_SECONDS");
  }
  if (config.mongodb !== undefined && config.serverSecret === undefined) {
    // A generated key would make every stored TOTP secret and recovery code unusable after a
    // restart, locking every 2FA user out: with durable storage the key must be durable too.
    throw new ConfigError("SERVER_SECRET", "must be set (or SERVER_SECRET_FILE, or the older TOTP_ENCRYPTION_KEY) when MONGODB_URI is");
  }
  if (config.adminEmails.length > 0 && !config.roles.has(adminRole)) {
    throw new ConfigError("ADMIN_EMAILS", `grants the role "${adminRole}", which ROLES does not define`);
  }
  if (config.corsAllowedOrigins.includes("*") && config.corsAllowedOrigins.length > 1) {
    throw new ConfigError("CORS_ALLOWED_ORIGINS", "cannot mix * with explicit origins");
  }
  return config;
}
