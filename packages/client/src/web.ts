// @authd/client/web: transports for browsers (Connect-Web and gRPC-Web over fetch), plus everything
// the package root exports. authd must list the page's origin in CORS_ALLOWED_ORIGINS.
import type { Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-web";
import { type AuthdTransportOptions, transportInterceptors } from "./clients.ts";

export * from "./index.ts";

export interface WebTransportOptions extends AuthdTransportOptions {
  /** Default "connect". */
  protocol?: "connect" | "grpc-web";
  /** For "connect" only: binary Protobuf instead of JSON. Default false (JSON). */
  binary?: boolean;
}

/** A transport to authd from a browser. */
export function createAuthdTransport(opts: WebTransportOptions): Transport {
  const interceptors = transportInterceptors(opts);
  if (opts.protocol === "grpc-web") return createGrpcWebTransport({ baseUrl: opts.baseUrl, interceptors });
  return createConnectTransport({ baseUrl: opts.baseUrl, interceptors, useBinaryFormat: opts.binary === true });
}

interface LockManagerLike {
  request<T>(name: string, callback: () => Promise<T>): Promise<T>;
}

/**
 * A lock for createTokenManager's `lock` option from the Web Locks API (`navigator.locks`), shared
 * by every tab of the page's origin: tabs that share a storage (localStorage) then never spend one
 * refresh token twice. Where the API is missing, the refresh runs without it.
 */
export function webLocks(name = "authd.refresh"): <T>(run: () => Promise<T>) => Promise<T> {
  const locks = (globalThis as { navigator?: { locks?: LockManagerLike } }).navigator?.locks;
  return (run) => (locks === undefined ? run() : locks.request(name, run));
}
