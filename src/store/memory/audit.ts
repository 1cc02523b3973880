// Audit events, kept in time order.

import type { AuditEventRecord, AuditStore } from "../port.ts";
import { copyRecord, isLive, type ExpiringKind, type OpenState } from "./shared.ts";

/** Newest first: `at` descending, then `id` descending. */
const newestEventFirst = (a: AuditEventRecord, b: AuditEventRecord) =>
  b.at.getTime() - a.at.getTime() || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);

export function memoryAudit({ assertOpen }: OpenState): ExpiringKind<AuditStore> {
  /** Audit events, oldest first (appended in time order, sorted on the rare out-of-order one). */
  let auditEvents: AuditEventRecord[] = [];

  const auditStore: AuditStore = {
    async insert(event) {
      assertOpen();
      auditEvents.push(copyRecord(event));
    },
    async list({ targetUserId, before, limit, now }) {
      assertOpen();
      const older = (e: AuditEventRecord) =>
        before === null || e.at.getTime() < before.at.getTime() || (e.at.getTime() === before.at.getTime() && e.id < before.id);
      return auditEvents
        .filter((e) => isLive(e.expiresAt, now) && (targetUserId === null || e.targetUserId === targetUserId) && older(e))
        .sort(newestEventFirst)
        .slice(0, limit)
        .map((e) => copyRecord(e));
    },
  };

  return {
    store: auditStore,
    count: () => auditEvents.length,
    sweep: (now) => {
      auditEvents = auditEvents.filter((e) => isLive(e.expiresAt, now));
    },
  };
}
