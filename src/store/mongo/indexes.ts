// The startup step that makes the database match the indexes authd relies on (index-plan.ts).
//
// `createIndexes` is idempotent only while the existing index is identical to the requested one.
// When an earlier release (or an operator) left a different index under one of our names, the
// server refuses the whole request, and authd would fail every start with an opaque driver error.
// A changed TTL is safe to fix in place, so it is; anything else changes what the index enforces
// or which queries it serves, so the operator decides, guided by the error message.

import { MongoServerError } from "mongodb";
import { compare, indexPlan, isRecord, sameKey } from "./index-plan.ts";
import type { ExistingIndex, PlannedIndex, Problem, TtlFix } from "./index-plan.ts";

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
