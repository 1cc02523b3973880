// HTTP/2 sessions behind the listener (listener.ts): the budgets on streams a client resets
// (rapid reset, CVE-2023-44487) per connection and per client address, the floods Node ends
// itself, the shedding of an abusive session and, for the rest of the window, of its address, and
// the open sessions the graceful close reaches. An address is its client network (an IPv6 /64),
// not its IPv6 aggregate (client-network.ts): a shed /48 would shut out every neighbour of one
// abuser, and its connections are bounded by the connection cap anyway.
import http2 from "node:http2";

import { clientNetwork } from "../client-network.ts";
import type { ConnectionLimits } from "../config.ts";

/** Events within the last `windowMs`. */
class SlidingWindow {
  private times: number[] = [];
  add(now: number, windowMs: number): number {
    this.times.push(now);
    return this.count(now, windowMs);
  }
  count(now: number, windowMs: number): number {
    let drop = 0;
    while (drop < this.times.length && (this.times[drop] ?? 0) <= now - windowMs) drop++;
    if (drop > 0) this.times.splice(0, drop);
    return this.times.length;
  }
}

/**
 * Clears a session's idle timer (the server's setTimeout) as it is destroyed. Node 24 marks a
 * session destroyed and only then calls its setTimeout(0) to clear that timer, which returns at
 * once for a destroyed session (lib/internal/http2/core.js, closeSession, and setStreamTimeout):
 * the timer stays armed and holds the closed session, with everything its listeners close over,
 * until it fires, the whole idle timeout (5 minutes) later. A client opening and closing
 * connections made the server keep about 1.7 kB each for those minutes (1,000 a second: half a
 * gigabyte). Clearing it first, while the session is still live, lets a closed session go at once.
 * Every way a session ends goes through destroy() (close() ends in it).
 */
function keepIdleTimerFromHolding(session: http2.ServerHttp2Session): void {
  const destroy = session.destroy;
  session.destroy = function (this: http2.ServerHttp2Session, ...args: Parameters<typeof destroy>) {
    if (!this.destroyed) this.setTimeout(0);
    return destroy.apply(this, args);
  };
}

/** nghttp2's NGHTTP2_ERR_FLOODED: control frames (PING, SETTINGS) sent faster than they are answered. */
const nghttp2Flooded = -904;

// A shed HTTP/2 session is closed gracefully, then destroyed if its streams take longer than this.
const shedCloseMs = 1_000;

export interface Http2SessionWatch {
  /** Watches a new session (the server's 'session' event). */
  watch(session: http2.ServerHttp2Session): void;
  /** Whether connections from `address` are refused at `now`; a shed that has run out is forgotten. */
  isShed(address: string, now: number): boolean;
  /** Forgets the address's reset history unless its window still counts some (its last connection closed). */
  forget(address: string, now: number): void;
  /** The sessions open now. */
  readonly open: ReadonlySet<http2.ServerHttp2Session>;
  /** The oldest open session with no stream open, if any: the one to close to make room. */
  idleSession(): http2.ServerHttp2Session | undefined;
  /** How many addresses it holds something for: shed, and with a reset history (tests). */
  held(): { shed: number; resetHistories: number };
}

export interface Http2SessionWatchDeps {
  limits: ConnectionLimits;
  /** The listener's counters this adds to. */
  stats: { shedSessions: number; http2Resets: number };
  onLimit(event: { kind: "http2_resets"; address: string; scope: "connection" | "address" | "flood" }): void;
  /** Whether the server itself reset the stream (request-limits.ts): no reset of the client's. */
  resetHere(stream: http2.ServerHttp2Stream): boolean;
  /** Whether the listener is closing: a session opened now is closed after its first streams. */
  closing(): boolean;
}

