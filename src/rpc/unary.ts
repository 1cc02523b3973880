// The unary fast path: a plain unary call over Connect (JSON or Protobuf, HTTP/1.1 or HTTP/2) or
// gRPC (HTTP/2, Protobuf), served without Connect's universal handler.
//
// Why: on the cheapest call the service has (grpc.health.v1.Health/Check), Connect's handler
// was most of the CPU time (bench/run.ts; the README's Benchmark section): a handler context
// with three Headers and an AbortController linked to two signals, an abort at the end of every
// call (which makes Node build a DOMException and its stack trace), async-generator pipelines
// that carry one message, and, for gRPC, five stream transforms. This path does what those do
// for one message, and nothing else.
//
// What stays Connect's: everything but the decoding of a well-formed request and the encoding of
// its answer. The implementation runs through the same interceptors, in a copy of Connect's
// invokeUnaryImplementation whose Headers are made only when read (invoke-unary.ts), with
// Connect's own (de)serializers, error encoders and compression negotiation, so an answer is the
// one Connect would have written (test/rpc/unary.test.ts sends the same requests both ways and
// compares them byte for byte). Anything unusual (a compressed
// request, a deadline or content type Connect would refuse, HTTP/1.1 gRPC, a body over the limit
// or that does not decode, more than one gRPC message) is handed to Connect with the bytes
// already read, so its errors, and this adapter's rewriting of them, stay where they are.
import type { DescMessage } from "@bufbuild/protobuf";
import { Code, ConnectError, type ContextValues, type HandlerContext, type Interceptor, type MethodImplSpec } from "@connectrpc/connect";
import {
  compressionNegotiate,
  createMethodSerializationLookup,
  mergeNonProtocolHeaders,
  type Compression,
  type MethodSerializationLookup,
} from "@connectrpc/connect/protocol";
import {
  codeToHttpStatus,
  errorToJsonBytes,
  parseContentType as parseConnectContentType,
  parseTimeout as parseConnectTimeout,
  trailerMux,
} from "@connectrpc/connect/protocol-connect";
import {
  grpcStatusOk,
  parseContentType as parseGrpcContentType,
  parseTimeout as parseGrpcTimeout,
  setTrailerStatus,
} from "@connectrpc/connect/protocol-grpc";
import type { JsonReadOptions, JsonWriteOptions } from "@bufbuild/protobuf";
import { clientGone, type NodeHandler } from "../transport/node-http.ts";
import type { CallSignals } from "./call-signals.ts";
import { maxDeadlineMs } from "./compression.ts";
import { withJsonAnswers } from "./json-answer.ts";
import { requestUrl, webHeaders } from "./node-request.ts";
import { nodeHeaderValue, type NodeHeaderReader } from "./context.ts";
import { invokeUnary } from "./invoke-unary.ts";
import { nodeHeaders, type NodeHeaders, writeAnswer } from "./node-response.ts";
import { finishTrailer, settleConnectError, type NoteStatus } from "./protocol-errors.ts";

type NodeRequest = Parameters<NodeHandler>[0];
type NodeResponse = Parameters<NodeHandler>[1];

/** What Connect's validated handler options hold that this path uses. */
export interface UnaryOptions {
  acceptCompression: Compression[];
  readMaxBytes: number;
  writeMaxBytes: number;
  compressMinBytes: number;
  maxTimeoutMs: number;
  jsonOptions?: Partial<JsonReadOptions & JsonWriteOptions>;
  binaryOptions?: Parameters<typeof createMethodSerializationLookup>[1];
  interceptors: Interceptor[];
  shutdownSignal?: AbortSignal;
}

/** The wire of a request this path takes; undefined leaves the request to Connect. */
type Wire = { kind: "connect"; binary: boolean; timeoutMs: number | undefined } | { kind: "grpc"; timeoutMs: number | undefined };

/** One method this path can serve: Connect's spec of it, and its (de)serializers. */
export interface UnaryMethod {
  spec: MethodImplSpec & { kind: "unary" };
  serialization: MethodSerializationLookup<DescMessage, DescMessage>;
}

export function unaryMethod(spec: MethodImplSpec & { kind: "unary" }, opt: UnaryOptions): UnaryMethod {
  const connect = createMethodSerializationLookup(spec.method, opt.binaryOptions, opt.jsonOptions, opt);
  // JSON answers written by json-answer.ts: Connect's bytes, without toJsonString's reflection.
  return { spec, serialization: withJsonAnswers(connect, spec.method.output, opt) };
}

