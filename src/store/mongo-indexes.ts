// The MongoDB indexes authd relies on, and the startup step that makes the database match them.
//
// `createIndexes` is idempotent only while the existing index is identical to the requested one.
// When an earlier release (or an operator) left a different index under one of our names, the
// server refuses the whole request, and authd would fail every start with an opaque driver error.
// A changed TTL is safe to fix in place, so it is; anything else changes what the index enforces
// or which queries it serves, so the operator decides, guided by the error message.

import { MongoServerError } from "mongodb";

export interface PlannedIndex {
  readonly key: Readonly<Record<string, 1 | -1>>;
  readonly name: string;
  readonly unique?: boolean;
  readonly expireAfterSeconds?: number;
}

export type IndexPlan = Readonly<Record<string, readonly PlannedIndex[]>>;

/**
 * Every index authd needs, by collection. TTL indexes use `expireAfterSeconds: 0` because each
 * document carries its own `expiresAt`; reads still filter on `expiresAt`, as TTL deletion lags.
 */
export const indexPlan = {
  attempts: [{ key: { expiresAt: 1 }, name: "expiresAt_ttl", expireAfterSeconds: 0 }],
  users: [{ key: { email: 1 }, name: "email_unique", unique: true }],
  sessions: [
    { key: { userId: 1, createdAt: -1 }, name: "userId_createdAt" },
    { key: { expiresAt: 1 }, name: "expiresAt_ttl", expireAfterSeconds: 0 },
  ],
  refresh_tokens: [
    { key: { userId: 1 }, name: "userId" },
    { key: { expiresAt: 1 }, name: "expiresAt_ttl", expireAfterSeconds: 0 },
  ],
  codes: [
    { key: { userId: 1, purpose: 1 }, name: "userId_purpose" },
    { key: { expiresAt: 1 }, name: "expiresAt_ttl", expireAfterSeconds: 0 },
  ],
} as const satisfies IndexPlan;

/** An index as `listIndexes` describes it; only `name` and `key` are always present. */
export type ExistingIndex = Record<string, unknown>;

export interface IndexCollection {
  createIndexes(specs: PlannedIndex[]): Promise<unknown>;
  listIndexes(): { toArray(): Promise<ExistingIndex[]> };
}

/** The part of the driver's `Db` this module uses, so tests can pass a fake. */
export interface IndexDb {
  collection(name: string): IndexCollection;
  command(command: Record<string, unknown>): Promise<unknown>;
}

export interface IndexLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/** The database holds an index or data that authd will not change on its own. */
export class IndexConflictError extends Error {
  readonly collection: string;
  readonly indexes: readonly string[];

  constructor(collection: string, indexes: readonly string[], message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "IndexConflictError";
    this.collection = collection;
    this.indexes = indexes;
  }
}

const INDEX_OPTIONS_CONFLICT = 85;
const INDEX_KEY_SPECS_CONFLICT = 86;
const DUPLICATE_KEY = 11000;
const DUPLICATE_KEY_LEGACY = 11001;

/**
 * Fields `listIndexes` reports that the server itself ignores when deciding whether an existing
 * index matches a requested one; comparing them would invent conflicts.
 */
const NOT_COMPARED = new Set(["key", "name", "ns", "v", "background", "dropDups", "textIndexVersion", "2dsphereIndexVersion"]);

/**
 * Options that make two indexes on the same key distinct to the server: an existing index on our
 * key under another name only blocks ours when it agrees on all of them.
 */
const IDENTIFYING = ["collation", "partialFilterExpression", "wildcardProjection"];

export async function ensureIndexes(db: IndexDb, log?: IndexLog): Promise<void> {
  let count = 0;
  // One collection at a time: the first failure stops the run, so nothing keeps changing the
  // database after the caller has been told startup failed.
  for (const [collection, planned] of Object.entries(indexPlan)) {
    await ensureCollection(db, collection, planned, log);
    count += planned.length;
  }
  log?.info({ collections: Object.keys(indexPlan).length, indexes: count }, "mongo indexes ensured");
}

