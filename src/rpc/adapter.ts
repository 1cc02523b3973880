// The RPC adapter: connect-node's connectNodeAdapter, plus two things. A plain unary call takes the
// fast path (unary.ts); every other call goes through Connect's own handler. And on both paths,
// errors Connect raises itself leave with a fixed message and our reason (protocol-errors.ts), and
// the status each client was actually sent is noted for the access log.
import {
  Code,
  ConnectError,
  createConnectRouter,
  createServiceImplSpec,
  type ConnectRouter,
  type ConnectRouterOptions,
} from "@connectrpc/connect";
import { createMethodUrl, type UniversalHandler, validateUniversalHandlerOptions } from "@connectrpc/connect/protocol";
import { codeToString } from "@connectrpc/connect/protocol-connect";
import type { ContextValues } from "@connectrpc/connect";
import type { JsonReadOptions } from "@bufbuild/protobuf";
import { abandon, contentTypeRepeated, type NodeHandler } from "../transport/node-http.ts";
import { type Outcome, outcomeOf, type Protocol } from "../transport/outcome.ts";
import { acceptCompression, clampDeadline } from "./compression.ts";
import { outcomeKey } from "./context.ts";
import { universalRequest } from "./node-request.ts";
import { sendResponse } from "./node-response.ts";
import { finishTrailer, rewriteConnectUnary, rewriteGrpcWeb, type NoteStatus } from "./protocol-errors.ts";
import { callSignals } from "./call-signals.ts";
import { fastWire, serveUnary, type UnaryCall, unaryMethod, type UnaryMethod, type UnaryOptions } from "./unary.ts";

type NodeRequest = Parameters<NodeHandler>[0];
type NodeResponse = Parameters<NodeHandler>[1];

export interface RpcHandlerOptions extends Partial<ConnectRouterOptions> {
  routes(router: ConnectRouter): void;
  contextValues(req: NodeRequest): ContextValues;
  fallback(req: NodeRequest, res: NodeResponse): void;
  /** Answers a request too malformed for Connect to even read. */
  badRequest(req: NodeRequest, res: NodeResponse): void;
  log(err: unknown, rpc: string): void;
  /**
   * Serve plain unary calls on the fast path (unary.ts); off, every call goes through Connect. On
   * by default, unless an option is given that the fast path would not apply (optionFastPathIgnores).
   */
  unaryFastPath?: boolean;
}

/**
 * The router, recording each unary method's implementation as it is registered, keyed by the path
 * Connect routes it by (createMethodUrl): the fast path calls the same implementation Connect
 * does. Services registered with options of their own (interceptors, protocols) stay Connect's.
 */
function recordingRouter(router: ConnectRouter, opt: UnaryOptions, unary: Map<string, UnaryMethod>): ConnectRouter {
  const recording: ConnectRouter = {
    handlers: router.handlers,
    service(service, implementation, serviceOptions) {
      router.service(service, implementation, serviceOptions);
      for (const spec of Object.values(createServiceImplSpec(service, implementation).methods)) {
        const path = createMethodUrl("/", spec.method);
        // Registered again, the method is the new registration's: never a stale implementation.
        if (spec.kind === "unary" && serviceOptions === undefined) unary.set(path, unaryMethod(spec, opt));
        else unary.delete(path);
      }
      return recording;
    },
    rpc(method, impl, methodOptions) {
      router.rpc(method, impl, methodOptions);
      unary.delete(createMethodUrl("/", method));
      return recording;
    },
  };
  return recording;
}

/** This adapter's own options: not Connect's. */
const adapterOptions = new Set(["routes", "contextValues", "fallback", "badRequest", "log", "unaryFastPath"]);
/** Connect's options the fast path applies as Connect's handler does (UnaryOptions), whatever their value. */
const honoured = new Set([
  "acceptCompression",
  "compressMinBytes",
  "readMaxBytes",
  "writeMaxBytes",
  "jsonOptions",
  "binaryOptions",
  "maxTimeoutMs",
  "shutdownSignal",
  "interceptors",
  // The fast path serves no gRPC-Web call: those are Connect's, switched off or not.
  "grpcWeb",
]);
/** Connect's options the fast path matches only at these values, which are Connect's defaults. */
const honouredAt: Record<string, unknown> = { requireConnectProtocolHeader: false, connect: true, grpc: true };

