/**
 * A record a uniqueness rule of the port refuses: an answer the domain acts on, not a storage
 * failure. Every adapter throws it as it is.
 */
export class DuplicateRecordError extends Error {}

/** A user with this (normalized) email already exists. */
export class DuplicateEmailError extends DuplicateRecordError {
  constructor() {
    super("email already exists");
    this.name = "DuplicateEmailError";
  }
}

/** This provider account (provider, issuer, subject) is already linked to a user. */
export class DuplicateProviderLinkError extends DuplicateRecordError {
  constructor() {
    super("provider account already linked");
    this.name = "DuplicateProviderLinkError";
  }
}

/** The database could not be reached or did not answer in time. The cause stays server-side. */
export class StorageUnavailableError extends Error {
  constructor(cause?: unknown) {
    super("storage unavailable", { cause });
    this.name = "StorageUnavailableError";
  }
}

/**
 * The database answered, but with a failure that retrying will not fix (a bug, a broken index, a
 * permission). Reported as INTERNAL; the cause stays in the server's log.
 */
export class StorageFailureError extends Error {
  constructor(cause?: unknown) {
    super("storage failure", { cause });
    this.name = "StorageFailureError";
  }
}
