// One port for every protocol. Cleartext: each new connection is sniffed for the HTTP/2 client
// preface (gRPC from internal services uses HTTP/2 with prior knowledge) and handed to the HTTP/2
// or the HTTP/1.1 server. TLS: ALPN negotiates h2 or http/1.1 on one secure server.
//
// Every connection first passes one front server, which is where the limits against slow and
// abusive clients live (see ConnectionLimits in config.ts): connection caps, HTTP/1.1 header,
// request and body-rate timeouts, HTTP/2 stream deadlines and per-address stream budgets
// (request-limits.ts), HTTP/2 reset budgets (http2-sessions.ts), and the graceful close.
import http from "node:http";
import http2 from "node:http2";
import net from "node:net";
import type { TLSSocket } from "node:tls";

import { clientNetwork } from "../client-network.ts";
import type { ConnectionLimits } from "../config.ts";
import { createHttp2SessionWatch } from "./http2-sessions.ts";
import { type AddressHold, createRequestLimits, type StreamRefusal } from "./request-limits.ts";
import type { NodeHandler } from "../transport/node-http.ts";

export type { NodeHandler } from "../transport/node-http.ts";

export interface ListenerOptions {
  limits: ConnectionLimits;
  /** The largest request body any route reads: a larger declared one is answered, then the connection closed. */
  maxBodyBytes: number;
  /**
   * TLS; with `ca`, clients are asked for a certificate, and one that CA signed marks its
   * connection authorized (a client without one, or with another, still connects: what a verified
   * certificate is worth is for the routes to decide).
   */
  tls?: { cert: Buffer; key: Buffer; ca?: string };
  /** Hears about limits being enforced (connections refused, slow bodies, abusive HTTP/2 sessions). */
  onLimit?(event: LimitEvent): void;
}

export type LimitEvent =
  | { kind: "connection_refused"; address: string; why: "total" | "per_address" | "shed_address" }
  | { kind: "slow_body"; address: string }
  | { kind: "stalled_stream"; address: string }
  | { kind: "idle_connection_closed"; address: string }
  | { kind: "stream_refused"; address: string; why: StreamRefusal }
  | { kind: "http2_resets"; address: string; scope: "connection" | "address" | "flood" };

/** Counters since start, for logs and the abuse benchmarks. */
export interface ListenerStats {
  accepted: number;
  refused: number;
  open: number;
  slowBodies: number;
  /** HTTP/2 streams reset at the deadline with their answer not taken. */
  stalledStreams: number;
  /** Requests refused for what their address or connection already held. */
  refusedStreams: number;
  /** Idle connections closed to make room for a new one at MAX_CONNECTIONS. */
  idleClosed: number;
  shedSessions: number;
  /** HTTP/2 streams the clients reset before they were answered. */
  http2Resets: number;
}

export interface Listener {
  /** Resolves with the bound port. */
  listen(port: number, host: string): Promise<number>;
  /**
   * Stops accepting connections, answers what was already received (HTTP/1.1 connections close
   * after their current response, HTTP/2 sessions get GOAWAY), lets in-flight requests finish for
   * up to `graceMs`, then destroys what is left.
   */
  close(graceMs: number): Promise<void>;
  /** The peer address of the connection a request came on. */
  remoteAddress(req: http.IncomingMessage | http2.Http2ServerRequest): string;
  stats(): ListenerStats;
}

const h2Preface = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
// After answering a request whose body was not read to its end, the connection is closed; the
// rest of the body is read and dropped this long first, so that closing with unread bytes (a TCP
// reset) does not destroy the answer before the client has read it.
const lingerMs = 2_000;
// Closing: accepting goes on until a pause this long brings no connection, for at most the max.
const acceptDrainPauseMs = 20;
const maxAcceptDrainMs = 1_000;
// Node's HTTP/2 default (10 MB) counts what honest concurrent uploads have in flight, and over it
// refuses every new stream of the session with ENHANCE_YOUR_CALM. Streams are bounded by the
// concurrent-stream and flow-control limits instead, so the budget covers them all.
const minSessionMemoryMb = 64;
const h2StreamWindowBytes = 65_535;

function declaredLength(req: http.IncomingMessage | http2.Http2ServerRequest): number | undefined {
  const header = req.headers["content-length"];
  if (header === undefined || !/^\d+$/.test(header)) return undefined;
  return Number(header);
}

