// The domain's error vocabulary. Each reason has exactly one status; transports translate the
// status to their own (gRPC code, HTTP status) and carry the reason unchanged. The reasons mirror
// the auth.v1.ErrorReason enum in proto/auth/v1/common.proto (a test keeps the two equal).

export type Status =
  | "invalid_argument"
  | "unauthenticated"
  | "permission_denied"
  | "not_found"
  | "already_exists"
  | "failed_precondition"
  | "resource_exhausted"
  | "unavailable"
  | "internal";

export const reasonStatus = {
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
  UNSUPPORTED_MEDIA_TYPE: "invalid_argument",
  METHOD_NOT_ALLOWED: "invalid_argument",
  CSRF_REJECTED: "permission_denied",
  REAUTHENTICATION_REQUIRED: "unauthenticated",
  PERMISSION_DENIED: "permission_denied",
  ACCOUNT_DISABLED: "permission_denied",
  SIGN_IN_METHOD_DISABLED: "failed_precondition",
  INVALID_PASSKEY: "unauthenticated",
  PROVIDER_SIGN_IN_FAILED: "unauthenticated",
  PROVIDER_ACCOUNT_LINKED: "already_exists",
  PROVIDER_UNAVAILABLE: "unavailable",
} as const satisfies Record<string, Status>;

export type Reason = keyof typeof reasonStatus;

export interface AuthErrorOptions {
  /** The request field at fault (snake_case, as in the proto). */
  field?: string;
  /** For rate limits and locks: seconds until trying again can succeed. */
  retryAfterSeconds?: number;
  cause?: unknown;
}

/** An expected failure of an operation, safe to show to the caller. */
export class AuthError extends Error {
  readonly reason: Reason;
  readonly status: Status;
  readonly field: string | undefined;
  readonly retryAfterSeconds: number | undefined;

  constructor(reason: Reason, message: string, options: AuthErrorOptions = {}) {
    super(message, { cause: options.cause });
    this.name = "AuthError";
    this.reason = reason;
    this.status = reasonStatus[reason];
    this.field = options.field;
    this.retryAfterSeconds = options.retryAfterSeconds;
  }
}

export function invalidArgument(field: string, message: string): AuthError {
  return new AuthError("INVALID_ARGUMENT", message, { field });
}
