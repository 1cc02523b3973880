// What became of one request, filled in by whichever layer learns it (the RPC adapter and its
// interceptor, the REST handler) and written once as the request's access-log line when the
// response closes (server/access-log.ts). Kept on the Node request object, so no layer needs to
// pass it along.

/** The wire protocol a request spoke: "http" for the probes, JWKS and paths no protocol owns. */
export type Protocol = "grpc" | "grpc-web" | "connect" | "rest" | "http";

export interface Outcome {
  protocol: Protocol;
  /** What took the request: the RPC ("auth.v1.AuthService/Login") or the REST route pattern. */
  route?: string;
  /** The RPC status as the client saw it ("ok", "invalid_argument", …), Connect's spelling. */
  rpcCode?: string;
  /** The ErrorInfo reason of a refusal. */
  reason?: string;
  /** The call's trace and span, when tracing is on (server/tracing.ts). */
  trace?: { traceId: string; spanId: string };
  /** The X-Request-Id the request was answered under (server/app.ts). */
  requestId?: string;
  /** The client's address as server/app.ts works it out (TRUST_PROXY_HOPS), once per request. */
  clientIp?: string;
}

// A symbol-keyed slot on the request rather than a WeakMap: a WeakMap entry for every request
// cost about a microsecond of insertion and garbage-collector work (bench/run.ts), the slot next
// to nothing, and it goes with the request.
const outcomeSlot = Symbol("authd.outcome");

/** The request's outcome record, created on first use. */
export function outcomeOf(req: object): Outcome {
  const holder = req as { [outcomeSlot]?: Outcome };
  let outcome = holder[outcomeSlot];
  if (outcome === undefined) {
    outcome = { protocol: "http" };
    holder[outcomeSlot] = outcome;
  }
  return outcome;
}
