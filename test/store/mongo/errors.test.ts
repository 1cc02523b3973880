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
import { createRequire } from "node:module";
import { describe, expect, it } from "vitest";
import { StorageFailureError, StorageUnavailableError } from "../../../src/store/errors.ts";
import { StorageDeadlineError, classifyMongoError, isPermanentStartError } from "../../../src/store/mongo/errors.ts";

// The driver's own internals, as a second opinion: its retryable-read rule and its pool errors.
const require = createRequire(import.meta.url);
const driverErrors = require("mongodb/lib/error.js") as {
  MONGODB_ERROR_CODES: Record<string, number>;
  isRetryableReadError(err: MongoServerError): boolean;
};
const poolErrors = require("mongodb/lib/cmap/errors.js") as Record<string, new (...args: never[]) => Error>;

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
      new MongoWriteConcernError({
        ok: 1,
        writeConcernError: { code: 64, codeName: "WriteConcernTimeout", errmsg: "waiting for replication timed out" },
      }),
    ],
    ["our own deadline", new StorageDeadlineError(10_000)],
    ["TemporarilyUnavailable", server(365, "TemporarilyUnavailable")],
    ["LockTimeout", server(24, "LockTimeout")],
    ["StaleConfig", server(13388, "StaleConfig")],
    ["an overloaded server's label", server(999_998, "Whatever", { errorLabels: ["SystemOverloadedError"] })],
    ["the driver's RetryableError label", server(999_997, "Whatever", { errorLabels: ["RetryableError"] })],
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
    [
      "a write concern the deployment can never satisfy",
      new MongoWriteConcernError({
        ok: 1,
        writeConcernError: { code: 100, codeName: "UnsatisfiableWriteConcern", errmsg: "Not enough data-bearing nodes" },
      }),
    ],
  ])("%s is a storage failure (INTERNAL), not an outage", (_name, err) => {
    const mapped = classifyMongoError(err);
    expect(mapped).toBeInstanceOf(StorageFailureError);
    expect(mapped.message).toBe("storage failure");
    expect(mapped.cause).toBe(err);
  });
});

describe("agrees with the driver's own rules", () => {
  it("every code the driver retries a read on is an outage for us", () => {
    const retryable = Object.entries(driverErrors.MONGODB_ERROR_CODES).filter(([name, code]) =>
      driverErrors.isRetryableReadError(server(code, name)),
    );
    expect(retryable.length).toBeGreaterThan(10);
    for (const [name, code] of retryable) {
      expect([name, classifyMongoError(server(code, name))]).toEqual([name, expect.any(StorageUnavailableError)]);
    }
  });

  it("the pool's waiting-queue timeout and a closed or cleared pool are outages", () => {
    const names = ["WaitQueueTimeoutError", "PoolClosedError", "PoolClearedError"] as const;
    for (const name of names) {
      const Ctor = poolErrors[name];
      if (Ctor === undefined) throw new Error(`driver no longer has ${name}`);
      const err = Reflect.construct(
        Ctor,
        name === "WaitQueueTimeoutError" ? ["timed out", "127.0.0.1:27017"] : [{ address: "127.0.0.1:27017" }],
      );
      expect(classifyMongoError(err)).toBeInstanceOf(StorageUnavailableError);
    }
  });

  it("bad credentials and missing permissions stop the start instead of being retried as an outage", () => {
    expect(isPermanentStartError(server(18, "AuthenticationFailed"))).toBe(true);
    expect(isPermanentStartError(server(13, "Unauthorized"))).toBe(true);
    expect(isPermanentStartError(server(10107, "NotWritablePrimary"))).toBe(false);
    expect(isPermanentStartError(new MongoNetworkError("reset"))).toBe(false);
  });
});
