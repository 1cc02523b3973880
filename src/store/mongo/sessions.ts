// The `sessions` collection: _id = session id.

import type { Collection } from "mongodb";
import type { SessionRecord, SessionStore } from "../port.ts";
import type { Limit, Run } from "./connection.ts";
import { LogicError, isDuplicateKey } from "./errors.ts";

export type SessionDoc = Omit<SessionRecord, "id" | "generations"> & {
  _id: string;
  /** Absent in documents written before session cutoffs existed: generation 0. */
  generations?: SessionRecord["generations"];
};

// ---- mapping (explicit field lists: no `_id`, no stray fields in either direction) ----

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

function liveFilter(now: Date): { revokedAt: null; expiresAt: { $gt: Date } } {
  return { revokedAt: null, expiresAt: { $gt: now } };
}

export function mongoSessions(run: Run<{ sessions: Collection<SessionDoc> }>, limit: Limit): SessionStore {
  return {
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

    // Counted no further than one past the limit: the walk of the userId index stops there (the
    // revoked and expired documents it meets before it, until their TTL, are read all the same).
    moreLiveThan: (userId, now, most) =>
      run(async (c) => (await c.sessions.countDocuments({ userId, ...liveFilter(now) }, { ...limit, limit: most + 1 })) > most),

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
        const filter = exceptId === undefined ? { userId, ...liveFilter(now) } : { userId, _id: { $ne: exceptId }, ...liveFilter(now) };
        const res = await c.sessions.updateMany(filter, { $set: { revokedAt: now } }, limit);
        return res.modifiedCount;
      }),

    deleteAllForUser: (userId) =>
      run(async (c) => {
        await c.sessions.deleteMany({ userId }, limit);
      }),
  };
}
