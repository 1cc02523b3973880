// The MongoDB storage adapter (official `mongodb` driver).
//
// Collections: users (_id = user id, unique email), sessions (_id = session id), refresh_tokens
// (_id = token hash), codes (_id = code hash), attempts (_id = key), two_factor (_id = user id).
// TTL indexes on `expiresAt` purge expired records; every read taking `now` also filters on
// `expiresAt > now`, because TTL deletion is lazy.
//
// Connection: the server starts whether or not MongoDB answers. Until the first connection and
// index check succeed, every call fails at once with StorageUnavailableError (and readiness says
// not ready); a background loop retries with capped exponential backoff. Afterwards the driver
// itself follows the replica set through elections, within the pinned timeouts.
//
// Every driver call goes through `run()`, which bounds it in time and classifies what the driver
// throws (mongo-errors.ts), so no driver error reaches callers.

import { setTimeout as sleep } from "node:timers/promises";
import { MongoClient, MongoServerError } from "mongodb";
import type { Collection, Db } from "mongodb";
import type { Logger } from "../log.ts";
import { attemptStateAt } from "./attempts.ts";
import { DuplicateEmailError, StorageFailureError, StorageUnavailableError } from "./errors.ts";
import { failAttempt, type AttemptDoc } from "./mongo-attempts.ts";
import type { MongoConnectionPlan } from "./mongo-connection.ts";
import { StorageDeadlineError, classifyMongoError, isPermanentStartError } from "./mongo-errors.ts";
import { IndexConflictError, ensureIndexes } from "./mongo-indexes.ts";
import { noCutoff } from "./port.ts";
import type {
  AttemptRecord,
  AttemptStore,
  CodePurpose,
  CodeRecord,
  CodeStore,
  ConsumeRefreshResult,
  RefreshTokenRecord,
  RefreshTokenStore,
  SessionRecord,
  SessionStore,
  Store,
  TwoFactorRecord,
  TwoFactorStore,
  UserPatch,
  UserRecord,
  UserStore,
  SessionCutoff,
} from "./port.ts";

const DUPLICATE_KEY = 11000;

interface UserDoc {
  _id: string;
  email: string;
  emailVerified: boolean;
  displayName: string;
  passwordHash: string | null;
  passwordUpdatedAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
  /** Absent in documents written before session cutoffs existed: generation 0. */
  sessionCutoff?: SessionCutoff;
}

interface SessionDoc {
  _id: string;
  userId: string;
  userAgent: string;
  ipAddress: string;
  rememberMe: boolean;
  createdAt: Date;
  lastActiveAt: Date;
  expiresAt: Date;
  revokedAt: Date | null;
  generations?: { user: number; twoFactor: number };
}

interface RefreshTokenDoc {
  _id: string;
  sessionId: string;
  userId: string;
  createdAt: Date;
  expiresAt: Date;
  consumedAt: Date | null;
}

interface CodeDoc {
  _id: string;
  purpose: CodePurpose;
  userId: string;
  createdAt: Date;
  expiresAt: Date;
  rememberMe?: boolean;
  userGeneration?: number;
}

interface TotpDeviceDoc {
  id: string;
  name: string;
  secretCiphertext: string;
  createdAt: Date;
  lastUsedAt: Date | null;
  lastUsedStep: number | null;
}

interface PendingSecretDoc {
  purpose: "enrol" | "replace" | "device";
  secretCiphertext: string;
  createdAt: Date;
  expiresAt: Date;
}

interface TwoFactorDoc {
  _id: string;
  version: number;
  enabledAt: Date | null;
  devices: TotpDeviceDoc[];
  recoveryCodeHashes: string[];
  pending: PendingSecretDoc[];
  sessionCutoff?: SessionCutoff;
}

/** The keys of UserPatch, listed so that nothing else (_id, email, createdAt) can be patched. */
const PATCHABLE_USER_FIELDS = [
  "emailVerified",
  "displayName",
  "passwordHash",
  "passwordUpdatedAt",
  "updatedAt",
] as const satisfies readonly (keyof UserPatch)[];

// ---- mapping (explicit field lists: no `_id`, no stray fields in either direction) ----

function userToDoc(u: UserRecord): UserDoc {
  return {
    _id: u.id,
    email: u.email,
    emailVerified: u.emailVerified,
    displayName: u.displayName,
    passwordHash: u.passwordHash,
    passwordUpdatedAt: u.passwordUpdatedAt,
    createdAt: u.createdAt,
    updatedAt: u.updatedAt,
    sessionCutoff: { ...u.sessionCutoff },
  };
}

