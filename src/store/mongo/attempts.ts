// The `attempts` collection: _id = key.
//
// Counting a failed guess in MongoDB as ONE atomic update: an aggregation-pipeline update with
// upsert, evaluated by the server against whatever the document is at that instant. A burst of
// concurrent failures is thus serialised by MongoDB's per-document write lock and counted exactly,
// with no read-then-write window and no retry budget to exhaust.
//
// The pipeline is a transcription of `nextAttemptRecord` (src/store/attempts.ts); the tests run it
// through an independent aggregation engine (mingo) against that function.

import type { Collection, Document } from "mongodb";
import { attemptStateAt } from "../attempts.ts";
import type { AttemptPolicy, AttemptRecord, AttemptState, AttemptStore } from "../port.ts";
import type { Limit, Run } from "./connection.ts";
import { isDuplicateKey } from "./errors.ts";

/** `counted` is left by the latest failure's update pipeline for its caller to read; it is no part of the record. */
export type AttemptDoc = Omit<AttemptRecord, "key"> & { _id: string; counted?: boolean };

function attemptFromDoc(d: AttemptDoc): AttemptRecord {
  return { key: d._id, failures: d.failures, windowStartedAt: d.windowStartedAt, lockedUntil: d.lockedUntil, expiresAt: d.expiresAt };
}

// Temporary fields; the underscore keeps them apart from the stored schema, and the last stage
// removes them so they are never persisted.
const PRIOR = "_prior";
const FAILURES = "_failures";
const WINDOW = "_windowStartedAt";
const LIFT = "_lift";

/**
 * `$ifNull: [x, null]` folds "missing" into null. Comparisons below only ever test a field for
 * null this way and compare dates with dates, so nothing depends on BSON's cross-type order
 * (null < numbers < dates), on which an upserted `{ _id }` document would otherwise rely.
 */
function isNull(path: string): Document {
  return { $eq: [{ $ifNull: [path, null] }, null] };
}

/**
 * The update pipeline for one failure at `now`. Applied to the stored document, or to `{ _id }`
 * when the upsert inserts, it yields the fields of `nextAttemptRecord(...).record` plus
 * `counted`, which the caller reads from the returned document.
 */
export function failUpdatePipeline(now: Date, policy: AttemptPolicy): Document[] {
  // Computed here rather than with $add on the server: these are then the very same Date values
  // nextAttemptRecord computes, including its millisecond truncation.
  const nowLit = new Date(now.getTime());
  const lockUntil = new Date(now.getTime() + policy.lockSeconds * 1000);
  // Whole milliseconds, as a JS Date holds: the server's $add would otherwise round a fraction.
  const windowMs = Math.trunc(policy.windowSeconds * 1000);

  const locked = { $and: [{ $not: [isNull("$lockedUntil")] }, { $gt: ["$lockedUntil", nowLit] }] };
  // attemptStateAt's failures for a record that is not locked: a missing or expired record, and
  // one whose lock has passed, both start afresh.
  const live = { $and: [{ $not: [isNull("$expiresAt")] }, { $gt: ["$expiresAt", nowLit] }, isNull("$lockedUntil")] };
  const reachesLimit = { $gte: [`$${FAILURES}`, policy.maxFailures] };
  const windowEnds = { $add: [`$${WINDOW}`, windowMs] };

  return [
    // Every expression in one $set sees the document as it was before that stage, so each stage
    // only uses what earlier stages produced.
    {
      $set: {
        counted: { $not: [locked] },
        [PRIOR]: { $cond: [live, "$failures", 0] },
      },
    },
    {
      $set: {
        [FAILURES]: { $add: [`$${PRIOR}`, 1] },
        [WINDOW]: { $cond: [{ $eq: [`$${PRIOR}`, 0] }, nowLit, "$windowStartedAt"] },
      },
    },
    {
      // A locked key keeps its stored values: the rejected guess must not extend the lock.
      $set: {
        failures: { $cond: ["$counted", `$${FAILURES}`, "$failures"] },
        windowStartedAt: { $cond: ["$counted", `$${WINDOW}`, "$windowStartedAt"] },
        lockedUntil: { $cond: ["$counted", { $cond: [reachesLimit, lockUntil, null] }, "$lockedUntil"] },
        // $max only sees two dates: the null-lock case takes the other branch.
        expiresAt: {
          $cond: ["$counted", { $cond: [reachesLimit, { $max: [lockUntil, windowEnds] }, windowEnds] }, "$expiresAt"],
        },
      },
    },
    { $unset: [PRIOR, FAILURES, WINDOW] },
  ];
}

