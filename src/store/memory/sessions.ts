// Sessions, indexed by user.

import type { SessionRecord, SessionStore } from "../port.ts";
import { copyRecord, isLive, type ExpiringKind, type OpenState, UserIndexedTable } from "./shared.ts";

export function memorySessions({ assertOpen }: OpenState): ExpiringKind<SessionStore> {
  const sessions = new UserIndexedTable<SessionRecord>();

  function liveSession(id: string, now: Date): SessionRecord | undefined {
    const session = sessions.rows.get(id);
    if (session === undefined || session.revokedAt !== null || !isLive(session.expiresAt, now)) return undefined;
    return session;
  }

  const sessionStore: SessionStore = {
    async insert(session) {
      assertOpen();
      if (sessions.rows.has(session.id)) throw new Error(`session id already exists: ${session.id}`);
      sessions.set(session.id, copyRecord(session));
    },

    async findLive(id, now) {
      assertOpen();
      const session = liveSession(id, now);
      return session === undefined ? null : copyRecord(session);
    },

    async listLive(userId, now) {
      assertOpen();
      const live: SessionRecord[] = [];
      for (const [, session] of sessions.forUser(userId)) {
        if (session.revokedAt === null && isLive(session.expiresAt, now)) live.push(session);
      }
      live.sort((a, b) => {
        const byCreated = b.createdAt.getTime() - a.createdAt.getTime();
        if (byCreated !== 0) return byCreated;
        return a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
      });
      return live.map((s) => copyRecord(s));
    },

    async moreLiveThan(userId, now, limit) {
      assertOpen();
      // No more rows than the limit (live or not): nothing to look at.
      if (sessions.sizeForUser(userId) <= limit) return false;
      const live = (session: SessionRecord) => session.revokedAt === null && isLive(session.expiresAt, now);
      return sessions.countForUser(userId, live, limit + 1) > limit;
    },

    async touch(id, now, expiresAt) {
      assertOpen();
      const session = liveSession(id, now);
      if (session === undefined) return false;
      const next: SessionRecord = { ...session, lastActiveAt: new Date(now.getTime()) };
      if (expiresAt !== undefined) next.expiresAt = new Date(expiresAt.getTime());
      sessions.set(id, next);
      return true;
    },

    async revoke(id, userId, now) {
      assertOpen();
      const session = liveSession(id, now);
      if (session === undefined || session.userId !== userId) return false;
      // Forgotten rather than marked: no read or write of the port ever takes a revoked session,
      // and kept until its expiry (a week) every revoked session of a user who signs in often
      // would be walked by each sign-in's session cap (listLive), and held in memory.
      sessions.delete(id);
      return true;
    },

    async revokeAllForUser(userId, now, exceptId) {
      assertOpen();
      let count = 0;
      for (const [id, session] of sessions.forUser(userId)) {
        if (id === exceptId || session.revokedAt !== null || !isLive(session.expiresAt, now)) continue;
        sessions.delete(id); // forgotten, as by revoke
        count++;
      }
      return count;
    },

    async deleteAllForUser(userId) {
      assertOpen();
      sessions.deleteAllForUser(userId);
    },
  };

  return {
    store: sessionStore,
    count: () => sessions.rows.size,
    sweep: (now) => sessions.purgeExpired(now, (s) => s.expiresAt.getTime()),
  };
}
