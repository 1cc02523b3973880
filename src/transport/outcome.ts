// What became of one request, filled in by whichever layer learns it (the RPC adapter and its
// interceptor, the REST handler) and written once as the request's access-log line when the
// response closes (server/access-log.ts). Keyed by the Node request object, so no layer needs to
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
}

const outcomes = new WeakMap<object, Outcome>();

/** The request's outcome record, created on first use. */
export function outcomeOf(req: object): Outcome {
  let outcome = outcomes.get(req);
  if (outcome === undefined) {
    outcome = { protocol: "http" };
    outcomes.set(req, outcome);
  }
  return outcome;
}
