// AdminService's operations: finding users, disabling and enabling them, setting their roles,
// signing them out everywhere, resetting their second factor, deleting them, and reading the
// audit log. Each checks the caller's permission first (PERMISSION_DENIED otherwise), and each
// call, allowed or not, succeeded or not, becomes one audit event (src/audit/). Each change to an
// account mails its owner a security notification (mail/notifications.ts) once it has landed.
import type { Accounts } from "../accounts/accounts.ts";
import type { AuditLog } from "../audit/audit.ts";
import type { Clock } from "../clock.ts";
import { AuthError, invalidArgument } from "../errors.ts";
import { checkId, wellFormed } from "../input.ts";
import type { Notifier } from "../mail/notifications.ts";
import { isRoleName, normalizeRoles, permissions, permissionsOf, requirePermission, type RoleMap } from "../permissions/permissions.ts";
import { type PageTokens, pageSizeOf } from "../paging/page-tokens.ts";
import { auditActorOf, type Principal } from "../service-accounts/principal.ts";
import type { ClientInfo } from "../sessions/caller.ts";
import type { Sessions, SessionView } from "../sessions/sessions.ts";
import type { AuditEventRecord, Store, UserRecord } from "../store/port.ts";
import type { TwoFactor, TwoFactorStatus } from "../two-factor/two-factor.ts";

export interface AdminDeps {
  store: Pick<Store, "users">;
  clock: Clock;
  /** The configured roles: SetRoles accepts only these. */
  roles: RoleMap;
  pageTokens: PageTokens;
  audit: AuditLog;
  /** Tells the owner of an account an administrator disabled, enabled, re-roled or signed out. */
  notifier: Notifier;
}

