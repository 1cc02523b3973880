// Errors that Connect raises itself, before our code runs (a body that does not decode, a body
// over the size limit), carry the status code but none of our reasons, and their messages can
// echo the client's input (a password sent as a number, say). This adapter is connect-node's
// connectNodeAdapter plus one step: such error responses get a fixed message and a
// google.rpc.ErrorInfo reason, in each protocol's own encoding, like every other error.
import { create, toBinary, type DescMessage } from "@bufbuild/protobuf";
import { anyPack } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createConnectRouter, type ConnectRouter, type ConnectRouterOptions } from "@connectrpc/connect";
import { compressionBrotli, compressionGzip, universalRequestFromNodeRequest, universalResponseToNodeResponse } from "@connectrpc/connect-node";
import type { UniversalServerResponse } from "@connectrpc/connect/protocol";
import type { ContextValues } from "@connectrpc/connect";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { StatusSchema } from "../../gen/google/rpc/status_pb.js";
import type { Reason } from "../errors.ts";
import { errorDomain } from "../rpc/errors.ts";
import type { NodeHandler } from "./listener.ts";

type NodeRequest = Parameters<NodeHandler>[0];
type NodeResponse = Parameters<NodeHandler>[1];

export interface RpcHandlerOptions extends Partial<ConnectRouterOptions> {
  routes(router: ConnectRouter): void;
  contextValues(req: NodeRequest): ContextValues;
  fallback(req: NodeRequest, res: NodeResponse): void;
  log(err: unknown, rpc: string): void;
}

const codeNames: Record<string, Code> = {
  invalid_argument: Code.InvalidArgument,
  resource_exhausted: Code.ResourceExhausted,
  internal: Code.Internal,
};

/** What replaces a protocol-level error, or undefined to leave it as Connect wrote it. */
function replacement(code: Code, input: DescMessage, readMaxBytes: number): { reason: Reason; message: string } | undefined {
  switch (code) {
    case Code.InvalidArgument:
      return { reason: "MALFORMED_REQUEST", message: `the request is not a valid ${input.typeName}` };
    case Code.ResourceExhausted:
      return { reason: "PAYLOAD_TOO_LARGE", message: `the request is larger than ${readMaxBytes} bytes` };
    case Code.Internal:
      return { reason: "INTERNAL", message: "internal error" };
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
function patchGrpcTrailer(trailer: Headers, input: DescMessage, readMaxBytes: number): boolean {
  const status = Number(trailer.get("grpc-status") ?? "0");
  if (status === 0 || trailer.has("grpc-status-details-bin")) return false;
  const r = replacement(status as Code, input, readMaxBytes);
  if (r === undefined) return false;
  trailer.set("grpc-message", encodeURIComponent(r.message));
  trailer.set("grpc-status-details-bin", statusDetailsBin(status as Code, r.message, r.reason));
  return true;
}

async function* rewriteConnectUnary(body: AsyncIterable<Uint8Array>, res: UniversalServerResponse, input: DescMessage, max: number) {
  const chunks: Uint8Array[] = [];
  for await (const c of body) chunks.push(c);
  const bytes = Buffer.concat(chunks);
  let parsed: { code?: string; message?: string; details?: Array<{ type?: string }> } | undefined;
  try {
    parsed = JSON.parse(bytes.toString("utf8")) as typeof parsed;
  } catch {
    parsed = undefined;
  }
  const code = parsed?.code === undefined ? undefined : codeNames[parsed.code];
  const r = code === undefined ? undefined : replacement(code, input, max);
  if (parsed === undefined || r === undefined || (parsed.details ?? []).some((d) => d.type === "google.rpc.ErrorInfo")) {
    yield bytes;
    return;
  }
  const value = Buffer.from(toBinary(ErrorInfoSchema, errorInfo(r.reason))).toString("base64").replace(/=+$/, "");
  const out = Buffer.from(JSON.stringify({ code: parsed.code, message: r.message, details: [{ type: "google.rpc.ErrorInfo", value }] }));
  res.header?.set("content-length", String(out.byteLength));
  yield out;
}

async function* rewriteGrpc(body: AsyncIterable<Uint8Array>, res: UniversalServerResponse, input: DescMessage, max: number) {
  yield* body;
  // Connect fills the trailers while the body is drained; they are sent after this returns.
  if (res.trailer !== undefined) patchGrpcTrailer(res.trailer, input, max);
}

async function* rewriteGrpcWeb(body: AsyncIterable<Uint8Array>, input: DescMessage, max: number) {
  for await (const chunk of body) {
    // A trailer frame: flag 0x80, 4-byte length, then HTTP/1-style header lines.
    if (chunk.length >= 5 && (chunk[0]! & 0x80) === 0x80) {
      const length = Buffer.from(chunk).readUInt32BE(1);
      if (length === chunk.length - 5) {
        const trailer = new Headers();
        for (const line of Buffer.from(chunk.subarray(5)).toString("utf8").split("\r\n")) {
          const i = line.indexOf(":");
          if (i > 0) trailer.append(line.slice(0, i).trim(), line.slice(i + 1).trim());
        }
        if (patchGrpcTrailer(trailer, input, max)) {
          let text = "";
          trailer.forEach((value, key) => (text += `${key}: ${value}\r\n`));
          const payload = Buffer.from(text, "utf8");
          const frame = Buffer.alloc(5 + payload.length);
          frame[0] = chunk[0]!;
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

export function createRpcHandler(options: RpcHandlerOptions): NodeHandler {
  const router = createConnectRouter({ acceptCompression: [compressionGzip, compressionBrotli], ...options });
  options.routes(router);
  const readMaxBytes = options.readMaxBytes ?? 0xffffffff;
  const paths = new Map(router.handlers.map((h) => [h.requestPath, h]));

  return (req, res) => {
    const handler = paths.get((req.url ?? "").split("?", 2)[0] ?? "");
    if (handler === undefined) {
      options.fallback(req, res);
      return;
    }
    const contentType = String(req.headers["content-type"] ?? "");
    const input = handler.method.input;
    const uReq = universalRequestFromNodeRequest(req, res, undefined, options.contextValues(req));
    handler(uReq)
      .then((uRes) => {
        if (uRes.body !== undefined) {
          if (contentType.startsWith("application/grpc-web")) {
            uRes = { ...uRes, body: rewriteGrpcWeb(uRes.body, input, readMaxBytes) };
          } else if (contentType.startsWith("application/grpc")) {
            uRes = { ...uRes, body: rewriteGrpc(uRes.body, uRes, input, readMaxBytes) };
          } else if (uRes.status >= 400 && (uRes.header?.get("content-type") ?? "").startsWith("application/json")) {
            uRes = { ...uRes, body: rewriteConnectUnary(uRes.body, uRes, input, readMaxBytes) };
          }
        }
        return universalResponseToNodeResponse(uRes, res);
      })
      .catch((reason: unknown) => {
        if (ConnectError.from(reason).code === Code.Aborted) return;
        options.log(reason, `${handler.service.typeName}/${handler.method.name}`);
      });
  };
}
