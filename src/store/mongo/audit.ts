// The `audit_events` collection: _id = event id. Each event carries its own `expiresAt` (its time
// plus AUDIT_RETENTION_DAYS), purged by the TTL index; a changed retention applies to new events.

import type { Collection } from "mongodb";
import type { AuditEventRecord, AuditStore } from "../port.ts";
import type { Limit, Run } from "./connection.ts";

export type AuditEventDoc = Omit<AuditEventRecord, "id"> & { _id: string };

// ---- mapping (explicit field lists: no `_id`, no stray fields in either direction) ----

function eventToDoc(e: AuditEventRecord): AuditEventDoc {
  return {
    _id: e.id,
    at: e.at,
    actor: { kind: e.actor.kind, id: e.actor.id, sessionId: e.actor.sessionId },
    action: e.action,
    targetUserId: e.targetUserId,
    client: { ipAddress: e.client.ipAddress, userAgent: e.client.userAgent },
    outcome: e.outcome,
    detail: e.detail,
    expiresAt: e.expiresAt,
  };
}

function eventFromDoc(d: AuditEventDoc): AuditEventRecord {
  return {
    id: d._id,
    at: d.at,
    actor: { kind: d.actor.kind, id: d.actor.id, sessionId: d.actor.sessionId },
    action: d.action,
    targetUserId: d.targetUserId ?? null,
    client: { ipAddress: d.client.ipAddress, userAgent: d.client.userAgent },
    outcome: d.outcome,
    detail: d.detail ?? "",
    expiresAt: d.expiresAt,
  };
}

export function mongoAudit(run: Run<{ audit: Collection<AuditEventDoc> }>, limit: Limit): AuditStore {
  return {
    insert: (event) =>
      run(async (c) => {
        await c.audit.insertOne(eventToDoc(event), limit);
      }),

    list: ({ targetUserId, before, limit: count, now }) =>
      run(async (c) => {
        const filter: Record<string, unknown> = { expiresAt: { $gt: now } };
        if (targetUserId !== null) filter["targetUserId"] = targetUserId;
        if (before !== null) filter["$or"] = [{ at: { $lt: before.at } }, { at: before.at, _id: { $lt: before.id } }];
        const docs = await c.audit.find(filter, limit).sort({ at: -1, _id: -1 }).limit(count).toArray();
        return docs.map(eventFromDoc);
      }),
  };
}
