// One access-log line per request, whatever became of it: served, refused by a protocol layer
// (bad content type, malformed or undecompressable body, wrong method, oversize, forgery, unknown
// path) or abandoned by the client. Written when the response closes, which Node signals exactly
// once per request on HTTP/1.1 and HTTP/2 alike. Never a body, a header value or a query string:
// those can carry secrets. Requests the listener refuses before HTTP parsing (a malformed request
// line, a connection over a cap) never become requests and are not logged here.
import type { Logger } from "../log.ts";
import type { CallMetrics } from "../metrics/calls.ts";
import type { NodeHandler } from "../transport/node-http.ts";
import { answeredInFull } from "../transport/node-http.ts";
import { outcomeOf } from "../transport/outcome.ts";

type NodeRequest = Parameters<NodeHandler>[0];
type NodeResponse = Parameters<NodeHandler>[1];

/** Paths are logged up to this many characters: an unmatched path is whatever the client sent. */
const maxPathLength = 200;
/**
 * Methods too, the longest registered being 17 characters: over HTTP/2 any token is one, and HPACK
 * indexes one of 3,000 characters, after which each request names it in a byte or two (32 bytes a
 * request on the wire wrote 3.26 kB of log; test/server/access-log.test.ts).
 */
const maxMethodLength = 32;

const cut = (text: string, max: number) => (text.length > max ? `${text.slice(0, max)}…` : text);

export interface AccessContext {
  requestId: string;
  clientIp: string;
}

/** Logs one request when its response closes, and counts it in the call metrics when they are on. */
export type AccessLog = (req: NodeRequest, res: NodeResponse, context: AccessContext) => void;

/**
 * The access log of a server. Its lines hold only the fields below, none a secret (the request id
 * is checked against a pattern, the path is cut before its query), so they skip the logger's
 * redaction, which with its wildcard paths cost more than the rest of the line (about 20 µs
 * against 4, bench/empty-rpc). At a disabled level nothing of the line is built.
 */
export function createAccessLog(log: Logger, calls?: CallMetrics): AccessLog {
  const lines = log.child({}, { redact: [] });
  return (req, res, context) => {
    const logging = lines.isLevelEnabled("info");
    if (!logging && calls === undefined) return;
    const started = performance.now();
    const path = (req.url ?? "/").split("?", 1)[0] ?? "/";
    res.once("close", () => {
      const outcome = outcomeOf(req);
      // An answer that never fully left (the client went away, the stream was reset) says so.
      const completed = answeredInFull(res);
      const elapsed = performance.now() - started;
      const status = res.headersSent ? res.statusCode : undefined;
      calls?.record({ outcome, method: req.method, path, status, completed, seconds: elapsed / 1000 });
      if (!logging) return;
      lines.info(
        {
          requestId: context.requestId,
          clientIp: context.clientIp,
          method: req.method === undefined ? undefined : cut(req.method, maxMethodLength),
          path: cut(path, maxPathLength),
          protocol: outcome.protocol,
          route: outcome.route,
          status,
          rpcCode: outcome.rpcCode,
          reason: outcome.reason,
          ...(completed ? {} : { aborted: true }),
          ms: Math.round(elapsed),
          trace_id: outcome.trace?.traceId,
          span_id: outcome.trace?.spanId,
        },
        "request",
      );
    });
  };
}
