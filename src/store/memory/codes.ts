// One-time codes (and challenges), indexed by user.

import type { CodePurpose, CodeRecord, CodeStore } from "../port.ts";
import { copyRecord, isLive, type ExpiringKind, type OpenState, UserIndexedTable } from "./shared.ts";

export function memoryCodes({ assertOpen }: OpenState): ExpiringKind<CodeStore> {
  const codes = new UserIndexedTable<CodeRecord>();

  const codeStore: CodeStore = {
    async replace(code) {
      assertOpen();
      for (const [hash, existing] of codes.forUser(code.userId)) {
        if (existing.purpose === code.purpose) codes.delete(hash);
      }
      codes.set(code.codeHash, copyRecord(code));
    },

    async find(codeHash: string, purpose: CodePurpose, now: Date) {
      assertOpen();
      const code = codes.rows.get(codeHash);
      if (code === undefined || code.purpose !== purpose || !isLive(code.expiresAt, now)) return null;
      return copyRecord(code);
    },

    async consume(codeHash: string, purpose: CodePurpose, now: Date) {
      assertOpen();
      const code = codes.rows.get(codeHash);
      if (code === undefined || code.purpose !== purpose || !isLive(code.expiresAt, now)) return null;
      codes.delete(codeHash);
      return copyRecord(code);
    },

    async deleteAllForUser(userId) {
      assertOpen();
      codes.deleteAllForUser(userId);
    },

    async add(code) {
      assertOpen();
      codes.set(code.codeHash, copyRecord(code));
    },
  };

  return {
    store: codeStore,
    count: () => codes.rows.size,
    sweep: (now) => codes.purgeExpired(now, (c) => c.expiresAt.getTime()),
  };
}
