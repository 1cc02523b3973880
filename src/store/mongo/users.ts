// The `users` collection: _id = user id, unique email.

import type { Collection, Filter, MongoServerError } from "mongodb";
import { DuplicateEmailError } from "../errors.ts";
import { defaultRole, noCutoff, PATCHABLE_USER_FIELDS } from "../port.ts";
import type { SessionCutoff, UserRecord, UserStore } from "../port.ts";
import type { Limit, Run } from "./connection.ts";
import { LogicError, isDuplicateKey } from "./errors.ts";

export type UserDoc = Omit<UserRecord, "id" | "sessionCutoff" | "twoFactorCutoffRaises" | "roles" | "disabledAt" | "emailVerifiedAt"> & {
  _id: string;
  /** Absent in documents written before it existed: a verified address counts as proven at creation. */
  emailVerifiedAt?: Date | null;
  /** Absent in documents written before session cutoffs existed: generation 0. */
  sessionCutoff?: SessionCutoff;
  /** Absent in documents written before two-factor changes raised the user's cutoff: none did. */
  twoFactorCutoffRaises?: number;
  /** Absent in documents written before roles existed: the default role alone. */
  roles?: string[];
  /** Absent in documents written before accounts could be disabled: enabled. */
  disabledAt?: Date | null;
};

// ---- mapping (explicit field lists: no `_id`, no stray fields in either direction) ----

function userToDoc(u: UserRecord): UserDoc {
  return {
    _id: u.id,
    email: u.email,
    emailVerified: u.emailVerified,
    emailVerifiedAt: u.emailVerifiedAt,
    displayName: u.displayName,
    passwordHash: u.passwordHash,
    passwordUpdatedAt: u.passwordUpdatedAt,
    createdAt: u.createdAt,
    updatedAt: u.updatedAt,
    sessionCutoff: { ...u.sessionCutoff },
    twoFactorCutoffRaises: u.twoFactorCutoffRaises,
    roles: [...u.roles],
    disabledAt: u.disabledAt,
  };
}

function userFromDoc(d: UserDoc): UserRecord {
  return {
    id: d._id,
    email: d.email,
    emailVerified: d.emailVerified,
    // Absent (an older release wrote it), or null while a replica of an older release verified it.
    emailVerifiedAt: d.emailVerifiedAt ?? (d.emailVerified ? d.createdAt : null),
    displayName: d.displayName,
    passwordHash: d.passwordHash ?? null,
    passwordUpdatedAt: d.passwordUpdatedAt ?? null,
    createdAt: d.createdAt,
    updatedAt: d.updatedAt,
    sessionCutoff: cutoffFromDoc(d.sessionCutoff),
    twoFactorCutoffRaises: d.twoFactorCutoffRaises ?? 0,
    roles: d.roles === undefined ? [defaultRole] : [...d.roles],
    disabledAt: d.disabledAt ?? null,
  };
}

/** A stored session cutoff (of a user or of a two-factor record); absent means none yet. */
export function cutoffFromDoc(c: SessionCutoff | undefined): SessionCutoff {
  return c === undefined ? { ...noCutoff } : { generation: c.generation, keptSessionId: c.keptSessionId ?? null };
}

/**
 * Matches a document whose roles read as `roles` (userFromDoc): the array equal to it, element by
 * element in order (an array value in a filter matches only that whole array, not a document whose
 * roles merely include these), or, for the default role alone, a document written before roles
 * existed. Its own `$or`, in `$and`, so that it combines with the session cutoff's.
 */
function rolesAsRead(roles: readonly string[]): Filter<UserDoc> {
  const exactly: Filter<UserDoc> = { roles: { $eq: [...roles] } };
  if (roles.length !== 1 || roles[0] !== defaultRole) return exactly;
  return { $or: [exactly, { roles: { $exists: false } }] };
}

/**
 * Which unique index of `users` a duplicate-key error is about. The server names it in
 * `keyPattern` (4.4+) or in its message ("... index: email_unique dup key: ..."); some
 * MongoDB-compatible servers say neither, and then `idTaken` asks the database whether the id
 * exists, so a duplicate id is never reported to a user as "email exists" nor the reverse.
 */
