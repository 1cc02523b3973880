// The `refresh_tokens` collection: _id = token hash.

import type { Collection } from "mongodb";
import type { ConsumeRefreshResult, RefreshSuccessor, RefreshTokenRecord, RefreshTokenStore } from "../port.ts";
import type { Limit, Run } from "./connection.ts";
import { LogicError, isDuplicateKey } from "./errors.ts";

export type RefreshTokenDoc = Omit<RefreshTokenRecord, "tokenHash" | "successor"> & {
  _id: string;
  /** Absent in documents written before the grace window existed: none. */
  successor?: RefreshSuccessor | null;
};

// ---- mapping (explicit field lists: no `_id`, no stray fields in either direction) ----

function refreshToDoc(t: RefreshTokenRecord): RefreshTokenDoc {
  return {
    _id: t.tokenHash,
    sessionId: t.sessionId,
    userId: t.userId,
    createdAt: t.createdAt,
    expiresAt: t.expiresAt,
    consumedAt: t.consumedAt,
    successor: successorCopy(t.successor),
  };
}

function successorCopy(s: RefreshSuccessor | null | undefined): RefreshSuccessor | null {
  return s === null || s === undefined ? null : { tokenHash: s.tokenHash, sealedPair: s.sealedPair, graceUntil: s.graceUntil };
}

function refreshFromDoc(d: RefreshTokenDoc): RefreshTokenRecord {
  return {
    tokenHash: d._id,
    sessionId: d.sessionId,
    userId: d.userId,
    createdAt: d.createdAt,
    expiresAt: d.expiresAt,
    consumedAt: d.consumedAt ?? null,
    successor: successorCopy(d.successor),
  };
}

/** Before any spend: `consumedAt >= spentSinceEver` is "spent", as a range an index answers. */
const spentSinceEver = new Date(0);

export function mongoRefreshTokens(run: Run<{ refresh: Collection<RefreshTokenDoc> }>, limit: Limit): RefreshTokenStore {
  return {
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

    consume: (tokenHash, now, keepSpentUntil, successor = null) =>
      run(async (c): Promise<ConsumeRefreshResult> => {
        // One atomic operation decides the winner; it gets the record as it was before. The
        // successor is written in the same update, so a loser that reads the spent record sees
        // it. $min shortens the spent record's life to what reuse detection needs.
        const before = await c.refresh.findOneAndUpdate(
          { _id: tokenHash, consumedAt: null },
          { $set: { consumedAt: now, successor: successorCopy(successor) }, $min: { expiresAt: keepSpentUntil } },
          { returnDocument: "before", ...limit },
        );
        if (before !== null) return { outcome: "consumed", record: refreshFromDoc(before) };
        const existing = await c.refresh.findOne({ _id: tokenHash }, limit);
        return existing === null ? { outcome: "unknown" } : { outcome: "reused", record: refreshFromDoc(existing) };
      }),

    dropSpentBeyond: (sessionId, keep) =>
      run(async (c) => {
        // The session's spent tokens past the `keep` most recent, read from the index
        // sessionId_consumedAt_id alone (a covered query: a range on consumedAt, where a null
        // comparison could not be covered): after each refresh, one at most once the session has
        // refreshed `keep` times; a bounded batch if more piled up.
        const beyond = await c.refresh
          .find({ sessionId, consumedAt: { $gte: spentSinceEver } }, { ...limit, projection: { _id: 1 } })
          .sort({ consumedAt: -1, _id: 1 })
          .skip(keep)
          .limit(1_000)
          .toArray();
        if (beyond.length > 0) await c.refresh.deleteMany({ _id: { $in: beyond.map((d) => d._id) } }, limit);
      }),

    expireSession: (sessionId, userId, until) =>
      run(async (c) => {
        // sessionId leads the sessionId_consumedAt_id index; the TTL index then removes them at `until`.
        await c.refresh.updateMany({ sessionId, userId }, { $min: { expiresAt: until } }, limit);
      }),

    expireAllForUser: (userId, until, exceptSessionId) =>
      run(async (c) => {
        const filter = exceptSessionId === undefined ? { userId } : { userId, sessionId: { $ne: exceptSessionId } };
        await c.refresh.updateMany(filter, { $min: { expiresAt: until } }, limit);
      }),

    delete: (tokenHash) =>
      run(async (c) => {
        await c.refresh.deleteOne({ _id: tokenHash }, limit);
      }),

    deleteAllForUser: (userId) =>
      run(async (c) => {
        await c.refresh.deleteMany({ userId }, limit);
      }),
  };
}