/**
 * The update pipeline that takes back one failure at `now`: a transcription of
 * `forgivenAttemptRecord`, applied without upsert (a missing key has nothing to forgive).
 */
export function forgiveUpdatePipeline(now: Date, policy: AttemptPolicy): Document[] {
  const nowLit = new Date(now.getTime());
  const windowMs = Math.trunc(policy.windowSeconds * 1000);
  // attemptStateAt's "a live count": unexpired, and not a lock that has passed.
  const lockPassed = { $and: [{ $not: [isNull("$lockedUntil")] }, { $lte: ["$lockedUntil", nowLit] }] };
  const live = { $and: [{ $gt: ["$expiresAt", nowLit] }, { $not: [lockPassed] }, { $gt: ["$failures", 0] }] };
  return [
    { $set: { [PRIOR]: { $cond: [live, "$failures", null] } } },
    { $set: { [FAILURES]: { $cond: [isNull(`$${PRIOR}`), "$failures", { $subtract: [`$${PRIOR}`, 1] }] } } },
    {
      // Below the limit again: the lock this failure set is lifted, and the count lasts its window.
      $set: {
        [LIFT]: { $and: [{ $not: [isNull(`$${PRIOR}`)] }, { $lt: [`$${FAILURES}`, policy.maxFailures] }] },
      },
    },
    {
      $set: {
        failures: `$${FAILURES}`,
        lockedUntil: { $cond: [`$${LIFT}`, null, "$lockedUntil"] },
        expiresAt: { $cond: [`$${LIFT}`, { $add: ["$windowStartedAt", windowMs] }, "$expiresAt"] },
      },
    },
    { $unset: [PRIOR, FAILURES, LIFT] },
  ];
}

/** Counts one failure for `key` atomically; see AttemptStore.fail. */
export async function failAttempt(
  col: Collection<AttemptDoc>,
  key: string,
  now: Date,
  policy: AttemptPolicy,
  opts: { maxTimeMS?: number } = {},
): Promise<{ counted: boolean; state: AttemptState }> {
  const pipeline = failUpdatePipeline(now, policy);
  const options = {
    upsert: true,
    returnDocument: "after" as const,
    ...(opts.maxTimeMS === undefined ? {} : { maxTimeMS: opts.maxTimeMS }),
  };
  const run = () => col.findOneAndUpdate({ _id: key }, pipeline, options);
  let doc: AttemptDoc | null;
  try {
    doc = await run();
  } catch (err) {
    // Two upserts of a new key can both decide to insert; the loser's retry finds the winner's
    // document and becomes a plain update, so one retry is enough.
    if (!isDuplicateKey(err)) throw err;
    doc = await run();
  }
  // With upsert and returnDocument "after" the server always returns a document.
  if (doc === null) throw new Error(`attempt counter for ${key}: upsert returned no document`);
  return { counted: doc.counted === true, state: attemptStateAt(attemptFromDoc(doc), now) };
}

export function mongoAttempts(run: Run<{ attempts: Collection<AttemptDoc> }>, limit: Limit): AttemptStore {
  return {
    get: (key, now) =>
      run(async (c) => {
        const doc = await c.attempts.findOne({ _id: key }, limit);
        return attemptStateAt(doc === null ? null : attemptFromDoc(doc), now);
      }),
    // One atomic update pipeline per failure (failAttempt): no read-then-write to lose.
    fail: (key, now, policy) => run((c) => failAttempt(c.attempts, key, now, policy, limit)),
    forgive: (key, now, policy) =>
      run(async (c) => {
        await c.attempts.updateOne({ _id: key }, forgiveUpdatePipeline(now, policy), limit);
      }),
    clear: (key) =>
      run(async (c) => {
        await c.attempts.deleteOne({ _id: key }, limit);
      }),
  };
}
