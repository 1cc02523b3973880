import { readFileSync } from "node:fs";
import type http from "node:http";
import type http2 from "node:http2";
import { cors as connectCors } from "@connectrpc/connect";
import corsMiddleware from "cors";
import { file_auth_v1_admin_service } from "../../gen/auth/v1/admin_service_pb.js";
import { file_auth_v1_auth_service } from "../../gen/auth/v1/auth_service_pb.js";
import { file_auth_v1_federation_service } from "../../gen/auth/v1/federation_service_pb.js";
import { file_auth_v1_service_account_service } from "../../gen/auth/v1/service_account_service_pb.js";
import { file_auth_v1_session_service } from "../../gen/auth/v1/session_service_pb.js";
import { file_auth_v1_passkey_service } from "../../gen/auth/v1/passkey_service_pb.js";
import { file_auth_v1_token_service } from "../../gen/auth/v1/token_service_pb.js";
import { file_auth_v1_two_factor_service } from "../../gen/auth/v1/two_factor_service_pb.js";
import { file_grpc_health_v1_health } from "../../gen/grpc/health/v1/health_pb.js";
import { file_grpc_reflection_v1_reflection } from "../../gen/grpc/reflection/v1/reflection_pb.js";
import { file_grpc_reflection_v1alpha_reflection } from "../../gen/grpc/reflection/v1alpha/reflection_pb.js";
import type { Config } from "../config.ts";
import type { Logger } from "../log.ts";
import { createIntrospectEndpoint, introspectPath } from "../oauth2/introspect.ts";
import { metricsPath, scrapeHandler, startMetricsServer, type MetricsServer } from "../metrics/endpoint.ts";
import { createRestHandler, isRestPath } from "../rest/handler.ts";
import { routes as restRoutes } from "../rest/routes/index.ts";
import { clientCertificateKey, clientIpKey, requestIdKey } from "../rpc/context.ts";
import { clientIp, verifiedClientName } from "../transport/credentials.ts";
import { browserSafetyHeaders } from "../transport/node-http.ts";
import { outcomeOf } from "../transport/outcome.ts";
import { registerAuthServices, rpcInterceptor } from "../rpc/services.ts";
import type { Store } from "../store/port.ts";
import { composeService, type Overrides, type Service } from "./compose.ts";
import { createAccessLog } from "./access-log.ts";
import { newRequestId } from "./request-id.ts";
import { registerHealth } from "./health.ts";
import { forwardAuthHandler, isForwardAuthPath } from "./forward-auth.ts";
import { createListener, type LimitEvent, type ListenerStats, type NodeHandler } from "./listener.ts";
import { createRpcHandler } from "../rpc/adapter.ts";
import { requestValues } from "../rpc/request-values.ts";
import { registerReflection } from "./reflection.ts";

export type { Overrides } from "./compose.ts";

export interface RunningServer {
  port: number;
  url: string;
  /** The composed service (operations, store, log, background work). */
  deps: Service;
  /** Where Prometheus scrapes the metrics; undefined when they are off. */
  metricsUrl: string | undefined;
  /** Graceful stop: no new connections, in-flight calls finish, background work drains, storage closes. */
  close(): Promise<void>;
  /** Connections accepted, refused and shed since start, and open now. */
  connectionStats(): ListenerStats;
}

type NodeRequest = http.IncomingMessage | http2.Http2ServerRequest;
type NodeResponse = Parameters<NodeHandler>[1];

/** The request's path, without its query; no copy when there is none. */
function pathOf(req: NodeRequest): string {
  const url = req.url ?? "/";
  const query = url.indexOf("?");
  return query === -1 ? url : url.slice(0, query);
}

/** An X-Request-Id the client sent is kept when it looks like one; otherwise a fresh one is made. */
const requestIdPattern = /^[A-Za-z0-9._-]{1,64}$/;

const servedServices = [
  "auth.v1.AuthService",
  "auth.v1.FederationService",
  "auth.v1.TwoFactorService",
  "auth.v1.SessionService",
  "auth.v1.PasskeyService",
  "auth.v1.ServiceAccountService",
  "auth.v1.TokenService",
  "auth.v1.AdminService",
  "auth.v1.EmailSignInService",
];

