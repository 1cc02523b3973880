import { Code, ConnectError } from "@connectrpc/connect";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { BadRequestSchema, ErrorInfoSchema, RetryInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import type { AuthError, Status } from "../errors.ts";

export const errorDomain = "auth.v1";

const statusCode: Record<Status, Code> = {
  invalid_argument: Code.InvalidArgument,
  unauthenticated: Code.Unauthenticated,
  permission_denied: Code.PermissionDenied,
  not_found: Code.NotFound,
  already_exists: Code.AlreadyExists,
  failed_precondition: Code.FailedPrecondition,
  resource_exhausted: Code.ResourceExhausted,
  unavailable: Code.Unavailable,
  internal: Code.Internal,
};

/** The ConnectError a domain error becomes: its status, its reason as ErrorInfo, and helpers. */
export function toConnectError(err: AuthError): ConnectError {
  const metadata: Record<string, string> = {};
  if (err.field !== undefined) metadata.field = err.field;
  if (err.retryAfterSeconds !== undefined) metadata.retry_after_seconds = String(err.retryAfterSeconds);
  const details: ConstructorParameters<typeof ConnectError>[3] = [
    { desc: ErrorInfoSchema, value: { reason: err.reason, domain: errorDomain, metadata } },
  ];
  if (err.field !== undefined) {
    details.push({
      desc: BadRequestSchema,
      value: { fieldViolations: [{ field: err.field, description: err.message, reason: err.reason }] },
    });
  }
  if (err.retryAfterSeconds !== undefined) {
    details.push({ desc: RetryInfoSchema, value: { retryDelay: durationFromMs(err.retryAfterSeconds * 1000) } });
  }
  return new ConnectError(err.message, statusCode[err.status], undefined, details);
}

const loneSurrogate = /\p{Cs}/u;
const loneSurrogates = /\p{Cs}/gu;

/**
 * The error with a message every protocol can carry. gRPC and gRPC-Web send it percent-encoded in
 * grpc-message (encodeURIComponent), which throws on an unpaired surrogate, and the answer is then
 * never written: the call hangs until the client gives up. A message that quotes the first
 * characters of an input can cut a pair in two; the half becomes U+FFFD, as UTF-8 would have it.
 */
export function sendableError(err: ConnectError): ConnectError {
  if (!loneSurrogate.test(err.rawMessage)) return err;
  const sendable = new ConnectError(err.rawMessage.replace(loneSurrogates, "\uFFFD"), err.code, err.metadata, undefined, err.cause);
  sendable.details = err.details;
  return sendable;
}
