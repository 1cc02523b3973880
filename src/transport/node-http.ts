import type http from "node:http";
import http2 from "node:http2";

/** A request handler for Node's HTTP/1.1 and HTTP/2 (compatibility API) servers alike. */
export type NodeHandler = (
  req: http.IncomingMessage | http2.Http2ServerRequest,
  res: http.ServerResponse | http2.Http2ServerResponse,
) => void;

type NodeRequest = Parameters<NodeHandler>[0];
type NodeResponse = Parameters<NodeHandler>[1];

/**
 * Whether the whole answer left, as seen when the response closes. Node's HTTP/2 compatibility
 * response reports a stream the client reset (RST_STREAM, a cancelled call) as `writableFinished`
 * whether or not an answer was written, so on HTTP/2 the answer counts only if it was ended and
 * the stream closed without an error code.
 */
export function answeredInFull(res: NodeResponse): boolean {
  if ("stream" in res) return res.writableEnded && res.stream.rstCode === 0;
  return res.writableFinished;
}

/** Whether the client is gone, so that nothing more can be written (HTTP/2: the stream is destroyed). */
export function clientGone(res: NodeResponse): boolean {
  return "stream" in res ? res.stream.destroyed : res.destroyed;
}

/**
 * Ends a response whose answer could not be written (a throw while writing it), so that the client
 * is not left waiting on an open call: HTTP/2 resets the stream (INTERNAL_ERROR), HTTP/1.1 closes
 * the connection, whose framing is no longer known. Nothing to do once the answer has ended.
 */
export function abandon(res: NodeResponse): void {
  if ("stream" in res) {
    if (!res.stream.destroyed && !res.stream.closed) res.stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
  } else if (!res.writableEnded) res.destroy();
}

/**
 * What every answer the server writes itself (its JSON, forward auth's, the metrics') carries for
 * browsers: it is taken only for what its Content-Type says, never sniffed into a document, though
 * it may echo what the client sent (ASVS 5.0 V3.4.4), and no page of another site may frame it
 * (V3.4.6).
 */
export const browserSafetyHeaders: Readonly<Record<string, string>> = {
  "x-content-type-options": "nosniff",
  "content-security-policy": "frame-ancestors 'none'",
};

/** Sets browserSafetyHeaders on an answer. */
export function setBrowserSafetyHeaders(res: { setHeader(name: string, value: string): unknown }): void {
  for (const [name, value] of Object.entries(browserSafetyHeaders)) res.setHeader(name, value);
}

/**
 * Whether the request names its Content-Type on more than one line. Node keeps the first and
 * drops the others, over HTTP/1.1 and HTTP/2 alike; a proxy, firewall or audit layer in front that
 * keeps the last would take the body for another kind than the one authd reads, so such a request
 * is refused wherever a body is read (RPC and REST). A pass over the raw header names, comparing
 * only those of the right length.
 */
export function contentTypeRepeated(req: NodeRequest): boolean {
  const raw = req.rawHeaders;
  let seen = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    if (name.length === 12 && name.toLowerCase() === "content-type" && ++seen > 1) return true;
  }
  return false;
}
