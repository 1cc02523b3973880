// The first administrator without editing the database: ADMIN_EMAILS names addresses whose
// accounts get the admin role when their owner proves the mailbox in a way that also replaces the
// account's credentials (a completed password reset; an email sign-in to an unverified account:
// src/accounts/, src/sign-in/email.ts; promotedRoles in src/permissions/ decides); or an operator
// runs `npm run admin -- grant <email>` (grantAdmin). Not at start-up, and not by VerifyEmail:
// both would promote an account with whatever credentials its maker set, and anyone can register
// an address before its owner, then wait for the owner to verify it (account pre-hijacking).
import type { Logger } from "../log.ts";
import { normalizeEmail } from "../input.ts";
import { adminRole, normalizeRoles } from "../permissions/permissions.ts";
import type { Clock } from "../clock.ts";
import type { AuditLog } from "../audit/audit.ts";
import type { UserStore } from "../store/port.ts";

/**
 * Says at start-up which accounts ADMIN_EMAILS names that are not admins yet, and how they become
 * one; promotes none (see above). Never fails the start: storage may not answer yet.
 */
export async function reportAdminEmails(
  deps: { users: Pick<UserStore, "findByEmail">; log: Pick<Logger, "info" | "warn"> },
  adminEmails: readonly string[],
): Promise<number> {
  let waiting = 0;
  for (const email of adminEmails) {
    try {
      const user = await deps.users.findByEmail(email);
      if (user === null || user.roles.includes(adminRole)) continue;
      waiting++;
      deps.log.info(
        { userId: user.id },
        "ADMIN_EMAILS names an account that is not an admin yet: it becomes one when its owner completes a password reset (RequestPasswordReset, then ResetPassword)",
      );
    } catch (err) {
      deps.log.warn({ err }, "ADMIN_EMAILS: the accounts it names could not be read at start-up");
      return waiting;
    }
  }
  return waiting;
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
