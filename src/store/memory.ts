// The embedded, in-process storage adapter. Everything lives in Maps; nothing survives a restart.
//
// Atomicity: Node runs one JavaScript turn at a time, so every check-and-set below happens
// synchronously inside the async method, before any `await`. Two concurrent callers can therefore
// never both observe the "before" state.
//
// This module only composes: each record kind's tables and store live in memory/<kind>.ts, what
// they share (the record copy, the per-user table, the open/closed state) in memory/shared.ts.

import { systemClock, type Clock } from "../clock.ts";
import { memoryAttempts } from "./memory/attempts.ts";
import { memoryAudit } from "./memory/audit.ts";
import { memoryCodes } from "./memory/codes.ts";
import { memoryPasskeys } from "./memory/passkeys.ts";
import { memoryProviderLinks } from "./memory/provider-links.ts";
import { memoryRefreshTokens } from "./memory/refresh-tokens.ts";
import { memoryServiceAccounts } from "./memory/service-accounts.ts";
import { memorySessions } from "./memory/sessions.ts";
import { openState } from "./memory/shared.ts";
import { memoryTwoFactor } from "./memory/two-factor.ts";
import { memoryUsers } from "./memory/users.ts";
import type { Store } from "./port.ts";

const DEFAULT_SWEEP_INTERVAL_MS = 60_000;

export interface MemoryStoreOptions {
  /** How often expired records are removed (default a minute). */
  sweepIntervalMs?: number;
  /**
   * The clock expiry is judged by when sweeping: the service's own, so that records leave exactly
   * when the reads that take `now` stop seeing them (and a test clock can prove that they do).
   */
  clock?: Clock;
}

/** How many records of each kind are held: what the sweep is meant to keep bounded. */
export interface MemoryRecordCounts {
  users: number;
  sessions: number;
  refreshTokens: number;
  codes: number;
  attempts: number;
  twoFactor: number;
  serviceAccounts: number;
  audit: number;
  providerLinks: number;
}

export interface MemoryStore extends Store {
  readonly kind: "memory";
  /** Removes every record expired by the clock now (the periodic sweep calls it). */
  sweep(): void;
  recordCounts(): MemoryRecordCounts;
}

export function createMemoryStore(opts?: MemoryStoreOptions): MemoryStore {
  const sweepIntervalMs = opts?.sweepIntervalMs ?? DEFAULT_SWEEP_INTERVAL_MS;
  const clock = opts?.clock ?? systemClock;
  if (!Number.isFinite(sweepIntervalMs) || sweepIntervalMs <= 0) {
    throw new RangeError(`sweepIntervalMs must be a positive number, got ${sweepIntervalMs}`);
  }

  const open = openState();
  const users = memoryUsers(open);
  const sessions = memorySessions(open);
  const refreshTokens = memoryRefreshTokens(open, clock);
  const codes = memoryCodes(open);
  const attempts = memoryAttempts(open);
  const twoFactor = memoryTwoFactor(open);
  const serviceAccounts = memoryServiceAccounts(open);
  const audit = memoryAudit(open);
  const passkeys = memoryPasskeys(open);
  const providerLinks = memoryProviderLinks(open);

  function sweep(): void {
    if (open.closed) return;
    const now = clock.now();
    sessions.sweep(now);
    refreshTokens.sweep(now); // and the successor pairs whose grace lapsed
    codes.sweep(now);
    attempts.sweep(now);
    audit.sweep(now);
  }

  let timer: NodeJS.Timeout | undefined = setInterval(sweep, sweepIntervalMs);
  timer.unref();

  return {
    kind: "memory",
    users: users.store,
    sessions: sessions.store,
    refreshTokens: refreshTokens.store,
    codes: codes.store,
    attempts: attempts.store,
    twoFactor: twoFactor.store,
    serviceAccounts: serviceAccounts.store,
    audit: audit.store,
    passkeys: passkeys.store,
    providerLinks: providerLinks.store,
    sweep,
    recordCounts: () => ({
      users: users.count(),
      sessions: sessions.count(),
      refreshTokens: refreshTokens.count(),
      codes: codes.count(),
      attempts: attempts.count(),
      twoFactor: twoFactor.count(),
      serviceAccounts: serviceAccounts.count(),
      audit: audit.count(),
      providerLinks: providerLinks.count(),
    }),
    async ping() {
      open.assertOpen();
    },
    async close() {
      open.close();
      if (timer !== undefined) {
        clearInterval(timer);
        timer = undefined;
      }
      refreshTokens.close();
    },
  };
}
