// Users, by id and by email.

import { DuplicateEmailError } from "../errors.ts";
import type { UserRecord, UserStore } from "../port.ts";
import { PATCHABLE_USER_FIELDS } from "../port.ts";
import { copyRecord, type MemoryKind, type OpenState } from "./shared.ts";

export function memoryUsers({ assertOpen }: OpenState): MemoryKind<UserStore> {
  const usersById = new Map<string, UserRecord>();
  /** email -> user id. Checked and set in the same synchronous turn as usersById. */
  const userIdByEmail = new Map<string, string>();

  const users: UserStore = {
    async insert(user) {
      assertOpen();
      if (userIdByEmail.has(user.email)) throw new DuplicateEmailError();
      if (usersById.has(user.id)) throw new Error(`user id already exists: ${user.id}`);
      usersById.set(user.id, copyRecord(user));
      userIdByEmail.set(user.email, user.id);
    },

    async findById(id) {
      assertOpen();
      const user = usersById.get(id);
      return user === undefined ? null : copyRecord(user);
    },

    async findByEmail(email) {
      assertOpen();
      const id = userIdByEmail.get(email);
      const user = id === undefined ? undefined : usersById.get(id);
      return user === undefined ? null : copyRecord(user);
    },

    async update(id, patch, options = {}) {
      assertOpen();
      const current = usersById.get(id);
      if (current === undefined) return null;
      if (options.ifPasswordHash !== undefined && current.passwordHash !== options.ifPasswordHash) return null;
      if (options.ifRoles !== undefined && !sameRoles(current.roles, options.ifRoles)) return null;
      const session = options.ifSessionPasses;
      if (
        session !== undefined &&
        session.generation < current.sessionCutoff.generation &&
        current.sessionCutoff.keptSessionId !== session.sessionId
      ) {
        return null;
      }
      const next: UserRecord = { ...current };
      for (const field of PATCHABLE_USER_FIELDS) {
        const value = patch[field];
        if (value !== undefined) Object.assign(next, { [field]: copyRecord(value) });
      }
      if (options.endSessions !== undefined) {
        next.sessionCutoff = { generation: current.sessionCutoff.generation + 1, keptSessionId: options.endSessions.keep };
        if (options.endSessions.twoFactorChange === true) next.twoFactorCutoffRaises = current.twoFactorCutoffRaises + 1;
      }
      usersById.set(id, next);
      return copyRecord(next);
    },

    async delete(id) {
      assertOpen();
      const user = usersById.get(id);
      if (user === undefined) return false;
      usersById.delete(id);
      if (userIdByEmail.get(user.email) === id) userIdByEmail.delete(user.email);
      return true;
    },

    async list({ emailPrefix, afterEmail, limit }) {
      assertOpen();
      // A scan: the embedded store is for development and tests, where users are few.
      const emails = [...userIdByEmail.keys()]
        .filter((email) => email.startsWith(emailPrefix) && (afterEmail === null || email > afterEmail))
        .sort()
        .slice(0, limit);
      return emails.map((email) => copyRecord(usersById.get(userIdByEmail.get(email) ?? "") as UserRecord));
    },
  };

  return { store: users, count: () => usersById.size };
}

/** The same names in the same order: roles are stored as written, so a record read gives them back exactly. */
function sameRoles(stored: readonly string[], expected: readonly string[]): boolean {
  return stored.length === expected.length && stored.every((role, i) => role === expected[i]);
}