/** A user as an administrator sees it: never the password hash or the session cutoff. */
export interface AdminUserView {
  id: string;
  email: string;
  emailVerified: boolean;
  displayName: string;
  roles: string[];
  hasPassword: boolean;
  disabledAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface Page<T> {
  items: T[];
  /** "" on the last page. */
  nextPageToken: string;
}

export interface PageRequest {
  pageSize: number;
  pageToken: string;
}

export function adminUserView(u: UserRecord): AdminUserView {
  return {
    id: u.id,
    email: u.email,
    emailVerified: u.emailVerified,
    displayName: u.displayName,
    roles: [...u.roles],
    hasPassword: u.passwordHash !== null,
    disabledAt: u.disabledAt,
    createdAt: u.createdAt,
    updatedAt: u.updatedAt,
  };
}

const maxEmailPrefixLength = 254;

/** Notifications about an administrator's change say so, and name no administrator's address or browser. */
const byAnAdministrator: ClientInfo = { ipAddress: "", userAgent: "", byAdministrator: true };

/**
 * How many times a write is tried on a record whose roles keep changing under it, each time read
 * and checked again (a bound, as the two-factor record's compare-and-set has: never reached but
 * by a flood of role changes to one account).
 */
const reachAttempts = 10;

export function createAdmin(deps: AdminDeps, parts: { sessions: Sessions; twoFactor: TwoFactor; accounts: Accounts }) {
  const { store, clock, audit } = deps;
  const { sessions, twoFactor, accounts } = parts;
  const write = permissions.usersWrite;
  const read = permissions.usersRead;

  /**
   * Runs one admin call: the permission check, then `run`, and an audit event whatever happens.
   * `target` is the user id as given, recorded once it is well-formed (a malformed one is not
   * worth keeping, and could be anything).
   */
  async function audited<T>(
    call: { caller: Principal; client: ClientInfo; action: string; permission: string; target?: string },
    run: (targetId: string) => Promise<{ result: T; detail?: string }>,
  ): Promise<T> {
    let targetUserId: string | null = null;
    let outcome = "OK";
    let detail = "";
    try {
      // Whom a refused call was aimed at matters to whoever reads the log: kept when well-formed.
      if (call.target !== undefined) targetUserId = wellFormedId(call.target);
      requirePermission(call.caller, call.permission);
      if (call.target !== undefined) targetUserId = checkId("user_id", call.target);
      const done = await run(targetUserId ?? "");
      detail = done.detail ?? "";
      return done.result;
    } catch (err) {
      outcome = err instanceof AuthError ? err.reason : "INTERNAL";
      throw err;
    } finally {
      await audit.record({
        actor: auditActorOf(call.caller),
        action: call.action,
        targetUserId,
        client: { ipAddress: call.client.ipAddress, userAgent: call.client.userAgent },
        outcome,
        detail,
      });
    }
  }

  /**
   * A users.write call on one account: `audited`, then the target read and checked to be within
   * the caller's reach, and `run` given the record as checked. users.write reaches only accounts
   * that hold nothing the caller lacks: otherwise a help-desk role could disable, demote or strip
   * the second factor of an administrator.
   */
  function auditedWrite<T>(
    call: { caller: Principal; client: ClientInfo; action: string; target: string },
    run: (target: UserRecord) => Promise<{ result: T; detail?: string }>,
  ): Promise<T> {
    return audited({ ...call, permission: write }, async (id) => run(await reached(call.caller, id)));
  }

  async function reached(caller: Principal, id: string): Promise<UserRecord> {
    const target = await requireTarget(id);
    withinReach(caller, target.roles);
    return target;
  }

  /**
   * Runs `attempt`, a write to the target's record made conditional on the roles it was read with
   * (`ifRoles`; null when they changed), until it lands. The reach was checked on those roles: a promotion
   * landing between that read and the write (SetRoles, an ADMIN_EMAILS promotion) makes the write
   * miss, and the account is read and checked again, so the call answers as it would have a moment
   * later: PERMISSION_DENIED if the account is now beyond the caller's reach (NOT_FOUND if it is
   * gone), else the write on the fresh record. Not ABORTED: the vocabulary has no such status, and
   * a client told to retry would get PERMISSION_DENIED anyway.
   */
  async function landOn<T>(caller: Principal, target: UserRecord, attempt: (target: UserRecord) => Promise<T | null>): Promise<T> {
    let current = target;
    for (let tries = 1; ; tries++) {
      const landed = await attempt(current);
      if (landed !== null) return landed;
      if (tries === reachAttempts) throw new Error(`the roles of user ${current.id} kept changing under an administrator's write`);
      current = await reached(caller, current.id);
    }
  }

  async function requireTarget(id: string): Promise<UserRecord> {
    const user = await store.users.findById(id);
    if (user === null) throw new AuthError("NOT_FOUND", "no such user", { field: "user_id" });
    return user;
  }

  /** An administrator does not lock themselves out by their own hand: another one must do it. */
  function notSelf(caller: Principal, id: string, what: string): void {
    if (caller.kind === "user" && caller.userId === id)
      throw invalidArgument("user_id", `you cannot ${what} your own account; ask another administrator`);
  }

  /** PERMISSION_DENIED unless the caller holds every permission these roles grant. */
  function withinReach(caller: Principal, roles: readonly string[]): void {
    const missing = permissionsOf(roles, deps.roles).find((p) => !caller.permissions.includes(p));
    if (missing !== undefined) {
      throw new AuthError("PERMISSION_DENIED", `this call reaches roles that grant "${missing}", a permission you do not hold`);
    }
  }

  return {
    /** Users in email order, a page at a time; `emailPrefix` is normalized (trimmed, lower-cased) as emails are. */
    async listUsers(caller: Principal, input: PageRequest & { emailPrefix: string }, client: ClientInfo): Promise<Page<AdminUserView>> {
      return audited({ caller, client, action: "admin.users.list", permission: read }, async () => {
        const limit = pageSizeOf(input.pageSize);
        const emailPrefix = wellFormed("email_prefix", input.emailPrefix).trim().toLowerCase();
        if (emailPrefix.length > maxEmailPrefixLength) {
          throw invalidArgument("email_prefix", `email_prefix must be at most ${maxEmailPrefixLength} characters`);
        }
        // No address holds one, and MongoDB refuses a NUL in the pattern it is matched with.
        if (/\p{Cc}/u.test(emailPrefix)) throw invalidArgument("email_prefix", "email_prefix must not contain control characters");
        const cursor = deps.pageTokens.open("users", emailPrefix, input.pageToken);
        if (cursor !== null && typeof cursor !== "string") throw invalidArgument("page_token", "page_token is malformed");
        // One more than the page, to know whether another page follows without a second query.
        const found = await store.users.list({ emailPrefix, afterEmail: cursor, limit: limit + 1 });
        const items = found.slice(0, limit);
        const last = items[items.length - 1];
        const nextPageToken = found.length > limit && last !== undefined ? deps.pageTokens.issue("users", emailPrefix, last.email) : "";
        return {
          result: { items: items.map(adminUserView), nextPageToken },
          detail: emailPrefix === "" ? "" : `email_prefix=${emailPrefix}`,
        };
      });
    },

    async getUser(
      caller: Principal,
      userId: string,
      client: ClientInfo,
    ): Promise<{ user: AdminUserView; sessions: SessionView[]; secondFactor: TwoFactorStatus }> {
      return audited({ caller, client, action: "admin.users.get", permission: read, target: userId }, async (id) => {
        const user = await requireTarget(id);
        const [list, secondFactor] = await Promise.all([sessions.listOf(id), twoFactor.statusOf(id)]);
        return { result: { user: adminUserView(user), sessions: list, secondFactor } };
      });
    },

    /** Disables the account and ends every session of it in the same write. */
    async disableUser(caller: Principal, userId: string, client: ClientInfo): Promise<AdminUserView> {
      return auditedWrite({ caller, client, action: "admin.users.disable", target: userId }, async (target) => {
        notSelf(caller, target.id, "disable");
        const { ended, wasEnabled } = await landOn(caller, target, async (current) => {
          const now = clock.now();
          // Disabled once: disabling again keeps the first time, and still ends any session.
          const patch = { disabledAt: current.disabledAt ?? now, updatedAt: now };
          const done = await sessions.endAllOf(current.id, patch, { ifRoles: current.roles });
          return done === null ? null : { ended: done, wasEnabled: current.disabledAt === null };
        });
        // The owner was told at the first disable; a second one changes nothing they could use.
        if (wasEnabled) deps.notifier.notify(ended.user, "account_disabled", byAnAdministrator);
        return { result: adminUserView(ended.user), detail: `revoked_sessions=${ended.revokedCount}` };
      });
    },

    async enableUser(caller: Principal, userId: string, client: ClientInfo): Promise<AdminUserView> {
      return auditedWrite({ caller, client, action: "admin.users.enable", target: userId }, async (target) => {
        const { updated, wasDisabled } = await landOn(caller, target, async (current) => {
          const done = await store.users.update(current.id, { disabledAt: null, updatedAt: clock.now() }, { ifRoles: current.roles });
          return done === null ? null : { updated: done, wasDisabled: current.disabledAt !== null };
        });
        if (wasDisabled) deps.notifier.notify(updated, "account_enabled", byAnAdministrator);
        return { result: adminUserView(updated) };
      });
    },

    /** Replaces the roles; every one must be configured. */
    async setRoles(caller: Principal, userId: string, rawRoles: readonly string[], client: ClientInfo): Promise<AdminUserView> {
      return auditedWrite({ caller, client, action: "admin.users.set_roles", target: userId }, async (target) => {
        notSelf(caller, target.id, "change the roles of");
        if (rawRoles.length === 0) throw invalidArgument("roles", "roles must name at least one role");
        for (const role of rawRoles) {
          if (!isRoleName(role) || !deps.roles.has(role)) {
            throw invalidArgument(
              "roles",
              `"${role.slice(0, 64)}" is not a role this server defines (${[...deps.roles.keys()].join(", ")})`,
            );
          }
        }
        const roles = normalizeRoles(rawRoles);
        // No one hands out more than they hold (to an accomplice, or to a second account of their own).
        withinReach(caller, roles);
        const { updated, changed } = await landOn(caller, target, async (current) => {
          const done = await store.users.update(current.id, { roles, updatedAt: clock.now() }, { ifRoles: current.roles });
          return done === null ? null : { updated: done, changed: current.roles.join() !== roles.join() };
        });
        if (changed) deps.notifier.notify(updated, "roles_changed", byAnAdministrator);
        return { result: adminUserView(updated), detail: `roles=${roles.join(",")}` };
      });
    },

    async signOutEverywhere(caller: Principal, userId: string, client: ClientInfo): Promise<number> {
      return auditedWrite({ caller, client, action: "admin.users.sign_out_everywhere", target: userId }, async (target) => {
        const ended = await landOn(caller, target, (current) =>
          sessions.endAllOf(current.id, { updatedAt: clock.now() }, { ifRoles: current.roles }),
        );
        // Even with no session live: the cutoff also voids every known-device token of the account.
        deps.notifier.notify(ended.user, "signed_out_everywhere", byAnAdministrator);
        return { result: ended.revokedCount, detail: `revoked_sessions=${ended.revokedCount}` };
      });
    },

    /** Whether there was a second factor (or an enrolment) to reset. */
    async resetSecondFactor(caller: Principal, userId: string, client: ClientInfo): Promise<boolean> {
      return auditedWrite({ caller, client, action: "admin.users.reset_second_factor", target: userId }, async (target) => {
        // A stolen administrator's session must not strip its owner's second factor: the owner
        // changes it through TwoFactorService, with its proofs.
        notSelf(caller, target.id, "reset the second factor of");
        // The reset is written to the two-factor record, where no roles condition can ride. So it
        // is decided on the user record first (once there is something to reset): one write, made
        // only while the roles are those the reach was judged on (landOn), that ends every session
        // as the reset does anyway. Counted as a two-factor change, so that known-device tokens
        // outlive it as they outlive the reset itself.
        //
        // A promotion landing after that write and before the reset makes an admin of an account
        // whose reset was already decided by a caller it was within reach of: the outcome is one
        // the same two calls could have had one after the other, the reset first (an admin with no
        // second factor, told of the reset, who enrols again). What the write rules out is a reset
        // of an account that was beyond reach when it was decided. A session opened between the
        // two writes, under the second factor about to go, ends with the reset's own cutoff.
        const decide = () =>
          landOn(caller, target, (current) =>
            store.users.update(
              current.id,
              { updatedAt: clock.now() },
              { ifRoles: current.roles, endSessions: { keep: null, twoFactorChange: true } },
            ),
          );
        const wasEnabled = await twoFactor.resetBy(target, byAnAdministrator, undefined, decide);
        return { result: wasEnabled, detail: wasEnabled ? "" : "nothing to reset" };
      });
    },

    async deleteUser(caller: Principal, userId: string, client: ClientInfo): Promise<void> {
      return auditedWrite({ caller, client, action: "admin.users.delete", target: userId }, async (target) => {
        notSelf(caller, target.id, "delete");
        // The erasure removes records of other kinds first, the user's last: no roles condition
        // can ride on those. So the deletion is decided on the user record first, in one write
        // made only while the roles are those the reach was judged on (landOn): the account is
        // disabled and every session ends. From then on nobody signs in to it, refreshes, uses a
        // token (the live check refuses a disabled account) or resets its password. A promotion
        // landing after (an administrator's SetRoles, which may change a disabled account's roles;
        // an ADMIN_EMAILS promotion whose sign-in read the account before the disable) promotes
        // an account that can no longer be used and is on its way out: the erasure completes, as
        // if it had landed whole before the promotion. An erasure that fails midway leaves the
        // account disabled, to be deleted again, not half-erased and usable.
        const condemned = await landOn(caller, target, (current) => {
          const now = clock.now();
          return store.users.update(
            current.id,
            { disabledAt: current.disabledAt ?? now, updatedAt: now },
            { ifRoles: current.roles, endSessions: { keep: null } },
          );
        });
        await accounts.erase(condemned, byAnAdministrator);
        return { result: undefined };
      });
    },

    /** The audit log, newest first; `targetUserId` "" for every event. */
    async listAuditEvents(
      caller: Principal,
      input: PageRequest & { targetUserId: string },
      client: ClientInfo,
    ): Promise<Page<AuditEventRecord>> {
      return audited({ caller, client, action: "admin.audit.list", permission: permissions.auditRead }, async () => {
        const limit = pageSizeOf(input.pageSize);
        const target = input.targetUserId === "" ? null : checkId("target_user_id", input.targetUserId);
        const cursor = deps.pageTokens.open("audit", target ?? "", input.pageToken);
        const before = cursor === null ? null : auditCursor(cursor);
        const found = await audit.list({ targetUserId: target, before, limit: limit + 1 });
        const items = found.slice(0, limit);
        const last = items[items.length - 1];
        const nextPageToken =
          found.length > limit && last !== undefined ? deps.pageTokens.issue("audit", target ?? "", [last.at.getTime(), last.id]) : "";
        return { result: { items, nextPageToken }, detail: target === null ? "" : `target_user_id=${target}` };
      });
    },
  };
}

/** The id if checkId would take it, else null, without throwing. */
function wellFormedId(raw: string): string | null {
  try {
    return checkId("user_id", raw);
  } catch {
    return null;
  }
}

/** The (time, id) an audit page token carries: signed by us, but checked as any input is. */
function auditCursor(value: unknown): { at: Date; id: string } {
  if (!Array.isArray(value) || typeof value[0] !== "number" || typeof value[1] !== "string") {
    throw invalidArgument("page_token", "page_token is malformed");
  }
  return { at: new Date(value[0]), id: value[1] };
}

export type Admin = ReturnType<typeof createAdmin>;
