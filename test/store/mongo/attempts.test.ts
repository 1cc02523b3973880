// No MongoDB server runs here, so the update pipeline is checked against mingo, an independent
// implementation of MongoDB's aggregation language, and compared with nextAttemptRecord, the
// rules every adapter shares.
import { Aggregator } from "mingo";
import { MongoServerError } from "mongodb";
import type { Collection, Document } from "mongodb";
import { describe, expect, it } from "vitest";
import { forgivenAttemptRecord, nextAttemptRecord } from "../../../src/store/attempts.ts";
import { failAttempt, failUpdatePipeline, forgiveUpdatePipeline } from "../../../src/store/mongo/attempts.ts";
import type { AttemptDoc } from "../../../src/store/mongo/attempts.ts";
import type { AttemptPolicy, AttemptRecord } from "../../../src/store/port.ts";

const KEY = "login:alice@example.com";
const T0 = Date.parse("2025-03-01T12:00:00.000Z");
const POLICY: AttemptPolicy = { maxFailures: 3, windowSeconds: 900, lockSeconds: 300 };

const at = (ms: number): Date => new Date(T0 + ms);
const sec = (s: number): number => s * 1000;

function toDoc(record: AttemptRecord, counted?: boolean): AttemptDoc {
  const { key, ...fields } = record;
  return counted === undefined ? { _id: key, ...fields } : { _id: key, ...fields, counted };
}

function toRecord(doc: AttemptDoc): AttemptRecord {
  const { _id, counted: _c, ...fields } = doc;
  return { key: _id, ...fields };
}

/** What MongoDB's pipeline upsert does: apply to the stored document, or to `{ _id }` when none. */
function applyPipeline(stored: AttemptDoc | null, now: Date, policy: AttemptPolicy): AttemptDoc {
  // structuredClone: the engine must not share Date objects with the expectations.
  const input: Document = stored === null ? { _id: KEY } : structuredClone(stored);
  const out = new Aggregator(failUpdatePipeline(now, policy)).run([input]);
  expect(out).toHaveLength(1);
  return out[0] as AttemptDoc;
}

function expectMirrors(stored: AttemptDoc | null, now: Date, policy: AttemptPolicy): AttemptDoc {
  const got = applyPipeline(stored, now, policy);
  const want = nextAttemptRecord(KEY, stored === null ? null : toRecord(stored), now, policy);
  // toStrictEqual: also no leftover temporary field and no missing one.
  expect(got).toStrictEqual(toDoc(want.record, want.counted));
  return got;
}

