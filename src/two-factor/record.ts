// A user's whole two-factor state is one TwoFactorRecord, and every change to it is a
// read-modify-write retried on a version compare-and-set: spending a code, adding a device and
// replacing recovery codes are each atomic, on either storage adapter, across replicas.
import type { Clock } from "../clock.ts";
import { noCutoff, type TwoFactorRecord, type TwoFactorStore } from "../store/port.ts";
import { isLive } from "./states.ts";

const casRetries = 50;

export function emptyRecord(userId: string): TwoFactorRecord {
  return {
    userId,
    version: 0,
    enabledAt: null,
    devices: [],
    recoveryCodeHashes: [],
    spentRecoveryCodeHashes: [],
    pending: [],
    sessionCutoff: { ...noCutoff },
  };
}

export interface TwoFactorRecords {
  /** The user's record, or an empty one (version 0) when there is none. */
  load(userId: string): Promise<TwoFactorRecord>;
  /**
   * Applies `change` to the freshest record and writes it if nobody wrote in between, else tries
   * again on the new record. `change` returns the next record (or null to write nothing) and the
   * result; it may throw to abort. A written record keeps no expired pending secret, whatever the
   * change was for.
   */
  mutate<T>(userId: string, change: (record: TwoFactorRecord, now: Date) => { next: TwoFactorRecord | null; result: T }): Promise<T>;
}

export function twoFactorRecords(store: TwoFactorStore, clock: Clock): TwoFactorRecords {
  async function load(userId: string): Promise<TwoFactorRecord> {
    return (await store.get(userId)) ?? emptyRecord(userId);
  }
  return {
    load,
    async mutate(userId, change) {
      for (let i = 0; i < casRetries; i++) {
        const current = await load(userId);
        const now = clock.now();
        const { next, result } = change(structuredClone(current), now);
        if (next === null) return result;
        // An expired secret counts as absent (states.ts) but would stay in the record, sealed, until
        // the next Setup; any write drops it, so no sweep is needed.
        next.pending = next.pending.filter((p) => isLive(p, now));
        next.version = current.version + 1;
        if (await store.save(next, current.version)) return result;
      }
      throw new Error(`two-factor record of ${userId} kept changing under contention`);
    },
  };
}
