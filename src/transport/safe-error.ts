import { AuthError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { StorageUnavailableError } from "../store/errors.ts";

/**
 * Turns whatever an operation threw into an error safe to send, for every transport: domain
 * errors keep their reason, storage outages become STORAGE_UNAVAILABLE, and anything else becomes
 * a bare INTERNAL whose cause is logged here and never sent.
 */
export function toSafeError(err: unknown, log: Pick<Logger, "error">): AuthError {
  if (err instanceof AuthError) return err;
  if (err instanceof StorageUnavailableError) {
    log.error({ err: err.cause }, "storage unavailable");
    return new AuthError("STORAGE_UNAVAILABLE", "the service is temporarily unavailable; try again later");
  }
  log.error({ err }, "unexpected error");
  return new AuthError("INTERNAL", "internal error");
}
