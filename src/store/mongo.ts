// The MongoDB storage adapter (official `mongodb` driver).
//
// Collections: users (_id = user id, unique email), sessions (_id = session id), refresh_tokens
// (_id = token hash), codes (_id = code hash). TTL indexes on `expiresAt` purge expired records;
// every read taking `now` also filters on `expiresAt > now`, because TTL deletion is lazy.
//
// Every driver call goes through `run()`, which turns anything the driver throws into
// StorageUnavailableError (with the driver error as `cause`), so no driver error reaches callers.

import { MongoClient, MongoServerError } from "mongodb";
import type { Collection, Db, MongoClientOptions } from "mongodb";
import { attemptStateAt, nextAttemptRecord } from "./attempts.ts";
import { DuplicateEmailError, StorageUnavailableError } from "./errors.ts";
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
} from "./port.ts";

const DEFAULT_DB_NAME = "authd";
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
  };
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
  return doc;
}

function codeFromDoc(d: CodeDoc): CodeRecord {
  const code: CodeRecord = { codeHash: d._id, purpose: d.purpose, userId: d.userId, createdAt: d.createdAt, expiresAt: d.expiresAt };
  if (typeof d.rememberMe === "boolean") code.rememberMe = d.rememberMe;
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
  };
}

// ---- errors ----

function isDuplicateKey(err: unknown): err is MongoServerError {
  return err instanceof MongoServerError && err.code === DUPLICATE_KEY;
}

/** Which unique index a duplicate-key error is about, when the server says. */
function duplicateKeyField(err: MongoServerError): string | undefined {
  const keyPattern: unknown = err["keyPattern"];
  if (keyPattern !== null && typeof keyPattern === "object") return Object.keys(keyPattern)[0];
  // Older servers only put it in the message: "... index: email_1 dup key: ..."
  const match = /index: (\S+)/.exec(err.message);
  if (match?.[1] === undefined) return undefined;
  return match[1] === "_id_" ? "_id" : match[1].replace(/_-?1$/, "");
}

/** A caller mistake detected by the adapter (e.g. a duplicate primary key); not an outage. */
class LogicError extends Error {
  constructor(message: string, cause?: unknown) {
    super(message, { cause });
    this.name = "StoreLogicError";
  }
}

/**
 * Runs driver calls. Our own logic errors (DuplicateEmailError, and errors the adapter raises on
 * purpose) pass through; everything the driver throws — network, server selection, timeouts,
 * closed client, server errors — becomes StorageUnavailableError with the original as cause.
 */
async function run<T>(op: () => Promise<T>): Promise<T> {
  try {
    return await op();
  } catch (err) {
    if (err instanceof DuplicateEmailError || err instanceof StorageUnavailableError || err instanceof LogicError) {
      throw err;
    }
    throw new StorageUnavailableError(err);
  }
}

/**
 * The database named in the URI path (`mongodb://host/<db>?...`), or undefined when absent.
 * Hosts and percent-encoded credentials cannot contain "/", so the first "/" after the scheme
 * starts the path.
 */
export function dbNameFromUri(uri: string): string | undefined {
  const scheme = /^mongodb(\+srv)?:\/\//i.exec(uri);
  if (scheme === null) return undefined;
  const rest = uri.slice(scheme[0].length);
  const slash = rest.indexOf("/");
  if (slash === -1) return undefined;
  const path = rest.slice(slash + 1).split("?")[0] ?? "";
  if (path === "") return undefined;
  try {
    return decodeURIComponent(path);
  } catch {
    return path;
  }
}

type AttemptDoc = Omit<AttemptRecord, "key"> & { _id: string };

function attemptFromDoc(d: AttemptDoc | null): AttemptRecord | null {
  if (d === null) return null;
  const { _id, ...rest } = d;
  return { key: _id, ...rest };
}

function liveFilter(now: Date): { revokedAt: null; expiresAt: { $gt: Date } } {
  return { revokedAt: null, expiresAt: { $gt: now } };
}