function userFromDoc(d: UserDoc): UserRecord {
  return {
    id: d._id,
    email: d.email,
    emailVerified: d.emailVerified,
    displayName: d.displayName,
    passwordHash: d.passwordHash ?? null,
    passwordUpdatedAt: d.passwordUpdatedAt ?? null,
    createdAt: d.createdAt,
    updatedAt: d.updatedAt,
    sessionCutoff: cutoffFromDoc(d.sessionCutoff),
  };
}

function cutoffFromDoc(c: SessionCutoff | undefined): SessionCutoff {
  return c === undefined ? { ...noCutoff } : { generation: c.generation, keptSessionId: c.keptSessionId ?? null };
}

function sessionToDoc(s: SessionRecord): SessionDoc {
  return {
    _id: s.id,
    userId: s.userId,
    userAgent: s.userAgent,
    ipAddress: s.ipAddress,
    rememberMe: s.rememberMe,
    createdAt: s.createdAt,
    lastActiveAt: s.lastActiveAt,
    expiresAt: s.expiresAt,
    revokedAt: s.revokedAt,
    generations: { ...s.generations },
  };
}

function sessionFromDoc(d: SessionDoc): SessionRecord {
  return {
    id: d._id,
    userId: d.userId,
    userAgent: d.userAgent,
    ipAddress: d.ipAddress,
    rememberMe: d.rememberMe,
    createdAt: d.createdAt,
    lastActiveAt: d.lastActiveAt,
    expiresAt: d.expiresAt,
    revokedAt: d.revokedAt ?? null,
    generations: d.generations === undefined ? { user: 0, twoFactor: 0 } : { user: d.generations.user, twoFactor: d.generations.twoFactor },
  };
}

function refreshToDoc(t: RefreshTokenRecord): RefreshTokenDoc {
  return {
    _id: t.tokenHash,
    sessionId: t.sessionId,
    userId: t.userId,
    createdAt: t.createdAt,
    expiresAt: t.expiresAt,
    consumedAt: t.consumedAt,
  };
}

function refreshFromDoc(d: RefreshTokenDoc): RefreshTokenRecord {
  return {
    tokenHash: d._id,
    sessionId: d.sessionId,
    userId: d.userId,
    createdAt: d.createdAt,
    expiresAt: d.expiresAt,
    consumedAt: d.consumedAt ?? null,
  };
}

function codeToDoc(c: CodeRecord): CodeDoc {
  const doc: CodeDoc = { _id: c.codeHash, purpose: c.purpose, userId: c.userId, createdAt: c.createdAt, expiresAt: c.expiresAt };
  if (c.rememberMe !== undefined) doc.rememberMe = c.rememberMe;
  if (c.userGeneration !== undefined) doc.userGeneration = c.userGeneration;
  return doc;
}

function codeFromDoc(d: CodeDoc): CodeRecord {
  const code: CodeRecord = { codeHash: d._id, purpose: d.purpose, userId: d.userId, createdAt: d.createdAt, expiresAt: d.expiresAt };
  if (typeof d.rememberMe === "boolean") code.rememberMe = d.rememberMe;
  if (typeof d.userGeneration === "number") code.userGeneration = d.userGeneration;
  return code;
}

function twoFactorToDoc(r: TwoFactorRecord): TwoFactorDoc {
  return {
    _id: r.userId,
    version: r.version,
    enabledAt: r.enabledAt,
    devices: r.devices.map((d) => ({
      id: d.id,
      name: d.name,
      secretCiphertext: d.secretCiphertext,
      createdAt: d.createdAt,
      lastUsedAt: d.lastUsedAt,
      lastUsedStep: d.lastUsedStep,
    })),
    recoveryCodeHashes: [...r.recoveryCodeHashes],
    pending: r.pending.map((p) => ({
      purpose: p.purpose,
      secretCiphertext: p.secretCiphertext,
      createdAt: p.createdAt,
      expiresAt: p.expiresAt,
    })),
    sessionCutoff: { ...r.sessionCutoff },
  };
}