/**
 * A stream's 'wantTrailers' listener (see onRequest). Node's compatibility layer hands the
 * trailers to nghttp2 in a setImmediate of its own 'wantTrailers' listener, which runs before this
 * one: the reset waits for an immediate queued after it, or nghttp2 would send the reset first and
 * drop the trailers (and with them the call's status).
 */
function resetUnreadAfterTrailers(this: http2.ServerHttp2Stream): void {
  // Nothing to reset once the request was read in full (every call answered the usual way).
  if (!unread(this)) return;
  setImmediate(resetUnread, this);
}

function unread(stream: http2.ServerHttp2Stream): boolean {
  return !(stream.readableEnded || stream.destroyed || stream.closed);
}

function resetUnread(stream: http2.ServerHttp2Stream): void {
  if (!unread(stream)) return;
  // Destroyed, not closed: Node ends a stream closed with NO_ERROR only once its request side has
  // been read to the end, and the handler stopped reading, so it would live on and count against
  // the session's concurrent streams. Destroying without an error sends the same
  // RST_STREAM(NO_ERROR) at once and drops what is buffered.
  stream.destroy();
}

export function createListener(handler: NodeHandler, options: ListenerOptions): Listener {
  const { limits, tls } = options;
  const { idleTimeoutMs } = limits;
  const stats: ListenerStats = {
    accepted: 0,
    refused: 0,
    open: 0,
    slowBodies: 0,
    stalledStreams: 0,
    refusedStreams: 0,
    idleClosed: 0,
    shedSessions: 0,
    http2Resets: 0,
  };
  const sockets = new Set<net.Socket>();
  /** What each client address with a connection holds: an entry per address, not per request. */
  const perAddress = new Map<string, AddressHold>();
  /** HTTP/1.1 sockets and how many requests each has in flight (see the h1 'request' listener). */
  const h1InFlight = new Map<net.Socket, number>();
  /** Bytes read from each HTTP/1.1 socket when it last had no request in flight. */
  const h1IdleAt = new WeakMap<net.Socket, number>();
  /** Cleartext connections that have not sent enough to be handed to a server yet, oldest first. */
  const silent = new Set<net.Socket>();
  /** TLS HTTP/1.1 connections still waiting for their first request, and when they are closed. */
  const h1FirstRequestDue = new WeakMap<net.Socket, NodeJS.Timeout>();
  let closing = false;
  const onLimit = options.onLimit ?? (() => undefined);
  const requestLimits = createRequestLimits(
    limits,
    {
      onSlowBody(address) {
        stats.slowBodies++;
        onLimit({ kind: "slow_body", address });
      },
      onStalledStream(address) {
        stats.stalledStreams++;
        onLimit({ kind: "stalled_stream", address });
      },
      onRefused(address, why) {
        stats.refusedStreams++;
        onLimit({ kind: "stream_refused", address, why });
      },
    },
    (address) => perAddress.get(address),
  );

  const h2Options: http2.ServerOptions = {
    settings: { maxConcurrentStreams: limits.http2MaxConcurrentStreams },
    maxSessionMemory: Math.max(minSessionMemoryMb, Math.ceil((limits.http2MaxConcurrentStreams * 2 * h2StreamWindowBytes) / 1e6)),
  };

  const h2Sessions = createHttp2SessionWatch({
    limits,
    stats,
    onLimit,
    resetHere: (stream) => requestLimits.resetHere(stream),
    closing: () => closing,
  });

  /**
   * Every request, on every server: the hooks, then the handler, unless a hook refused the request
   * (a stream reset with REFUSED_STREAM tells the client nothing was done, so nothing is).
   */
  const onRequest = (req: http.IncomingMessage | http2.Http2ServerRequest, res: http.ServerResponse | http2.Http2ServerResponse) => {
    if (admitted(req, res)) handler(req, res);
  };

  /** The hooks run ahead of the handler; false when the request was refused. */
  const admitted = (req: http.IncomingMessage | http2.Http2ServerRequest, res: http.ServerResponse | http2.Http2ServerResponse) => {
    if (req instanceof http2.Http2ServerRequest) {
      // The answer is complete but the client is still sending (a message over the size limit is
      // refused after its first bytes). Its unread bytes would hold the connection's flow-control
      // window, so that no other stream could send a byte and every later call hung (or, without a
      // stream cap, piled up until Node refused every new stream with ENHANCE_YOUR_CALM). Once the
      // trailers are queued, RST_STREAM(NO_ERROR) tells the client to stop (RFC 9113 §8.1) and
      // drops what it still sends, freeing the window (resetUnreadAfterTrailers). Functions of
      // the module, not closures: nothing is allocated for it per request.
      req.stream.on("wantTrailers", resetUnreadAfterTrailers);
      return requestLimits.watchStream(req);
    }
    return watchH1Request(req, res as http.ServerResponse);
  };

  const watchH1Request = (req: http.IncomingMessage, h1Res: http.ServerResponse): boolean => {
    const declared = declaredLength(req);
    const oversize = declared !== undefined && declared > options.maxBodyBytes;
    const socket = req.socket;
    if (tls !== undefined) {
      clearTimeout(h1FirstRequestDue.get(socket));
      h1FirstRequestDue.delete(socket);
    }
    // Cleartext sockets are registered at hand-over; TLS ones at their first request.
    if (!h1InFlight.has(socket)) socket.once("close", () => h1InFlight.delete(socket));
    h1InFlight.set(socket, (h1InFlight.get(socket) ?? 0) + 1);
    // Registered ahead of the handler, so a request that arrives while closing answers
    // `Connection: close` even when the handler responds synchronously. An oversize body is
    // answered (413 or RESOURCE_EXHAUSTED) and not read on.
    if (closing || oversize) h1Res.shouldKeepAlive = false;
    h1Res.once("finish", () => {
      if (req.complete || socket.destroyed) return;
      socket.end();
      setTimeout(() => socket.destroy(), lingerMs).unref();
    });
    h1Res.once("close", () => {
      const count = h1InFlight.get(socket);
      // A socket that closed mid-request is already forgotten: never put it back.
      if (count === undefined) return;
      const left = count - 1;
      h1InFlight.set(socket, left);
      if (left === 0) h1IdleAt.set(socket, socket.bytesRead);
      if (closing && left === 0) socket.end();
    });
    const hasBody = (declared ?? 0) > 0 || req.headers["transfer-encoding"] !== undefined;
    if (hasBody && !req.complete) requestLimits.watchRate(req, h1Res);
    return requestLimits.watchLongLived(req, h1Res);
  };

  const h1Options: http.ServerOptions = {
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    // How often Node checks both timeouts: often enough that they hold to within a quarter.
    connectionsCheckingInterval: Math.max(25, Math.min(1000, Math.floor((limits.headersTimeoutMs || limits.requestTimeoutMs || 4000) / 4))),
  };

  /**
   * A connection with no request traffic for HTTP_IDLE_TIMEOUT_MS (the inner servers' 'timeout':
   * an HTTP/2 session, or a TLS HTTP/1.1 socket) is closed, as Node closes it when nobody listens,
   * unless it holds a long-lived request. Health/Watch answers only when the serving status
   * changes, and a client's pings never reach Node's timer (nghttp2 answers them itself), so a
   * watch that saw no change for the whole timeout was cut with its connection. Such a connection
   * is looked at again a timeout later. An HTTP/2 session's own listener was a `once`, and its
   * timer firing with no listener does nothing, so it is given one again; an HTTP/1.1 socket's
   * (Node's socketOnTimeout, which emits the server's 'timeout') stays, so its timer alone is
   * re-armed: a listener added at every timeout was one more each time (MaxListenersExceeded
   * after ten, and as many calls here as listeners at each timeout).
   */
  const onIdle = (connection: http2.Http2Session | net.Socket): void => {
    if (connection.destroyed) return;
    if (!requestLimits.holdsLongLived(connection)) {
      connection.destroy();
      return;
    }
    if (connection instanceof net.Socket) connection.setTimeout(idleTimeoutMs);
    else connection.setTimeout(idleTimeoutMs, () => onIdle(connection));
  };

  let inner: net.Server;
  let h2: http2.Http2Server | undefined;
  let h1: http.Server | undefined;
  if (tls !== undefined) {
    const clientCerts = tls.ca === undefined ? {} : { requestCert: true, rejectUnauthorized: false };
    const secure = http2.createSecureServer({
      ...tls,
      ...clientCerts,
      ...h2Options,
      ...h1Options,
      allowHTTP1: true,
      ALPNProtocols: ["h2", "http/1.1"],
      // A handshake gets as long as a request's headers (Node's default is two minutes).
      handshakeTimeout: limits.headersTimeoutMs || idleTimeoutMs,
    });
    secure.setTimeout(idleTimeoutMs);
    // An HTTP/1.1 connection that completes its handshake and then sends nothing held its place
    // past the idle timeout (Node's header timeout starts with a request's first byte): it gets as
    // long as a request's headers for its first byte, as a cleartext one does. One that has begun
    // a request is left to the header timeout, which answers 408. (HTTP/2 sessions have the same
    // rule in http2-sessions.ts.)
    if (limits.headersTimeoutMs > 0) {
      secure.on("secureConnection", (tlsSocket: TLSSocket) => {
        if (tlsSocket.alpnProtocol === "h2") return;
        const afterHandshake = tlsSocket.bytesRead;
        const due = setTimeout(() => {
          if (tlsSocket.bytesRead === afterHandshake) tlsSocket.destroy();
        }, limits.headersTimeoutMs).unref();
        h1FirstRequestDue.set(tlsSocket, due);
        tlsSocket.once("close", () => clearTimeout(due));
      });
    }
    secure.on("session", h2Sessions.watch);
    secure.on("timeout", onIdle);
    secure.on("request", onRequest);
    inner = secure;
  } else {
    h2 = http2.createServer(h2Options);
    h2.setTimeout(idleTimeoutMs);
    h2.on("session", h2Sessions.watch);
    h2.on("timeout", onIdle);
    h2.on("request", onRequest);
    h1 = http.createServer(h1Options);
    h1.on("request", onRequest);
    inner = h1;
  }
  // The inner servers never listen: the front server hands them their sockets. Node starts the
  // HTTP/1.1 header and request timeouts (its connection tracking and the interval that checks
  // them) only when a server emits 'listening', so without this they would never apply, and a
  // client dribbling its headers would hold its connection forever.
  inner.emit("listening");

  const handOver = (socket: net.Socket) => {
    if (tls !== undefined || h2 === undefined || h1 === undefined) {
      inner.emit("connection", socket);
      return;
    }
    const h2Server = h2;
    const h1Server = h1;
    let buffered: Buffer = Buffer.alloc(0);
    // A connection that sends nothing is held no longer than a request's headers may take.
    const timer = setTimeout(() => socket.destroy(), limits.headersTimeoutMs || idleTimeoutMs);
    silent.add(socket);
    // The first bytes are read in paused mode and put back with unshift, so that either server
    // gets the socket itself: nghttp2 then reads its native handle directly (Node feeds it the
    // bytes already in the socket's buffer first), and the HTTP/1.1 parser attaches to it as to
    // any connection. No JavaScript stream in the middle, which cost every HTTP/2 read and write
    // a trip through JavaScript and halved what a connection could carry.
    const onReadable = () => {
      for (let chunk = socket.read() as Buffer | null; chunk !== null; chunk = socket.read() as Buffer | null) {
        buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
      }
      const n = Math.min(buffered.length, h2Preface.length);
      const looksH2 = buffered.subarray(0, n).equals(h2Preface.subarray(0, n));
      if (looksH2 && buffered.length < h2Preface.length) return;
      clearTimeout(timer);
      silent.delete(socket);
      socket.removeListener("readable", onReadable);
      socket.unshift(buffered);
      if (looksH2) {
        h2Server.emit("connection", socket);
      } else {
        h1InFlight.set(socket, 0);
        // Idle as of before its first bytes (put back above): a request begun is no idle connection.
        h1IdleAt.set(socket, socket.bytesRead - buffered.length);
        socket.once("close", () => h1InFlight.delete(socket));
        h1Server.emit("connection", socket);
        // Taken out of paused mode: the parser listens for 'data'.
        socket.resume();
      }
    };
    socket.on("readable", onReadable);
    socket.once("close", () => {
      clearTimeout(timer);
      silent.delete(socket);
    });
  };

  /**
   * At MAX_CONNECTIONS, a new connection takes the place of one with nothing in flight, rather
   * than being refused: otherwise a few addresses, each within its own cap, could hold every place
   * by keeping connections open and all but silent, and shut everyone else out. First one that
   * has sent nothing yet (a client reconnecting silently to hold places only ever displaces its
   * own kind), then an HTTP/1.1 keep-alive connection between requests, then an HTTP/2 session
   * with no stream open, each the oldest of its kind. A client whose idle connection is closed
   * connects again when it next calls. Whether one was. Each closes a different connection (one
   * already ending is passed over), so the places in use exceed the cap only by those closing.
   */
  const closeAnIdleConnection = (): boolean => {
    for (const socket of silent) {
      silent.delete(socket);
      if (socket.destroyed) continue;
      evicted(socket.remoteAddress ?? "");
      socket.destroy();
      return true;
    }
    for (const [socket, inFlight] of h1InFlight) {
      if (inFlight === 0 && socket.bytesRead === h1IdleAt.get(socket) && !socket.writableEnded && !socket.destroyed) {
        evicted(socket.remoteAddress ?? "");
        socket.end();
        setTimeout(() => socket.destroy(), lingerMs).unref();
        return true;
      }
    }
    const session = h2Sessions.idleSession();
    if (session === undefined) return false;
    evicted(session.socket?.remoteAddress ?? "");
    session.close();
    return true;
  };
  const evicted = (remote: string) => {
    stats.idleClosed++;
    onLimit({ kind: "idle_connection_closed", address: clientNetwork(remote) });
  };

  const refuse = (socket: net.Socket, address: string, why: "total" | "per_address" | "shed_address") => {
    stats.refused++;
    onLimit({ kind: "connection_refused", address, why });
    socket.destroy();
  };

  const front = net.createServer((socket) => {
    // Until a server takes the socket over, nothing else listens for its errors: a reset here
    // must not become an unhandled 'error' event that ends the process.
    socket.on("error", () => socket.destroy());
    // Counted per client network: an IPv6 client holds a whole /64. Not per IPv6 aggregate as well
    // (client-network.ts): MAX_CONNECTIONS is reached by eight /64s at the defaults, so a /48's
    // count would take nothing from an attacker, and its bans would fall on all its neighbours.
    const address = clientNetwork(socket.remoteAddress ?? "");
    if (h2Sessions.isShed(address, Date.now())) return refuse(socket, address, "shed_address");
    let hold = perAddress.get(address);
    if (limits.maxConnectionsPerAddress > 0 && (hold?.connections ?? 0) >= limits.maxConnectionsPerAddress) {
      return refuse(socket, address, "per_address");
    }
    if (limits.maxConnections > 0 && sockets.size >= limits.maxConnections && !closeAnIdleConnection()) {
      return refuse(socket, address, "total");
    }
    stats.accepted++;
    if (hold === undefined) {
      hold = { connections: 0, streams: 0, longLived: 0 };
      perAddress.set(address, hold);
    }
    hold.connections++;
    const held = hold;
    sockets.add(socket);
    socket.once("close", () => {
      sockets.delete(socket);
      held.connections--;
      if (held.connections === 0 && perAddress.get(address) === held) {
        perAddress.delete(address);
        h2Sessions.forget(address, Date.now());
      }
    });
    // Small RPC frames go out at once: with Nagle's algorithm each cleartext gRPC call waited
    // ~40 ms for a delayed ACK.
    socket.setNoDelay(true);
    handOver(socket);
  });

  return {
    listen(port, host) {
      return new Promise((resolve, reject) => {
        front.once("error", reject);
        front.listen(port, host, () => {
          front.off("error", reject);
          const address = front.address();
          resolve(typeof address === "object" && address !== null ? address.port : port);
        });
      });
    },

    remoteAddress(req) {
      return req.socket?.remoteAddress ?? "";
    },

    stats: () => ({ ...stats, open: sockets.size }),

    async close(graceMs) {
      closing = true;
      // Connections the kernel has completed but Node has not accepted yet (their requests may
      // be sent already) would be reset by closing the listening socket: keep accepting until a
      // pause brings none, within the grace. They are served as closing (Connection: close, GOAWAY).
      const drainUntil = Date.now() + Math.min(graceMs, maxAcceptDrainMs);
      for (let seen = -1; seen !== stats.accepted + stats.refused && Date.now() < drainUntil; ) {
        seen = stats.accepted + stats.refused;
        // The check waits for setImmediate after the timer: the event loop's poll phase (where
        // libuv accepts every queued connection) runs between the two, so a loaded process that
        // wakes late for the timer still accepts what queued meanwhile before it decides.
        await new Promise((resolve) => setTimeout(() => setImmediate(resolve), acceptDrainPauseMs));
      }
      const closed = new Promise<void>((resolve) => front.close(() => resolve()));
      // GOAWAY: streams already received are answered, later ones refused (REFUSED_STREAM) for
      // the client to retry elsewhere.
      for (const session of h2Sessions.open) session.close();
      // Idle keep-alive connections end now; busy ones when their last response is done. A
      // connection that has read part of a request is busy: that request is answered first.
      for (const [socket, inFlight] of h1InFlight) {
        if (inFlight === 0 && socket.bytesRead === h1IdleAt.get(socket)) socket.end();
      }
      const timer = setTimeout(() => {
        for (const session of h2Sessions.open) session.destroy();
        for (const socket of sockets) socket.destroy();
      }, graceMs);
      try {
        await closed;
      } finally {
        clearTimeout(timer);
        inner.close();
      }
    },
  };
}
