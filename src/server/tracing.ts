// OpenTelemetry tracing, set up only when the OTEL_* settings turn it on (config.ts): compose.ts
// imports this module lazily, so with tracing off none of the SDK is loaded and no request pays
// anything for it.
//
// One SERVER span per call, named as the semantic conventions say: the RPC's full name
// ("auth.v1.AuthService/Login") for gRPC, gRPC-Web and Connect, the method and route template
// ("POST /api/v1/sessions/:id") for the REST paths. Beneath it, a span per storage call and per
// password hash or verification. An incoming W3C traceparent is continued. The trace and span ids
// go into every log line written during the call, and into its access-log line.
//
// No span carries a secret or personal data: no email, password, token, code, address, user
// agent, raw path or query; only the route template, protocol, status and the refusal's reason.
import type http from "node:http";
import type http2 from "node:http2";
import { Code } from "@connectrpc/connect";
import { codeFromString } from "@connectrpc/connect/protocol-connect";
import {
  context,
  defaultTextMapGetter,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Span,
} from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { setGlobalErrorHandler, W3CTraceContextPropagator } from "@opentelemetry/core";
import { defaultResource, resourceFromAttributes } from "@opentelemetry/resources";
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BatchSpanProcessor,
  ConsoleSpanExporter,
  ParentBasedSampler,
  SimpleSpanProcessor,
  TraceIdRatioBasedSampler,
  TracerProvider,
  type Sampler,
  type SpanExporter,
  type SpanProcessor,
} from "@opentelemetry/sdk-trace";
import {
  ATTR_ERROR_TYPE,
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_HTTP_ROUTE,
  ATTR_NETWORK_PROTOCOL_VERSION,
  ATTR_RPC_METHOD,
  ATTR_RPC_STATUS_CODE,
  ATTR_RPC_SYSTEM_NAME,
  ATTR_SERVICE_NAME,
  ATTR_URL_SCHEME,
} from "@opentelemetry/semantic-conventions";
import type { TracingSettings } from "../config.ts";
import type { Logger } from "../log.ts";
import type { PasswordHasher } from "../passwords/hasher.ts";
import type { Store } from "../store/port.ts";
import { tracedStore } from "../store/traced.ts";
import { SpanKind as Kind, tracedMethods } from "../tracing.ts";
import { outcomeOf, type Outcome } from "../transport/outcome.ts";

type NodeRequest = http.IncomingMessage | http2.Http2ServerRequest;
type NodeResponse = http.ServerResponse | http2.Http2ServerResponse;

export interface Tracing {
  /** Runs the handling of one call inside its server span; the span ends when the response closes. */
  call(req: NodeRequest, res: NodeResponse, handle: () => void): void;
  store(store: Store): Store;
  hasher(hasher: PasswordHasher): PasswordHasher;
  /** The logger whose lines, written during a call, carry its trace_id and span_id. */
  logger(log: Logger): Logger;
  /** Sends the spans still queued; called last at shutdown. */
  shutdown(): Promise<void>;
}

export interface TracingParts {
  log: Logger;
  /** Replaces the configured exporters (tests: an InMemorySpanExporter); spans go to it as they end. */
  exporter?: SpanExporter;
  /** "https" when the server terminates TLS. */
  scheme: "http" | "https";
}

/** The codes that mark a server span failed (the RPC conventions); the rest are the client's doing. */
const rpcServerFaults = new Set<number>([
  Code.Unknown,
  Code.DeadlineExceeded,
  Code.Unimplemented,
  Code.Internal,
  Code.Unavailable,
  Code.DataLoss,
]);

/** The status codes as gRPC spells them, by number: the value of rpc.status_code. */
const grpcCodeNames = [
  "OK",
  "CANCELLED",
  "UNKNOWN",
  "INVALID_ARGUMENT",
  "DEADLINE_EXCEEDED",
  "NOT_FOUND",
  "ALREADY_EXISTS",
  "PERMISSION_DENIED",
  "RESOURCE_EXHAUSTED",
  "FAILED_PRECONDITION",
  "ABORTED",
  "OUT_OF_RANGE",
  "UNIMPLEMENTED",
  "INTERNAL",
  "UNAVAILABLE",
  "DATA_LOSS",
  "UNAUTHENTICATED",
];
const grpcCodeName = (code: number): string => grpcCodeNames[code] ?? "UNKNOWN";

function sampler(settings: TracingSettings): Sampler {
  const ratio = new TraceIdRatioBasedSampler(settings.samplerRatio);
  switch (settings.sampler) {
    case "always_on":
      return new AlwaysOnSampler();
    case "always_off":
      return new AlwaysOffSampler();
    case "traceidratio":
      return ratio;
    case "parentbased_always_off":
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case "parentbased_traceidratio":
      return new ParentBasedSampler({ root: ratio });
    case "parentbased_always_on":
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
  }
}

async function processors(settings: TracingSettings, parts: TracingParts): Promise<SpanProcessor[]> {
  if (parts.exporter !== undefined) return [new SimpleSpanProcessor({ exporter: parts.exporter })];
  const list: SpanProcessor[] = [];
  for (const name of settings.exporters) {
    if (name === "console") {
      list.push(new SimpleSpanProcessor({ exporter: new ConsoleSpanExporter() }));
    } else {
      // Loaded only for OTLP: it brings the OTLP encoders with it.
      const { OTLPTraceExporter } = await import("@opentelemetry/exporter-trace-otlp-proto");
      list.push(new BatchSpanProcessor({ exporter: new OTLPTraceExporter({ url: settings.otlpUrl }), ...settings.batch }));
    }
  }
  return list;
}