/**
 * Whether the client is known to have sent the request over HTTPS: the server's own TLS, or, behind
 * `trustProxyHops` proxies, the X-Forwarded-Proto the nearest one set (the last value; a client's
 * own are further left). Unknown (a proxy that does not say) counts as not known.
 */
export function requestKnownHttps(req: NodeRequest, ownTls: boolean, trustProxyHops: number): boolean {
  if (ownTls) return true;
  if (trustProxyHops === 0) return false;
  const header = req.headers["x-forwarded-proto"];
  const values = (Array.isArray(header) ? header.join(",") : (header ?? "")).split(",");
  return values[values.length - 1]?.trim().toLowerCase() === "https";
}

/** The part of a Node response (HTTP/1.1 or HTTP/2 compatibility API) that sendJson needs. */
interface JsonSink {
  statusCode: number;
  setHeader(name: string, value: string): unknown;
  end(body: string): unknown;
}

function sendJson(res: JsonSink, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.statusCode = status;
  for (const [name, value] of Object.entries({
    "content-type": "application/json",
    "cache-control": "no-store",
    ...browserSafetyHeaders,
    ...headers,
  })) {
    res.setHeader(name, value);
  }
  res.end(JSON.stringify(body));
}

// Under attack a limit may be enforced thousands of times a second: one summary line per kind
// and this interval, not one line each.
const limitLogIntervalMs = 10_000;

/** Logs enforced connection limits as periodic summaries: counts by kind and reason, a few addresses. */
function limitLog(log: Logger): (event: LimitEvent) => void {
  let pending: Map<string, { count: number; addresses: Set<string> }> | undefined;
  return (event) => {
    if (pending === undefined) {
      const batch = new Map<string, { count: number; addresses: Set<string> }>();
      pending = batch;
      setTimeout(() => {
        pending = undefined;
        for (const [limit, { count, addresses }] of batch) {
          log.warn({ limit, count, addresses: [...addresses] }, "connection limit enforced");
        }
      }, limitLogIntervalMs).unref();
    }
    const key =
      event.kind === "connection_refused" || event.kind === "stream_refused"
        ? `${event.kind}:${event.why}`
        : event.kind === "http2_resets"
          ? `${event.kind}:${event.scope}`
          : event.kind;
    const entry = pending.get(key) ?? { count: 0, addresses: new Set<string>() };
    entry.count++;
    if (entry.addresses.size < 10) entry.addresses.add(event.address);
    pending.set(key, entry);
  };
}

/** Caches a probe's answer briefly, so frequent health checks do not each hit the database. */
function cachedProbe(store: Store, ttlMs: number): () => Promise<boolean> {
  let last: { at: number; value: Promise<boolean> } | undefined;
  return () => {
    const now = Date.now();
    if (last === undefined || now - last.at > ttlMs) {
      const value = Promise.race([
        store.ping().then(() => true),
        new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 2000).unref()),
      ]).catch(() => false);
      last = { at: now, value };
    }
    return last.value;
  };
}

