// The `refresh_tokens` collection: _id = token hash.

import type { Collection } from "mongodb";
import type { ConsumeRefreshResult, RefreshTokenRecord, RefreshTokenStore } from "../port.ts";
import type { Limit, Run } from "./connection.ts";
import { LogicError, isDuplicateKey } from "./errors.ts";

export type RefreshTokenDoc = Omit<RefreshTokenRecord, "tokenHash"> & { _id: string };

// ---- mapping (explicit field lists: no `_id`, no stray fields in either direction) ----

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
}