function twoFactorFromDoc(d: TwoFactorDoc): TwoFactorRecord {
  return {
    userId: d._id,
    version: d.version,
    enabledAt: d.enabledAt ?? null,
    devices: (d.devices ?? []).map((x) => ({
      id: x.id,
      name: x.name,
      secretCiphertext: x.secretCiphertext,
      createdAt: x.createdAt,
      lastUsedAt: x.lastUsedAt ?? null,
      lastUsedStep: x.lastUsedStep ?? null,
    })),
    recoveryCodeHashes: [...(d.recoveryCodeHashes ?? [])],
    pending: (d.pending ?? []).map((p) => ({
      purpose: p.purpose,
      secretCiphertext: p.secretCiphertext,
      createdAt: p.createdAt,
      expiresAt: p.expiresAt,
    })),
    sessionCutoff: cutoffFromDoc(d.sessionCutoff),
  };
}

// ---- errors ----

function isDuplicateKey(err: unknown): err is MongoServerError {
  return err instanceof MongoServerError && err.code === DUPLICATE_KEY;
}

/**
 * Which unique index of `users` a duplicate-key error is about. The server names it in
 * `keyPattern` (4.4+) or in its message ("... index: email_unique dup key: ..."); some
 * MongoDB-compatible servers say neither, and then `idTaken` asks the database whether the id
 * exists, so a duplicate id is never reported to a user as "email exists" nor the reverse.
 */
export async function duplicateUserField(err: MongoServerError, idTaken: () => Promise<boolean>): Promise<"_id" | "email"> {
  const keyPattern: unknown = err["keyPattern"];
  if (keyPattern !== null && typeof keyPattern === "object") {
    const keys = Object.keys(keyPattern);
    if (keys.includes("_id")) return "_id";
    if (keys.includes("email")) return "email";
  }
  const index = /index: (\S+)/.exec(err.message)?.[1];
  if (index === "_id_") return "_id";
  if (index !== undefined && index.startsWith("email")) return "email";
  return (await idTaken()) ? "_id" : "email";
}

/** A caller mistake detected by the adapter (e.g. a duplicate primary key); not an outage. */
class LogicError extends Error {
  constructor(message: string, cause?: unknown) {
    super(message, { cause });
    this.name = "StoreLogicError";
  }
}

function liveFilter(now: Date): { revokedAt: null; expiresAt: { $gt: Date } } {
  return { revokedAt: null, expiresAt: { $gt: now } };
}

function attemptFromDoc(d: AttemptDoc | null): AttemptRecord | null {
  if (d === null) return null;
  return { key: d._id, failures: d.failures, windowStartedAt: d.windowStartedAt, lockedUntil: d.lockedUntil, expiresAt: d.expiresAt };
}

interface Collections {
  db: Db;
  users: Collection<UserDoc>;
  sessions: Collection<SessionDoc>;
  refresh: Collection<RefreshTokenDoc>;
  codes: Collection<CodeDoc>;
  attempts: Collection<AttemptDoc>;
  twoFactor: Collection<TwoFactorDoc>;
}

function collections(db: Db): Collections {
  return {
    db,
    users: db.collection("users"),
    sessions: db.collection("sessions"),
    refresh: db.collection("refresh_tokens"),
    codes: db.collection("codes"),
    attempts: db.collection("attempts"),
    twoFactor: db.collection("two_factor"),
  };
}

export interface MongoStoreOptions {
  /** Overrides the plan's database (tests pass a database of their own). */
  dbName?: string;
  log?: Pick<Logger, "info" | "warn" | "error">;
  /** Backoff between connection attempts while MongoDB cannot be reached. */
  retry?: { initialMs: number; maxMs: number };
}

