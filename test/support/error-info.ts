// The one way the tests read an error's google.rpc.ErrorInfo, whichever wire form it came in:
// - grpc-status-details-bin, a serialized google.rpc.Status (gRPC trailers, gRPC-Web trailer
//   frames, @grpc/grpc-js metadata): raw bytes, or base64 text as HTTP carries it;
// - the Connect protocol's JSON error body, whose `details` are `{ type, value: base64 }`;
// - the details of a ConnectError, as the Connect client took them off the wire.
// Decoded with protobufjs from the message definitions below: independent of the server's code
// and of the generated code in gen/ that the server uses.
import type { ConnectError } from "@connectrpc/connect";
import protobuf from "protobufjs";

const root = protobuf.parse(
  `
syntax = "proto3";
package google.rpc;
message Any { string type_url = 1; bytes value = 2; }
message Status { int32 code = 1; string message = 2; repeated Any details = 3; }
message ErrorInfo { string reason = 1; string domain = 2; map<string, string> metadata = 3; }
`,
  { keepCase: true },
).root;
const StatusType = root.lookupType("google.rpc.Status");
const ErrorInfoType = root.lookupType("google.rpc.ErrorInfo");

export interface ErrorInfo {
  /** Absent (undefined) when the detail carries none. */
  reason: string | undefined;
  domain: string | undefined;
  metadata: Record<string, string>;
}

/** A google.protobuf.Any as the wire forms carry it: a type URL or a bare type name, and the bytes. */
export interface AnyDetail {
  type: string;
  value: Uint8Array;
}

/** The first google.rpc.ErrorInfo among `details`, decoded; undefined when there is none. */
export function errorInfoFromDetails(details: Iterable<AnyDetail>): ErrorInfo | undefined {
  for (const d of details) {
    if (d.type.slice(d.type.lastIndexOf("/") + 1) !== "google.rpc.ErrorInfo") continue;
    const info = ErrorInfoType.toObject(ErrorInfoType.decode(d.value)) as {
      reason?: string;
      domain?: string;
      metadata?: Record<string, string>;
    };
    return { reason: info.reason, domain: info.domain, metadata: info.metadata ?? {} };
  }
  return undefined;
}

export interface DecodedStatus {
  code: number;
  message: string;
  /** Each detail's type URL, with its fields when it is an ErrorInfo. */
  details: Array<{ type: string; errorInfo: ErrorInfo | undefined }>;
}

/** A whole google.rpc.Status from a grpc-status-details-bin value: bytes, or (unpadded) base64. */
export function statusFromBin(bin: Uint8Array | string): DecodedStatus {
  const bytes = typeof bin === "string" ? Buffer.from(bin, "base64") : bin;
  const status = StatusType.toObject(StatusType.decode(bytes)) as {
    code?: number;
    message?: string;
    details?: Array<{ type_url: string; value: Uint8Array }>;
  };
  return {
    code: status.code ?? 0,
    message: status.message ?? "",
    details: (status.details ?? []).map((d) => ({
      type: d.type_url,
      errorInfo: errorInfoFromDetails([{ type: d.type_url, value: d.value }]),
    })),
  };
}

/** The ErrorInfo in a grpc-status-details-bin value: bytes, or (possibly unpadded) base64 text. */
export function errorInfoFromStatusBin(bin: Uint8Array | string | undefined): ErrorInfo | undefined {
  if (bin === undefined) return undefined;
  return statusFromBin(bin).details.find((d) => d.errorInfo !== undefined)?.errorInfo;
}

/** The ErrorInfo in a Connect protocol JSON error body (`{ code, message, details }`). */
export function errorInfoFromConnectJson(body: unknown): ErrorInfo | undefined {
  const details = (body as { details?: unknown } | null)?.details;
  if (!Array.isArray(details)) return undefined;
  return errorInfoFromDetails(
    details.map((d: { type?: unknown; value?: unknown }) => ({ type: String(d.type), value: Buffer.from(String(d.value), "base64") })),
  );
}

/** The ErrorInfo among a ConnectError's details, from their bytes as received. */
export function errorInfoFromConnectError(err: ConnectError): ErrorInfo | undefined {
  return errorInfoFromDetails(
    err.details.flatMap((d) => ("type" in d && d.value instanceof Uint8Array ? [{ type: d.type, value: d.value }] : [])),
  );
}
