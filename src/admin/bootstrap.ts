// The first administrator without editing the database: ADMIN_EMAILS names addresses whose
// accounts get the admin role, here at start-up for accounts that exist and are verified, and in
// src/accounts/ when an address is verified later (promotedRoles in src/permissions/ decides);
// or an operator runs `npm run admin -- grant <email>` (grantAdmin).
import type { Logger } from "../log.ts";
import { normalizeEmail } from "../input.ts";
import { adminRole, normalizeRoles, promotedRoles } from "../permissions/permissions.ts";
import type { Clock } from "../clock.ts";
import type { AuditLog } from "../audit/audit.ts";
import type { UserStore } from "../store/port.ts";

/**
 * Promotes the verified accounts ADMIN_EMAILS names. Never fails the start: storage may not
 * answer yet (the promotion then happens at the next start, or when the address is verified).
 */
export async function promoteAdminEmails(
  deps: {
    users: Pick<UserStore, "findByEmail" | "update">;
    clock: Clock;
    log: Pick<Logger, "info" | "warn">;
    audit: Pick<AuditLog, "recordSystem">;
  },
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
      await deps.audit.recordSystem("bootstrap.grant_admin", user.id, "ADMIN_EMAILS", `roles=${roles.join(",")}`);
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

export type GrantResult = { outcome: "granted" | "already_admin"; userId: string; roles: string[] };

/**
 * `npm run admin -- grant <email>` (scripts/admin.ts): gives an existing account the admin role
 * from a shell with the server's configuration, audited as the server's own act. Only a verified
 * address unless `allowUnverified`: the operator names an address, and an unverified account
 * with that address may belong to anyone who typed it.
 */
export async function grantAdmin(
  deps: { users: Pick<UserStore, "findByEmail" | "update">; clock: Clock; audit: Pick<AuditLog, "recordSystem"> },
  rawEmail: string,
  options: { allowUnverified: boolean },
): Promise<GrantResult> {
  const email = normalizeEmail("email", rawEmail);
  const user = await deps.users.findByEmail(email);
  if (user === null) throw new Error(`no account has the email address ${email}`);
  if (!user.emailVerified && !options.allowUnverified) {
    throw new Error(`${email} is not verified; verify it first, or pass --unverified if you are sure the account is the right one`);
  }
  if (user.roles.includes(adminRole)) return { outcome: "already_admin", userId: user.id, roles: user.roles };
  const roles = normalizeRoles([...user.roles, adminRole]);
  const updated = await deps.users.update(user.id, { roles, updatedAt: deps.clock.now() });
  if (updated === null) throw new Error(`the account ${email} was deleted meanwhile`);
  await deps.audit.recordSystem("cli.grant_admin", user.id, "npm run admin", `roles=${roles.join(",")}`);
  return { outcome: "granted", userId: user.id, roles };
}
