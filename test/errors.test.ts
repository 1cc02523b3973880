// The reason strings the domain throws and the ErrorReason enum published in the proto contract
// are the same vocabulary; this keeps them from drifting apart. The expectation is written out
// here from proto/auth/v1/common.proto (each value's comment names its status) and the README's
// "Errors" section, not taken from either implementation table.
import { describe, expect, it } from "vitest";
import { ErrorReason } from "../gen/auth/v1/common_pb.js";
import { reasonStatus } from "../src/errors.ts";

/** Every reason with the status its comment in common.proto gives it. */
const documentedStatus: Record<string, string> = {
  INVALID_ARGUMENT: "invalid_argument",
  WEAK_PASSWORD: "invalid_argument",
  INVALID_CREDENTIALS: "unauthenticated",
  UNAUTHENTICATED: "unauthenticated",
  INVALID_TOKEN: "unauthenticated",
  TOKEN_EXPIRED: "unauthenticated",
  SESSION_REVOKED: "unauthenticated",
  INVALID_REFRESH: "unauthenticated",
  REFRESH_REVOKED: "unauthenticated",
  REFRESH_EXPIRED: "unauthenticated",
  EMAIL_EXISTS: "already_exists",
  EMAIL_NOT_VERIFIED: "failed_precondition",
  EMAIL_ALREADY_VERIFIED: "failed_precondition",
  LAST_SIGN_IN_METHOD: "failed_precondition",
  INVALID_CODE: "invalid_argument",
  REGISTRATION_DISABLED: "permission_denied",
  NOT_FOUND: "not_found",
  RATE_LIMITED: "resource_exhausted",
  PAYLOAD_TOO_LARGE: "resource_exhausted",
  STORAGE_UNAVAILABLE: "unavailable",
  INTERNAL: "internal",
  MALFORMED_REQUEST: "invalid_argument",
  INVALID_TWO_FACTOR_CODE: "unauthenticated",
  TWO_FACTOR_LOCKED: "resource_exhausted",
  TWO_FACTOR_NOT_ENABLED: "failed_precondition",
  TWO_FACTOR_ALREADY_ENABLED: "failed_precondition",
  TWO_FACTOR_SETUP_REQUIRED: "failed_precondition",
  LAST_DEVICE: "failed_precondition",
  INVALID_CHALLENGE: "unauthenticated",
  DEVICE_LIMIT_REACHED: "failed_precondition",
  REAUTHENTICATION_REQUIRED: "unauthenticated",
  PERMISSION_DENIED: "permission_denied",
  ACCOUNT_DISABLED: "permission_denied",
  SIGN_IN_METHOD_DISABLED: "failed_precondition",
  INVALID_PASSKEY: "unauthenticated",
  PROVIDER_SIGN_IN_FAILED: "unauthenticated",
  PROVIDER_ACCOUNT_LINKED: "already_exists",
  PROVIDER_UNAVAILABLE: "unavailable",
};
/** REST only: common.proto gives them an HTTP status (415, 405, 403) and no gRPC one. */
const restOnly = ["UNSUPPORTED_MEDIA_TYPE", "METHOD_NOT_ALLOWED", "CSRF_REJECTED"];
const documentedReasons = [...Object.keys(documentedStatus), ...restOnly].sort();

describe("error vocabulary", () => {
  it("every ErrorReason in the proto is a domain reason, and the other way round", () => {
    const fromProto = Object.keys(ErrorReason)
      .filter((k) => Number.isNaN(Number(k)) && k !== "UNSPECIFIED")
      .sort();
    expect(fromProto).toEqual(documentedReasons);
    expect(Object.keys(reasonStatus).sort()).toEqual(documentedReasons);
  });

  it("each domain reason has the status common.proto documents for it", () => {
    const domain: Record<string, string> = { ...reasonStatus };
    for (const r of restOnly) delete domain[r];
    expect(domain).toEqual(documentedStatus);
  });
});