export interface MongoStore extends Store {
  readonly kind: "mongodb";
  /**
   * Settles after the first connection attempt: resolves whether or not MongoDB answered (the
   * store then keeps trying in the background), rejects only with IndexConflictError, which no
   * retry can fix.
   */
  readonly started: Promise<void>;
  /** Whether the store has connected and checked its indexes. */
  connected(): boolean;
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

export function createMongoStore(plan: MongoConnectionPlan, opts: MongoStoreOptions = {}): MongoStore {
  const log = opts.log ?? silentLog;
  const dbName = opts.dbName ?? plan.dbName;
  const retry = opts.retry ?? { initialMs: 250, maxMs: 30_000 };
  const timeLimit = plan.operationTimeoutMS;
  const limit = { maxTimeMS: timeLimit };

  let current: { client: MongoClient; c: Collections } | undefined;
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
      current = { client, c: collections(db) };
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
          log.error({ ...describe(err), retryInMs: delay }, "storage: MongoDB refuses authd (indexes or credentials); calls fail until it is fixed");
        } else {
          log.warn({ ...describe(err), retryInMs: delay }, "storage: MongoDB cannot be reached; calls fail with STORAGE_UNAVAILABLE until it can");
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
   * errors (DuplicateEmailError, LogicError) pass through.
   */
  async function run<T>(op: (c: Collections) => Promise<T>): Promise<T> {
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
        err instanceof DuplicateEmailError ||
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

  const users: UserStore = {
    insert: (user) =>
      run(async (c) => {
        try {
          await c.users.insertOne(userToDoc(user), limit);
        } catch (err) {
          if (!isDuplicateKey(err)) throw err;
          const field = await duplicateUserField(err, async () => (await c.users.countDocuments({ _id: user.id }, { limit: 1, ...limit })) > 0);
          if (field === "_id") throw new LogicError(`user id already exists: ${user.id}`, err);
          throw new DuplicateEmailError();
        }
      }),

    findById: (id) =>
      run(async (c) => {
        const doc = await c.users.findOne({ _id: id }, limit);
        return doc === null ? null : userFromDoc(doc);
      }),

    findByEmail: (email) =>
      run(async (c) => {
        const doc = await c.users.findOne({ email }, limit);
        return doc === null ? null : userFromDoc(doc);
      }),

    update: (id, patch, options = {}) =>
      run(async (c) => {
        const filter = options.ifPasswordHash === undefined ? { _id: id } : { _id: id, passwordHash: options.ifPasswordHash };
        const set: Record<string, unknown> = {};
        for (const field of PATCHABLE_USER_FIELDS) {
          const value = patch[field];
          if (value !== undefined) set[field] = value;
        }
        const update: { $set?: Record<string, unknown>; $inc?: Record<string, number> } = {};
        if (options.endSessions !== undefined) {
          // The cutoff moves in the same single-document write as the change that requires it.
          update.$inc = { "sessionCutoff.generation": 1 };
          set["sessionCutoff.keptSessionId"] = options.endSessions.keep;
        }
        if (Object.keys(set).length > 0) update.$set = set;
        // An empty update is rejected by the server; an empty patch is just a read.
        const doc =
          Object.keys(update).length === 0
            ? await c.users.findOne(filter, limit)
            : await c.users.findOneAndUpdate(filter, update, { returnDocument: "after", ...limit });
        return doc === null ? null : userFromDoc(doc);
      }),

    delete: (id) =>
      run(async (c) => {
        const res = await c.users.deleteOne({ _id: id }, limit);
        return res.deletedCount === 1;
      }),
  };

  const sessions: SessionStore = {
    insert: (session) =>
      run(async (c) => {
        try {
          await c.sessions.insertOne(sessionToDoc(session), limit);
        } catch (err) {
          if (isDuplicateKey(err)) throw new LogicError(`session id already exists: ${session.id}`, err);
          throw err;
        }
      }),

    findLive: (id, now) =>
      run(async (c) => {
        const doc = await c.sessions.findOne({ _id: id, ...liveFilter(now) }, limit);
        return doc === null ? null : sessionFromDoc(doc);
      }),

    listLive: (userId, now) =>
      run(async (c) => {
        const docs = await c.sessions
          .find({ userId, ...liveFilter(now) }, limit)
          .sort({ createdAt: -1, _id: -1 })
          .toArray();
        return docs.map(sessionFromDoc);
      }),

    touch: (id, now, expiresAt) =>
      run(async (c) => {
        const set: Partial<SessionDoc> = { lastActiveAt: now };
        if (expiresAt !== undefined) set.expiresAt = expiresAt;
        const res = await c.sessions.updateOne({ _id: id, ...liveFilter(now) }, { $set: set }, limit);
        return res.matchedCount === 1;
      }),

    revoke: (id, userId, now) =>
      run(async (c) => {
        const res = await c.sessions.updateOne({ _id: id, userId, ...liveFilter(now) }, { $set: { revokedAt: now } }, limit);
        return res.modifiedCount === 1;
      }),

    revokeAllForUser: (userId, now, exceptId) =>
      run(async (c) => {
        const filter =
          exceptId === undefined
            ? { userId, ...liveFilter(now) }
            : { userId, _id: { $ne: exceptId }, ...liveFilter(now) };
        const res = await c.sessions.updateMany(filter, { $set: { revokedAt: now } }, limit);
        return res.modifiedCount;
      }),

    deleteAllForUser: (userId) =>
      run(async (c) => {
        await c.sessions.deleteMany({ userId }, limit);
      }),
  };

  const refreshTokens: RefreshTokenStore = {
    insert: (token) =>
      run(async (c) => {
        try {
          await c.refresh.insertOne(refreshToDoc(token), limit);
        } catch (err) {
          if (isDuplicateKey(err)) throw new LogicError("refresh token hash already exists", err);
          throw err;
        }
      }),

    find: (tokenHash) =>
      run(async (c) => {
        const doc = await c.refresh.findOne({ _id: tokenHash }, limit);
        return doc === null ? null : refreshFromDoc(doc);
      }),

    consume: (tokenHash, now, keepSpentUntil) =>
      run(async (c): Promise<ConsumeRefreshResult> => {
        // One atomic operation decides the winner; it gets the record as it was before. $min
        // shortens the spent record's life to what reuse detection needs.
        const before = await c.refresh.findOneAndUpdate(
          { _id: tokenHash, consumedAt: null },
          { $set: { consumedAt: now }, $min: { expiresAt: keepSpentUntil } },
          { returnDocument: "before", ...limit },
        );
        if (before !== null) return { outcome: "consumed", record: refreshFromDoc(before) };
        const existing = await c.refresh.findOne({ _id: tokenHash }, limit);
        return existing === null ? { outcome: "unknown" } : { outcome: "reused", record: refreshFromDoc(existing) };
      }),

    deleteAllForUser: (userId) =>
      run(async (c) => {
        await c.refresh.deleteMany({ userId }, limit);
      }),
  };

  const codes: CodeStore = {
    replace: (code) =>
      run(async (c) => {
        // Delete the older codes first, then store the new one: if two replaces race, the worst
        // case is that both new codes survive — never that neither does.
        await c.codes.deleteMany({ userId: code.userId, purpose: code.purpose, _id: { $ne: code.codeHash } }, limit);
        await c.codes.replaceOne({ _id: code.codeHash }, codeToDoc(code), { upsert: true, ...limit });
      }),

    find: (codeHash, purpose, now) =>
      run(async (c) => {
        const doc = await c.codes.findOne({ _id: codeHash, purpose, expiresAt: { $gt: now } }, limit);
        return doc === null ? null : codeFromDoc(doc);
      }),

    consume: (codeHash, purpose, now) =>
      run(async (c) => {
        const doc = await c.codes.findOneAndDelete({ _id: codeHash, purpose, expiresAt: { $gt: now } }, limit);
        return doc === null ? null : codeFromDoc(doc);
      }),

    deleteAllForUser: (userId) =>
      run(async (c) => {
        await c.codes.deleteMany({ userId }, limit);
      }),
  };

  const attempts: AttemptStore = {
    get: (key, now) => run(async (c) => attemptStateAt(attemptFromDoc(await c.attempts.findOne({ _id: key }, limit)), now)),
    // One atomic update pipeline per failure (mongo-attempts.ts): no read-then-write to lose.
    fail: (key, now, policy) => run((c) => failAttempt(c.attempts, key, now, policy, limit)),
    clear: (key) =>
      run(async (c) => {
        await c.attempts.deleteOne({ _id: key }, limit);
      }),
  };

  // One document per user: every change is a single-document compare-and-set on `version`, which
  // MongoDB applies atomically, so no multi-document transaction is needed.
  const twoFactor: TwoFactorStore = {
    get: (userId) =>
      run(async (c) => {
        const doc = await c.twoFactor.findOne({ _id: userId }, limit);
        return doc === null ? null : twoFactorFromDoc(doc);
      }),

    save: (next, expectedVersion) =>
      run(async (c) => {
        if (next.version !== expectedVersion + 1) throw new LogicError("two-factor record version must grow by one");
        const doc = twoFactorToDoc(next);
        if (expectedVersion === 0) {
          try {
            await c.twoFactor.insertOne(doc, limit);
            return true;
          } catch (err) {
            if (isDuplicateKey(err)) return false;
            throw err;
          }
        }
        const res = await c.twoFactor.replaceOne({ _id: next.userId, version: expectedVersion }, doc, limit);
        return res.matchedCount === 1;
      }),

    delete: (userId) =>
      run(async (c) => {
        await c.twoFactor.deleteOne({ _id: userId }, limit);
      }),
  };

  return {
    kind: "mongodb",
    started,
    connected: () => current !== undefined && !closed,
    users,
    sessions,
    refreshTokens,
    codes,
    attempts,
    twoFactor,
    ping: () =>
      run(async (c) => {
        await c.db.command({ ping: 1 });
      }),
    async close() {
      closed = true;
      stopRetrying.abort();
      const open = current;
      current = undefined;
      await Promise.all([open?.client.close(), connecting?.close()].map((p) => p?.catch(() => undefined)));
    },
  };
}