/** Fills in the call's span from what became of the request (the same record as the access log). */
// OpenTelemetry's HTTP semantic conventions: the methods of RFC 9110 and PATCH by name, any other
// as _OTHER (and the span named HTTP). Taken as sent, a method is any token over HTTP/2, of
// thousands of characters that HPACK lets a client repeat in a byte or two, and it went into every
// span's name and attribute, to every exporter (test/server/tracing.test.ts).
const knownMethods = new Set(["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"]);
const knownMethod = (method: string): string => (knownMethods.has(method) ? method : "_OTHER");

function finishCall(span: Span, method: string, outcome: Outcome, res: NodeResponse): void {
  const status = res.headersSent ? res.statusCode : undefined;
  const attributes: Attributes = {};
  if (status !== undefined) attributes[ATTR_HTTP_RESPONSE_STATUS_CODE] = status;
  let failed = status !== undefined && status >= 500;
  let errorType: string | undefined;
  if (outcome.protocol === "rest" || outcome.protocol === "http") {
    if (outcome.route !== undefined) attributes[ATTR_HTTP_ROUTE] = outcome.route;
    const name = method === "_OTHER" ? "HTTP" : method;
    span.updateName(outcome.route === undefined ? name : `${name} ${outcome.route}`);
    if (status !== undefined && status >= 400) errorType = outcome.reason ?? String(status);
  } else if (outcome.route !== undefined) {
    span.updateName(outcome.route);
    attributes[ATTR_RPC_SYSTEM_NAME] = outcome.protocol === "connect" ? "connectrpc" : "grpc";
    attributes[ATTR_RPC_METHOD] = outcome.route;
    const code = outcome.rpcCode === "ok" ? 0 : outcome.rpcCode === undefined ? undefined : codeFromString(outcome.rpcCode);
    if (code !== undefined) {
      attributes[ATTR_RPC_STATUS_CODE] = grpcCodeName(code);
      // The older, numeric attribute many gRPC dashboards still read.
      if (outcome.protocol !== "connect") attributes["rpc.grpc.status_code"] = code;
      failed = rpcServerFaults.has(code);
      if (code !== 0) errorType = outcome.reason ?? grpcCodeName(code);
    }
  }
  if (errorType !== undefined) attributes[ATTR_ERROR_TYPE] = errorType;
  span.setAttributes(attributes);
  if (failed) span.setStatus({ code: SpanStatusCode.ERROR });
  span.end();
}

export async function startTracing(settings: TracingSettings, parts: TracingParts): Promise<Tracing> {
  // The API's context is what carries the active span across awaits. Register Node's
  // AsyncLocalStorage manager unless the embedding process already has one (then that one serves).
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  // Export failures (a collector down) are otherwise silent.
  setGlobalErrorHandler((err) => parts.log.warn({ err: err instanceof Error ? err.message : String(err) }, "tracing: export failed"));
  const provider = new TracerProvider({
    resource: defaultResource().merge(
      resourceFromAttributes({ ...settings.resourceAttributes, [ATTR_SERVICE_NAME]: settings.serviceName }),
    ),
    sampler: sampler(settings),
    spanProcessors: await processors(settings, parts),
  });
  const tracer = provider.getTracer("authd");
  const propagator = new W3CTraceContextPropagator();

  return {
    call(req, res, handle) {
      const parent = settings.propagate ? propagator.extract(ROOT_CONTEXT, req.headers, defaultTextMapGetter) : ROOT_CONTEXT;
      const method = knownMethod(req.method ?? "GET");
      const span = tracer.startSpan(
        method === "_OTHER" ? "HTTP" : method,
        {
          kind: SpanKind.SERVER,
          attributes: {
            [ATTR_HTTP_REQUEST_METHOD]: method,
            [ATTR_URL_SCHEME]: parts.scheme,
            [ATTR_NETWORK_PROTOCOL_VERSION]: req.httpVersion === "2.0" ? "2" : req.httpVersion,
          },
        },
        parent,
      );
      const outcome = outcomeOf(req);
      const ids = span.spanContext();
      outcome.trace = { traceId: ids.traceId, spanId: ids.spanId };
      res.once("close", () => finishCall(span, method, outcome, res));
      context.with(trace.setSpan(parent, span), handle);
    },
    store: (store) => tracedStore(store, tracer),
    hasher: (hasher) =>
      tracedMethods(hasher, tracer, (operation) => ({ name: `password.${operation}`, kind: Kind.INTERNAL, attributes: {} }), [
        "hash",
        "verify",
        "burn",
      ]),
    logger: (log) =>
      log.child(
        {},
        {
          formatters: {
            log(line: object) {
              // The access log names the request's trace itself (or none, for an untraced probe): its
              // line is written when the response closes, in whatever context that happens.
              if ("trace_id" in line) return line;
              const span = trace.getSpan(context.active());
              if (span === undefined) return line;
              const ids = span.spanContext();
              return { ...line, trace_id: ids.traceId, span_id: ids.spanId, trace_flags: ids.traceFlags.toString(16).padStart(2, "0") };
            },
          },
        },
      ),
    shutdown: () => provider.shutdown(),
  };
}
