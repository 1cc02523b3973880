// Failures are mapped by cause, with the driver's own error classes: only an outage is
// STORAGE_UNAVAILABLE; anything else is INTERNAL with the cause kept for the log only.
import {
  MongoClientClosedError,
  MongoNetworkError,
  MongoNetworkTimeoutError,
  MongoNotConnectedError,
  MongoParseError,
  MongoServerError,
  MongoServerSelectionError,
  MongoTopologyClosedError,
  MongoWriteConcernError,
} from "mongodb";
import { describe, expect, it } from "vitest";
import { StorageFailureError, StorageUnavailableError } from "../../src/store/errors.ts";
import { StorageDeadlineError, classifyMongoError } from "../../src/store/mongo-errors.ts";

const server = (code: number, codeName: string, extra: Record<string, unknown> = {}) =>
  new MongoServerError({ message: `${codeName} from the server`, code, codeName, ...extra });

describe("MongoDB errors mapped by cause", () => {
  it.each([
    ["a network error", new MongoNetworkError("connection reset")],
    ["a network timeout", new MongoNetworkTimeoutError("socket timed out")],
    ["no server selected in time", new MongoServerSelectionError("Server selection timed out after 5000 ms", {} as never)],
    ["a client not connected", new MongoNotConnectedError("not connected")],
    ["a closed topology", new MongoTopologyClosedError()],
    ["a closed client", new MongoClientClosedError()],
    ["NotWritablePrimary (a stepped-down primary)", server(10107, "NotWritablePrimary")],
    ["NotPrimaryNoSecondaryOk", server(13435, "NotPrimaryNoSecondaryOk")],
    ["PrimarySteppedDown", server(189, "PrimarySteppedDown")],
    ["InterruptedDueToReplStateChange", server(11602, "InterruptedDueToReplStateChange")],
    ["ShutdownInProgress", server(91, "ShutdownInProgress")],
    ["InterruptedAtShutdown", server(11600, "InterruptedAtShutdown")],
    ["MaxTimeMSExpired (our per-operation limit)", server(50, "MaxTimeMSExpired")],
    ["a retryable-write label on an otherwise unknown code", server(999_999, "Whatever", { errorLabels: ["RetryableWriteError"] })],
    [
      "a majority write concern that timed out",
      new MongoWriteConcernError({ ok: 1, writeConcernError: { code: 64, codeName: "WriteConcernTimeout", errmsg: "waiting for replication timed out" } }),
    ],
    ["our own deadline", new StorageDeadlineError(10_000)],
  ])("%s is STORAGE_UNAVAILABLE (retryable)", (_name, err) => {
    const mapped = classifyMongoError(err);
    expect(mapped).toBeInstanceOf(StorageUnavailableError);
    expect(mapped.cause).toBe(err);
  });

  it.each([
    ["a duplicate key where none was expected", server(11000, "DuplicateKey")],
    ["a bad query", server(2, "BadValue")],
    ["unauthorized", server(13, "Unauthorized")],
    ["authentication failed", server(18, "AuthenticationFailed")],
    ["a document too large", server(10334, "BSONObjectTooLarge")],
    ["an index conflict", server(85, "IndexOptionsConflict")],
    ["a driver parse error", new MongoParseError("bad option")],
    ["a plain bug", new TypeError("cannot read properties of undefined")],
  ])("%s is a storage failure (INTERNAL), not an outage", (_name, err) => {
    const mapped = classifyMongoError(err);
    expect(mapped).toBeInstanceOf(StorageFailureError);
    expect(mapped.message).toBe("storage failure");
    expect(mapped.cause).toBe(err);
  });
});