export async function startServer(config: Config, overrides: Overrides = {}): Promise<RunningServer> {
  const service = await composeService(config, overrides);
  const { store, log, clock, operations, tracing, metrics } = service;
  const probe = cachedProbe(store, 1000);
  const shutdown = new AbortController();
  // Worked out once per request, by the handler below, for the access log; the RPC context and the
  // REST routes read the same value.
  const clientIpOf = (req: NodeRequest) => outcomeOf(req).clientIp ?? clientIp(req, listener.remoteAddress(req), config.trustProxyHops);

  // Client certificates count only where a client CA is configured (mTLS for service accounts).
  const clientCertificates = config.tls?.clientCaPem !== undefined;
  const rpc = createRpcHandler({
    readMaxBytes: config.maxBodyBytes,
    shutdownSignal: shutdown.signal,
    interceptors: [rpcInterceptor(log)],
    unaryFastPath: config.rpcFastPath,
    contextValues: (req) =>
      requestValues()
        .set(requestIdKey, outcomeOf(req).requestId ?? "")
        .set(clientIpKey, clientIpOf(req))
        .set(clientCertificateKey, clientCertificates ? verifiedClientName(req) : undefined),
    routes(router) {
      registerAuthServices(router, operations);
      registerHealth(router, { probe, services: servedServices });
      registerReflection(router, [
        file_auth_v1_admin_service,
        file_auth_v1_auth_service,
        file_auth_v1_federation_service,
        file_auth_v1_session_service,
        file_auth_v1_passkey_service,
        file_auth_v1_two_factor_service,
        file_auth_v1_service_account_service,
        file_auth_v1_token_service,
        file_grpc_health_v1_health,
        file_grpc_reflection_v1_reflection,
        file_grpc_reflection_v1alpha_reflection,
      ]);
    },
    fallback(_req, res) {
      sendJson(res, 404, { code: "not_found", message: "no such route" });
    },
    badRequest(_req, res) {
      sendJson(res, 400, { code: "invalid_argument", message: "malformed HTTP request" });
    },
    log: (err, rpc) => log.warn({ err, rpc }, "response could not be written"),
  });

  const wildcard = config.corsAllowedOrigins.includes("*");
  const cors = corsMiddleware({
    origin: wildcard ? "*" : config.corsAllowedOrigins,
    credentials: !wildcard,
    methods: [...new Set([...connectCors.allowedMethods, "GET", "POST", "PATCH", "DELETE"])],
    allowedHeaders: [...connectCors.allowedHeaders, "Authorization", "X-Request-Id"],
    exposedHeaders: [...connectCors.exposedHeaders, "X-Request-Id"],
    maxAge: 7200,
  });

  const rest = createRestHandler({
    routes: restRoutes,
    ops: { ...operations, probe },
    maxBodyBytes: config.maxBodyBytes,
    allowedOrigins: config.corsAllowedOrigins.filter((o) => o !== "*"),
    cookieSecure: config.sessionCookieSecure,
    log,
    clientIp: clientIpOf,
    knownHttps: (req) => requestKnownHttps(req, config.tls !== undefined, config.trustProxyHops),
    now: () => clock.now(),
  });

  const introspect = createIntrospectEndpoint({
    principals: operations.principals,
    introspection: operations.introspection,
    clientCertificates,
    maxBodyBytes: config.maxBodyBytes,
    log,
  });

  const scrape = metrics === undefined ? undefined : scrapeHandler(metrics, config.metrics?.token, log);
  // Without a port of their own, the metrics are on the main port, behind their token (config.ts).
  const scrapeHere = config.metrics?.port === undefined ? scrape : undefined;

  const logAccess = createAccessLog(log, metrics?.calls);
  const forwardAuth = forwardAuthHandler(operations.forwardAuth, log);

  /** The service's own handlers, by path: past the probes and JWKS. */
  const dispatch = (req: NodeRequest, res: NodeResponse, path: string): void => {
    if (path === introspectPath) void introspect(req, res);
    else if (isForwardAuthPath(path)) void forwardAuth(req, res);
    else if (isRestPath(path)) void rest(req, res);
    else rpc(req, res);
  };

  /** Everything past the request id, the access log and CORS. */
  const route: NodeHandler = (req, res) => {
    const path = pathOf(req);
    if (scrapeHere !== undefined && path === metricsPath) {
      scrapeHere(req, res);
      return;
    }
    // Liveness: the process answers. Never tied to storage, so an orchestrator does not restart
    // every replica while MongoDB elects a primary.
    if (req.method === "GET" && path === "/livez") {
      sendJson(res, 200, { status: "alive" });
      return;
    }
    // Readiness: storage answers, so this replica can take traffic.
    if (req.method === "GET" && path === "/readyz") {
      void probe().then((ok) => sendJson(res, ok ? 200 : 503, { status: ok ? "ready" : "not_ready", storage: store.kind }));
      return;
    }
    if (req.method === "GET" && (path === "/healthz" || path === "/health")) {
      void probe().then((ok) => sendJson(res, ok ? 200 : 503, { status: ok ? "SERVING" : "NOT_SERVING", storage: store.kind }));
      return;
    }
    if (req.method === "GET" && path === "/.well-known/jwks.json") {
      sendJson(res, 200, service.accessTokens.jwks(), { "cache-control": `public, max-age=${config.jwt.jwksMaxAgeSeconds}` });
      return;
    }
    // The service's calls get a span when tracing is on; not the probes and JWKS above, nor the
    // gRPC health checks and reflection (grpc.health.v1, grpc.reflection.*): no one's call.
    // Without a span, no closure per call: over HTTP/2 what a call allocates tends to stay until
    // the next full collection (README, Benchmark, "What a call leaves to the old generation").
    if (tracing === undefined || path.startsWith("/grpc.")) dispatch(req, res, path);
    else tracing.call(req, res, () => dispatch(req, res, path));
  };

  const handler: NodeHandler = (req, res) => {
    const incoming = req.headers["x-request-id"];
    const requestId = typeof incoming === "string" && requestIdPattern.test(incoming) ? incoming : newRequestId();
    const outcome = outcomeOf(req);
    outcome.requestId = requestId;
    outcome.clientIp = clientIp(req, listener.remoteAddress(req), config.trustProxyHops);
    res.setHeader("x-request-id", requestId);
    logAccess(req, res, { requestId, clientIp: outcome.clientIp });
    // CORS is for browsers, which send Origin with every cross-origin request and preflight: the
    // gRPC and server-to-server calls without it skip the middleware and its headers. The answer
    // still varies with Origin, so that a cache never hands one made for no Origin to a browser.
    // Forward auth is asked by a proxy on behalf of the client, Origin and all: a preflight the
    // proxy forwards gets the same check as any request, never the middleware's 204 (an allow).
    if (req.headers.origin === undefined || isForwardAuthPath(pathOf(req))) {
      res.setHeader("vary", "Origin");
      route(req, res);
      return;
    }
    cors(req as http.IncomingMessage, res as http.ServerResponse, () => route(req, res));
  };

  const tls =
    config.tls === undefined
      ? undefined
      : { cert: readFileSync(config.tls.certFile), key: readFileSync(config.tls.keyFile), ca: config.tls.clientCaPem };
  const logLimit = limitLog(log);
  const listener = createListener(handler, {
    tls,
    limits: config.limits,
    maxBodyBytes: config.maxBodyBytes,
    onLimit:
      metrics === undefined
        ? logLimit
        : (event) => {
            logLimit(event);
            metrics.limitEnforced(event);
          },
  });
  metrics?.watchConnections(() => listener.stats());
  const port = await listener.listen(config.port, config.host);
  const scheme = tls === undefined ? "http" : "https";
  const local = (bound: string) => (bound === "0.0.0.0" || bound === "::" ? "127.0.0.1" : bound);
  const host = local(config.host);
  log.info({ port, tls: tls !== undefined, storage: store.kind }, "listening: gRPC, gRPC-Web, Connect and JSON on one port");
  let metricsServer: MetricsServer | undefined;
  let metricsUrl: string | undefined;
  if (scrape !== undefined && config.metrics?.port !== undefined) {
    try {
      metricsServer = await startMetricsServer(scrape, config.metrics.port, config.metrics.host);
    } catch (err) {
      await listener.close(0);
      await store.close();
      throw err;
    }
    metricsUrl = `http://${local(config.metrics.host)}:${metricsServer.port}${metricsPath}`;
    log.info({ port: metricsServer.port, token: config.metrics.token !== undefined }, "metrics: served on their own port at /metrics");
    // Keeping the port off the public network is the operator's to do; say so when nothing else guards it.
    if (config.metrics.token === undefined && !["127.0.0.1", "::1", "localhost"].includes(config.metrics.host)) {
      log.warn(
        { host: config.metrics.host, port: metricsServer.port },
        "metrics: their own port listens beyond this machine without METRICS_TOKEN: anyone who reaches it reads them (set METRICS_HOST=127.0.0.1 or METRICS_TOKEN)",
      );
    }
  } else if (scrape !== undefined) {
    metricsUrl = `${scheme}://${host}:${port}${metricsPath}`;
    log.info("metrics: served on the main port at /metrics, to callers with METRICS_TOKEN");
  }

  let closing: Promise<void> | undefined;
  return {
    port,
    url: `${scheme}://${host}:${port}`,
    deps: service,
    metricsUrl,
    connectionStats: () => listener.stats(),
    close() {
      closing ??= (async () => {
        shutdown.abort();
        await Promise.all([listener.close(config.shutdownGraceMs), metricsServer?.close()]);
        await service.background.drain();
        await store.close();
        service.mailer.close?.();
        // Last, so that the spans of the calls that finished during the grace period are sent.
        await tracing?.shutdown();
        log.info("stopped");
      })();
      return closing;
    },
  };
}
