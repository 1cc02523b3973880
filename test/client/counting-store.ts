// authd's store with every refresh-token lookup counted: RefreshToken looks its token up exactly
// once per call, so this counts the refreshes that reached the server.
import type { Store } from "../../src/store/port.ts";

export interface CountedStore {
  store: Store;
  /** RefreshToken calls so far. */
  refreshes(): number;
}

export function countingRefreshes(store: Store): CountedStore {
  let count = 0;
  const refreshTokens = new Proxy(store.refreshTokens, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (prop !== "find" || typeof value !== "function") return value;
      return (...args: unknown[]) => {
        count++;
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  const counted = new Proxy(store, {
    get: (target, prop, receiver) => (prop === "refreshTokens" ? refreshTokens : Reflect.get(target, prop, receiver)),
  });
  return { store: counted, refreshes: () => count };
}
