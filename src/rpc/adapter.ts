// The RPC adapter: connect-node's connectNodeAdapter plus one step.
//
// Errors that Connect raises itself, before our code runs (a body that does not decode, a body
// over the size limit), carry the status code but none of our reasons, and their messages can
// echo the client's input (a password sent as a number, say). This adapter is connect-node's
// connectNodeAdapter plus one step: such error responses get a fixed message and a
// google.rpc.ErrorInfo reason, in each protocol's own encoding, like every other error. On the way
// out it notes the status and reason each client was actually sent, for the access log.
import { create, fromBinary, toBinary, type DescMessage } from "@bufbuild/protobuf";
import { anyPack, anyUnpack } from "@bufbuild/protobuf/wkt";
import {
  Code,
  ConnectError,
  createConnectRouter,
  createServiceImplSpec,
  type ConnectRouter,
  type ConnectRouterOptions,
} from "@connectrpc/connect";
import { validateUniversalHandlerOptions, type UniversalServerResponse } from "@connectrpc/connect/protocol";
import { codeToString } from "@connectrpc/connect/protocol-connect";
import type { ContextValues } from "@connectrpc/connect";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { StatusSchema } from "../../gen/google/rpc/status_pb.js";
import type { Reason } from "../errors.ts";
import { clientGone, type NodeHandler } from "../transport/node-http.ts";
import { outcomeOf, type Protocol } from "../transport/outcome.ts";
import { acceptCompression, clampDeadline, isUndeclaredCompression } from "./compression.ts";
import { outcomeKey } from "./context.ts";
import { errorDomain } from "./errors.ts";
import { universalRequest } from "./node-request.ts";
import { sendResponse, writeAnswer } from "./node-response.ts";
import { answerUnary, callSignals, decodeInput, fastWire, readBody, unaryMethod, type UnaryMethod, type UnaryOptions } from "./unary.ts";

type NodeRequest = Parameters<NodeHandler>[0];
type NodeResponse = Parameters<NodeHandler>[1];

/** The Connect protocol's name and HTTP status of each code this adapter rewrites. */
const connectWire: Array<{ code: Code; name: string; http: number }> = [
  { code: Code.InvalidArgument, name: "invalid_argument", http: 400 },
  { code: Code.ResourceExhausted, name: "resource_exhausted", http: 429 },
  { code: Code.Internal, name: "internal", http: 500 },
];

interface Replacement {
  code: Code;
  reason: Reason;
  message: string;
}

/** Tells the access log the status the client was sent (0 for OK), and the reason when known. */
type NoteStatus = (code: number, reason?: string) => void;
const noNote: NoteStatus = () => undefined;

/** What replaces a protocol-level error, or undefined to leave it as Connect wrote it. */
function replacement(code: Code, message: string, input: DescMessage, readMaxBytes: number): Replacement | undefined {
  const malformed = {
    code: Code.InvalidArgument,
    reason: "MALFORMED_REQUEST" as const,
    message: `the request is not a valid ${input.typeName}`,
  };
  switch (code) {
    case Code.InvalidArgument:
      return malformed;
    case Code.ResourceExhausted:
      return { code, reason: "PAYLOAD_TOO_LARGE", message: `the request is larger than ${readMaxBytes} bytes` };
    case Code.Internal:
      // Connect reports undecodable binary Protobuf, and a compressed frame sent without a
      // declared encoding, as internal; both are the client's fault.
      if (message.startsWith("parse binary")) return malformed;
      if (isUndeclaredCompression(message)) return { ...malformed, message: "a compressed message arrived without grpc-encoding" };
      return { code, reason: "INTERNAL", message: "internal error" };
    default:
      return undefined;
  }
}

const errorInfo = (reason: Reason) => create(ErrorInfoSchema, { reason, domain: errorDomain, metadata: {} });

function statusDetailsBin(code: Code, message: string, reason: Reason): string {
  const status = create(StatusSchema, { code, message, details: [anyPack(ErrorInfoSchema, errorInfo(reason))] });
  return Buffer.from(toBinary(StatusSchema, status)).toString("base64").replace(/=+$/, "");
}

