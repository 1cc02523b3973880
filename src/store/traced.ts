// The storage port with a span per call, beneath the call that made it. Wraps the port once,
// whichever adapter is behind it. Spans name the port's collection and operation only: never an
// argument (emails, token hashes, ids) and never a returned record.
import type { Tracer } from "@opentelemetry/api";
import { ATTR_DB_COLLECTION_NAME, ATTR_DB_OPERATION_NAME, ATTR_DB_SYSTEM_NAME } from "@opentelemetry/semantic-conventions";
import { SpanKind, tracedMethods } from "../tracing.ts";
import type { Store } from "./port.ts";

export function tracedStore(store: Store, tracer: Tracer): Store {
  // The embedded store works in process; MongoDB is a remote call (a CLIENT span, per the
  // database conventions). The memory store has no registered db.system.name.
  const remote = store.kind === "mongodb";
  const collection = <T extends object>(name: string, part: T): T =>
    tracedMethods(part, tracer, (operation) => ({
      name: `${operation} ${name}`,
      kind: remote ? SpanKind.CLIENT : SpanKind.INTERNAL,
      attributes: {
        [ATTR_DB_COLLECTION_NAME]: name,
        [ATTR_DB_OPERATION_NAME]: operation,
        ...(remote ? { [ATTR_DB_SYSTEM_NAME]: "mongodb" } : {}),
      },
    }));
  return {
    kind: store.kind,
    users: collection("users", store.users),
    sessions: collection("sessions", store.sessions),
    refreshTokens: collection("refreshTokens", store.refreshTokens),
    codes: collection("codes", store.codes),
    attempts: collection("attempts", store.attempts),
    twoFactor: collection("twoFactor", store.twoFactor),
    ping: () => store.ping(),
    close: () => store.close(),
  };
}