/**
 * The first option given that the fast path would not honour (a request gate, a protocol switched
 * off, the protocol-version header required, or one it does not know, such as an option a later
 * Connect adds), or undefined. With any, every call goes through Connect's handler: skipping an
 * option that refuses calls would let through what it refuses.
 */
export function optionFastPathIgnores(options: RpcHandlerOptions): string | undefined {
  for (const [name, value] of Object.entries(options)) {
    if (value === undefined || adapterOptions.has(name) || honoured.has(name)) continue;
    if (Object.hasOwn(honouredAt, name) && honouredAt[name] === value) continue;
    return name;
  }
  return undefined;
}

/**
 * JSON requests are read as UTF-8 that must be valid (RFC 8259): Connect's default decoder puts
 * U+FFFD for bytes that are not, so a layer in front that reads them otherwise would see another
 * request than the one acted on. Protobuf's binary decoding already refuses such strings, and REST
 * such bodies. A leading byte-order mark is kept, and so refused as JSON, as REST refuses it: RFC
 * 8259 lets a reader ignore one, and readers that differ on it would again read two requests. Connect passes the decoder on
 * to its JSON serialization, though its router options' type does not name it (the one option
 * beside it is Connect's default): test/rpc/json-utf8.test.ts holds it to that.
 */
const strictJsonText: Partial<JsonReadOptions> & { textDecoder: InstanceType<typeof TextDecoder> } = {
  ignoreUnknownFields: true,
  textDecoder: new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }),
};

