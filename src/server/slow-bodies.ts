// Request bodies that come too slowly. Each holds a request (and on HTTP/1.1 its connection) in
// the server for as long as it dribbles, so without these rules a client could hold every one it
// may open by sending a byte at a time.
import type http from "node:http";
import http2 from "node:http2";
import type { ConnectionLimits } from "../config.ts";

export interface SlowBodyWatch {
  /** HTTP/1.1: the body must keep up HTTP_MIN_BODY_BYTES_PER_SECOND (see below). */
  watchRate(req: http.IncomingMessage, res: http.ServerResponse): void;
  /** HTTP/2: the body must be complete within HTTP_REQUEST_TIMEOUT_MS of the headers (see below). */
  watchDeadline(req: http2.Http2ServerRequest): void;
}

/**
 * Requests whose body is a stream that lives as long as the client wants: gRPC server reflection,
 * a bidirectional stream on which a client asks question after question.
 */
function longLivedRequest(url: string | undefined): boolean {
  return url?.startsWith("/grpc.reflection.") === true;
}

/** `onSlowBody` hears of each body cut off, with the client's address. */
export function createSlowBodyWatch(limits: ConnectionLimits, onSlowBody: (address: string) => void): SlowBodyWatch {
  /** HTTP/2 requests whose body is still coming, and when their headers came. */
  const h2Bodies = new Map<http2.Http2ServerRequest, number>();
  let h2Sweep: NodeJS.Timeout | undefined;

  const sweepH2Bodies = () => {
    const cutoff = Date.now() - limits.requestTimeoutMs;
    for (const [pending, since] of h2Bodies) {
      if (pending.complete || pending.stream.readableEnded) {
        h2Bodies.delete(pending);
      } else if (since <= cutoff) {
        h2Bodies.delete(pending);
        onSlowBody(pending.socket?.remoteAddress ?? "");
        pending.stream.close(http2.constants.NGHTTP2_CANCEL);
      }
    }
    if (h2Bodies.size === 0) {
      clearInterval(h2Sweep);
      h2Sweep = undefined;
    }
  };

  return {
    /**
     * A body must bring at least the minimum rate's worth of bytes in each window (the first one
     * is its grace); one that dribbles is answered 408 and its connection closed. The socket's
     * byte count is read rather than the body's 'data' events, which would put the body in
     * flowing mode.
     */
    watchRate(req, res) {
      if (limits.minBodyBytesPerSecond === 0) return;
      const socket = req.socket;
      const window = limits.bodyRateWindowMs;
      const minBytes = Math.ceil((limits.minBodyBytesPerSecond * window) / 1000);
      let last = socket.bytesRead;
      const timer = setInterval(() => {
        if (req.complete || socket.destroyed) {
          clearInterval(timer);
          return;
        }
        const read = socket.bytesRead;
        if (read - last >= minBytes) {
          last = read;
          return;
        }
        clearInterval(timer);
        onSlowBody(socket.remoteAddress ?? "");
        if (!res.headersSent) socket.write("HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
        socket.destroy();
      }, window);
      timer.unref();
      res.once("close", () => clearInterval(timer));
    },

    /**
     * HTTP/2 has no request timeout of Node's, and a stream carries no count of the bytes it read
     * (the HTTP/1.1 rule above reads the socket's), so a stream's body must be complete within
     * HTTP_REQUEST_TIMEOUT_MS of its headers, as an HTTP/1.1 request's must. Without it a client
     * could hold every stream it may open (HTTP2_MAX_CONCURRENT_STREAMS on each of its
     * connections). A stream still receiving at the deadline is reset with CANCEL. One sweep for
     * all of them, as Node's own HTTP/1.1 check is, rather than a timer per request; a request
     * leaves the map when its stream closes.
     */
    watchDeadline(req) {
      if (limits.requestTimeoutMs === 0 || req.stream.endAfterHeaders || longLivedRequest(req.url)) return;
      h2Bodies.set(req, Date.now());
      req.stream.once("close", () => h2Bodies.delete(req));
      if (h2Sweep !== undefined) return;
      h2Sweep = setInterval(sweepH2Bodies, Math.max(25, Math.min(1000, Math.floor(limits.requestTimeoutMs / 4))));
      h2Sweep.unref();
    },
  };
}