async function ensureCollection(
  db: IndexDb,
  collection: string,
  planned: readonly PlannedIndex[],
  log: IndexLog | undefined,
): Promise<void> {
  const coll = db.collection(collection);
  let conflict: MongoServerError;
  try {
    await coll.createIndexes(specs(planned));
    return;
  } catch (err) {
    if (!isServerError(err, [INDEX_OPTIONS_CONFLICT, INDEX_KEY_SPECS_CONFLICT])) throw classifyBuildError(err, collection, planned);
    conflict = err;
  }

  const existing = await coll.listIndexes().toArray();
  const ttlFixes: TtlFix[] = [];
  const problems: Problem[] = [];
  for (const index of planned) {
    const verdict = compare(index, existing);
    if (verdict.kind === "ttl") ttlFixes.push(verdict);
    else if (verdict.kind === "problem") problems.push(verdict);
  }
  // Nothing is modified unless everything can be reconciled: a half-fixed collection would only
  // make the operator's picture of it less accurate.
  if (problems.length > 0) throw conflictError(collection, problems);
  if (ttlFixes.length === 0) throw unexplainedConflict(collection, conflict);

  for (const fix of ttlFixes) {
    await db.command({ collMod: collection, index: { name: fix.name, expireAfterSeconds: fix.to } });
    log?.warn(
      { collection, index: fix.name, oldExpireAfterSeconds: fix.from, newExpireAfterSeconds: fix.to },
      "changed the TTL of a mongo index to match authd's index plan",
    );
  }

  // The server rejected the whole request, so indexes that did not conflict may still be missing.
  try {
    await coll.createIndexes(specs(planned));
  } catch (err) {
    if (isServerError(err, [INDEX_OPTIONS_CONFLICT, INDEX_KEY_SPECS_CONFLICT])) throw unexplainedConflict(collection, err);
    throw classifyBuildError(err, collection, planned);
  }
}

/** Copies, so neither the driver nor a test double can alter the shared plan. */
function specs(planned: readonly PlannedIndex[]): PlannedIndex[] {
  return planned.map((index) => ({ ...index, key: { ...index.key } }));
}

function isServerError(err: unknown, codes: readonly number[]): err is MongoServerError {
  return err instanceof MongoServerError && typeof err.code === "number" && codes.includes(err.code);
}

/** Turns duplicate data under a unique index into advice; every other error stays as thrown. */
function classifyBuildError(err: unknown, collection: string, planned: readonly PlannedIndex[]): unknown {
  if (!isServerError(err, [DUPLICATE_KEY, DUPLICATE_KEY_LEGACY])) return err;
  const unique = planned.filter((index) => index.unique === true);
  if (unique.length === 0) return err;
  const keyPattern: unknown = err["keyPattern"];
  const named = isRecord(keyPattern) ? unique.filter((index) => sameKey(index.key, keyPattern)) : [];
  const culprits = named.length > 0 ? named : unique;
  const advice = culprits.map((index) => {
    const fields = Object.keys(index.key);
    const groupId = fields.length === 1 ? `"$${fields[0]}"` : `{ ${fields.map((f) => `${f}: "$${f}"`).join(", ")} }`;
    return (
      `collection ${collection} holds duplicate values for unique index ${index.name}, so the index cannot be built. ` +
      `List them with db.getCollection("${collection}").aggregate([{ $group: { _id: ${groupId}, count: { $sum: 1 } } }, ` +
      `{ $match: { count: { $gt: 1 } } }]), resolve each duplicate, then restart authd.`
    );
  });
  // No `cause`: the driver's message and `keyValue` contain the duplicated value (an email
  // address), and loggers print causes.
  return new IndexConflictError(
    collection,
    culprits.map((index) => index.name),
    advice.join(" "),
  );
}

interface TtlFix {
  kind: "ttl";
  name: string;
  from: number;
  to: number;
}

interface Problem {
  kind: "problem";
  /** The existing index the operator has to drop. */
  name: string;
  what: string;
}

type Verdict = TtlFix | Problem | { kind: "ok" };