/** Patches gRPC / gRPC-Web trailers (as Headers) in place; returns whether it changed them. */
export function patchGrpcTrailer(trailer: Headers, input: DescMessage, readMaxBytes: number): boolean {
  return patchTrailer(trailer, input, readMaxBytes) !== undefined;
}

/** Patches the trailers in place; returns the replacement, or undefined when none was needed. */
function patchTrailer(trailer: Headers, input: DescMessage, readMaxBytes: number): Replacement | undefined {
  const status = Number(trailer.get("grpc-status") ?? "0");
  if (status === 0 || trailer.has("grpc-status-details-bin")) return undefined;
  let message = trailer.get("grpc-message") ?? "";
  try {
    message = decodeURIComponent(message);
  } catch {
    // keep it as sent
  }
  const r = replacement(status as Code, message, input, readMaxBytes);
  if (r === undefined) return undefined;
  trailer.set("grpc-status", String(r.code));
  trailer.set("grpc-message", encodeURIComponent(r.message));
  trailer.set("grpc-status-details-bin", statusDetailsBin(r.code, r.message, r.reason));
  return r;
}

/** Patches the trailers and notes the status they carry. */
function finishTrailer(trailer: Headers, input: DescMessage, readMaxBytes: number, note: NoteStatus): boolean {
  const r = patchTrailer(trailer, input, readMaxBytes);
  note(Number(trailer.get("grpc-status") ?? "0"), r?.reason ?? reasonInStatusBin(trailer.get("grpc-status-details-bin")));
  return r !== undefined;
}

/** The ErrorInfo reason in a grpc-status-details-bin value, for the access log. */
function reasonInStatusBin(bin: string | null): string | undefined {
  if (bin === null) return undefined;
  try {
    const status = fromBinary(StatusSchema, Buffer.from(bin, "base64"));
    for (const detail of status.details) {
      const info = anyUnpack(detail, ErrorInfoSchema);
      if (info !== undefined) return info.reason;
    }
  } catch {
    // not a Status: no reason to tell
  }
  return undefined;
}

/** Connect unary errors are one small JSON body; it is read whole and rewritten if needed. */
async function rewriteConnectUnary(
  res: UniversalServerResponse,
  input: DescMessage,
  max: number,
  note: NoteStatus,
): Promise<UniversalServerResponse> {
  const chunks: Uint8Array[] = [];
  for await (const c of res.body ?? []) chunks.push(c);
  const bytes = Buffer.concat(chunks);
  const rewritten = connectErrorBody(bytes, input, max);
  if (rewritten === undefined) {
    const sent = connectErrorOf(bytes);
    note(sent.code, sent.reason);
    return { ...res, body: oneChunk(bytes) };
  }
  note(rewritten.code, rewritten.reason);
  res.header?.set("content-length", String(rewritten.body.byteLength));
  return { ...res, status: rewritten.status, body: oneChunk(rewritten.body) };
}

/** The code and ErrorInfo reason of a Connect JSON error body, for the access log. */
function connectErrorOf(bytes: Buffer): { code: Code; reason?: string } {
  try {
    const body = JSON.parse(bytes.toString("utf8")) as { code?: unknown; details?: Array<{ type?: unknown; value?: unknown }> };
    const code = Object.values(Code).find((c) => typeof c === "number" && codeToString(c) === body.code);
    const info = body.details?.find((d) => d.type === "google.rpc.ErrorInfo");
    const reason = typeof info?.value === "string" ? fromBinary(ErrorInfoSchema, Buffer.from(info.value, "base64")).reason : undefined;
    return { code: typeof code === "number" ? code : Code.Unknown, reason };
  } catch {
    return { code: Code.Unknown };
  }
}

async function* oneChunk(bytes: Uint8Array) {
  yield bytes;
}

