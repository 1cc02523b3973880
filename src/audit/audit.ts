// The audit log of administrative calls: who (the actor), what (the action), whom (the target),
// when, from where (client address and user agent) and with what outcome. Each event goes to the
// server log (one "audit" line, for log pipelines) and to the stored audit collection (for
// AdminService.ListAuditEvents), where it lives AUDIT_RETENTION_DAYS.
//
// Refused calls are stored under a budget per client network and its IPv6 aggregate
// (AUDIT_MAX_REFUSALS_PER_ADDRESS_PER_HOUR; client-network.ts): anyone who can register may call
// AdminService and be refused, and each refusal stored for a year would let them fill the store
// and bury the events that matter. Each actor's first refusal of the hour is stored whatever the
// budget, so that no one can spend a shared network's budget to hide another caller's probing.
// Over the budget the log line is still written (with `stored: false`); the calls that were
// allowed are always stored.
import { randomUUID } from "node:crypto";
import { type ClientBudget, clientCounters, hourly } from "../attempt-limit.ts";
import { addSeconds, type Clock } from "../clock.ts";
import { AuthError } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { AttemptStore, AuditEventRecord, AuditListQuery, Store } from "../store/port.ts";

export interface AuditDeps {
  store: Pick<Store, "audit"> & { attempts: Pick<AttemptStore, "fail"> };
  clock: Clock;
  log: Pick<Logger, "info" | "error">;
  retentionDays: number;
  /** Refused calls stored per client network (and its IPv6 aggregate) per hour; undefined: no limit. */
  refusalsPerClient: ClientBudget | undefined;
}

/** Outcomes that say the caller may not make the call at all (not that the call failed). */
const refusals = new Set(["PERMISSION_DENIED"]);

/** What an operation reports of one call; the log adds the id, the time and the expiry. */
export interface AuditEntry {
  actor: AuditEventRecord["actor"];
  action: string;
  targetUserId: string | null;
  client: { ipAddress: string; userAgent: string };
  /** "OK", or the reason the call failed. */
  outcome: string;
  detail: string;
}

export function createAuditLog(deps: AuditDeps) {
  const { store, clock, log } = deps;
  const perClient = deps.refusalsPerClient;

  /**
   * Whether the event is to be stored: always, unless it is a refusal over its network's budget
   * that is not its actor's first of the hour.
   */
  async function withinRefusalBudget(entry: AuditEntry, at: Date): Promise<boolean> {
    if (perClient === undefined || !refusals.has(entry.outcome)) return true;
    const { kind, id } = entry.actor;
    const firstOfTheHour = hourly(1);
    if ((await store.attempts.fail(`audit-refusals-actor:${kind}:${id}`, at, firstOfTheHour)).counted) return true;
    for (const { network, policy } of clientCounters(entry.client.ipAddress, perClient)) {
      if (!(await store.attempts.fail(`audit-refusals:${network}`, at, policy)).counted) return false;
    }
    return true;
  }

  return {
    /**
     * Logs the event and stores it (a refusal, within its budget). A storage failure does not fail
     * the call it describes (which has happened by now): the log line stands, and the failure is
     * logged as an error beside it.
     */
    async record(entry: AuditEntry): Promise<AuditEventRecord> {
      const at = clock.now();
      const event: AuditEventRecord = { id: randomUUID(), at, ...entry, expiresAt: addSeconds(at, deps.retentionDays * 86_400) };
      const { expiresAt: _kept, ...shown } = event;
      // A budget that cannot be read (storage down) refuses nothing: the insert then fails and says so.
      const stored = await withinRefusalBudget(entry, at).catch(() => true);
      log.info({ audit: { ...shown, at: at.toISOString() }, ...(stored ? {} : { stored: false }) }, "audit");
      if (!stored) return event;
      try {
        await store.audit.insert(event);
      } catch (err) {
        log.error({ err, auditId: event.id }, "audit event not stored; the log line above is its only record");
      }
      return event;
    },

    /** What the server did by itself (no caller, no client), e.g. ADMIN_EMAILS applied; `source` names the trigger. */
    recordSystem(action: string, targetUserId: string, source: string, detail: string): Promise<AuditEventRecord> {
      return this.record({
        actor: { kind: "system", id: "", sessionId: "" },
        action,
        targetUserId,
        client: { ipAddress: "", userAgent: source },
        outcome: "OK",
        detail,
      });
    },

    list(query: Omit<AuditListQuery, "now">): Promise<AuditEventRecord[]> {
      return store.audit.list({ ...query, now: clock.now() });
    },
  };
}

export type AuditLog = ReturnType<typeof createAuditLog>;

/**
 * Runs a call and then `record`s its audit event whatever happens, with the outcome: "OK", the
 * reason it was refused, or INTERNAL. The call's own error is rethrown after the event is written.
 */
export async function withAuditOutcome<T>(run: () => Promise<T>, record: (outcome: string) => Promise<unknown>): Promise<T> {
  let outcome = "OK";
  try {
    return await run();
  } catch (err) {
    outcome = err instanceof AuthError ? err.reason : "INTERNAL";
    throw err;
  } finally {
    await record(outcome);
  }
}
