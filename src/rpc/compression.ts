// What the RPC protocols accept of a client's compression and deadline headers.
//
// A body that does not decompress (junk, a truncated gzip stream, a compressed frame with no
// encoding declared) is the client's mistake: INVALID_ARGUMENT / MALFORMED_REQUEST, never
// INTERNAL. An encoding the server does not offer (zstd, deflate) stays UNIMPLEMENTED, as the
// gRPC and Connect specifications say, with the supported list in the message.
//
// A deadline the specifications allow but no timer can hold (`grpc-timeout: 99999999H` is about
// 41,000 years) is clamped to the longest one Node's timers take. Node would otherwise print a
// TimeoutOverflowWarning into the JSON log and fire the deadline after 1 ms.
import { Code, ConnectError } from "@connectrpc/connect";
import type { Compression } from "@connectrpc/connect/protocol";
import { compressionBrotli, compressionGzip } from "@connectrpc/connect-node";
import { AuthError } from "../errors.ts";
import { toConnectError } from "./errors.ts";

const undecompressable = "the request body could not be decompressed";

/** The error a body that does not decompress gets, with its reason attached. */
export function decompressionFailed(): ConnectError {
  return toConnectError(new AuthError("MALFORMED_REQUEST", undecompressable));
}

/** Connect's own words for a compressed frame that arrived without a declared encoding. */
export function isUndeclaredCompression(message: string): boolean {
  return message.includes("received compressed envelope");
}

function clientSafe(algorithm: Compression): Compression {
  return {
    name: algorithm.name,
    compress: (bytes) => algorithm.compress(bytes),
    async decompress(bytes, readMaxBytes) {
      try {
        return await algorithm.decompress(bytes, readMaxBytes);
      } catch (err) {
        // Larger than MAX_BODY_BYTES once inflated: RESOURCE_EXHAUSTED / PAYLOAD_TOO_LARGE as usual.
        if (err instanceof ConnectError && err.code === Code.ResourceExhausted) throw err;
        throw decompressionFailed();
      }
    },
  };
}

/** The encodings the RPC server accepts, each failing as the client's error. */
export const acceptCompression: Compression[] = [clientSafe(compressionGzip), clientSafe(compressionBrotli)];

/** The longest delay a Node timer holds (2^31 - 1 ms, about 24.8 days). */
export const maxDeadlineMs = 2 ** 31 - 1;

const grpcUnitMs: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 0.000001 };

/**
 * Clamps `grpc-timeout` and `connect-timeout-ms` to `maxDeadlineMs`, in place. Values that are
 * not well formed are left for Connect to refuse.
 */
export function clampDeadline(header: Headers): void {
  const grpc = /^(\d{1,8})([HMSmun])$/.exec(header.get("grpc-timeout") ?? "");
  if (grpc !== null && Number(grpc[1]) * (grpcUnitMs[grpc[2] ?? ""] ?? 0) > maxDeadlineMs) {
    header.set("grpc-timeout", `${Math.floor(maxDeadlineMs / 1000)}S`);
  }
  const connect = /^\d{1,10}$/.exec(header.get("connect-timeout-ms") ?? "");
  if (connect !== null && Number(connect[0]) > maxDeadlineMs) header.set("connect-timeout-ms", String(maxDeadlineMs));
}
