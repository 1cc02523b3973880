// The `two_factor` collection: _id = user id.
//
// One document per user: every change is a single-document compare-and-set on `version`, which
// MongoDB applies atomically, so no multi-document transaction is needed.

import type { Collection } from "mongodb";
import type { SessionCutoff, TwoFactorRecord, TwoFactorStore } from "../port.ts";
import type { Limit, Run } from "./connection.ts";
import { LogicError, isDuplicateKey } from "./errors.ts";
import { cutoffFromDoc } from "./users.ts";

export type TwoFactorDoc = Omit<TwoFactorRecord, "userId" | "sessionCutoff" | "spentRecoveryCodeHashes"> & {
  _id: string;
  /** Absent in documents written before used recovery codes were kept: none known. */
  spentRecoveryCodeHashes?: string[];
  /** Absent in documents written before session cutoffs existed: generation 0. */
  sessionCutoff?: SessionCutoff;
};

// ---- mapping (explicit field lists: no `_id`, no stray fields in either direction) ----

function twoFactorToDoc(r: TwoFactorRecord): TwoFactorDoc {
  return {
    _id: r.userId,
    version: r.version,
    enabledAt: r.enabledAt,
    devices: r.devices.map((d) => ({
      id: d.id,
      name: d.name,
      secretCiphertext: d.secretCiphertext,
      createdAt: d.createdAt,
      lastUsedAt: d.lastUsedAt,
      lastUsedStep: d.lastUsedStep,
    })),
    recoveryCodeHashes: [...r.recoveryCodeHashes],
    spentRecoveryCodeHashes: [...r.spentRecoveryCodeHashes],
    pending: r.pending.map((p) => ({
      purpose: p.purpose,
      secretCiphertext: p.secretCiphertext,
      createdAt: p.createdAt,
      expiresAt: p.expiresAt,
    })),
    sessionCutoff: { ...r.sessionCutoff },
  };
}

function twoFactorFromDoc(d: TwoFactorDoc): TwoFactorRecord {
  return {
    userId: d._id,
    version: d.version,
    enabledAt: d.enabledAt ?? null,
    devices: (d.devices ?? []).map((x) => ({
      id: x.id,
      name: x.name,
      secretCiphertext: x.secretCiphertext,
      createdAt: x.createdAt,
      lastUsedAt: x.lastUsedAt ?? null,
      lastUsedStep: x.lastUsedStep ?? null,
    })),
    recoveryCodeHashes: [...(d.recoveryCodeHashes ?? [])],
    spentRecoveryCodeHashes: [...(d.spentRecoveryCodeHashes ?? [])],
    pending: (d.pending ?? []).map((p) => ({
      purpose: p.purpose,
      secretCiphertext: p.secretCiphertext,
      createdAt: p.createdAt,
      expiresAt: p.expiresAt,
    })),
    sessionCutoff: cutoffFromDoc(d.sessionCutoff),
  };
}

export function mongoTwoFactor(run: Run<{ twoFactor: Collection<TwoFactorDoc> }>, limit: Limit): TwoFactorStore {
  return {
    get: (userId) =>
      run(async (c) => {
        const doc = await c.twoFactor.findOne({ _id: userId }, limit);
        return doc === null ? null : twoFactorFromDoc(doc);
      }),

    save: (next, expectedVersion) =>
      run(async (c) => {
        if (next.version !== expectedVersion + 1) throw new LogicError("two-factor record version must grow by one");
        const doc = twoFactorToDoc(next);
        if (expectedVersion === 0) {
          try {
            await c.twoFactor.insertOne(doc, limit);
            return true;
          } catch (err) {
            if (isDuplicateKey(err)) return false;
            throw err;
          }
        }
        const res = await c.twoFactor.replaceOne({ _id: next.userId, version: expectedVersion }, doc, limit);
        return res.matchedCount === 1;
      }),

    delete: (userId) =>
      run(async (c) => {
        await c.twoFactor.deleteOne({ _id: userId }, limit);
      }),
  };
}