export async function createMongoStore(
  uri: string,
  opts?: { dbName?: string; serverSelectionTimeoutMS?: number },
): Promise<Store> {
  const clientOptions: MongoClientOptions = {};
  // Only override the URI's own serverSelectionTimeoutMS when the caller asked to.
  if (opts?.serverSelectionTimeoutMS !== undefined) clientOptions.serverSelectionTimeoutMS = opts.serverSelectionTimeoutMS;

  let client: MongoClient;
  try {
    client = new MongoClient(uri, clientOptions);
  } catch (err) {
    // An unparsable URI: still never a driver error; the cause says what was wrong.
    throw new StorageUnavailableError(err);
  }

  let db: Db;
  try {
    await client.connect();
    db = client.db(dbNameFromUri(uri) ?? opts?.dbName ?? DEFAULT_DB_NAME);
    await ensureIndexes(db);
  } catch (err) {
    await client.close().catch(() => undefined);
    throw err instanceof StorageUnavailableError ? err : new StorageUnavailableError(err);
  }

  const usersCol = db.collection<UserDoc>("users");
  const sessionsCol = db.collection<SessionDoc>("sessions");
  const refreshCol = db.collection<RefreshTokenDoc>("refresh_tokens");
  const codesCol = db.collection<CodeDoc>("codes");
  const attemptsCol = db.collection<AttemptDoc>("attempts");
  const twoFactorCol = db.collection<TwoFactorDoc>("two_factor");

  const users: UserStore = {
    insert: (user) =>
      run(async () => {
        try {
          await usersCol.insertOne(userToDoc(user));
        } catch (err) {
          if (isDuplicateKey(err)) {
            if (duplicateKeyField(err) === "_id") throw new LogicError(`user id already exists: ${user.id}`, err);
            throw new DuplicateEmailError();
          }
          throw err;
        }
      }),

    findById: (id) =>
      run(async () => {
        const doc = await usersCol.findOne({ _id: id });
        return doc === null ? null : userFromDoc(doc);
      }),

    findByEmail: (email) =>
      run(async () => {
        const doc = await usersCol.findOne({ email });
        return doc === null ? null : userFromDoc(doc);
      }),

    update: (id, patch, ifPasswordHash) =>
      run(async () => {
        const filter = ifPasswordHash === undefined ? { _id: id } : { _id: id, passwordHash: ifPasswordHash };
        const set: Partial<UserDoc> = {};
        for (const field of PATCHABLE_USER_FIELDS) {
          const value = patch[field];
          if (value !== undefined) Object.assign(set, { [field]: value });
        }
        // `$set: {}` is rejected by the server; an empty patch is just a read.
        const doc =
          Object.keys(set).length === 0
            ? await usersCol.findOne(filter)
            : await usersCol.findOneAndUpdate(filter, { $set: set }, { returnDocument: "after" });
        return doc === null ? null : userFromDoc(doc);
      }),

    delete: (id) =>
      run(async () => {
        const res = await usersCol.deleteOne({ _id: id });
        return res.deletedCount === 1;
      }),
  };

  const sessions: SessionStore = {
    insert: (session) =>
      run(async () => {
        try {
          await sessionsCol.insertOne(sessionToDoc(session));
        } catch (err) {
          if (isDuplicateKey(err)) throw new LogicError(`session id already exists: ${session.id}`, err);
          throw err;
        }
      }),

    findLive: (id, now) =>
      run(async () => {
        const doc = await sessionsCol.findOne({ _id: id, ...liveFilter(now) });
        return doc === null ? null : sessionFromDoc(doc);
      }),

    listLive: (userId, now) =>
      run(async () => {
        const docs = await sessionsCol
          .find({ userId, ...liveFilter(now) })
          .sort({ createdAt: -1, _id: -1 })
          .toArray();
        return docs.map(sessionFromDoc);
      }),

    touch: (id, now, expiresAt) =>
      run(async () => {
        const set: Partial<SessionDoc> = { lastActiveAt: now };
        if (expiresAt !== undefined) set.expiresAt = expiresAt;
        const res = await sessionsCol.updateOne({ _id: id, ...liveFilter(now) }, { $set: set });
        return res.matchedCount === 1;
      }),

    revoke: (id, userId, now) =>
      run(async () => {
        const res = await sessionsCol.updateOne({ _id: id, userId, ...liveFilter(now) }, { $set: { revokedAt: now } });
        return res.modifiedCount === 1;
      }),

    revokeAllForUser: (userId, now, exceptId) =>
      run(async () => {
        const filter =
          exceptId === undefined
            ? { userId, ...liveFilter(now) }
            : { userId, _id: { $ne: exceptId }, ...liveFilter(now) };
        const res = await sessionsCol.updateMany(filter, { $set: { revokedAt: now } });
        return res.modifiedCount;
      }),

    deleteAllForUser: (userId) =>
      run(async () => {
        await sessionsCol.deleteMany({ userId });
      }),
  };

  const refreshTokens: RefreshTokenStore = {
    insert: (token) =>
      run(async () => {
        try {
          await refreshCol.insertOne(refreshToDoc(token));
        } catch (err) {
          if (isDuplicateKey(err)) throw new LogicError("refresh token hash already exists", err);
          throw err;
        }
      }),

    find: (tokenHash) =>
      run(async () => {
        const doc = await refreshCol.findOne({ _id: tokenHash });
        return doc === null ? null : refreshFromDoc(doc);
      }),

    consume: (tokenHash, now) =>
      run(async (): Promise<ConsumeRefreshResult> => {
        // One atomic operation decides the winner; it gets the record as it was before.
        const before = await refreshCol.findOneAndUpdate(
          { _id: tokenHash, consumedAt: null },
          { $set: { consumedAt: now } },
          { returnDocument: "before" },
        );
        if (before !== null) return { outcome: "consumed", record: refreshFromDoc(before) };
        const existing = await refreshCol.findOne({ _id: tokenHash });
        return existing === null ? { outcome: "unknown" } : { outcome: "reused", record: refreshFromDoc(existing) };
      }),

    deleteAllForUser: (userId) =>
      run(async () => {
        await refreshCol.deleteMany({ userId });
      }),
  };

  const codes: CodeStore = {
    replace: (code) =>
      run(async () => {
        // Delete the older codes first, then store the new one: if two replaces race, the worst
        // case is that both new codes survive — never that neither does.
        await codesCol.deleteMany({ userId: code.userId, purpose: code.purpose, _id: { $ne: code.codeHash } });
        await codesCol.replaceOne({ _id: code.codeHash }, codeToDoc(code), { upsert: true });
      }),

    find: (codeHash, purpose, now) =>
      run(async () => {
        const doc = await codesCol.findOne({ _id: codeHash, purpose, expiresAt: { $gt: now } });
        return doc === null ? null : codeFromDoc(doc);
      }),

    consume: (codeHash, purpose, now) =>
      run(async () => {
        const doc = await codesCol.findOneAndDelete({ _id: codeHash, purpose, expiresAt: { $gt: now } });
        return doc === null ? null : codeFromDoc(doc);
      }),

    deleteAllForUser: (userId) =>
      run(async () => {
        await codesCol.deleteMany({ userId });
      }),
  };

  const attempts: AttemptStore = {
    get: (key, now) => run(async () => attemptStateAt(attemptFromDoc(await attemptsCol.findOne({ _id: key })), now)),

    // Compare-and-set on the whole record: the update only applies if nobody changed the record
    // since it was read (an insert only if nobody created it), otherwise read again and retry.
    // Each counted failure is therefore one atomic write, and the lock holds across replicas.
    fail: (key, now, policy) =>
      run(async () => {
        for (let attempt = 0; attempt < 20; attempt++) {
          const doc = await attemptsCol.findOne({ _id: key });
          const current = attemptFromDoc(doc);
          const next = nextAttemptRecord(key, current, now, policy);
          if (!next.counted) return { counted: false, state: attemptStateAt(next.record, now) };
          const { key: _k, ...fields } = next.record;
          if (doc === null) {
            try {
              await attemptsCol.insertOne({ _id: key, ...fields });
              return { counted: true, state: attemptStateAt(next.record, now) };
            } catch (err) {
              if (isDuplicateKey(err)) continue;
              throw err;
            }
          }
          const res = await attemptsCol.updateOne(
            { _id: key, failures: doc.failures, windowStartedAt: doc.windowStartedAt, lockedUntil: doc.lockedUntil },
            { $set: fields },
          );
          if (res.matchedCount === 1) return { counted: true, state: attemptStateAt(next.record, now) };
        }
        throw new LogicError(`attempt counter for ${key} kept changing under contention`);
      }),

    clear: (key) =>
      run(async () => {
        await attemptsCol.deleteOne({ _id: key });
      }),
  };

  // One document per user: every change is a single-document compare-and-set on `version`, which
  // MongoDB applies atomically, so no multi-document transaction (or replica set) is needed.
  const twoFactor: TwoFactorStore = {
    get: (userId) =>
      run(async () => {
        const doc = await twoFactorCol.findOne({ _id: userId });
        return doc === null ? null : twoFactorFromDoc(doc);
      }),

    save: (next, expectedVersion) =>
      run(async () => {
        if (next.version !== expectedVersion + 1) throw new LogicError("two-factor record version must grow by one");
        const doc = twoFactorToDoc(next);
        if (expectedVersion === 0) {
          try {
            await twoFactorCol.insertOne(doc);
            return true;
          } catch (err) {
            if (isDuplicateKey(err)) return false;
            throw err;
          }
        }
        const res = await twoFactorCol.replaceOne({ _id: next.userId, version: expectedVersion }, doc);
        return res.matchedCount === 1;
      }),

    delete: (userId) =>
      run(async () => {
        await twoFactorCol.deleteOne({ _id: userId });
      }),
  };

  return {
    kind: "mongodb",
    users,
    sessions,
    refreshTokens,
    codes,
    attempts,
    twoFactor,
    ping: () =>
      run(async () => {
        await db.command({ ping: 1 });
      }),
    close: () =>
      run(async () => {
        await client.close();
      }),
  };
}

