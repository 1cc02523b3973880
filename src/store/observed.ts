// Every call through the storage port, observed from outside it: one wrapper around the port, so
// that metrics (and anything else that wants to see storage calls) need nothing from the adapters.
import type { Store } from "./port.ts";

/** The parts of the port that hold records; "store" stands for the port's own ping. */
export type StoreCollection =
  | "users"
  | "sessions"
  | "refreshTokens"
  | "codes"
  | "attempts"
  | "twoFactor"
  | "serviceAccounts"
  | "audit"
  | "passkeys"
  | "providerLinks"
  | "store";

/**
 * Watches the calls of one operation: `begin` when a call starts, `end` with what `begin` gave
 * back once it settles, with its error if it failed.
 */
export interface CallObserver<T> {
  begin(): T;
  end(started: T, error: unknown): void;
}

type Collection = Exclude<StoreCollection, "store">;

/** Every operation of every collection, so a method added to the port is a compile error here until listed. */
const operations: { [C in Collection]: Record<keyof Store[C], true> } = {
  users: { insert: true, findById: true, findByEmail: true, update: true, delete: true, list: true },
  sessions: {
    insert: true,
    findLive: true,
    listLive: true,
    moreLiveThan: true,
    touch: true,
    revoke: true,
    revokeAllForUser: true,
    deleteAllForUser: true,
  },
  refreshTokens: {
    insert: true,
    find: true,
    consume: true,
    dropSpentBeyond: true,
    expireSession: true,
    expireAllForUser: true,
    delete: true,
    deleteAllForUser: true,
  },
  codes: { replace: true, find: true, consume: true, deleteAllForUser: true, add: true },
  attempts: { get: true, fail: true, forgive: true, clear: true },
  twoFactor: { get: true, save: true, delete: true },
  serviceAccounts: { insert: true, findById: true, list: true, replaceKey: true, revoke: true, touch: true },
  audit: { insert: true, list: true },
  passkeys: {
    insert: true,
    findByCredentialId: true,
    listForUser: true,
    rename: true,
    recordUse: true,
    delete: true,
    deleteAllForUser: true,
  },
  providerLinks: { insert: true, findBySubject: true, listForUser: true, delete: true, deleteAllForUser: true },
};

type AsyncCall = (...args: never[]) => Promise<unknown>;

function observed<T>(call: AsyncCall, observer: CallObserver<T>): AsyncCall {
  return async (...args) => {
    const started = observer.begin();
    let error: unknown;
    try {
      return await call(...args);
    } catch (err) {
      error = err;
      throw err;
    } finally {
      observer.end(started, error);
    }
  };
}

/** The store with every call of every collection (and ping) reported to the observer made for it. */
export function observeStore<T>(store: Store, observerFor: (collection: StoreCollection, operation: string) => CallObserver<T>): Store {
  const part = <C extends Collection>(collection: C): Store[C] => {
    const inner = store[collection] as unknown as Record<string, AsyncCall>;
    const wrapped: Record<string, AsyncCall> = {};
    for (const operation of Object.keys(operations[collection])) {
      const call = inner[operation];
      if (call === undefined) throw new Error(`store.${collection}.${operation} is missing`);
      wrapped[operation] = observed(call.bind(inner), observerFor(collection, operation));
    }
    // The keys are exactly the port's (checked against `operations` above).
    return wrapped as unknown as Store[C];
  };
  return {
    kind: store.kind,
    users: part("users"),
    sessions: part("sessions"),
    refreshTokens: part("refreshTokens"),
    codes: part("codes"),
    attempts: part("attempts"),
    twoFactor: part("twoFactor"),
    serviceAccounts: part("serviceAccounts"),
    audit: part("audit"),
    passkeys: part("passkeys"),
    providerLinks: part("providerLinks"),
    ping: observed(() => store.ping(), observerFor("store", "ping")) as () => Promise<void>,
    close: () => store.close(),
  };
}