describe("failUpdatePipeline", () => {
  it("uses only stages MongoDB accepts in an update pipeline", () => {
    const allowed = new Set(["$set", "$addFields", "$unset", "$project", "$replaceRoot", "$replaceWith"]);
    const stages = failUpdatePipeline(at(0), POLICY);
    for (const stage of stages) expect(Object.keys(stage).every((k) => allowed.has(k))).toBe(true);
    expect(Object.keys(stages.at(-1) ?? {})).toEqual(["$unset"]);
  });

  it("starts a fresh key at one failure", () => {
    const doc = expectMirrors(null, at(0), POLICY);
    expect(doc).toStrictEqual({
      _id: KEY,
      failures: 1,
      windowStartedAt: at(0),
      lockedUntil: null,
      expiresAt: at(sec(900)),
      counted: true,
    });
  });

  it("counts up to the limit, then locks", () => {
    let doc = expectMirrors(null, at(0), POLICY);
    doc = expectMirrors(doc, at(sec(10)), POLICY);
    expect(doc).toMatchObject({ failures: 2, windowStartedAt: at(0), lockedUntil: null, counted: true });
    doc = expectMirrors(doc, at(sec(20)), POLICY);
    // The window (ends at 900 s) outlasts the lock (ends at 320 s), so it sets expiresAt.
    expect(doc).toMatchObject({ failures: 3, lockedUntil: at(sec(320)), expiresAt: at(sec(900)), counted: true });
  });

  it("takes expiresAt from a lock that outlasts the window", () => {
    const policy: AttemptPolicy = { maxFailures: 2, windowSeconds: 60, lockSeconds: 600 };
    let doc = expectMirrors(null, at(0), policy);
    doc = expectMirrors(doc, at(sec(30)), policy);
    expect(doc).toMatchObject({ failures: 2, lockedUntil: at(sec(630)), expiresAt: at(sec(630)) });
  });

  it("leaves a locked key unchanged and does not count", () => {
    const locked: AttemptDoc = {
      _id: KEY,
      failures: 3,
      windowStartedAt: at(0),
      lockedUntil: at(sec(320)),
      expiresAt: at(sec(900)),
      counted: true,
    };
    const doc = expectMirrors(locked, at(sec(100)), POLICY);
    expect(doc).toStrictEqual({ ...locked, counted: false });
    // One millisecond before the lock ends is still locked.
    expect(expectMirrors(locked, at(sec(320) - 1), POLICY).counted).toBe(false);
  });

  it("starts afresh once the lock has passed, even inside the window", () => {
    const locked: AttemptDoc = {
      _id: KEY,
      failures: 3,
      windowStartedAt: at(0),
      lockedUntil: at(sec(320)),
      expiresAt: at(sec(900)),
    };
    for (const now of [at(sec(320)), at(sec(321))]) {
      const doc = expectMirrors(locked, now, POLICY);
      expect(doc).toStrictEqual({
        _id: KEY,
        failures: 1,
        windowStartedAt: now,
        lockedUntil: null,
        expiresAt: new Date(now.getTime() + sec(900)),
        counted: true,
      });
    }
  });

  it("starts afresh once the window has expired", () => {
    const counting: AttemptDoc = {
      _id: KEY,
      failures: 2,
      windowStartedAt: at(0),
      lockedUntil: null,
      expiresAt: at(sec(900)),
    };
    // expiresAt == now is already expired; one millisecond earlier still counts.
    expect(expectMirrors(counting, at(sec(900)), POLICY)).toMatchObject({ failures: 1, windowStartedAt: at(sec(900)) });
    expect(expectMirrors(counting, at(sec(900) - 1), POLICY)).toMatchObject({ failures: 3, windowStartedAt: at(0) });
  });

  it("matches nextAttemptRecord on a seeded random sweep, boundary instants included", () => {
    let seed = 0x5eed_a77e;
    // mulberry32: small, seeded, reproducible.
    const rand = (): number => {
      seed = (seed + 0x6d2b79f5) | 0;
      let t = seed;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
    const int = (lo: number, hi: number): number => lo + Math.floor(rand() * (hi - lo + 1));
    const pick = <T>(xs: readonly T[]): T => {
      const x = xs[int(0, xs.length - 1)];
      if (x === undefined) throw new Error("empty choice");
      return x;
    };

    const policies: AttemptPolicy[] = [];
    for (const maxFailures of [1, 2, 3, 5])
      for (const windowSeconds of [1, 60, 900])
        for (const lockSeconds of [0, 1, 300, 3600]) policies.push({ maxFailures, windowSeconds, lockSeconds });

    let counted = 0;
    let boundaries = 0;
    for (let i = 0; i < 4000; i++) {
      const policy = pick(policies);
      let stored: AttemptDoc | null = null;
      if (rand() >= 0.1) {
        const windowStartedAt = at(int(-sec(4000), sec(10)));
        // Mostly consistent records (as the store writes them), some not, to pin the rules down.
        const lockedUntil = rand() < 0.5 ? null : at(int(-sec(4000), sec(4000)));
        const windowEnds = windowStartedAt.getTime() + sec(policy.windowSeconds);
        const expiresAt =
          rand() < 0.8 ? new Date(Math.max(lockedUntil?.getTime() ?? -Infinity, windowEnds)) : at(int(-sec(4000), sec(4000)));
        stored = { _id: KEY, failures: int(0, 6), windowStartedAt, lockedUntil, expiresAt };
        if (rand() < 0.3) stored.counted = rand() < 0.5;
      }
      const instants = [at(int(-sec(100), sec(4000)))];
      if (stored !== null) {
        for (const d of [stored.expiresAt, stored.lockedUntil]) {
          if (d !== null) instants.push(new Date(d.getTime() - 1), d, new Date(d.getTime() + 1));
        }
      }
      const now = pick(instants);
      const t = now.getTime();
      if (stored !== null && (t === stored.expiresAt.getTime() || t === stored.lockedUntil?.getTime())) boundaries++;
      if (expectMirrors(stored, now, policy).counted) counted++;
    }
    // The sweep is only worth something if it reached both outcomes and the boundaries.
    expect(counted).toBeGreaterThan(1000);
    expect(4000 - counted).toBeGreaterThan(200);
    expect(boundaries).toBeGreaterThan(300);
  });
});

describe("forgiveUpdatePipeline", () => {
  it("matches forgivenAttemptRecord on every kind of stored record, boundary instants included", () => {
    let checked = 0;
    let changed = 0;
    for (const policy of [POLICY, { maxFailures: 1, windowSeconds: 60, lockSeconds: 3600 }]) {
      for (const failures of [0, 1, 2, 3, 4]) {
        for (const lockedUntil of [null, at(sec(100)), at(sec(2000))]) {
          const windowStartedAt = at(0);
          const windowEnds = sec(policy.windowSeconds);
          const expiresAt = new Date(Math.max(lockedUntil?.getTime() ?? -Infinity, windowEnds));
          const stored: AttemptDoc = { _id: KEY, failures, windowStartedAt, lockedUntil, expiresAt };
          for (const now of [at(sec(10)), at(sec(100) - 1), at(sec(100)), new Date(expiresAt.getTime() - 1), expiresAt]) {
            const out = new Aggregator(forgiveUpdatePipeline(now, policy)).run([structuredClone(stored)]);
            const want = forgivenAttemptRecord(toRecord(stored), now, policy);
            expect(out).toStrictEqual([toDoc(want ?? toRecord(stored))]);
            checked++;
            if (want !== null) changed++;
          }
        }
      }
    }
    expect(checked).toBe(150);
    expect(changed).toBeGreaterThan(30);
  });
});

describe("failAttempt", () => {
  interface Call {
    filter: Document;
    update: Document[];
    options: Document;
  }

  function fakeCollection(answers: Array<() => AttemptDoc | null>): { col: Collection<AttemptDoc>; calls: Call[] } {
    const calls: Call[] = [];
    const fake = {
      findOneAndUpdate: async (filter: Document, update: Document[], options: Document): Promise<AttemptDoc | null> => {
        calls.push({ filter, update, options });
        const answer = answers[calls.length - 1];
        if (answer === undefined) throw new Error("unexpected extra call");
        return answer();
      },
    };
    return { col: fake as unknown as Collection<AttemptDoc>, calls };
  }

  it("retries once when a concurrent upsert of the same new key won the insert", async () => {
    const now = at(sec(5));
    // The winner inserted first failure at 0; the retry updates that document.
    const winner = toDoc(nextAttemptRecord(KEY, null, at(0), POLICY).record);
    const { col, calls } = fakeCollection([
      () => {
        throw new MongoServerError({ message: "E11000 duplicate key error", code: 11000 });
      },
      () => applyPipeline(winner, now, POLICY),
    ]);

    const result = await failAttempt(col, KEY, now, POLICY, { maxTimeMS: 2000 });

    expect(result).toStrictEqual({ counted: true, state: { failures: 2, lockedUntil: null } });
    expect(calls).toHaveLength(2);
    for (const call of calls) {
      expect(call.filter).toStrictEqual({ _id: KEY });
      expect(call.update).toStrictEqual(failUpdatePipeline(now, POLICY));
      expect(call.options).toMatchObject({ upsert: true, returnDocument: "after", maxTimeMS: 2000 });
    }
  });

  it("rethrows any other error unchanged, after one call", async () => {
    const timeout = new MongoServerError({ message: "operation exceeded time limit", code: 50 });
    const { col, calls } = fakeCollection([
      () => {
        throw timeout;
      },
      () => applyPipeline(null, at(0), POLICY),
    ]);

    await expect(failAttempt(col, KEY, at(0), POLICY)).rejects.toBe(timeout);
    expect(calls).toHaveLength(1);
    expect(calls[0]?.options).toMatchObject({ upsert: true });
  });

  it("reports a rejected guess on a locked key", async () => {
    const locked: AttemptDoc = {
      _id: KEY,
      failures: 3,
      windowStartedAt: at(0),
      lockedUntil: at(sec(320)),
      expiresAt: at(sec(900)),
    };
    const { col } = fakeCollection([() => applyPipeline(locked, at(sec(100)), POLICY)]);
    expect(await failAttempt(col, KEY, at(sec(100)), POLICY)).toStrictEqual({
      counted: false,
      state: { failures: 3, lockedUntil: at(sec(320)) },
    });
  });
});