/** Creates every index; createIndexes is a no-op for indexes that already exist identically. */
async function ensureIndexes(db: Db): Promise<void> {
  const users: Collection<UserDoc> = db.collection("users");
  const sessions: Collection<SessionDoc> = db.collection("sessions");
  const refresh: Collection<RefreshTokenDoc> = db.collection("refresh_tokens");
  const codes: Collection<CodeDoc> = db.collection("codes");
  const attempts: Collection<AttemptDoc> = db.collection("attempts");
  await Promise.all([
    attempts.createIndexes([{ key: { expiresAt: 1 }, name: "expiresAt_ttl", expireAfterSeconds: 0 }]),
    users.createIndexes([{ key: { email: 1 }, name: "email_unique", unique: true }]),
    sessions.createIndexes([
      { key: { userId: 1, createdAt: -1 }, name: "userId_createdAt" },
      { key: { expiresAt: 1 }, name: "expiresAt_ttl", expireAfterSeconds: 0 },
    ]),
    refresh.createIndexes([
      { key: { userId: 1 }, name: "userId" },
      { key: { expiresAt: 1 }, name: "expiresAt_ttl", expireAfterSeconds: 0 },
    ]),
    codes.createIndexes([
      { key: { userId: 1, purpose: 1 }, name: "userId_purpose" },
      { key: { expiresAt: 1 }, name: "expiresAt_ttl", expireAfterSeconds: 0 },
    ]),
  ]);
}
