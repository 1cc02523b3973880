// One port for every protocol. Cleartext: each new connection is sniffed for the HTTP/2 client
// preface (gRPC from internal services uses HTTP/2 with prior knowledge) and handed to the HTTP/2
// or the HTTP/1.1 server. TLS: ALPN negotiates h2 or http/1.1 on one secure server.
import http from "node:http";
import http2 from "node:http2";
import net from "node:net";
import { Duplex } from "node:stream";

import type { NodeHandler } from "../transport/node-http.ts";

export type { NodeHandler } from "../transport/node-http.ts";

export interface Listener {
  /** Resolves with the bound port. */
  listen(port: number, host: string): Promise<number>;
  /**
   * Stops accepting connections, lets in-flight requests finish for up to `graceMs`, then
   * destroys what is left.
   */
  close(graceMs: number): Promise<void>;
  /** The peer address of the connection a request came on. */
  remoteAddress(req: http.IncomingMessage | http2.Http2ServerRequest): string;
}

/** A duplex over `socket` that first yields `head` (bytes already read from it). */
function replaying(socket: net.Socket, head: Buffer): Duplex {
  const duplex = new Duplex({
    read() {
      socket.resume();
    },
    write(chunk: Buffer, _encoding, callback) {
      socket.write(chunk, callback);
    },
    final(callback) {
      socket.end(callback);
    },
    destroy(err, callback) {
      socket.destroy(err ?? undefined);
      callback(err);
    },
  });
  duplex.push(head);
  socket.on("data", (chunk: Buffer) => {
    if (!duplex.push(chunk)) socket.pause();
  });
  socket.on("end", () => duplex.push(null));
  socket.on("close", () => duplex.destroy());
  socket.on("error", (err) => duplex.destroy(err));
  return duplex;
}

const h2Preface = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
const sniffTimeoutMs = 10_000;
// Connections with no traffic at all for this long are closed (gRPC clients keep long calls
// alive with HTTP/2 pings, which count as traffic).
const idleTimeoutMs = 5 * 60_000;

export function createListener(handler: NodeHandler, tls?: { cert: Buffer; key: Buffer }): Listener {
  const sockets = new Set<Duplex>();
  /** HTTP/1.1 sockets and how many requests each has in flight (see the h1 'request' listener). */
  const h1InFlight = new Map<net.Socket, number>();
  let closing = false;
  const h2Sessions = new Set<http2.ServerHttp2Session>();
  const track = (session: http2.ServerHttp2Session) => {
    h2Sessions.add(session);
    session.once("close", () => h2Sessions.delete(session));
  };

  // Cleartext HTTP/2 sessions run over a replaying stream that has no address of its own.
  const remoteAddresses = new WeakMap<http2.ServerHttp2Session, string>();
  let pendingRemoteAddress: string | undefined;
  let front: net.Server;
  let h1: http.Server | undefined;
  if (tls !== undefined) {
    const secure = http2.createSecureServer({ ...tls, allowHTTP1: true, ALPNProtocols: ["h2", "http/1.1"] }, handler);
    secure.setTimeout(idleTimeoutMs);
    secure.on("session", track);
    front = secure;
  } else {
    const h2 = http2.createServer({}, handler);
    h2.setTimeout(idleTimeoutMs);
    h2.on("session", (session) => {
      if (pendingRemoteAddress !== undefined) remoteAddresses.set(session, pendingRemoteAddress);
      track(session);
    });
    h1 = http.createServer(handler);
    const h1Server = h1;
    // The HTTP/1.1 server is handed its sockets and never listens itself, so Node does not track
    // its connections and closeIdleConnections() finds none: requests in flight per socket are
    // counted here instead, and close() ends each socket as soon as it has none.
    // Registered ahead of the handler, so a request that arrives while closing answers
    // `Connection: close` even when the handler responds synchronously.
    h1Server.prependListener("request", (req: http.IncomingMessage, res: http.ServerResponse) => {
      const socket = req.socket;
      h1InFlight.set(socket, (h1InFlight.get(socket) ?? 0) + 1);
      if (closing) res.shouldKeepAlive = false;
      res.once("close", () => {
        const count = h1InFlight.get(socket);
        // A socket that closed mid-request is already forgotten: never put it back.
        if (count === undefined) return;
        const left = count - 1;
        h1InFlight.set(socket, left);
        if (closing && left === 0) socket.end();
      });
    });
    front = net.createServer((socket) => {
      // Until a server takes the socket over, nothing else listens for its errors: a reset here
      // must not become an unhandled 'error' event that ends the process.
      socket.on("error", () => socket.destroy());
      let buffered = Buffer.alloc(0);
      const timer = setTimeout(() => socket.destroy(), sniffTimeoutMs);
      const onData = (chunk: Buffer) => {
        buffered = Buffer.concat([buffered, chunk]);
        const n = Math.min(buffered.length, h2Preface.length);
        const looksH2 = buffered.subarray(0, n).equals(h2Preface.subarray(0, n));
        if (looksH2 && buffered.length < h2Preface.length) return;
        clearTimeout(timer);
        socket.removeListener("data", onData);
        socket.pause();
        if (looksH2) {
          // nghttp2 reads a net.Socket's native handle directly, so bytes already read in
          // JavaScript cannot be put back; it is given a stream that replays them first.
          pendingRemoteAddress = socket.remoteAddress;
          h2.emit("connection", replaying(socket, buffered));
          pendingRemoteAddress = undefined;
        } else {
          socket.unshift(buffered);
          h1InFlight.set(socket, 0);
          socket.once("close", () => h1InFlight.delete(socket));
          h1Server.emit("connection", socket);
          socket.resume();
        }
      };
      socket.on("data", onData);
      socket.once("close", () => clearTimeout(timer));
    });
  }
  front.on("connection", (socket: net.Socket) => {
    // Small RPC frames go out at once: with Nagle's algorithm each cleartext gRPC call waited
    // ~40 ms for a delayed ACK.
    socket.setNoDelay(true);
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
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
      if ("stream" in req) {
        const known = remoteAddresses.get(req.stream.session as http2.ServerHttp2Session);
        if (known !== undefined) return known;
      }
      return req.socket?.remoteAddress ?? "";
    },

    async close(graceMs) {
      closing = true;
      const closed = new Promise<void>((resolve) => front.close(() => resolve()));
      for (const session of h2Sessions) session.close();
      // Idle keep-alive connections end now; busy ones when their last response is done.
      for (const [socket, inFlight] of h1InFlight) if (inFlight === 0) socket.end();
      const timer = setTimeout(() => {
        for (const session of h2Sessions) session.destroy();
        for (const socket of sockets) socket.destroy();
      }, graceMs);
      try {
        await closed;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}