export async function duplicateUserField(err: MongoServerError, idTaken: () => Promise<boolean>): Promise<"_id" | "email"> {
  const keyPattern: unknown = err["keyPattern"];
  if (keyPattern !== null && typeof keyPattern === "object") {
    const keys = Object.keys(keyPattern);
    if (keys.includes("_id")) return "_id";
    if (keys.includes("email")) return "email";
  }
  const index = /index: (\S+)/.exec(err.message)?.[1];
  if (index === "_id_") return "_id";
  if (index?.startsWith("email")) return "email";
  return (await idTaken()) ? "_id" : "email";
}

export function mongoUsers(run: Run<{ users: Collection<UserDoc> }>, limit: Limit): UserStore {
  return {
    insert: (user) =>
      run(async (c) => {
        try {
          await c.users.insertOne(userToDoc(user), limit);
        } catch (err) {
          if (!isDuplicateKey(err)) throw err;
          const field = await duplicateUserField(
            err,
            async () => (await c.users.countDocuments({ _id: user.id }, { limit: 1, ...limit })) > 0,
          );
          if (field === "_id") throw new LogicError(`user id already exists: ${user.id}`, err);
          throw new DuplicateEmailError();
        }
      }),

    findById: (id) =>
      run(async (c) => {
        const doc = await c.users.findOne({ _id: id }, limit);
        return doc === null ? null : userFromDoc(doc);
      }),

    findByEmail: (email) =>
      run(async (c) => {
        const doc = await c.users.findOne({ email }, limit);
        return doc === null ? null : userFromDoc(doc);
      }),

    update: (id, patch, options = {}) =>
      run(async (c) => {
        const filter: Filter<UserDoc> =
          options.ifPasswordHash === undefined ? { _id: id } : { _id: id, passwordHash: options.ifPasswordHash };
        const session = options.ifSessionPasses;
        if (session !== undefined) {
          // A document written before cutoffs existed has none: generation 0, which every session passes.
          filter.$or = [
            { sessionCutoff: { $exists: false } },
            { "sessionCutoff.generation": { $lte: session.generation } },
            { "sessionCutoff.keptSessionId": session.sessionId },
          ];
        }
        if (options.ifRoles !== undefined) filter.$and = [rolesAsRead(options.ifRoles)];
        const set: Record<string, unknown> = {};
        for (const field of PATCHABLE_USER_FIELDS) {
          const value = patch[field];
          if (value !== undefined) set[field] = value;
        }
        const update: { $set?: Record<string, unknown>; $inc?: Record<string, number> } = {};
        if (options.endSessions !== undefined) {
          // The cutoff moves in the same single-document write as the change that requires it
          // ($inc of an absent field starts it at 0: an older document's count is made here).
          update.$inc = { "sessionCutoff.generation": 1 };
          if (options.endSessions.twoFactorChange === true) update.$inc["twoFactorCutoffRaises"] = 1;
          set["sessionCutoff.keptSessionId"] = options.endSessions.keep;
        }
        if (Object.keys(set).length > 0) update.$set = set;
        // An empty update is rejected by the server; an empty patch is just a read.
        const doc =
          Object.keys(update).length === 0
            ? await c.users.findOne(filter, limit)
            : await c.users.findOneAndUpdate(filter, update, { returnDocument: "after", ...limit });
        return doc === null ? null : userFromDoc(doc);
      }),

    delete: (id) =>
      run(async (c) => {
        const res = await c.users.deleteOne({ _id: id }, limit);
        return res.deletedCount === 1;
      }),

    list: ({ emailPrefix, afterEmail, limit: count }) =>
      run(async (c) => {
        // An anchored prefix expression: MongoDB serves it from the unique email index as a range.
        const match: Record<string, unknown> = {};
        if (emailPrefix !== "") match["$regex"] = `^${emailPrefix.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`;
        if (afterEmail !== null) match["$gt"] = afterEmail;
        const filter = Object.keys(match).length === 0 ? {} : { email: match };
        const docs = await c.users.find(filter, limit).sort({ email: 1 }).limit(count).toArray();
        return docs.map(userFromDoc);
      }),
  };
}
