// The connection lifecycle of the MongoDB store: a background connect loop with capped backoff,
// and `run()`, through which every driver call goes (see ../mongo.ts for why).

import { setTimeout as sleep } from "node:timers/promises";
import { MongoClient } from "mongodb";
import type { Db } from "mongodb";
import type { Logger } from "../../log.ts";
import { DuplicateRecordError, StorageFailureError, StorageUnavailableError } from "../errors.ts";
import type { MongoConnectionPlan } from "./connection-plan.ts";
import { LogicError, StorageDeadlineError, classifyMongoError, isPermanentStartError } from "./errors.ts";
import { IndexConflictError, ensureIndexes } from "./indexes.ts";

/** Runs one storage call on the collections `C` (see MongoConnection.run). */
export type Run<C> = <T>(op: (c: C) => Promise<T>) => Promise<T>;

/** The server-side time limit every driver call passes along. */
export interface Limit {
  maxTimeMS: number;
}

export interface MongoConnectionOptions {
  /** Overrides the plan's database (tests pass a database of their own). */
  dbName?: string;
  log?: Pick<Logger, "info" | "warn" | "error">;
  /** Backoff between connection attempts while MongoDB cannot be reached. */
  retry?: { initialMs: number; maxMs: number };
}

export interface MongoConnection<C> {
  /** Settles after the first connection attempt; see MongoStore.started. */
  readonly started: Promise<void>;
  /** Whether the connection is up and the indexes checked. */
  connected(): boolean;
  readonly run: Run<C>;
  close(): Promise<void>;
}

const silentLog: Pick<Logger, "info" | "warn" | "error"> = { info: () => undefined, warn: () => undefined, error: () => undefined };

/** The driver error in a form safe and short enough for a log line (no URI, no credentials). */
function describe(err: unknown): { error: string; code?: unknown } {
  if (err instanceof Error) {
    const code: unknown = (err as { code?: unknown }).code;
    return code === undefined ? { error: `${err.name}: ${err.message}` } : { error: `${err.name}: ${err.message}`, code };
  }
  return { error: String(err) };
}

/**
 * Starts connecting at once and keeps trying in the background; `open` names the collections
 * that `run` hands to each call once connected.
 */
export function connectMongo<C>(plan: MongoConnectionPlan, opts: MongoConnectionOptions, open: (db: Db) => C): MongoConnection<C> {
  const log = opts.log ?? silentLog;
  const dbName = opts.dbName ?? plan.dbName;
  const retry = opts.retry ?? { initialMs: 250, maxMs: 30_000 };
  const timeLimit = plan.operationTimeoutMS;

  let current: { client: MongoClient; c: C } | undefined;
  let closed = false;
  const stopRetrying = new AbortController();

  /** The client of an attempt still under way, so that close() can end it too. */
  let connecting: MongoClient | undefined;

  /**
   * One attempt: connect, then check the indexes within the operation time limit (an index build
   * waiting on an absent member must not hold start-up forever); on any failure the half-open
   * client is closed.
   */
  async function connectOnce(): Promise<void> {
    const client = new MongoClient(plan.uri, plan.options);
    connecting = client;
    let timer: NodeJS.Timeout | undefined;
    try {
      await client.connect();
      const db = client.db(dbName);
      await Promise.race([
        ensureIndexes(db, log),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new StorageDeadlineError(timeLimit)), timeLimit);
        }),
      ]);
      if (closed) throw new Error("store closed while connecting");
      current = { client, c: open(db) };
    } catch (err) {
      await client.close().catch(() => undefined);
      throw err;
    } finally {
      clearTimeout(timer);
      connecting = undefined;
    }
  }

  /**
   * Connects, retrying with capped, jittered exponential backoff while MongoDB cannot be reached.
   * The first attempt settles `first`: resolved on success or an outage, rejected (and the loop
   * ends) on what no retry fixes. Such an error in a later attempt is logged and retried slowly,
   * since an operator can fix it without restarting us.
   */
  async function connectLoop(first: { settle: (err?: unknown) => void; settled: () => boolean }): Promise<void> {
    for (let attempt = 0; !closed; attempt++) {
      try {
        await connectOnce();
        log.info({ database: dbName, hosts: plan.srv ? "srv" : plan.hosts }, "storage: connected to MongoDB");
        first.settle();
        return;
      } catch (err) {
        if (closed) return;
        const permanent = err instanceof IndexConflictError || isPermanentStartError(err);
        if (permanent && !first.settled()) {
          first.settle(err);
          return;
        }
        first.settle();
        const ceiling = permanent ? retry.maxMs : Math.min(retry.maxMs, retry.initialMs * 2 ** Math.min(attempt, 20));
        const delay = Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
        if (permanent) {
          log.error(
            { ...describe(err), retryInMs: delay },
            "storage: MongoDB refuses authd (indexes or credentials); calls fail until it is fixed",
          );
        } else {
          log.warn(
            { ...describe(err), retryInMs: delay },
            "storage: MongoDB cannot be reached; calls fail with STORAGE_UNAVAILABLE until it can",
          );
        }
        try {
          await sleep(delay, undefined, { signal: stopRetrying.signal });
        } catch {
          return;
        }
      }
    }
  }

  let settled = false;
  const started = new Promise<void>((resolve, reject) => {
    void connectLoop({
      settled: () => settled,
      settle(err) {
        if (settled) return;
        settled = true;
        if (err === undefined) resolve();
        else reject(err instanceof Error ? err : new Error(String(err)));
      },
    });
  });
  // Rejection is for the caller of `started`; without one, do not crash the process.
  started.catch(() => undefined);

  /**
   * Runs one storage call: fails at once while disconnected, within `timeLimit` otherwise, and
   * turns whatever the driver throws into StorageUnavailableError or StorageFailureError. Our own
   * errors (a DuplicateRecordError the adapter made of a duplicate key, LogicError) pass through.
   */
  async function run<T>(op: (c: C) => Promise<T>): Promise<T> {
    if (closed) throw new StorageUnavailableError(new Error("the MongoDB store is closed"));
    if (current === undefined) throw new StorageUnavailableError(new Error("not connected to MongoDB yet"));
    const { c } = current;
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new StorageDeadlineError(timeLimit)), timeLimit);
    });
    try {
      return await Promise.race([op(c), deadline]);
    } catch (err) {
      if (
        err instanceof DuplicateRecordError ||
        err instanceof StorageUnavailableError ||
        err instanceof StorageFailureError ||
        err instanceof LogicError
      ) {
        throw err;
      }
      throw classifyMongoError(err);
    } finally {
      clearTimeout(timer);
    }
  }

  return {
    started,
    connected: () => current !== undefined && !closed,
    run,
    async close() {
      closed = true;
      stopRetrying.abort();
      const live = current;
      current = undefined;
      await Promise.all([live?.client.close(), connecting?.close()].map((p) => p?.catch(() => undefined)));
    },
  };
}
