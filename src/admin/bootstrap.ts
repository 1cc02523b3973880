// The first administrator without editing the database: ADMIN_EMAILS names addresses whose
// accounts get the admin role, here at start-up for accounts that exist and are verified, and in
// src/accounts/ when an address is verified later (promotedRoles in src/permissions/ decides).
import type { Logger } from "../log.ts";
import { adminRole, promotedRoles } from "../permissions/permissions.ts";
import type { Clock } from "../clock.ts";
import type { AuditLog } from "../audit/audit.ts";
import type { UserStore } from "../store/port.ts";

/**
 * Promotes the verified accounts ADMIN_EMAILS names. Never fails the start: storage may not
 * answer yet (the promotion then happens at the next start, or when the address is verified).
 */
export async function promoteAdminEmails(
  deps: { users: Pick<UserStore, "findByEmail" | "update">; clock: Clock; log: Pick<Logger, "info" | "warn">; audit: AuditLog },
  adminEmails: readonly string[],
): Promise<number> {
  let promoted = 0;
  for (const email of adminEmails) {
    try {
      const user = await deps.users.findByEmail(email);
      if (user === null) continue;
      const roles = promotedRoles(user, adminEmails);
      if (roles === null) {
        if (!user.emailVerified)
          deps.log.warn({ userId: user.id }, "ADMIN_EMAILS names an account whose email is not verified: not promoted");
        continue;
      }
      await deps.users.update(user.id, { roles, updatedAt: deps.clock.now() });
      promoted++;
      await deps.audit.record({
        actor: { kind: "system", id: "", sessionId: "" },
        action: "bootstrap.grant_admin",
        targetUserId: user.id,
        client: { ipAddress: "", userAgent: "ADMIN_EMAILS" },
        outcome: "OK",
        detail: `roles=${roles.join(",")}`,
      });
      deps.log.info({ userId: user.id, role: adminRole }, "ADMIN_EMAILS: admin role granted");
    } catch (err) {
      deps.log.warn(
        { err },
        "ADMIN_EMAILS: could not be applied at start-up; it applies when the address is verified, or at the next start",
      );
      return promoted;
    }
  }
  return promoted;
}