export function createHttp2SessionWatch({ limits, stats, onLimit, resetHere, closing }: Http2SessionWatchDeps): Http2SessionWatch {
  const open = new Set<http2.ServerHttp2Session>();
  /** Each session's streams open now, in a record of its own (one lookup per session, not per stream). */
  const streamsOpen = new WeakMap<http2.ServerHttp2Session, { count: number }>();
  /** Addresses whose HTTP/2 sessions overspent their reset budget, refused until this time. */
  const shedUntil = new Map<string, number>();
  const addressResets = new Map<string, SlidingWindow>();

  /**
   * Drops the shed addresses and reset histories whose window has run out, and comes back while
   * any are left. Without it an address whose client left within the window (its last connection
   * closed while its history still counted, so `forget` kept it) or that never came back after
   * being shed would be kept for the life of the process: many source networks, many entries.
   */
  let sweep: NodeJS.Timeout | undefined;
  const sweepLater = () => {
    if (sweep !== undefined) return;
    sweep = setTimeout(() => {
      sweep = undefined;
      const now = Date.now();
      for (const [address, until] of shedUntil) if (until <= now) shedUntil.delete(address);
      // An empty window is dropped even while its address is connected: the next reset starts a new one.
      for (const [address, window] of addressResets) {
        if (window.count(now, limits.http2ResetWindowMs) === 0) addressResets.delete(address);
      }
      if (shedUntil.size > 0 || addressResets.size > 0) sweepLater();
    }, limits.http2ResetWindowMs).unref();
  };

  const watch = (session: http2.ServerHttp2Session) => {
    open.add(session);
    session.once("close", () => open.delete(session));
    keepIdleTimerFromHolding(session);
    // A session opened while closing still gets the streams it sent with its preface answered.
    if (closing()) setImmediate(() => session.close());
    // A connection that sends its preface and then no request holds its place for nothing: it is
    // given as long as a request's headers (HTTP_HEADERS_TIMEOUT_MS) to open its first stream,
    // then closed (GOAWAY), as a silent cleartext connection is before its preface.
    const firstStreamDue =
      limits.headersTimeoutMs > 0
        ? setTimeout(() => {
            if (!session.closed) session.close();
          }, limits.headersTimeoutMs).unref()
        : undefined;
    session.once("close", () => clearTimeout(firstStreamDue));
    // Read now: once the session is destroyed (where Node's flood protection leaves it) its socket is gone.
    const address = clientNetwork(session.socket?.remoteAddress ?? "");
    const resets = new SlidingWindow();
    const streams = { count: 0 };
    streamsOpen.set(session, streams);
    let opened = 0;
    let shed = false;
    /** Ends an abusive session, and refuses its address for the rest of the window (see shedAddresses). */
    const shedSession = (scope: "connection" | "address" | "flood") => {
      if (shed) return;
      shed = true;
      stats.shedSessions++;
      // The abuser reconnects at once: its address waits out the window. Not a proxy's, which all
      // its clients share (one of them, or the proxy's own cancellations, would shut out all), nor
      // after a flood while the address budget is off.
      if (limits.shedAddresses && (scope !== "flood" || limits.http2MaxResetsPerAddress > 0)) {
        shedUntil.set(address, Date.now() + limits.http2ResetWindowMs);
        sweepLater();
      }
      onLimit({ kind: "http2_resets", address, scope });
      // Streams cut because their session ended close after it is destroyed, and GOAWAY throws there.
      if (session.destroyed) return;
      // GOAWAY, so the client learns why (destroying the session at once would drop the frame);
      // nghttp2 refuses the streams it opens after it, and the connection ends with its last stream.
      session.goaway(http2.constants.NGHTTP2_ENHANCE_YOUR_CALM);
      session.close();
      setTimeout(() => session.destroy(), shedCloseMs).unref();
    };
    // Node ends a session itself, with this error, when its client floods it: streams opened
    // past the advertised concurrency limit a hundred times, or resets faster than nghttp2's own
    // rate limit (a protocol error, after hundreds of streams), or control frames faster than it
    // answers them (NGHTTP2_ERR_FLOODED). Most of a rapid reset's streams die there, unseen by the
    // stream counts below, and the client simply reconnects: its address is shed as if over
    // budget. A protocol error among a connection's first streams (one header block too large for
    // the decoder, say) ends that connection only: shedding the address for it would let one
    // request shut out everyone behind the same NAT.
    session.on("error", (err: NodeJS.ErrnoException) => {
      if (err.code !== "ERR_HTTP2_ERROR") return;
      if (err.errno === nghttp2Flooded || opened >= limits.http2MaxConcurrentStreams) shedSession("flood");
    });
    // A stream the client reset (RST_STREAM with an error code) before it completed: while
    // its answer was unfinished (aborted; the 'aborted' event is not emitted on server streams,
    // the flag is set), or after its request had been read in full. Cancelling costs the client
    // nothing and the server a handler run: rapid reset (CVE-2023-44487). The second case
    // matters because nghttp2 reads the socket natively: a handler that answers within the
    // microtasks run between two frames of one read has ended its answer before it sees the
    // reset sent right behind the request. A client that stops an upload the server already
    // refused (its request unread, its answer ended) is not counted.
    // One listener for the session's streams ('this' is the stream), not a closure per stream.
    const onStreamClose = function (this: http2.ServerHttp2Stream) {
      streams.count--;
      if (this.rstCode === http2.constants.NGHTTP2_NO_ERROR || !(this.aborted || this.readableEnded)) return;
      // Reset by the server itself (a body past its deadline, a long-lived stream over the cap).
      if (resetHere(this)) return;
      // Streams cut because their connection ended (a client that lost its network, say) close
      // after the session is destroyed: they are no resets.
      if (session.destroyed) return;
      stats.http2Resets++;
      const now = Date.now();
      const window = limits.http2ResetWindowMs;
      if (limits.http2MaxResetsPerConnection > 0 && resets.add(now, window) > limits.http2MaxResetsPerConnection) {
        shedSession("connection");
      }
      if (limits.http2MaxResetsPerAddress > 0) {
        let counter = addressResets.get(address);
        if (counter === undefined) {
          counter = new SlidingWindow();
          addressResets.set(address, counter);
          sweepLater();
        }
        if (counter.add(now, window) > limits.http2MaxResetsPerAddress) shedSession("address");
      }
    };
    session.on("stream", (stream: http2.ServerHttp2Stream) => {
      opened++;
      clearTimeout(firstStreamDue);
      streams.count++;
      stream.on("close", onStreamClose);
    });
  };

  return {
    watch,
    isShed(address, now) {
      const shed = shedUntil.get(address);
      if (shed === undefined) return false;
      if (shed > now) return true;
      shedUntil.delete(address);
      return false;
    },
    forget(address, now) {
      // Reset history of an address is kept only while it has connections or a live window (the
      // sweep drops it when the window runs out).
      if ((addressResets.get(address)?.count(now, limits.http2ResetWindowMs) ?? 0) === 0) addressResets.delete(address);
    },
    open,
    idleSession() {
      for (const session of open) if (streamsOpen.get(session)?.count === 0 && !session.closed) return session;
      return undefined;
    },
    held: () => ({ shed: shedUntil.size, resetHistories: addressResets.size }),
  };
}