/**
 * The wire of a request the fast path takes, read from its headers alone; undefined when Connect
 * should answer it (it then refuses or serves it exactly as before).
 */
export function fastWire(req: NodeRequest, opt: UnaryOptions): Wire | undefined {
  if (req.method !== "POST") return undefined;
  const headers = req.headers;
  const contentType = headers["content-type"];
  if (typeof contentType !== "string") return undefined;
  // A body declared larger than the limit is refused by Connect without being read.
  const declared = headers["content-length"];
  if (declared !== undefined && !(Number(declared) <= opt.readMaxBytes)) return undefined;
  if (contentType.startsWith("application/grpc")) {
    // gRPC needs HTTP/2's trailers; gRPC-Web (application/grpc-web…) and JSON-coded gRPC are Connect's.
    if (req.httpVersion !== "2.0" || parseGrpcContentType(contentType)?.binary !== true) return undefined;
    if (!identity(headers["grpc-encoding"])) return undefined;
    const timeout = parseGrpcTimeout(single(headers["grpc-timeout"]), opt.maxTimeoutMs);
    if (timeout.error !== undefined) return undefined;
    return { kind: "grpc", timeoutMs: clamp(timeout.timeoutMs) };
  }
  const type = parseConnectContentType(contentType);
  if (type === undefined || type.stream) return undefined;
  if (!identity(headers["content-encoding"])) return undefined;
  const timeout = parseConnectTimeout(single(headers["connect-timeout-ms"]), opt.maxTimeoutMs);
  if (timeout.error !== undefined) return undefined;
  return { kind: "connect", binary: type.binary, timeoutMs: clamp(timeout.timeoutMs) };
}

const single = (value: string | string[] | undefined): string | null => (typeof value === "string" ? value : null);
const identity = (value: string | string[] | undefined) => value === undefined || value === "identity";
const clamp = (ms: number | undefined) => (ms === undefined ? undefined : Math.min(ms, maxDeadlineMs));

/** The request body, read whole; `tooLarge` with what was read when it passes `limit`; undefined when the client went. */
function readBody(req: NodeRequest, limit: number): Promise<{ bytes: Buffer; tooLarge: boolean } | undefined> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let length = 0;
    const done = (result: { bytes: Buffer; tooLarge: boolean } | undefined) => {
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("error", onGone);
      req.off("close", onGone);
      resolve(result);
    };
    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      length += chunk.length;
      if (length > limit) {
        // The rest stays in the stream, for Connect to read after these bytes.
        req.pause();
        done({ bytes: Buffer.concat(chunks, length), tooLarge: true });
      }
    };
    const onEnd = () => done({ bytes: chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, length), tooLarge: false });
    const onGone = () => done(undefined);
    req.on("data", onData);
    req.on("end", onEnd);
    req.on("error", onGone);
    req.on("close", onGone);
  });
}

/** The one message of a gRPC body with exactly one uncompressed frame, or undefined. */
function singleGrpcMessage(body: Buffer): Buffer | undefined {
  if (body.length < 5 || body[0] !== 0) return undefined;
  return body.readUInt32BE(1) === body.length - 5 ? body.subarray(5) : undefined;
}

/** The input message, or undefined when it does not decode (Connect then says why). */
function decodeInput(method: UnaryMethod, wire: Wire, body: Buffer): unknown {
  const bytes = wire.kind === "grpc" ? singleGrpcMessage(body) : body;
  if (bytes === undefined) return undefined;
  try {
    return method.serialization.getI(wire.kind === "grpc" || wire.binary).parse(bytes);
  } catch {
    return undefined;
  }
}

/**
 * A handler context with only what a unary call needs. Its three Headers are made when first
 * asked for: building fetch Headers from Node's request headers, and two empty ones for the
 * answer, was a tenth of the empty RPC's allocations (a sampling heap profile) and 1-2 µs of an
 * authenticated call's CPU, while the implementations read one or two request headers (through
 * rpc/context.ts, from Node's own) and set none on most answers.
 */
class UnaryContext implements HandlerContext, NodeHeaderReader {
  readonly requestMethod = "POST";
  readonly method: MethodImplSpec["method"];
  readonly protocolName: string;
  readonly values: ContextValues;
  readonly url: string;
  readonly signal: AbortSignal;
  readonly #deadline: number | undefined;
  readonly #nodeHeaders: NodeRequest["headers"];
  #requestHeader: Headers | undefined;
  #responseHeader: Headers | undefined;
  #responseTrailer: Headers | undefined;

