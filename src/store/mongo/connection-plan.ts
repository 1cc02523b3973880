// How authd connects to MongoDB: the URI as the driver parses it, with the guarantees the service
// depends on pinned in code rather than left to the URI or the cluster's defaults.
//
// Why pinned: a revoked session, a spent refresh token, a used TOTP step and an attempt counter
// must never come back after a failover. A write acknowledged by one member (w: 1) can be rolled
// back when another member is elected; a read from a secondary can return a state from before a
// revocation. So every write waits for a journaled majority and every read goes to the primary;
// retryable reads and writes let one election pass without failing the call.
//
// What this does not promise: reads use the default ("local") read concern, so a read on the
// primary may see a write that has not reached a majority yet and may still be rolled back. Acting
// on it is safe here: such a write's own caller gets an error (its majority wait fails), and the
// state it made (a spend, a revocation) only ever refuses more, never less. And a write whose
// caller timed out (operationTimeoutMS) may still apply: a code or an attempt then counts though
// the call said the store was unavailable, which errs the same safe way.

import { createRequire } from "node:module";
import type { MongoClient, MongoClientOptions } from "mongodb";
import type { ConnectionString } from "mongodb-connection-string-url";

// The driver and its URI parser are loaded only when a MongoDB URI is given: on the embedded store
// they are not needed, and loading them costs every process that reads the configuration about
// 7 MiB of heap and 30 MiB of resident memory (the driver's module graph, BSON's 17 MiB buffer).
const requireLazily = createRequire(import.meta.url);

export const defaultDatabase = "authd";

export interface MongoSettings {
  /** Used when the URI names no database. */
  database?: string | undefined;
  /** Used unless the URI sets serverSelectionTimeoutMS itself. */
  serverSelectionTimeoutMS: number;
  /** Server-side limit of each operation, and how long a majority write may wait for replication. */
  operationTimeoutMS: number;
}

/** A URI option that would weaken a pinned guarantee, and what the service uses instead. */
export interface OverriddenOption {
  option: string;
  given: string;
  pinned: string;
}

export interface MongoConnectionPlan {
  /** The URI without the options the service pins (hosts, credentials and other options intact). */
  uri: string;
  dbName: string;
  options: MongoClientOptions;
  /** The time limit of each operation (server-side maxTimeMS, the client's own deadline, wtimeoutMS). */
  operationTimeoutMS: number;
  overridden: OverriddenOption[];
  /**
   * URI options kept but worth a warning: directConnection=true pins the client to one member,
   * which keeps serving reads (the driver then sends primaryPreferred) after it stops being primary.
   */
  cautions: string[];
  /** Hosts as written (for logs; never the credentials). */
  hosts: string[];
  srv: boolean;
}

export class MongoUriError extends Error {
  constructor(problem: string) {
    super(problem);
    this.name = "MongoUriError";
  }
}

/**
 * URI options the service overrides, with the value it pins. A URI option equal to the pinned
 * value is removed silently; any other value is removed with a warning.
 */
const pinnedUriOptions: Record<string, { pinned: string; same: (value: string) => boolean }> = {
  readpreference: { pinned: "primary", same: (v) => v.toLowerCase() === "primary" },
  readpreferencetags: { pinned: "(none)", same: (v) => v === "" },
  maxstalenessseconds: { pinned: "(none)", same: (v) => v === "-1" },
  w: { pinned: "majority", same: (v) => v.toLowerCase() === "majority" },
  journal: { pinned: "true", same: (v) => v.toLowerCase() === "true" },
  j: { pinned: "true", same: (v) => v.toLowerCase() === "true" },
  // The driver maps fsync onto the journal flag, after the options object: it must go too.
  fsync: { pinned: "journal=true", same: (v) => v.toLowerCase() === "true" },
  wtimeoutms: { pinned: "MONGODB_OPERATION_TIMEOUT_MS", same: () => false },
  wtimeout: { pinned: "MONGODB_OPERATION_TIMEOUT_MS", same: () => false },
  retrywrites: { pinned: "true", same: (v) => v.toLowerCase() === "true" },
  retryreads: { pinned: "true", same: (v) => v.toLowerCase() === "true" },
};

