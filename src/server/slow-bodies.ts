// Request bodies that come too slowly. Each holds a request (and on HTTP/1.1 its connection) in
// the server for as long as it dribbles, so without these rules a client could hold every one it
// may open by sending a byte at a time.
import type http from "node:http";
import http2 from "node:http2";
import type { ConnectionLimits } from "../config.ts";
import { InFlight } from "../transport/in-flight.ts";

export interface SlowBodyWatch {
  /** HTTP/1.1: the body must keep up HTTP_MIN_BODY_BYTES_PER_SECOND (see below). */
  watchRate(req: http.IncomingMessage, res: http.ServerResponse): void;
  /** HTTP/2: the body must be complete within HTTP_REQUEST_TIMEOUT_MS of the headers (see below). */
  watchDeadline(req: http2.Http2ServerRequest): void;
  /**
   * Whether this watch reset the stream itself: such a reset is the server's, not one the client
   * sent, and must not count against the client's reset budget (listener.ts).
   */
  resetHere(stream: http2.Http2Stream): boolean;
}

/** Long-lived request streams (below) one HTTP/2 connection may hold open at once. */
export const maxLongLivedStreamsPerSession = 4;

/**
 * Requests whose body is a stream that lives as long as the client wants: gRPC server reflection,
 * a bidirectional stream on which a client asks question after question.
 */
function longLivedRequest(url: string | undefined): boolean {
  return url?.startsWith("/grpc.reflection.") === true;
}

/** `onSlowBody` hears of each body cut off, with the client's address. */
export function createSlowBodyWatch(limits: ConnectionLimits, onSlowBody: (address: string) => void): SlowBodyWatch {
  /**
   * HTTP/2 streams whose request body is still coming, and when their headers came
   * (performance.now()). An InFlight list, not a Map: see transport/in-flight.ts for what a Map
   * with an entry per request costs the old generation.
   */
  const h2Bodies = new InFlight<{ stream: http2.Http2Stream; since: number }>();
  let h2Sweep: NodeJS.Timeout | undefined;
  /** Streams reset here, for resetHere. */
  const resets = new WeakSet<http2.Http2Stream>();
  /** Long-lived request streams open on each connection. */
  const longLived = new WeakMap<http2.Http2Session, number>();

  const reset = (stream: http2.Http2Stream, code: number) => {
    resets.add(stream);
    stream.close(code);
  };

  const sweepH2Bodies = () => {
    // The monotonic clock: a step of the wall clock (NTP, a resumed VM) must not cut every upload.
    const cutoff = performance.now() - limits.requestTimeoutMs;
    h2Bodies.forEach(({ stream, since }, entry) => {
      // The request's body has come in full, or the stream is gone (the request is then complete).
      if (stream.readableEnded || stream.closed || stream.destroyed) {
        h2Bodies.remove(entry);
      } else if (since <= cutoff) {
        h2Bodies.remove(entry);
        onSlowBody(stream.session?.socket?.remoteAddress ?? "");
        reset(stream, http2.constants.NGHTTP2_CANCEL);
      }
    });
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
     * leaves the list when its stream closes.
     *
     * A long-lived request stream (server reflection) has no deadline, but a connection may hold
     * only `maxLongLivedStreamsPerSession` of them at once: one more is refused (REFUSED_STREAM,
     * which tells the client it was not processed), so that they cannot stand in for the
     * dribbled bodies the deadline stops.
     */
    watchDeadline(req) {
      if (longLivedRequest(req.url)) {
        const session = req.stream.session;
        if (session === undefined) return;
        const open = longLived.get(session) ?? 0;
        if (open >= maxLongLivedStreamsPerSession) {
          reset(req.stream, http2.constants.NGHTTP2_REFUSED_STREAM);
          return;
        }
        longLived.set(session, open + 1);
        req.stream.once("close", () => longLived.set(session, (longLived.get(session) ?? 1) - 1));
        return;
      }
      if (limits.requestTimeoutMs === 0 || req.stream.endAfterHeaders) return;
      const entry = h2Bodies.add({ stream: req.stream, since: performance.now() });
      // A stream closes once: `on` spares the wrapper `once` would build per request.
      req.stream.on("close", () => h2Bodies.remove(entry));
      if (h2Sweep !== undefined) return;
      h2Sweep = setInterval(sweepH2Bodies, Math.max(25, Math.min(1000, Math.floor(limits.requestTimeoutMs / 4))));
      h2Sweep.unref();
    },

    resetHere: (stream) => resets.has(stream),
  };
}
