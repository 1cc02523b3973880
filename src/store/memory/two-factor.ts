// Two-factor records, one per user, saved by compare-and-set on their version.

import type { TwoFactorRecord, TwoFactorStore } from "../port.ts";
import { copyRecord, type MemoryKind, type OpenState } from "./shared.ts";

export function memoryTwoFactor({ assertOpen }: OpenState): MemoryKind<TwoFactorStore> {
  const twoFactorByUser = new Map<string, TwoFactorRecord>();

  const twoFactorStore: TwoFactorStore = {
    async get(userId) {
      assertOpen();
      const record = twoFactorByUser.get(userId);
      return record === undefined ? null : copyRecord(record);
    },
    async save(next, expectedVersion) {
      assertOpen();
      if (next.version !== expectedVersion + 1) throw new Error("two-factor record version must grow by one");
      const current = twoFactorByUser.get(next.userId);
      if ((current?.version ?? 0) !== expectedVersion) return false;
      twoFactorByUser.set(next.userId, copyRecord(next));
      return true;
    },
    async delete(userId) {
      assertOpen();
      twoFactorByUser.delete(userId);
    },
  };

  return { store: twoFactorStore, count: () => twoFactorByUser.size };
}
