// The audit log of the storage port (the rules every adapter honours are in ../port.ts).

/** One administrative call, as the audit log keeps it. */
export interface AuditEventRecord {
  id: string;
  at: Date;
  /**
   * A user (id, session) or a service account (id; sessionId "") through AdminService or
   * ServiceAccountService, or the server itself (ADMIN_EMAILS at start-up: id and sessionId "").
   */
  actor: { kind: "user" | "service" | "system"; id: string; sessionId: string };
  /** What was done, e.g. "admin.users.disable". */
  action: string;
  /** Whom it was done to; null for calls on no one user. */
  targetUserId: string | null;
  client: { ipAddress: string; userAgent: string };
  /** "OK", or the reason the call failed. */
  outcome: string;
  /** What the call changed, where the action does not say (e.g. "roles=admin,user"); "" for nothing. */
  detail: string;
  /** The end of its retention (AUDIT_RETENTION_DAYS after `at`); purged after. */
  expiresAt: Date;
}

/** A page of audit events, newest first (see AuditStore.list). */
export interface AuditListQuery {
  /** Only events about this user; null for all. */
  targetUserId: string | null;
  /** Only events older than this one (the last of the previous page, by `at` then `id`); null from the newest. */
  before: { at: Date; id: string } | null;
  limit: number;
  now: Date;
}

export interface AuditStore {
  insert(event: AuditEventRecord): Promise<void>;
  /** Live (unexpired at `now`) events, newest first: by `at` descending, then `id` descending. */
  list(query: AuditListQuery): Promise<AuditEventRecord[]>;
}
