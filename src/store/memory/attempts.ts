// Attempt counters (the guessing limits), by key; the rules are ../attempts.ts's.

import { attemptStateAt, forgivenAttemptRecord, nextAttemptRecord } from "../attempts.ts";
import type { AttemptRecord, AttemptStore } from "../port.ts";
import { isLive, type ExpiringKind, type OpenState } from "./shared.ts";

export function memoryAttempts({ assertOpen }: OpenState): ExpiringKind<AttemptStore> {
  const attempts = new Map<string, AttemptRecord>();

  const attemptStore: AttemptStore = {
    async get(key, now) {
      assertOpen();
      return attemptStateAt(attempts.get(key) ?? null, now);
    },
    async fail(key, now, policy) {
      assertOpen();
      // Read, decide and write in one synchronous turn: concurrent callers cannot interleave.
      const next = nextAttemptRecord(key, attempts.get(key) ?? null, now, policy);
      if (next.counted) attempts.set(key, next.record);
      return { counted: next.counted, state: attemptStateAt(next.record, now) };
    },
    async forgive(key, now, policy) {
      assertOpen();
      const next = forgivenAttemptRecord(attempts.get(key) ?? null, now, policy);
      if (next !== null) attempts.set(key, next);
    },
    async clear(key) {
      assertOpen();
      attempts.delete(key);
    },
  };

  return {
    store: attemptStore,
    count: () => attempts.size,
    sweep: (now) => {
      for (const [key, record] of attempts) if (!isLive(record.expiresAt, now)) attempts.delete(key);
    },
  };
}
