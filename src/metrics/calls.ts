// The call metrics: one count and one latency observation per request, recorded once, from the
// request's outcome when its response closes (server/access-log.ts), so every protocol and every
// refusal a protocol layer makes is counted the same way the access log sees it.
//
// Label values come only from bounded sets: RPC names and REST route patterns exist only for
// requests a registered handler matched, reasons only from our ErrorReason vocabulary, other paths
// only from a fixed list ("other" for the rest). Never a raw path, an address, an id or an email.
import { Counter, Histogram, type Registry } from "prom-client";
import { reasonStatus } from "../errors.ts";
import type { Outcome } from "../transport/outcome.ts";

/** The paths outside the RPC and REST routes that get their own label; anything else is "other". */
const plainPaths = new Set(["/livez", "/readyz", "/healthz", "/health", "/.well-known/jwks.json", "/openapi.json", "/metrics"]);
const reasons = new Set<string>(Object.keys(reasonStatus));

/** A bound on distinct label sets, should a bug ever let an unbounded value through: past it, "other". */
const maxSeries = 5_000;

/** From sub-millisecond RPCs to argon2 sign-ins and slow storage. */
const latencyBuckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** One request as the access log saw it. */
export interface FinishedCall {
  outcome: Outcome;
  /** The HTTP method (used only with a matched REST route, where it is the route's own). */
  method: string | undefined;
  /** The path without its query. */
  path: string;
  /** The HTTP status sent; undefined when no header left. */
  status: number | undefined;
  /** Whether the whole response left (false: the client went away, the stream was reset). */
  completed: boolean;
  seconds: number;
}

export interface CallMetrics {
  record(call: FinishedCall): void;
}

interface Cell {
  requests: Counter.Internal;
  duration: Histogram.Internal<string>;
  aborted: Counter.Internal;
}

export function createCallMetrics(registry: Registry): CallMetrics {
  const target = ["service", "method", "protocol"] as const;
  const requests = new Counter({
    name: "authd_requests_total",
    help: "Requests answered, by RPC service and method (or REST route, or path), protocol, HTTP status, RPC code and ErrorReason.",
    labelNames: [...target, "status", "code", "reason"],
    registers: [registry],
  });
  const duration = new Histogram({
    name: "authd_request_duration_seconds",
    help: "Time from a request's arrival to its response's end, by RPC service and method (or REST route, or path) and protocol.",
    labelNames: target,
    buckets: latencyBuckets,
    registers: [registry],
  });
  const aborted = new Counter({
    name: "authd_requests_aborted_total",
    help: "Requests whose response never fully left (the client went away, the stream was reset).",
    labelNames: target,
    registers: [registry],
  });

  // prom-client hashes a label set on every call; the cells keep one bound child per label set,
  // so a call costs a map lookup and no label object.
  const cells = new Map<string, Cell>();

  function cellFor(key: string, call: FinishedCall, route: string): Cell {
    const { outcome } = call;
    let service: string;
    let method: string;
    if (cells.size >= maxSeries) {
      service = method = "other";
    } else if (outcome.route === undefined) {
      service = outcome.protocol === "rest" ? "rest" : "http";
      method = route;
    } else if (outcome.protocol === "rest" || outcome.protocol === "http") {
      // A REST route pattern, or a plain-HTTP endpoint's own path (forward auth): not an RPC name.
      service = outcome.protocol;
      method = route;
    } else {
      const slash = route.lastIndexOf("/");
      service = route.slice(0, slash);
      method = route.slice(slash + 1);
    }
    const reason = outcome.reason === undefined ? "" : reasons.has(outcome.reason) ? outcome.reason : "other";
    const labels = [service, method, outcome.protocol] as const;
    const cell = {
      requests: requests.labels(...labels, String(call.status ?? ""), outcome.rpcCode ?? "", reason),
      duration: duration.labels(...labels),
      aborted: aborted.labels(...labels),
    };
    if (cells.size < maxSeries) cells.set(key, cell);
    return cell;
  }

  return {
    record(call) {
      const { outcome } = call;
      const route =
        outcome.route === undefined
          ? plainPaths.has(call.path)
            ? call.path
            : "other"
          : outcome.protocol === "rest"
            ? `${call.method} ${outcome.route}`
            : outcome.route;
      const key = `${outcome.protocol} ${route} ${call.status} ${outcome.rpcCode} ${outcome.reason}`;
      const cell = cells.get(key) ?? cellFor(key, call, route);
      cell.requests.inc();
      cell.duration.observe(call.seconds);
      if (!call.completed) cell.aborted.inc();
    },
  };
}