/** The Connect error body that replaces a protocol-level one, or undefined to keep it. */
export function connectErrorBody(
  bytes: Buffer,
  input: DescMessage,
  max: number,
): { status: number; body: Buffer; code: Code; reason: Reason } | undefined {
  let parsed: { code?: string; message?: string; details?: Array<{ type?: string }> } | undefined;
  try {
    parsed = JSON.parse(bytes.toString("utf8")) as typeof parsed;
  } catch {
    parsed = undefined;
  }
  const code = connectWire.find((w) => w.name === parsed?.code)?.code;
  const r = code === undefined ? undefined : replacement(code, parsed?.message ?? "", input, max);
  if (parsed === undefined || r === undefined || (parsed.details ?? []).some((d) => d.type === "google.rpc.ErrorInfo")) {
    return undefined;
  }
  const value = Buffer.from(toBinary(ErrorInfoSchema, errorInfo(r.reason)))
    .toString("base64")
    .replace(/=+$/, "");
  const wire = connectWire.find((w) => w.code === r.code);
  const body = Buffer.from(JSON.stringify({ code: wire?.name, message: r.message, details: [{ type: "google.rpc.ErrorInfo", value }] }));
  return { status: wire?.http ?? 500, body, code: r.code, reason: r.reason };
}

/** Passes a gRPC-Web body through, rewriting its trailer frame when it carries a protocol error. */
export async function* rewriteGrpcWeb(body: AsyncIterable<Uint8Array>, input: DescMessage, max: number, note: NoteStatus = noNote) {
  for await (const chunk of body) {
    // A trailer frame: flag 0x80, 4-byte length, then HTTP/1-style header lines.
    const flag = chunk[0] ?? 0;
    if (chunk.length >= 5 && (flag & 0x80) === 0x80) {
      const length = Buffer.from(chunk).readUInt32BE(1);
      if (length === chunk.length - 5) {
        const trailer = new Headers();
        for (const line of Buffer.from(chunk.subarray(5)).toString("utf8").split("\r\n")) {
          const i = line.indexOf(":");
          if (i > 0) trailer.append(line.slice(0, i).trim(), line.slice(i + 1).trim());
        }
        if (finishTrailer(trailer, input, max, note)) {
          let text = "";
          for (const [key, value] of trailer) text += `${key}: ${value}\r\n`;
          const payload = Buffer.from(text, "utf8");
          const frame = Buffer.alloc(5 + payload.length);
          frame[0] = flag;
          frame.writeUInt32BE(payload.length, 1);
          payload.copy(frame, 5);
          yield new Uint8Array(frame);
          continue;
        }
      }
    }
    yield chunk;
  }
}

export interface RpcHandlerOptions extends Partial<ConnectRouterOptions> {
  routes(router: ConnectRouter): void;
  contextValues(req: NodeRequest): ContextValues;
  fallback(req: NodeRequest, res: NodeResponse): void;
  /** Answers a request too malformed for Connect to even read. */
  badRequest(req: NodeRequest, res: NodeResponse): void;
  log(err: unknown, rpc: string): void;
  /** Serve plain unary calls on the fast path (unary.ts); off, every call goes through Connect. On by default. */
  unaryFastPath?: boolean;
}

/**
 * The router, recording each unary method's implementation as it is registered: the fast path
 * calls the same implementation Connect does. Services registered with options of their own
 * (interceptors, protocols) stay Connect's alone.
 */
function recordingRouter(router: ConnectRouter, opt: UnaryOptions, unary: Map<string, UnaryMethod>): ConnectRouter {
  const recording: ConnectRouter = {
    handlers: router.handlers,
    service(service, implementation, serviceOptions) {
      router.service(service, implementation, serviceOptions);
      for (const spec of Object.values(createServiceImplSpec(service, implementation).methods)) {
        const path = `/${service.typeName}/${spec.method.name}`;
        // Registered again, the method is the new registration's: never a stale implementation.
        if (spec.kind === "unary" && serviceOptions === undefined) unary.set(path, unaryMethod(spec, opt));
        else unary.delete(path);
      }
      return recording;
    },
    rpc(method, impl, methodOptions) {
      router.rpc(method, impl, methodOptions);
      unary.delete(`/${method.parent.typeName}/${method.name}`);
      return recording;
    },
  };
  return recording;
}