/** MongoDB's rules for database names (https://www.mongodb.com/docs/manual/reference/limits/#naming-restrictions). */
export function checkDatabaseName(name: string): string | undefined {
  if (name.length === 0) return "must not be empty";
  if (Buffer.byteLength(name, "utf8") > 63) return "must be at most 63 bytes";
  if (/[/\\. "$*<>:|?\0]/.test(name)) return 'must not contain any of / \\ . " $ * < > : | ? or a NUL';
  return undefined;
}

/** The driver's messages can quote the URI; never let a password through to a log or an error. */
function withoutCredentials(message: string): string {
  return message.replace(/(mongodb(?:\+srv)?:\/\/)[^@/\s]*@/gi, "$1<credentials>@");
}

/**
 * Parses the URI with the driver's own parser and builds the client options, throwing
 * MongoUriError (with a message safe to print) for anything the driver would refuse.
 */
export function planMongoConnection(rawUri: string, settings: MongoSettings): MongoConnectionPlan {
  const { ConnectionString: Parser } = requireLazily("mongodb-connection-string-url") as typeof import("mongodb-connection-string-url");
  let parsed: ConnectionString;
  try {
    parsed = new Parser(rawUri);
  } catch (err) {
    throw new MongoUriError(withoutCredentials(err instanceof Error ? err.message : String(err)));
  }

  const overridden: OverriddenOption[] = [];
  const params = parsed.searchParams;
  for (const name of [...new Set(params.keys())]) {
    const rule = pinnedUriOptions[name.toLowerCase()];
    if (rule === undefined) continue;
    const given = params.getAll(name).join(",");
    if (!rule.same(given)) overridden.push({ option: name, given, pinned: rule.pinned });
    params.delete(name);
  }
  const uri = parsed.toString();

  const pathName = parsed.pathname.replace(/^\//, "");
  let dbName = defaultDatabase;
  if (pathName !== "") {
    try {
      dbName = decodeURIComponent(pathName);
    } catch {
      throw new MongoUriError("the database in the URI path is not valid percent-encoding");
    }
  } else if (settings.database !== undefined) {
    dbName = settings.database;
  }
  const badName = checkDatabaseName(dbName);
  if (badName !== undefined) throw new MongoUriError(`the database name ${badName}`);

  const uriHasSelectionTimeout = [...params.keys()].some((k) => k.toLowerCase() === "serverselectiontimeoutms");
  const options: MongoClientOptions = {
    readPreference: "primary",
    w: "majority",
    journal: true,
    wtimeoutMS: settings.operationTimeoutMS,
    retryWrites: true,
    retryReads: true,
  };
  if (!uriHasSelectionTimeout) options.serverSelectionTimeoutMS = settings.serverSelectionTimeoutMS;
  if (![...params.keys()].some((k) => k.toLowerCase() === "appname")) options.appName = "authd";

  // Constructing a client runs the driver's complete option parser and validation, and opens no
  // connection (SRV records are looked up only at connect).
  const { MongoClient: Client } = requireLazily("mongodb") as typeof import("mongodb");
  let client: MongoClient;
  try {
    client = new Client(uri, options);
  } catch (err) {
    throw new MongoUriError(withoutCredentials(err instanceof Error ? err.message : String(err)));
  }
  // The driver's own reading of the result is the judge: if any option (today's or a future
  // alias) still weakens a guarantee, refuse to start rather than run without it.
  const o = client.options;
  const weakened = [
    o.readPreference.mode !== "primary" ? `readPreference ${o.readPreference.mode}` : undefined,
    o.writeConcern?.w !== "majority" ? `w ${String(o.writeConcern?.w)}` : undefined,
    o.writeConcern?.journal !== true ? "journal off" : undefined,
    o.retryWrites !== true ? "retryWrites off" : undefined,
    o.retryReads !== true ? "retryReads off" : undefined,
  ].filter((w) => w !== undefined);
  if (weakened.length > 0) throw new MongoUriError(`options in the URI weaken what authd requires (${weakened.join(", ")})`);

  const cautions: string[] = [];
  if (o.directConnection) {
    cautions.push(
      "directConnection=true pins authd to one member: after a failover it keeps reading from it as a secondary; list the replica set's hosts instead",
    );
  }

  return {
    uri,
    dbName,
    options,
    operationTimeoutMS: settings.operationTimeoutMS,
    overridden,
    cautions,
    hosts: parsed.hosts,
    srv: parsed.isSRV,
  };
}
