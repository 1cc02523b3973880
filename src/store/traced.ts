// The storage port with a span per call, beneath the call that made it. Built on the port's one
// observing wrapper (observed.ts, which metrics uses too), so it wraps the port once, whichever
// adapter is behind it. Spans name the port's collection and operation only: never an argument
// (emails, token hashes, ids) and never a returned record.
import type { Span, Tracer } from "@opentelemetry/api";
import { ATTR_DB_COLLECTION_NAME, ATTR_DB_OPERATION_NAME, ATTR_DB_SYSTEM_NAME } from "@opentelemetry/semantic-conventions";
import { endChildSpan, SpanKind, startChildSpan } from "../tracing.ts";
import { type CallObserver, observeStore } from "./observed.ts";
import type { Store } from "./port.ts";

/** The port's own ping (readiness probes) makes no span. */
const untraced: CallObserver<Span | undefined> = { begin: () => undefined, end: () => undefined };

export function tracedStore(store: Store, tracer: Tracer): Store {
  // The embedded store works in process; MongoDB is a remote call (a CLIENT span, per the
  // database conventions). The memory store has no registered db.system.name.
  const remote = store.kind === "mongodb";
  return observeStore<Span | undefined>(store, (collection, operation) => {
    if (collection === "store") return untraced;
    const shape = {
      name: `${operation} ${collection}`,
      kind: remote ? SpanKind.CLIENT : SpanKind.INTERNAL,
      attributes: {
        [ATTR_DB_COLLECTION_NAME]: collection,
        [ATTR_DB_OPERATION_NAME]: operation,
        ...(remote ? { [ATTR_DB_SYSTEM_NAME]: "mongodb" } : {}),
      },
    };
    return { begin: () => startChildSpan(tracer, shape), end: endChildSpan };
  });
}