export function createRpcHandler(options: RpcHandlerOptions): NodeHandler {
  const routerOptions = { acceptCompression, ...options };
  const router = createConnectRouter(routerOptions);
  const opt: UnaryOptions = validateUniversalHandlerOptions(routerOptions);
  const unaryMethods = new Map<string, UnaryMethod>();
  options.routes(options.unaryFastPath === false ? router : recordingRouter(router, opt, unaryMethods));
  const readMaxBytes = opt.readMaxBytes;
  const signalOf = callSignals(opt.shutdownSignal);
  const paths = new Map(
    router.handlers.map((h) => [
      h.requestPath,
      { handler: h, route: `${h.service.typeName}/${h.method.name}`, unary: unaryMethods.get(h.requestPath) },
    ]),
  );

  return (req, res) => {
    const found = paths.get((req.url ?? "").split("?", 2)[0] ?? "");
    if (found === undefined) {
      options.fallback(req, res);
      return;
    }
    const { handler, route, unary } = found;
    const contentType = String(req.headers["content-type"] ?? "").toLowerCase();
    const input = handler.method.input;
    const outcome = outcomeOf(req);
    outcome.protocol = protocolOf(contentType);
    outcome.route = route;
    // The status on the wire is the one the client saw: it replaces what the interceptor noted.
    const note: NoteStatus = (code, reason) => {
      outcome.rpcCode = code === 0 ? "ok" : codeToString(code as Code);
      if (reason !== undefined) outcome.reason = reason;
    };
    const wire = unary === undefined ? undefined : fastWire(req, opt);
    if (unary !== undefined && wire !== undefined) {
      void fastUnary(req, res, unary, wire).catch((reason: unknown) => options.log(reason, route));
      return;
    }
    viaConnect(req, res, undefined);

    /** Connect's handler; `read` is the body already taken from the request, when the fast path gave up. */
    function viaConnect(req: NodeRequest, res: NodeResponse, read: { bytes: Buffer; rest: boolean } | undefined): void {
      let uReq: ReturnType<typeof universalRequest>;
      try {
        uReq = universalRequest(req, res, options.contextValues(req).set(outcomeKey, outcome));
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
        });
    }

    async function fastUnary(req: NodeRequest, res: NodeResponse, method: UnaryMethod, wire: NonNullable<ReturnType<typeof fastWire>>) {
      // As in Connect's handler, the deadline and the call's signal start before the body is read.
      const deadline = wire.timeoutMs === undefined ? undefined : Date.now() + wire.timeoutMs;
      const authority = "authority" in req ? req.authority : req.headers.host;
      const encrypted = "encrypted" in req.socket && req.socket.encrypted === true;
      const url = `${encrypted ? "https" : "http"}://${authority ?? ""}${req.url ?? ""}`;
      let values: ContextValues;
      try {
        // A request without a usable authority is Connect's to refuse (universalRequest).
        if (authority === undefined || !URL.canParse(url)) throw new Error("no authority");
        values = options.contextValues(req).set(outcomeKey, outcome);
      } catch {
        viaConnect(req, res, undefined);
        return;
      }
      const signal = signalOf(res, deadline);
      // A gRPC body is one 5-byte frame header and the message, which readMaxBytes bounds.
      const body = await readBody(req, wire.kind === "grpc" ? readMaxBytes + 5 : readMaxBytes);
      if (body === undefined) return; // the client went
      const decoded = body.tooLarge ? undefined : decodeInput(method, wire, body.bytes);
      if (decoded === undefined) {
        viaConnect(req, res, { bytes: body.bytes, rest: body.tooLarge });
        return;
      }
      const answer = await answerUnary(method, wire, decoded, req, { signal, deadline, values, url }, opt);
      if (answer.trailer !== undefined) {
        finishTrailer(answer.trailer, input, readMaxBytes, note);
      } else if (answer.status !== 200) {
        const rewritten = connectErrorBody(Buffer.from(answer.body), input, readMaxBytes);
        if (rewritten === undefined) {
          const sent = connectErrorOf(Buffer.from(answer.body));
          note(sent.code, sent.reason);
        } else {
          note(rewritten.code, rewritten.reason);
          answer.status = rewritten.status;
          answer.body = rewritten.body;
          answer.header.set("content-length", String(rewritten.body.byteLength));
        }
      } else {
        note(0);
      }
      // Nothing to write to when the client went; Node would drop it silently on HTTP/2.
      if (!clientGone(res)) writeAnswer(res, answer);
    }
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
