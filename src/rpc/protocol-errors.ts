// Protocol-level errors, rewritten the way every other error leaves.
//
// Errors that Connect raises itself, before our code runs (a body that does not decode, a body
// over the size limit), carry the status code but none of our reasons, and their messages can
// echo the client's input (a password sent as a number, say). Such error responses get a fixed
// message and a google.rpc.ErrorInfo reason, in each protocol's own encoding, like every other
// error; and the status and reason each client was actually sent are noted for the access log.
// Used on both of the adapter's paths: Connect's handler (adapter.ts) and the fast path (unary.ts).
import { create, fromBinary, toBinary, type DescMessage } from "@bufbuild/protobuf";
import { anyPack, anyUnpack } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import type { UniversalServerResponse } from "@connectrpc/connect/protocol";
import { codeToString } from "@connectrpc/connect/protocol-connect";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { StatusSchema } from "../../gen/google/rpc/status_pb.js";
import type { Reason } from "../errors.ts";
import { isUndeclaredCompression } from "./compression.ts";
import { errorDomain } from "./errors.ts";

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
export type NoteStatus = (code: number, reason?: string) => void;
const noNote: NoteStatus = () => undefined;

/** What replaces a protocol-level error, or undefined to leave it as Connect wrote it. */
function replacement(code: Code, message: string, input: DescMessage, readMaxBytes: number): Replacement | undefined {
  const malformed = {
    code: Code.InvalidArgument,
    reason: "MALFORMED_REQUEST" as const,
    message: `the request is not a valid ${input.typeName}`,
  };
  switch (code) {
    case Code.InvalidArgument: {
      // Connect's refusal of a deadline header it cannot read: the header's fault, not the body's.
      const header = /invalid (grpc|connect) timeout value/.exec(message)?.[1];
      if (header === undefined) return malformed;
      return { ...malformed, message: `the ${header === "grpc" ? "grpc-timeout" : "connect-timeout-ms"} header is not a valid timeout` };
    }
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

/**
 * A grpc-message value as the gRPC spec encodes it (PROTOCOL-HTTP2.md, "Percent-Encoded"):
 * printable ASCII but '%' as it is, every other byte of the UTF-8 as %XX. Connect encodes with
 * encodeURIComponent, which escapes ';', ',', ':', '/' and spaces as well; any spec decoder reads
 * both, but @grpc/grpc-js decodes with decodeURI, which leaves %3B and its kin escaped.
 */
export function grpcMessageEncoded(message: string): string {
  let encoded = "";
  for (const byte of Buffer.from(message, "utf8")) {
    encoded +=
      byte >= 0x20 && byte <= 0x7e && byte !== 0x25 ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return encoded;
}

/**
 * grpc-message re-encoded as the spec does (grpcMessageEncoded); left as sent when it does not
 * decode. Returns whether the value changed.
 */
function respecMessage(trailer: Headers): boolean {
  const sent = trailer.get("grpc-message");
  if (sent === null) return false;
  let encoded: string;
  try {
    encoded = grpcMessageEncoded(decodeURIComponent(sent));
  } catch {
    // not percent-encoded as Connect writes it: kept as it is
    return false;
  }
  if (encoded === sent) return false;
  trailer.set("grpc-message", encoded);
  return true;
}

/**
 * Patches the trailers, encodes grpc-message as the spec does, and notes the status they carry.
 * Returns whether the trailers changed at all (a gRPC-Web trailer frame is then written anew).
 */
export function finishTrailer(trailer: Headers, input: DescMessage, readMaxBytes: number, note: NoteStatus): boolean {
  const r = patchTrailer(trailer, input, readMaxBytes);
  const respecified = respecMessage(trailer);
  note(Number(trailer.get("grpc-status") ?? "0"), r?.reason ?? reasonInStatusBin(trailer.get("grpc-status-details-bin")));
  return r !== undefined || respecified;
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

/**
 * A Connect unary error body as it leaves: rewritten when it is a protocol-level error, and noted
 * either way. Returns the replacement, or undefined when the body goes as it is.
 */
export function settleConnectError(
  bytes: Buffer,
  input: DescMessage,
  max: number,
  note: NoteStatus,
): { status: number; body: Buffer } | undefined {
  const rewritten = connectErrorBody(bytes, input, max);
  if (rewritten === undefined) {
    const sent = connectErrorOf(bytes);
    note(sent.code, sent.reason);
    return undefined;
  }
  note(rewritten.code, rewritten.reason);
  return rewritten;
}

/** Connect unary errors are one small JSON body; it is read whole and rewritten if needed. */
export async function rewriteConnectUnary(
  res: UniversalServerResponse,
  input: DescMessage,
  max: number,
  note: NoteStatus,
): Promise<UniversalServerResponse> {
  const chunks: Uint8Array[] = [];
  for await (const c of res.body ?? []) chunks.push(c);
  const bytes = Buffer.concat(chunks);
  const rewritten = settleConnectError(bytes, input, max, note);
  if (rewritten === undefined) return { ...res, body: oneChunk(bytes) };
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

/**
 * Passes a gRPC-Web body through, rewriting its trailer frame when it carries a protocol error or a
 * grpc-message Connect encoded otherwise than the spec (finishTrailer).
 */
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
