// @authd/client/node: transports for Node (HTTP/2 gRPC, Connect, gRPC-Web), plus everything the
// package root exports.
import type { Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { type AuthdTransportOptions, transportInterceptors } from "./clients.ts";

export * from "./index.ts";

export interface NodeTransportOptions extends AuthdTransportOptions {
  /** Default "grpc" (HTTP/2; prior knowledge on http://, ALPN on https://). */
  protocol?: "grpc" | "connect" | "grpc-web";
  /** For "connect" and "grpc-web": default "1.1". gRPC is always HTTP/2. */
  httpVersion?: "1.1" | "2";
  /** For "connect" only: JSON instead of binary Protobuf. Default false. */
  json?: boolean;
}

/** A transport to authd from Node. */
export function createAuthdTransport(opts: NodeTransportOptions): Transport {
  const interceptors = transportInterceptors(opts);
  const baseUrl = opts.baseUrl;
  switch (opts.protocol ?? "grpc") {
    case "grpc":
      return createGrpcTransport({ baseUrl, interceptors });
    case "connect":
      return createConnectTransport({ baseUrl, interceptors, httpVersion: opts.httpVersion ?? "1.1", useBinaryFormat: opts.json !== true });
    case "grpc-web":
      return createGrpcWebTransport({ baseUrl, interceptors, httpVersion: opts.httpVersion ?? "1.1" });
  }
}
