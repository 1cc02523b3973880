// What one request may hold in the server, and for how long. Each request holds memory (and on
// HTTP/1.1 its connection) for as long as it lasts, so without these rules a client could hold every
// request it may open: by sending its body a byte at a time, by never reading its answer (an
// HTTP/2 client that announces a receive window of zero), or by opening streams that last as long
// as it likes (Health/Watch, server reflection) on every connection it may open. A client address
// is its client network (an IPv6 /64), not its IPv6 aggregate: these are shares of what the process
// holds, bounded in all by the connection cap, which a few /64s reach anyway (client-network.ts).
import type http from "node:http";
import net from "node:net";
import http2 from "node:http2";
import { clientNetwork } from "../client-network.ts";
import type { ConnectionLimits } from "../config.ts";
import { InFlight } from "../transport/in-flight.ts";

/** What one client address holds now (the listener keeps one while the address has a connection). */
export interface AddressHold {
  connections: number;
  /** Its HTTP/2 streams open now. */
  streams: number;
  /** Its long-lived requests open now, on either protocol. */
  longLived: number;
}

export type StreamRefusal = "per_address" | "long_lived_per_connection" | "long_lived_per_address";

export interface RequestLimitEvents {
  /** A body cut off for coming too slowly. */
  onSlowBody(address: string): void;
  /** An HTTP/2 stream whose body came but whose answer was still not taken at the deadline. */
  onStalledStream(address: string): void;
  /** A request refused for what its address (or connection) already holds. */
  onRefused(address: string, why: StreamRefusal): void;
}

export interface RequestLimits {
  /** HTTP/1.1: the body must keep up HTTP_MIN_BODY_BYTES_PER_SECOND (see below). */
  watchRate(req: http.IncomingMessage, res: http.ServerResponse): void;
  /**
   * HTTP/2: the stream must be done within HTTP_REQUEST_TIMEOUT_MS of its headers, and its address
   * may hold only so many streams at once (see below). False: the stream was refused here.
   */
  watchStream(req: http2.Http2ServerRequest): boolean;
  /** HTTP/1.1: a long-lived request counts on its address's budget. False: refused (its connection closed). */
  watchLongLived(req: http.IncomingMessage, res: http.ServerResponse): boolean;
  /**
   * Whether this watch reset the stream itself: such a reset is the server's, not one the client
   * sent, and must not count against the client's reset budget (listener.ts).
   */
  resetHere(stream: http2.Http2Stream): boolean;
  /** Whether the connection has a long-lived request open: then it is not idle, however quiet. */
  holdsLongLived(connection: http2.Http2Session | net.Socket): boolean;
}

/**
 * Long-lived request streams (below) one HTTP/2 connection may hold open at once, where clients
 * connect directly: a reverse proxy carries many clients' calls on one connection.
 */
export const maxLongLivedStreamsPerSession = 4;

/**
 * Requests that live as long as the client wants: gRPC server reflection (a bidirectional stream
 * on which a client asks question after question) and Health/Watch (a server stream that answers
 * each change of the serving status, for as long as the client listens).
 */
export function longLivedRequest(url: string | undefined): boolean {
  return url !== undefined && (url.startsWith("/grpc.reflection.") || url.startsWith("/grpc.health.v1.Health/Watch"));
}

/**
 * `holdOf` finds what an address holds (undefined once its last connection closed); `events`
 * hears of each rule enforced, with the client's address.
 */
