// ADMIN_EMAILS takes effect when the owner proves the address in a way that replaces the account's
// credentials (ResetPassword; an email sign-in to an unverified account; src/admin/bootstrap.ts
// says why not VerifyEmail): whichever it is, the promotion is logged and audited the same way.
import type { AuditLog } from "../audit/audit.ts";
import type { Logger } from "../log.ts";
import type { UserRecord } from "../store/port.ts";

export interface AdminPromotionDeps {
  log: Pick<Logger, "info">;
  audit: Pick<AuditLog, "recordSystem">;
}

/** ADMIN_EMAILS made this account an admin as its address was proven: logged and audited. */
export async function recordAdminPromotion(deps: AdminPromotionDeps, user: UserRecord): Promise<void> {
  deps.log.info({ userId: user.id, roles: user.roles }, "ADMIN_EMAILS: admin role granted as the address was proven");
  await deps.audit.recordSystem("bootstrap.grant_admin", user.id, "ADMIN_EMAILS", `roles=${user.roles.join(",")}`);
}
