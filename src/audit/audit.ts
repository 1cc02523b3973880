// The audit log of administrative calls: who (the actor), what (the action), whom (the target),
// when, from where (client address and user agent) and with what outcome. Each event goes to the
// server log (one "audit" line, for log pipelines) and to the stored audit collection (for
// AdminService.ListAuditEvents), where it lives AUDIT_RETENTION_DAYS.
import { randomUUID } from "node:crypto";
import { addSeconds, type Clock } from "../clock.ts";
import { AuthError } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { AuditEventRecord, AuditListQuery, Store } from "../store/port.ts";

export interface AuditDeps {
  store: Pick<Store, "audit">;
  clock: Clock;
  log: Pick<Logger, "info" | "error">;
  retentionDays: number;
}

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
  return {
    /**
     * Logs the event and stores it. A storage failure does not fail the call it describes (which
     * has happened by now): the log line stands, and the failure is logged as an error beside it.
     */
    async record(entry: AuditEntry): Promise<AuditEventRecord> {
      const at = clock.now();
      const event: AuditEventRecord = { id: randomUUID(), at, ...entry, expiresAt: addSeconds(at, deps.retentionDays * 86_400) };
      const { expiresAt: _kept, ...shown } = event;
      log.info({ audit: { ...shown, at: at.toISOString() } }, "audit");
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
