// authd's errors as programs read them: a status code plus one machine-readable reason, carried
// as a google.rpc.ErrorInfo detail (domain "auth.v1") on every protocol. AuthdError keeps
// ConnectError's name and shape, so code that handles ConnectError (Connect's own servers and
// clients included) still treats it as one.
import { Code, ConnectError } from "@connectrpc/connect";
import type { ErrorReason } from "./gen/auth/v1/common_pb.js";
import { ErrorInfoSchema } from "./gen/google/rpc/error_details_pb.js";

/** The ErrorInfo domain of authd's errors. */
export const authdErrorDomain = "auth.v1";

/** A reason authd sends: an auth.v1.ErrorReason name without its ERROR_REASON_ prefix. */
export type AuthdReason = Exclude<keyof typeof ErrorReason, "UNSPECIFIED">;

const brand = Symbol.for("@authd/client.AuthdError");

export interface AuthdErrorOptions {
  /** ErrorInfo.metadata, e.g. `field` or `retry_after_seconds`. */
  metadata?: Record<string, string>;
  /** The response headers and trailers of the failed call. */
  headers?: ConstructorParameters<typeof ConnectError>[2];
  cause?: unknown;
}

/** An error that carries one of authd's reasons. */
export class AuthdError extends ConnectError {
  /**
   * The reason, e.g. "TOKEN_EXPIRED". A newer server may send a reason this version does not
   * list, hence the open string.
   */
  readonly reason: AuthdReason | (string & {});
  /** ErrorInfo.metadata: `field` for INVALID_ARGUMENT, `retry_after_seconds` for limits. */
  readonly errorMetadata: Readonly<Record<string, string>>;
  readonly [brand] = true;

  constructor(code: Code, reason: AuthdReason | (string & {}), message: string, options: AuthdErrorOptions = {}) {
    const metadata = options.metadata ?? {};
    super(
      message,
      code,
      options.headers,
      [{ desc: ErrorInfoSchema, value: { reason, domain: authdErrorDomain, metadata } }],
      options.cause,
    );
    this.reason = reason;
    this.errorMetadata = metadata;
  }

  // ConnectError's own check answers true for every ConnectError, which would make any of them
  // pass `instanceof AuthdError`.
  static override [Symbol.hasInstance](v: unknown): boolean {
    return isAuthdError(v);
  }
}

/** Whether a thrown value is an AuthdError (from this or another copy of the package). */
export function isAuthdError(v: unknown): v is AuthdError {
  return typeof v === "object" && v !== null && (v as { [brand]?: unknown })[brand] === true;
}

/**
 * The AuthdError a thrown value stands for: itself, or a ConnectError whose details hold an
 * ErrorInfo of domain "auth.v1" (as every error authd sends does). Undefined for anything else.
 */
export function toAuthdError(err: unknown): AuthdError | undefined {
  if (isAuthdError(err)) return err;
  if (!(err instanceof ConnectError)) return undefined;
  const info = err.findDetails(ErrorInfoSchema).find((i) => i.domain === authdErrorDomain);
  if (info === undefined) return undefined;
  const parsed = new AuthdError(err.code, info.reason, err.rawMessage, { metadata: info.metadata, headers: err.metadata, cause: err });
  // Keep every detail the server sent (BadRequest, RetryInfo), not only the ErrorInfo.
  parsed.details = err.details;
  return parsed;
}

/** The reason of a thrown value, if it carries one of authd's. */
export function reasonOf(err: unknown): string | undefined {
  return toAuthdError(err)?.reason;
}

/** An unauthenticated error of authd's vocabulary, e.g. for a service refusing a token. */
export function unauthenticated(reason: AuthdReason, message: string, cause?: unknown): AuthdError {
  return new AuthdError(Code.Unauthenticated, reason, message, { cause });
}
