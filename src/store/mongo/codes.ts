// The `codes` collection: _id = code hash.

import type { Collection } from "mongodb";
import type { CodeRecord, CodeStore } from "../port.ts";
import type { Limit, Run } from "./connection.ts";

export type CodeDoc = Omit<CodeRecord, "codeHash"> & { _id: string };

// ---- mapping (explicit field lists: no `_id`, no stray fields in either direction) ----

function codeToDoc(c: CodeRecord): CodeDoc {
  const doc: CodeDoc = { _id: c.codeHash, purpose: c.purpose, userId: c.userId, createdAt: c.createdAt, expiresAt: c.expiresAt };
  if (c.rememberMe !== undefined) doc.rememberMe = c.rememberMe;
  if (c.userGeneration !== undefined) doc.userGeneration = c.userGeneration;
  if (c.provider !== undefined) doc.provider = c.provider;
  if (c.sessionId !== undefined) doc.sessionId = c.sessionId;
  return doc;
}

function codeFromDoc(d: CodeDoc): CodeRecord {
  const code: CodeRecord = { codeHash: d._id, purpose: d.purpose, userId: d.userId, createdAt: d.createdAt, expiresAt: d.expiresAt };
  if (typeof d.rememberMe === "boolean") code.rememberMe = d.rememberMe;
  if (typeof d.userGeneration === "number") code.userGeneration = d.userGeneration;
  if (typeof d.provider === "string") code.provider = d.provider;
  if (typeof d.sessionId === "string") code.sessionId = d.sessionId;
  return code;
}

export function mongoCodes(run: Run<{ codes: Collection<CodeDoc> }>, limit: Limit): CodeStore {
  return {
    replace: (code) =>
      run(async (c) => {
        // Delete the older codes first, then store the new one: if two replaces race, the worst
        // case is that both new codes survive — never that neither does.
        await c.codes.deleteMany({ userId: code.userId, purpose: code.purpose, _id: { $ne: code.codeHash } }, limit);
        await c.codes.replaceOne({ _id: code.codeHash }, codeToDoc(code), { upsert: true, ...limit });
      }),

    find: (codeHash, purpose, now) =>
      run(async (c) => {
        const doc = await c.codes.findOne({ _id: codeHash, purpose, expiresAt: { $gt: now } }, limit);
        return doc === null ? null : codeFromDoc(doc);
      }),

    consume: (codeHash, purpose, now) =>
      run(async (c) => {
        const doc = await c.codes.findOneAndDelete({ _id: codeHash, purpose, expiresAt: { $gt: now } }, limit);
        return doc === null ? null : codeFromDoc(doc);
      }),

    deleteAllForUser: (userId) =>
      run(async (c) => {
        await c.codes.deleteMany({ userId }, limit);
      }),

    add: (code) =>
      run(async (c) => {
        await c.codes.insertOne(codeToDoc(code), limit);
      }),
  };
}