  constructor(
    method: MethodImplSpec["method"],
    protocolName: string,
    values: ContextValues,
    url: string,
    req: NodeRequest,
    signal: AbortSignal,
    deadline: number | undefined,
  ) {
    this.method = method;
    this.protocolName = protocolName;
    this.values = values;
    this.url = url;
    this.#nodeHeaders = req.headers;
    this.signal = signal;
    this.#deadline = deadline;
  }

  get service() {
    return this.method.parent;
  }

  get requestHeader(): Headers {
    this.#requestHeader ??= webHeaders(this.#nodeHeaders);
    return this.#requestHeader;
  }

  /** NodeHeaderReader (context.ts): one header from Node's, while no Headers were made to change. */
  nodeRequestHeader(name: string): string | null | undefined {
    return this.#requestHeader === undefined ? nodeHeaderValue(this.#nodeHeaders, name) : undefined;
  }

  get responseHeader(): Headers {
    this.#responseHeader ??= new Headers();
    return this.#responseHeader;
  }

  get responseTrailer(): Headers {
    this.#responseTrailer ??= new Headers();
    return this.#responseTrailer;
  }

  /** The answer's headers as Node takes them: those the call set, if it set any. */
  answerHeaders(): NodeHeaders {
    return nodeHeaders(this.#responseHeader);
  }

  /**
   * A Connect unary answer's headers as Node takes them: Connect carries trailers as trailer-*
   * headers (trailerMux); with none (always, for ours) the headers go as they are, without its copy.
   */
  connectAnswerHeaders(): NodeHeaders {
    return this.hasTrailers() ? nodeHeaders(trailerMux(this.responseHeader, this.responseTrailer)) : this.answerHeaders();
  }

  /** Whether the call set any trailer. */
  hasTrailers(): boolean {
    if (this.#responseTrailer !== undefined) for (const _ of this.#responseTrailer.keys()) return true;
    return false;
  }

  timeoutMs = (): number | undefined => (this.#deadline === undefined ? undefined : this.#deadline - Date.now());
}

/** The answer, as it goes on the wire. */
interface UnaryAnswer {
  status: number;
  header: NodeHeaders;
  body: Uint8Array;
  /** gRPC's trailers; undefined for Connect, whose unary answers carry them as headers. */
  trailer: NodeHeaders | undefined;
}

/**
 * Runs the implementation on a decoded input and encodes its answer, or its error, the way
 * Connect's unary (protocol-connect) and gRPC (protocol-grpc) handlers do. `note` hears the status
 * and reason the client is sent.
 */
async function answerUnary(
  method: UnaryMethod,
  wire: Wire,
  input: unknown,
  req: NodeRequest,
  call: { signal: AbortSignal; deadline: number | undefined; values: ContextValues; url: string; note: NoteStatus },
  opt: UnaryOptions,
): Promise<UnaryAnswer> {
  const { spec, serialization } = method;
  const binary = wire.kind === "grpc" || wire.binary;
  const ctx = new UnaryContext(spec.method, wire.kind, call.values, call.url, req, call.signal, call.deadline);
  const headers = req.headers;
  const compression = compressionNegotiate(
    opt.acceptCompression,
    null,
    single(wire.kind === "grpc" ? headers["grpc-accept-encoding"] : headers["accept-encoding"]),
    wire.kind === "grpc" ? "grpc-accept-encoding" : "accept-encoding",
  ).response;
  let output: Uint8Array | undefined;
  let error: ConnectError | undefined;
  try {
    const message = await invokeUnary(spec, ctx, input, opt.interceptors);
    output = serialization.getO(binary).serialize(message as never);
  } catch (e) {
    error = e instanceof ConnectError ? e : new ConnectError("internal error", Code.Internal, undefined, undefined, e);
  }
  if (wire.kind === "grpc") {
    const header = ctx.answerHeaders();
    header["content-type"] = "application/grpc+proto";
    if (compression !== null) header["grpc-encoding"] = compression.name;
    let trailer: NodeHeaders;
    if (error === undefined && !ctx.hasTrailers()) {
      trailer = { "grpc-status": grpcStatusOk };
      call.note(0);
    } else {
      const trailers = ctx.responseTrailer;
      trailers.set("grpc-status", grpcStatusOk);
      if (error !== undefined) setTrailerStatus(trailers, error);
      finishTrailer(trailers, spec.method.input, opt.readMaxBytes, call.note);
      trailer = nodeHeaders(trailers);
    }
    if (error !== undefined) return { status: 200, header, body: new Uint8Array(0), trailer };
    const payload = output as Uint8Array;
    const compress = compression !== null && payload.byteLength >= opt.compressMinBytes;
    return { status: 200, header, body: envelope(compress ? await compression.compress(payload) : payload, compress), trailer };
  }
  if (error === undefined) {
    let body = output as Uint8Array;
    const header = ctx.connectAnswerHeaders();
    header["content-type"] = wire.binary ? "application/proto" : "application/json";
    if (compression !== null && body.byteLength >= opt.compressMinBytes) {
      body = await compression.compress(body);
      header["content-encoding"] = compression.name;
    }
    header["content-length"] = String(body.byteLength);
    call.note(0);
    return { status: 200, header, body, trailer: undefined };
  }
  // An error: rare, and the Headers Connect's helpers take are worth their cost here.
  ctx.responseHeader.set("content-type", "application/json");
  if (!error.isWireError) mergeNonProtocolHeaders(ctx.responseHeader, error.metadata);
  let status = codeToHttpStatus(error.code);
  let body: Uint8Array = errorToJsonBytes(error, opt.jsonOptions ?? {});
  if (compression !== null && body.byteLength >= opt.compressMinBytes) {
    body = await compression.compress(body);
    ctx.responseHeader.set("content-encoding", compression.name);
  }
  const rewritten = settleConnectError(Buffer.from(body), spec.method.input, opt.readMaxBytes, call.note);
  if (rewritten !== undefined) {
    status = rewritten.status;
    body = rewritten.body;
  }
  const header = ctx.connectAnswerHeaders();
  header["content-length"] = String(body.byteLength);
  return { status, header, body, trailer: undefined };
}

/** A gRPC frame: the compressed flag, the length, the message. */
function envelope(payload: Uint8Array, compressed: boolean): Uint8Array {
  const frame = Buffer.allocUnsafe(5 + payload.byteLength);
  frame[0] = compressed ? 1 : 0;
  frame.writeUInt32BE(payload.byteLength, 1);
  frame.set(payload, 5);
  return frame;
}

/** What serveUnary needs of the adapter around it. */
export interface UnaryCall {
  opt: UnaryOptions;
  signalOf: CallSignals;
  /** The call's context values; throws when the request is too malformed to have any. */
  values(): ContextValues;
  /** Tells the access log the status and reason the client was sent. */
  note: NoteStatus;
  /** Hands the request to Connect's handler, with the body bytes already read (and whether more follow). */
  toConnect(read: { bytes: Buffer; rest: boolean } | undefined): void;
  /** Logs what kept the answer from being written, and ends the response (the client is not left waiting). */
  failed(reason: unknown): void;
}

/**
 * Serves a call fastWire took: reads and decodes it, runs it, writes the answer; or hands it to
 * Connect. Never rejects: an answer that could not be written ends the response (call.failed).
 */
export async function serveUnary(req: NodeRequest, res: NodeResponse, method: UnaryMethod, wire: Wire, call: UnaryCall): Promise<void> {
  const { opt } = call;
  // As in Connect's handler, the deadline and the call's signal start before the body is read.
  const deadline = wire.timeoutMs === undefined ? undefined : Date.now() + wire.timeoutMs;
  const url = requestUrl(req);
  let values: ContextValues;
  try {
    // A request without a usable authority is Connect's to refuse (universalRequest).
    if (url === undefined) throw new Error("no authority");
    values = call.values();
  } catch {
    call.toConnect(undefined);
    return;
  }
  try {
    const signal = call.signalOf(res, deadline);
    // A gRPC body is one 5-byte frame header and the message, which readMaxBytes bounds.
    const body = await readBody(req, wire.kind === "grpc" ? opt.readMaxBytes + 5 : opt.readMaxBytes);
    if (body === undefined) return; // the client went
    const decoded = body.tooLarge ? undefined : decodeInput(method, wire, body.bytes);
    if (decoded === undefined) {
      call.toConnect({ bytes: body.bytes, rest: body.tooLarge });
      return;
    }
    const answer = await answerUnary(method, wire, decoded, req, { signal, deadline, values, url, note: call.note }, opt);
    // Nothing to write to when the client went; Node would drop it silently on HTTP/2.
    if (!clientGone(res)) writeAnswer(res, answer);
  } catch (reason) {
    call.failed(reason);
  }
}