export function createRpcHandler(options: RpcHandlerOptions): NodeHandler {
  const routerOptions = { acceptCompression, jsonOptions: strictJsonText, ...options };
  const router = createConnectRouter(routerOptions);
  const opt: UnaryOptions = validateUniversalHandlerOptions(routerOptions);
  const unaryMethods = new Map<string, UnaryMethod>();
  const fastPath = options.unaryFastPath !== false && optionFastPathIgnores(options) === undefined;
  options.routes(fastPath ? recordingRouter(router, opt, unaryMethods) : router);
  const readMaxBytes = opt.readMaxBytes;
  const signalOf = callSignals(opt.shutdownSignal);
  const paths = new Map<string, Route>(
    router.handlers.map((h) => {
      const route = `${h.service.typeName}/${h.method.name}`;
      return [
        h.requestPath,
        { handler: h, route, unary: unaryMethods.get(h.requestPath), logFailure: (reason) => options.log(reason, route) },
      ];
    }),
  );

  /** One call: its request, what it took, and what serveUnary needs of the adapter (methods on the prototype, not closures per call). */
  class Call implements UnaryCall {
    readonly opt = opt;
    readonly signalOf = signalOf;
    readonly req: NodeRequest;
    readonly res: NodeResponse;
    readonly found: Route;
    readonly outcome: Outcome;
    readonly contentType: string;
    readonly note: NoteStatus;
    constructor(req: NodeRequest, res: NodeResponse, found: Route, outcome: Outcome, contentType: string) {
      this.req = req;
      this.res = res;
      this.found = found;
      this.outcome = outcome;
      this.contentType = contentType;
      this.note = noteOn(outcome);
    }
    values(): ContextValues {
      return options.contextValues(this.req).set(outcomeKey, this.outcome);
    }
    toConnect(read: { bytes: Buffer; rest: boolean } | undefined): void {
      viaConnect(this, read);
    }
    failed(reason: unknown): void {
      this.found.logFailure(reason);
      abandon(this.res);
    }
  }

  /** Connect's handler; `read` is the body already taken from the request, when the fast path gave up. */
  function viaConnect(call: Call, read: { bytes: Buffer; rest: boolean } | undefined): void {
    const { req, res, found, outcome, contentType, note } = call;
    const { handler, route } = found;
    const input = handler.method.input;
    let uReq: ReturnType<typeof universalRequest>;
    try {
      uReq = universalRequest(req, res, call.values());
    } catch {
      // e.g. an HTTP/1.0 request without a Host header: Connect cannot build a request URL.
      options.badRequest(req, res);
      return;
    }
    if (read !== undefined) uReq = { ...uReq, body: readAgain(read.bytes, read.rest ? req : undefined) };
    clampDeadline(uReq.header);
    handler(uReq)
      .then(async (uRes) => {
        if (uRes.body !== undefined) {
          if (outcome.protocol === "grpc-web") {
            uRes = { ...uRes, body: rewriteGrpcWeb(uRes.body, input, readMaxBytes, note) };
          } else if (outcome.protocol === "grpc") {
            // Connect fills the trailers while the body is drained: they are patched just before
            // they are sent.
            return sendResponse(uRes, res, (trailer) => finishTrailer(trailer, input, readMaxBytes, note));
          } else if (uRes.status >= 400 && (uRes.header?.get("content-type") ?? "").startsWith("application/json")) {
            uRes = await rewriteConnectUnary(uRes, input, readMaxBytes, note);
          } else if (uRes.status === 200 && !contentType.startsWith("application/connect+")) {
            note(0); // a Connect unary success; a stream's end is the interceptor's to tell
          }
        }
        return sendResponse(uRes, res);
      })
      .catch((reason: unknown) => {
        if (ConnectError.from(reason).code === Code.Aborted) return;
        options.log(reason, route);
        abandon(res);
      });
  }

  return (req, res) => {
    const url = req.url ?? "";
    const query = url.indexOf("?");
    const found = paths.get(query === -1 ? url : url.slice(0, query));
    if (found === undefined) {
      options.fallback(req, res);
      return;
    }
    const contentType = String(req.headers["content-type"] ?? "").toLowerCase();
    const outcome = outcomeOf(req);
    outcome.protocol = protocolOf(contentType);
    outcome.route = found.route;
    // Refused as Connect refuses a content type it does not serve (415, no body): a layer in
    // front that keeps another of the lines would take the call for another protocol or codec.
    if (contentTypeRepeated(req)) {
      res.statusCode = 415;
      res.setHeader("cache-control", "no-store");
      res.end();
      return;
    }
    const call = new Call(req, res, found, outcome, contentType);
    const unary = found.unary;
    const wire = unary === undefined ? undefined : fastWire(req, opt);
    if (unary !== undefined && wire !== undefined) {
      void serveUnary(req, res, unary, wire, call);
      return;
    }
    viaConnect(call, undefined);
  };
}

/** A route Connect's router serves, with the fast path's implementation when it has one. */
interface Route {
  handler: UniversalHandler;
  route: string;
  unary: UnaryMethod | undefined;
  logFailure(reason: unknown): void;
}

/** The status on the wire is the one the client saw: it replaces what the interceptor noted. */
function noteOn(outcome: Outcome): NoteStatus {
  return (code, reason) => {
    outcome.rpcCode = code === 0 ? "ok" : codeToString(code as Code);
    if (reason !== undefined) outcome.reason = reason;
  };
}

/** The body Connect reads when the fast path gave the request up: the bytes read, then the rest. */
async function* readAgain(bytes: Buffer, rest: AsyncIterable<Uint8Array> | undefined): AsyncIterable<Uint8Array> {
  if (bytes.length > 0) yield bytes;
  if (rest !== undefined) yield* rest;
}

function protocolOf(contentType: string): Protocol {
  if (contentType.startsWith("application/grpc-web")) return "grpc-web";
  if (contentType.startsWith("application/grpc")) return "grpc";
  return "connect";
}
