import { ConfigError, type Env, int } from "./parse.ts";

export interface ConnectionLimits {
  /** Open connections in all; one more is closed at once. */
  maxConnections: number;
  /** Open connections from one client address (the socket's, so a proxy's when behind one). */
  maxConnectionsPerAddress: number;
  /**
   * A connection with no request traffic for this long is closed (an HTTP/2 session with a
   * long-lived request open is not idle, however quiet).
   */
  idleTimeoutMs: number;
  /** Time from the first byte of an HTTP/1.1 request to the end of its headers. */
  headersTimeoutMs: number;
  /** Time from the first byte of an HTTP/1.1 request to the end of its body. */
  requestTimeoutMs: number;
  /** Slowest HTTP/1.1 request body accepted, measured over each `bodyRateWindowMs`. */
  minBodyBytesPerSecond: number;
  bodyRateWindowMs: number;
  /** SETTINGS_MAX_CONCURRENT_STREAMS announced to HTTP/2 clients. */
  http2MaxConcurrentStreams: number;
  /** HTTP/2 streams one client address may have open at once, across its connections; 0: no cap. */
  http2MaxStreamsPerAddress: number;
  /** Long-lived requests (Health/Watch, server reflection) one client address may have open; 0: no cap. */
  maxLongLivedPerAddress: number;
  /** Streams an HTTP/2 client may cancel (RST_STREAM) per window, on one connection and from one address. */
  http2MaxResetsPerConnection: number;
  http2MaxResetsPerAddress: number;
  http2ResetWindowMs: number;
  /**
   * Whether the address of a connection shed for HTTP/2 abuse is refused for the rest of the
   * window. Not behind a proxy, where every client shares the proxy's address.
   */
  shedAddresses: boolean;
  /** Clients connect directly (TRUST_PROXY_HOPS is 0): a connection is one client's, not a proxy's many. */
  direct: boolean;
}

export function connectionLimits(env: Env, trustProxyHops: number): ConnectionLimits {
  // Behind a reverse proxy every client arrives from the proxy's address, over HTTP/2 often on
  // one connection it shares among them all: a cap or a ban per address would fall on everyone
  // at once. There the per-address limits are off unless set explicitly, and no address is shed.
  const direct = trustProxyHops === 0;
  const limits: ConnectionLimits = {
    maxConnections: int(env, "MAX_CONNECTIONS", 800, 0, 1_000_000),
    maxConnectionsPerAddress: int(env, "MAX_CONNECTIONS_PER_ADDRESS", direct ? 100 : 0, 0, 1_000_000),
    idleTimeoutMs: int(env, "HTTP_IDLE_TIMEOUT_MS", 300_000, 100, 86_400_000),
    headersTimeoutMs: int(env, "HTTP_HEADERS_TIMEOUT_MS", 10_000, 0, 600_000),
    requestTimeoutMs: int(env, "HTTP_REQUEST_TIMEOUT_MS", 30_000, 0, 3_600_000),
    minBodyBytesPerSecond: int(env, "HTTP_MIN_BODY_BYTES_PER_SECOND", 1024, 0, 100_000_000),
    bodyRateWindowMs: int(env, "HTTP_BODY_RATE_WINDOW_MS", 5_000, 10, 600_000),
    http2MaxConcurrentStreams: int(env, "HTTP2_MAX_CONCURRENT_STREAMS", 128, 1, 10_000),
    http2MaxStreamsPerAddress: int(env, "HTTP2_MAX_STREAMS_PER_ADDRESS", direct ? 512 : 0, 0, 10_000_000),
    maxLongLivedPerAddress: int(env, "MAX_LONG_LIVED_REQUESTS_PER_ADDRESS", direct ? 16 : 0, 0, 1_000_000),
    http2MaxResetsPerConnection: int(env, "HTTP2_MAX_RESETS_PER_CONNECTION", 200, 0, 1_000_000),
    http2MaxResetsPerAddress: int(env, "HTTP2_MAX_RESETS_PER_ADDRESS", direct ? 1000 : 0, 0, 10_000_000),
    http2ResetWindowMs: int(env, "HTTP2_RESET_WINDOW_MS", 10_000, 100, 3_600_000),
    shedAddresses: direct,
    direct,
  };
  // Node refuses a header timeout longer than the whole-request timeout.
  if (limits.requestTimeoutMs > 0 && limits.headersTimeoutMs > limits.requestTimeoutMs) {
    throw new ConfigError("HTTP_HEADERS_TIMEOUT_MS", "must not be longer than HTTP_REQUEST_TIMEOUT_MS");
  }
  return limits;
}
