// Which MongoDB failures mean "try again later" and which mean "something is wrong".
//
// Only a failure to reach a writable primary in time is an outage: the network, server selection,
// a primary stepping down or shutting down, a write concern that could not be satisfied, a time
// limit. Those become StorageUnavailableError (UNAVAILABLE / STORAGE_UNAVAILABLE, retryable). Any
// other error (a bad query, a broken index, a permission, a driver bug) would fail again on
// retry: it becomes StorageFailureError (INTERNAL), with the driver error kept only as the cause
// for the server's log.

import {
  MongoClientClosedError,
  MongoError,
  MongoNetworkError,
  MongoNotConnectedError,
  MongoOperationTimeoutError,
  MongoServerClosedError,
  MongoServerError,
  MongoServerSelectionError,
  MongoTopologyClosedError,
  MongoWriteConcernError,
} from "mongodb";
import { StorageFailureError, StorageUnavailableError } from "../errors.ts";

/**
 * Server error codes of a member that cannot serve now but will (the driver's retryable-read and
 * SDAM "not primary"/"node is recovering" sets, plus time limits and write-concern timeouts).
 */
export const transientServerCodes: ReadonlySet<number> = new Set([
  6, // HostUnreachable
  7, // HostNotFound
  50, // MaxTimeMSExpired
  64, // WriteConcernTimeout (WriteConcernFailed before 8.1)
  89, // NetworkTimeout
  91, // ShutdownInProgress
  133, // FailedToSatisfyReadPreference
  134, // ReadConcernMajorityNotAvailableYet
  189, // PrimarySteppedDown
  262, // ExceededTimeLimit
  9001, // SocketException
  24, // LockTimeout
  365, // TemporarilyUnavailable
  13388, // StaleConfig (a sharded cluster moving data)
  10058, // LegacyNotPrimary
  10107, // NotWritablePrimary
  11600, // InterruptedAtShutdown
  11602, // InterruptedDueToReplStateChange
  13435, // NotPrimaryNoSecondaryOk
  13436, // NotPrimaryOrSecondary
]);

const transientLabels = [
  "RetryableWriteError",
  "TransientTransactionError",
  "ResetPool",
  "PoolRequestedRetry",
  "RetryableError",
  "SystemOverloadedError",
];

// Connection-pool errors the driver does not export, known by name.
const transientDriverErrorNames = new Set(["MongoWaitQueueTimeoutError", "MongoPoolClosedError", "MongoPoolClearedError"]);

/** Write concerns the deployment cannot satisfy at all: configuration, not an outage. */
const impossibleWriteConcernCodes = new Set([
  79, // UnknownReplWriteConcern
  100, // UnsatisfiableWriteConcern
]);

/**
 * Failures at connect or index time that no retry fixes (credentials, permissions): start-up
 * stops with them rather than retrying forever as if MongoDB were down.
 */
export function isPermanentStartError(err: unknown): boolean {
  if (err instanceof MongoError) {
    const code = Number(err.code);
    return code === 13 || code === 18 || code === 8000; // Unauthorized, AuthenticationFailed, AtlasError
  }
  return false;
}

/** Our own client-side deadline on one storage call. */
export class StorageDeadlineError extends Error {
  constructor(ms: number) {
    super(`MongoDB did not answer within ${ms} ms`);
    this.name = "StorageDeadlineError";
  }
}

export function isTransient(err: unknown): boolean {
  if (err instanceof StorageDeadlineError) return true;
  if (err instanceof MongoWriteConcernError) return !impossibleWriteConcernCodes.has(Number(err.code));
  if (err instanceof Error && transientDriverErrorNames.has(err.name)) return true;
  if (
    err instanceof MongoNetworkError ||
    err instanceof MongoServerSelectionError ||
    err instanceof MongoNotConnectedError ||
    err instanceof MongoTopologyClosedError ||
    err instanceof MongoClientClosedError ||
    err instanceof MongoServerClosedError ||
    err instanceof MongoOperationTimeoutError
  ) {
    return true;
  }
  if (err instanceof MongoError) {
    if (transientLabels.some((label) => err.hasErrorLabel(label))) return true;
    const code = Number(err.code);
    if (transientServerCodes.has(code)) return true;
    // A write acknowledged without its write concern: applied here, but not (yet) durable.
    const wce: unknown = (err as { writeConcernError?: { code?: unknown } }).writeConcernError;
    if (wce !== undefined && wce !== null) return !impossibleWriteConcernCodes.has(Number((wce as { code?: unknown }).code));
  }
  return false;
}

/** The storage error a thrown driver (or deadline) error becomes. */
export function classifyMongoError(err: unknown): StorageUnavailableError | StorageFailureError {
  return isTransient(err) ? new StorageUnavailableError(err) : new StorageFailureError(err);
}

const DUPLICATE_KEY = 11000;

export function isDuplicateKey(err: unknown): err is MongoServerError {
  return err instanceof MongoServerError && err.code === DUPLICATE_KEY;
}

/** A caller mistake detected by the adapter (e.g. a duplicate primary key); not an outage. */
export class LogicError extends Error {
  constructor(message: string, cause?: unknown) {
    super(message, { cause });
    this.name = "StoreLogicError";
  }
}
