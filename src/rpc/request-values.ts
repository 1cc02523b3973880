// The context values of one call. Connect's createContextValues makes an object with three
// methods of its own (three closures a call); these live once, on the prototype. Same contract:
// a key that was never set reads as its default.
import type { ContextKey, ContextValues } from "@connectrpc/connect";

type Slots = Record<symbol, unknown>;

class RequestValues implements ContextValues {
  get<T>(key: ContextKey<T>): T {
    return key.id in this ? ((this as unknown as Slots)[key.id] as T) : key.defaultValue;
  }

  set<T>(key: ContextKey<T>, value: T): this {
    (this as unknown as Slots)[key.id] = value;
    return this;
  }

  delete(key: ContextKey<unknown>): this {
    delete (this as unknown as Slots)[key.id];
    return this;
  }
}

/** Empty context values for a call. */
export function requestValues(): ContextValues {
  return new RequestValues();
}