export function createRequestLimits(
  limits: ConnectionLimits,
  events: RequestLimitEvents,
  holdOf: (address: string) => AddressHold | undefined,
): RequestLimits {
  /**
   * HTTP/2 streams not done yet, and when their headers came (performance.now()). An InFlight
   * list, not a Map: see transport/in-flight.ts for what a Map with an entry per request costs the
   * old generation.
   */
  const h2Streams = new InFlight<{ stream: http2.Http2Stream; since: number; answeredAt: number | undefined }>();
  let h2Sweep: NodeJS.Timeout | undefined;
  /** HTTP/1.1 connections answering a long-lived request now (one request at a time each). */
  const h1LongLived = new WeakSet<net.Socket>();
  /** Streams reset here, for resetHere. */
  const resets = new WeakSet<http2.Http2Stream>();
  /**
   * Each session's client network, what that address holds, and the long-lived streams open on
   * the session, in one record looked up once: the socket is gone once the session is destroyed,
   * and the hold is the one its connection counts on (a later connection of the address, after
   * this one's close, may count on a new one).
   */
  const sessionHolds = new WeakMap<http2.Http2Session, { address: string; hold: AddressHold | undefined; longLived: number }>();

  const reset = (stream: http2.Http2Stream, code: number) => {
    resets.add(stream);
    stream.close(code);
  };

  const sweepH2Streams = () => {
    // The monotonic clock: a step of the wall clock (NTP, a resumed VM) must not cut every upload.
    const now = performance.now();
    const cutoff = now - limits.requestTimeoutMs;
    h2Streams.forEach((watched, entry) => {
      const { stream, since } = watched;
      if (stream.closed || stream.destroyed) {
        h2Streams.remove(entry);
        return;
      }
      const addressOf = () => (stream.session === undefined ? "" : (sessionHolds.get(stream.session)?.address ?? ""));
      if (!(stream.endAfterHeaders || stream.readableEnded)) {
        // Still receiving: a slow body, once past the deadline from its headers.
        if (since > cutoff) return;
        h2Streams.remove(entry);
        events.onSlowBody(addressOf());
        reset(stream, http2.constants.NGHTTP2_CANCEL);
        return;
      }
      // Received, and still being answered: the server's own time, not the client's doing.
      if (!stream.writableEnded) return;
      // Answered, and not taken: the answer gets the same time to leave, from when it was done
      // (as first seen here, within a sweep's interval).
      watched.answeredAt ??= now;
      if (watched.answeredAt > cutoff) return;
      h2Streams.remove(entry);
      events.onStalledStream(addressOf());
      reset(stream, http2.constants.NGHTTP2_CANCEL);
    });
    if (h2Streams.size === 0) {
      clearInterval(h2Sweep);
      h2Sweep = undefined;
    }
  };

  const holdOfSession = (session: http2.Http2Session) => {
    let found = sessionHolds.get(session);
    if (found === undefined) {
      const address = clientNetwork(session.socket?.remoteAddress ?? "");
      found = { address, hold: holdOf(address), longLived: 0 };
      sessionHolds.set(session, found);
    }
    return found;
  };

  const refuse = (stream: http2.Http2Stream, address: string, why: StreamRefusal): false => {
    events.onRefused(address, why);
    // REFUSED_STREAM: the client learns the request was not processed, and may retry.
    reset(stream, http2.constants.NGHTTP2_REFUSED_STREAM);
    return false;
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
        events.onSlowBody(socket.remoteAddress ?? "");
        if (!res.headersSent) socket.write("HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
        socket.destroy();
      }, window);
      timer.unref();
      res.once("close", () => clearInterval(timer));
    },

    /**
     * HTTP/2 has no request timeout of Node's, and a stream carries no count of the bytes it read
     * (the HTTP/1.1 rule above reads the socket's), so a stream's body must be in within
     * HTTP_REQUEST_TIMEOUT_MS of its headers (else it is a slow body), and its answer, once the
     * handler has ended it, taken within as long again: an answer the client does not take (its
     * receive window kept at zero) is held in the server as long as the stream lives. The time the
     * handler takes is the server's own and cuts nothing. Either way the stream is reset with
     * CANCEL. One sweep for all of them, as Node's own HTTP/1.1 check is, rather than a timer per
     * request; a request leaves the list when its stream closes.
     *
     * And an address may have only HTTP2_MAX_STREAMS_PER_ADDRESS streams open at once across its
     * connections (HTTP2_MAX_CONCURRENT_STREAMS each, on up to MAX_CONNECTIONS_PER_ADDRESS
     * connections, would be thousands); one more is refused (REFUSED_STREAM).
     *
     * A long-lived request (server reflection, Health/Watch) has no deadline, but a connection may
     * hold only `maxLongLivedStreamsPerSession` of them at once and an address
     * MAX_LONG_LIVED_REQUESTS_PER_ADDRESS: one more is refused, so that they cannot stand in for
     * the requests the deadline stops.
     */
    watchStream(req) {
      const stream = req.stream;
      const session = stream.session;
      if (session === undefined) return true;
      const held = holdOfSession(session);
      const { address, hold } = held;
      // Counted on its address (null: no cap, or no hold); given back when it closes. A closed
      // stream no longer knows its session, so the close listeners below close over what they free.
      const counted = hold !== undefined && limits.http2MaxStreamsPerAddress > 0 ? hold : null;
      if (counted !== null && counted.streams >= limits.http2MaxStreamsPerAddress) return refuse(stream, address, "per_address");
      if (longLivedRequest(req.url)) {
        if (limits.direct && held.longLived >= maxLongLivedStreamsPerSession) return refuse(stream, address, "long_lived_per_connection");
        if (hold !== undefined && limits.maxLongLivedPerAddress > 0 && hold.longLived >= limits.maxLongLivedPerAddress) {
          return refuse(stream, address, "long_lived_per_address");
        }
        held.longLived++;
        if (hold !== undefined) hold.longLived++;
        if (counted !== null) counted.streams++;
        stream.once("close", () => {
          held.longLived--;
          if (hold !== undefined) hold.longLived--;
          if (counted !== null) counted.streams--;
        });
        return true;
      }
      if (counted !== null) counted.streams++;
      if (limits.requestTimeoutMs === 0) {
        if (counted !== null) stream.on("close", () => counted.streams--);
        return true;
      }
      const entry = h2Streams.add({ stream, since: performance.now(), answeredAt: undefined });
      // A stream closes once: `on` spares the wrapper `once` would build per request.
      stream.on("close", () => {
        h2Streams.remove(entry);
        if (counted !== null) counted.streams--;
      });
      if (h2Sweep !== undefined) return true;
      h2Sweep = setInterval(sweepH2Streams, Math.max(25, Math.min(1000, Math.floor(limits.requestTimeoutMs / 4))));
      h2Sweep.unref();
      return true;
    },

    /**
     * A long-lived request over HTTP/1.1 (Connect's streaming protocol) holds its connection as
     * long as it lasts: it counts on its address's budget, and one over it has its connection
     * closed (HTTP/1.1 has no way to refuse one request and keep the connection).
     */
    watchLongLived(req, res) {
      if (!longLivedRequest(req.url)) return true;
      const socket = req.socket;
      const address = limits.maxLongLivedPerAddress === 0 ? undefined : clientNetwork(socket.remoteAddress ?? "");
      const hold = address === undefined ? undefined : holdOf(address);
      if (address !== undefined && hold !== undefined && hold.longLived >= limits.maxLongLivedPerAddress) {
        events.onRefused(address, "long_lived_per_address");
        socket.destroy();
        return false;
      }
      if (hold !== undefined) hold.longLived++;
      h1LongLived.add(socket);
      // The answer's close, not the request's: the request closes once its body is read, while
      // the answer goes on for as long as the client listens.
      res.once("close", () => {
        if (hold !== undefined) hold.longLived--;
        h1LongLived.delete(socket);
      });
      return true;
    },

    resetHere: (stream) => resets.has(stream),

    holdsLongLived: (connection) =>
      connection instanceof net.Socket ? h1LongLived.has(connection) : (sessionHolds.get(connection)?.longLived ?? 0) > 0,
  };
}
