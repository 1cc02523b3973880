// HTTP/2 sessions behind the listener (listener.ts): the budgets on streams a client resets
// (rapid reset, CVE-2023-44487) per connection and per client address, the floods Node ends
// itself, the shedding of an abusive session and, for the rest of the window, of its address, and
// the open sessions the graceful close reaches.
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
}

export interface Http2SessionWatchDeps {
  limits: ConnectionLimits;
  /** The listener's counters this adds to. */
  stats: { shedSessions: number; http2Resets: number };
  onLimit(event: { kind: "http2_resets"; address: string; scope: "connection" | "address" | "flood" }): void;
  /** Whether the server itself reset the stream (slow-bodies.ts): no reset of the client's. */
  resetHere(stream: http2.ServerHttp2Stream): boolean;
  /** Whether the listener is closing: a session opened now is closed after its first streams. */
  closing(): boolean;
}

export function createHttp2SessionWatch({ limits, stats, onLimit, resetHere, closing }: Http2SessionWatchDeps): Http2SessionWatch {
  const open = new Set<http2.ServerHttp2Session>();
  /** Addresses whose HTTP/2 sessions overspent their reset budget, refused until this time. */
  const shedUntil = new Map<string, number>();
  const addressResets = new Map<string, SlidingWindow>();

  const watch = (session: http2.ServerHttp2Session) => {
    open.add(session);
    session.once("close", () => open.delete(session));
    // A session opened while closing still gets the streams it sent with its preface answered.
    if (closing()) setImmediate(() => session.close());
    // Read now: once the session is destroyed (where Node's flood protection leaves it) its socket is gone.
    const address = clientNetwork(session.socket?.remoteAddress ?? "");
    const resets = new SlidingWindow();
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
    // rate limit. Most of a rapid reset's streams die there, unseen by the stream counts below, and
    // the client simply reconnects: its address is shed as if over budget.
    session.on("error", (err: NodeJS.ErrnoException) => {
      if (err.code === "ERR_HTTP2_ERROR") shedSession("flood");
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
        }
        if (counter.add(now, window) > limits.http2MaxResetsPerAddress) shedSession("address");
      }
    };
    session.on("stream", (stream: http2.ServerHttp2Stream) => {
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
      // Reset history of an address is kept only while it has connections or a live window.
      if ((addressResets.get(address)?.count(now, limits.http2ResetWindowMs) ?? 0) === 0) addressResets.delete(address);
    },
    open,
  };
}
