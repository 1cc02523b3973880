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