function compare(index: PlannedIndex, existing: readonly ExistingIndex[]): Verdict {
  const sameName = existing.find((e) => e["name"] === index.name);
  if (sameName !== undefined) {
    if (!isRecord(sameName["key"]) || !sameKey(index.key, sameName["key"])) {
      return {
        kind: "problem",
        name: index.name,
        what: `index ${index.name} has key ${show(sameName["key"])}, authd expects ${show(index.key)}`,
      };
    }
    const diffs = optionDiffs(index, sameName);
    const [only] = diffs;
    if (diffs.length === 1 && only?.option === "expireAfterSeconds" && typeof only.existing === "number" && typeof only.planned === "number") {
      return { kind: "ttl", name: index.name, from: only.existing, to: only.planned };
    }
    if (diffs.length === 0) return { kind: "ok" };
    const described = diffs.map((d) => `${d.option} is ${showOption(d.existing)}, authd expects ${showOption(d.planned)}`);
    return { kind: "problem", name: index.name, what: `index ${index.name} differs: ${described.join(", ")}` };
  }

  // Renaming is not possible in place, and leaving the index under its other name would make
  // createIndexes fail on every start; so a name mismatch is the operator's call even when the
  // options would otherwise be reconcilable.
  const sameKeyOtherName = existing.find(
    (e) => isRecord(e["key"]) && sameKey(index.key, e["key"]) && sameIdentity(index, e),
  );
  if (sameKeyOtherName !== undefined) {
    const name = String(sameKeyOtherName["name"]);
    return {
      kind: "problem",
      name,
      what: `index ${name} already covers key ${show(index.key)}, authd expects it to be named ${index.name}`,
    };
  }
  return { kind: "ok" };
}

interface OptionDiff {
  option: string;
  existing: unknown;
  planned: unknown;
}

function optionDiffs(index: PlannedIndex, existing: ExistingIndex): OptionDiff[] {
  const diffs: OptionDiff[] = [];
  const unique = truthy(existing["unique"]);
  if (unique !== (index.unique === true)) diffs.push({ option: "unique", existing: unique, planned: index.unique === true });
  const sparse = truthy(existing["sparse"]);
  if (sparse) diffs.push({ option: "sparse", existing: sparse, planned: false });
  if (existing["expireAfterSeconds"] !== index.expireAfterSeconds) {
    diffs.push({ option: "expireAfterSeconds", existing: existing["expireAfterSeconds"], planned: index.expireAfterSeconds });
  }
  for (const [option, value] of Object.entries(existing)) {
    if (NOT_COMPARED.has(option) || option === "unique" || option === "sparse" || option === "expireAfterSeconds") continue;
    diffs.push({ option, existing: value, planned: undefined });
  }
  return diffs;
}

function sameIdentity(index: PlannedIndex, existing: ExistingIndex): boolean {
  return (
    truthy(existing["unique"]) === (index.unique === true) &&
    !truthy(existing["sparse"]) &&
    IDENTIFYING.every((option) => existing[option] === undefined)
  );
}

function conflictError(collection: string, problems: readonly Problem[]): IndexConflictError {
  const sentences = problems.map(
    (p) =>
      `${p.what}. Drop index ${p.name} on collection ${collection} ` +
      `(db.getCollection("${collection}").dropIndex("${p.name}")) so authd can recreate it on its next start.`,
  );
  return new IndexConflictError(
    collection,
    problems.map((p) => p.name),
    `index conflict on collection ${collection}: ${sentences.join(" ")}`,
  );
}

/** The server saw a conflict the comparison above cannot name (e.g. a concurrent change). */
function unexplainedConflict(collection: string, err: MongoServerError): IndexConflictError {
  // Conflict messages quote index specifications only, never documents, so they are safe to show.
  return new IndexConflictError(
    collection,
    [],
    `index conflict on collection ${collection}: ${err.message}. Compare db.getCollection("${collection}").getIndexes() ` +
      `with authd's index plan, drop the indexes that differ, then restart authd.`,
    { cause: err },
  );
}

function sameKey(planned: Readonly<Record<string, unknown>>, existing: Record<string, unknown>): boolean {
  const a = Object.entries(planned);
  const b = Object.entries(existing);
  return a.length === b.length && a.every(([field, dir], i) => b[i]?.[0] === field && Number(b[i]?.[1]) === dir);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/** BSON's notion of "set": the server reads these flags with `trueValue()`. */
function truthy(value: unknown): boolean {
  return value !== undefined && value !== null && value !== false && value !== 0;
}

function show(value: unknown): string {
  return JSON.stringify(value) ?? String(value);
}

function showOption(value: unknown): string {
  return value === undefined ? "not set" : show(value);
}
