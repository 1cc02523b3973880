// A Node request as Connect's universal server request: what connect-node's
// universalRequestFromNodeRequest builds, minus two costs it puts on every call. Its request
// signal is aborted when the request closes, also after a call that completed normally: an abort
// without a reason makes Node build a DOMException, whose stack trace alone costs several
// microseconds (bench/empty-rpc). And it wraps the body in an extra async generator. Here the
// signal is aborted only when the client went away before its answer was complete, and the body
// is the request itself (a Node readable is an async iterable of Buffers, which are Uint8Arrays).
import { Code, ConnectError, type ContextValues } from "@connectrpc/connect";
import type { UniversalServerRequest } from "@connectrpc/connect/protocol";
import { answeredInFull, type NodeHandler } from "../transport/node-http.ts";

type NodeRequest = Parameters<NodeHandler>[0];
type NodeResponse = Parameters<NodeHandler>[1];

/**
 * The request's URL as Connect builds it, from its authority (HTTP/2's :authority, else Host) and
 * path; undefined when it names no usable authority (an HTTP/1.0 request without Host, say).
 */
export function requestUrl(req: NodeRequest): string | undefined {
  const authority = "authority" in req ? req.authority : req.headers.host;
  if (authority === undefined) return undefined;
  const encrypted = "encrypted" in req.socket && req.socket.encrypted === true;
  try {
    return new URL(req.url ?? "", `${encrypted ? "https" : "http"}://${authority}`).toString();
  } catch {
    return undefined;
  }
}

/** Throws when the request names no usable authority (see requestUrl). */
export function universalRequest(req: NodeRequest, res: NodeResponse, contextValues: ContextValues): UniversalServerRequest {
  const url = requestUrl(req);
  if (url === undefined) {
    throw new ConnectError("unable to determine request authority from Node.js server request", Code.Internal);
  }
  const controller = new AbortController();
  // The response closes exactly once, on HTTP/1.1 and HTTP/2 alike: finished, or cut short (the
  // client reset the stream or dropped the connection), which is when the handler must stop.
  // answeredInFull tells the two apart on HTTP/2 too, where Node calls a reset stream finished.
  res.once("close", () => {
    if (!answeredInFull(res)) controller.abort(new ConnectError("the client closed the request", Code.Canceled));
  });
  return {
    httpVersion: req.httpVersion,
    method: req.method ?? "",
    url,
    header: webHeaders(req.headers),
    body: req,
    signal: controller.signal,
    contextValues,
  };
}

/** Node's request headers as fetch Headers, without HTTP/2 pseudo-headers. */
export function webHeaders(headers: NodeRequest["headers"]): Headers {
  const web = new Headers();
  for (const key in headers) {
    if (key.charCodeAt(0) === 58 /* ":" */) continue;
    const value = headers[key];
    if (typeof value === "string") web.append(key, value);
    else if (value !== undefined) for (const v of value) web.append(key, v);
  }
  return web;
}
