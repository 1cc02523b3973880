// AdminService's rules at the operations' level, over the memory store with a test clock: who may
// call what, paging and its tokens, what disabling a user closes (every path in), roles, signing
// out everywhere, second-factor reset, deletion, and the audit event every call leaves.
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import type { Principal } from "../../src/service-accounts/principal.ts";
import type { ClientInfo } from "../../src/sessions/caller.ts";
import type { TokenPair } from "../../src/sessions/sessions.ts";
import { createMemoryStore } from "../../src/store/memory.ts";
import type { Store } from "../../src/store/port.ts";
import { TestClock } from "../support/harness.ts";
import { outcome, startService, type InProcess } from "../support/service.ts";
import { totp } from "../support/totp.ts";

const password = "correct horse battery staple";
const roles =
  '{"user": [], "admin": ["users.read", "users.write", "audit.read", "service_accounts.manage"], "support": ["users.read"], "auditor": ["audit.read"], "helpdesk": ["users.read", "users.write"]}';

let s: InProcess;
type Caller = Extract<Principal, { kind: "user" }>;
/** The principal an access token proves, as the RPC layer builds it. */
const asUser = async (bearer: string): Promise<Caller> => ({ kind: "user", ...(await s.ops.sessions.authenticate({ bearer })) });
const adminClient: ClientInfo = { ipAddress: "198.51.100.7", userAgent: "admin-console/2.0" };

/** The security notifications mailed to an address so far, by kind, once the background work is done. */
async function noticesTo(email: string): Promise<string[]> {
  await s.service.background.drain();
  return s.outbox.all(email, "security_notification").map((m) => m.notification);
}

/** A new account, signed in, with these roles (set in storage: the first admin's way in is tested apart). */
async function account(email: string, withRoles: string[] = ["user"]): Promise<{ id: string; tokens: TokenPair; caller: Caller }> {
  const { user, tokens } = await s.ops.accounts.register({ email, password, displayName: "" }, s.client);
  if (tokens === undefined) throw new Error("registration did not sign in");
  await s.store.users.update(user.id, { roles: withRoles });
  return { id: user.id, tokens, caller: await asUser(tokens.accessToken) };
}

/**
 * A change that lands on this account's record just before the next write to it: one made by
 * someone else after the operation read the record, and before the operation's own write.
 */
let beforeNextWrite: { userId: string; change: () => Promise<unknown> } | undefined;

/**
 * A change that lands just after the next read of this account's record (the reach check's, in an
 * admin call): before whatever the operation writes next, to that record or to any other.
 */
let afterNextRead: { userId: string; change: () => Promise<unknown> } | undefined;

/** A change that lands just after the next write to this account's record has landed. */
let afterNextWrite: { userId: string; change: () => Promise<unknown> } | undefined;

/** The store with these changes run inside the users.findById or users.update they name. */
function racing(inner: Store): Store {
  const take = async (slot: "beforeNextWrite" | "afterNextRead" | "afterNextWrite", id: string) => {
    const pending = { beforeNextWrite, afterNextRead, afterNextWrite }[slot];
    if (pending?.userId !== id) return;
    if (slot === "beforeNextWrite") beforeNextWrite = undefined;
    else if (slot === "afterNextRead") afterNextRead = undefined;
    else afterNextWrite = undefined;
    await pending.change();
  };
  return {
    ...inner,
    kind: inner.kind,
    users: {
      ...inner.users,
      findById: async (id) => {
        const found = await inner.users.findById(id);
        await take("afterNextRead", id);
        return found;
      },
      update: async (id, patch, options) => {
        await take("beforeNextWrite", id);
        const updated = await inner.users.update(id, patch, options);
        await take("afterNextWrite", id);
        return updated;
      },
    },
  };
}

/** A new account, signed in, with an authenticator confirmed (its session is the one Enable kept). */
async function withSecondFactor(email: string): Promise<Awaited<ReturnType<typeof account>>> {
  const target = await account(email);
  const { secret } = await s.ops.twoFactor.setup(target.caller, { password: "", additionalDevice: false });
  await s.ops.twoFactor.enable(target.caller, { code: totp(secret, s.clock.now()), deviceName: "", secret: "" }, s.client);
  return target;
}

beforeAll(async () => {
  const clock = new TestClock();
  s = await startService({ EMAIL_VERIFICATION_REQUIRED: "false", ROLES: roles }, racing(createMemoryStore({ clock })), clock);
});
afterAll(() => s.close());

describe("permissions", () => {
  it("a plain user is refused every call with PERMISSION_DENIED, changes nothing, and each refusal is audited", async () => {
    const plain = await account("plain@example.com");
    const target = await account("target-of-plain@example.com");
    const a = s.ops.admin;
    const c = plain.caller;
    const calls = {
      list: a.listUsers(c, { pageSize: 0, pageToken: "", emailPrefix: "" }, adminClient),
      get: a.getUser(c, target.id, adminClient),
      disable: a.disableUser(c, target.id, adminClient),
      enable: a.enableUser(c, target.id, adminClient),
      roles: a.setRoles(c, target.id, ["admin"], adminClient),
      signOut: a.signOutEverywhere(c, target.id, adminClient),
      reset: a.resetSecondFactor(c, target.id, adminClient),
      delete: a.deleteUser(c, target.id, adminClient),
      audit: a.listAuditEvents(c, { pageSize: 0, pageToken: "", targetUserId: "" }, adminClient),
    };
    for (const [name, call] of Object.entries(calls)) expect([name, await outcome(call)]).toEqual([name, "PERMISSION_DENIED"]);
    const stored = await s.store.users.findById(target.id);
    expect([stored?.roles, stored?.disabledAt]).toEqual([["user"], null]);
    expect((await s.ops.sessions.authenticate({ bearer: target.tokens.accessToken })).userId).toBe(target.id);
    const events = await s.store.audit.list({ targetUserId: target.id, before: null, limit: 100, now: s.clock.now() });
    expect(events).toHaveLength(7);
    expect(events.every((e) => e.outcome === "PERMISSION_DENIED" && e.actor.id === plain.id)).toBe(true);
  });

  it("users.read lists and reads but does not write; audit.read alone reads only the audit log", async () => {
    const support = await account("support@example.com", ["support"]);
    const auditor = await account("auditor@example.com", ["auditor"]);
    const target = await account("target-of-support@example.com");
    expect(await outcome(s.ops.admin.getUser(support.caller, target.id, adminClient))).toBe("OK");
    expect(await outcome(s.ops.admin.disableUser(support.caller, target.id, adminClient))).toBe("PERMISSION_DENIED");
    expect(await outcome(s.ops.admin.listAuditEvents(support.caller, { pageSize: 1, pageToken: "", targetUserId: "" }, adminClient))).toBe(
      "PERMISSION_DENIED",
    );
    expect(await outcome(s.ops.admin.listAuditEvents(auditor.caller, { pageSize: 1, pageToken: "", targetUserId: "" }, adminClient))).toBe(
      "OK",
    );
    expect(await outcome(s.ops.admin.getUser(auditor.caller, target.id, adminClient))).toBe("PERMISSION_DENIED");
  });

  it("a service account granted users.read lists users but cannot write, and the log names it as a service", async () => {
    const admin = await account("sa-creator@example.com", ["admin"]);
    const target = await account("target-of-service@example.com");
    const { apiKey, account: created } = await s.ops.serviceAccounts.create(
      admin.caller,
      { name: "support-bot", permissions: ["users.read"] },
      adminClient,
    );
    const service = await s.ops.principals.authenticate(apiKey);
    expect(await outcome(s.ops.admin.getUser(service, target.id, adminClient))).toBe("OK");
    s.clock.advance(1_000);
    expect(await outcome(s.ops.admin.disableUser(service, target.id, adminClient))).toBe("PERMISSION_DENIED");
    const [denied, read] = await s.store.audit.list({ targetUserId: target.id, before: null, limit: 2, now: s.clock.now() });
    expect([denied?.outcome, read?.outcome]).toEqual(["PERMISSION_DENIED", "OK"]);
    expect(read?.actor).toEqual({ kind: "service", id: created.id, sessionId: "" });
  });

  it("users.write grants no more than the caller holds, and touches no account that holds more", async () => {
    const helpdesk = await account("helpdesk@example.com", ["helpdesk"]);
    const accomplice = await account("accomplice@example.com");
    const admin = await account("outranking-admin@example.com", ["admin"]);
    // Promoting anyone (an accomplice, or a second account of one's own) to a role whose
    // permissions the caller lacks would be a way to more rights than one has.
    expect(await outcome(s.ops.admin.setRoles(helpdesk.caller, accomplice.id, ["admin"], adminClient))).toBe("PERMISSION_DENIED");
    expect((await s.store.users.findById(accomplice.id))?.roles).toEqual(["user"]);
    expect(await outcome(s.ops.admin.setRoles(helpdesk.caller, accomplice.id, ["helpdesk"], adminClient))).toBe("OK");
    // Nor can it demote, disable, sign out, strip the second factor of, or delete an account
    // holding permissions it lacks.
    const a = s.ops.admin;
    const c = helpdesk.caller;
    const writes = {
      roles: a.setRoles(c, admin.id, ["user"], adminClient),
      disable: a.disableUser(c, admin.id, adminClient),
      enable: a.enableUser(c, admin.id, adminClient),
      signOut: a.signOutEverywhere(c, admin.id, adminClient),
      reset: a.resetSecondFactor(c, admin.id, adminClient),
      delete: a.deleteUser(c, admin.id, adminClient),
    };
    for (const [name, call] of Object.entries(writes)) expect([name, await outcome(call)]).toEqual([name, "PERMISSION_DENIED"]);
    const stored = await s.store.users.findById(admin.id);
    expect([stored?.roles, stored?.disabledAt]).toEqual([["admin"], null]);
    expect((await s.ops.sessions.authenticate({ bearer: admin.tokens.accessToken })).userId).toBe(admin.id);
    // An equal may still be changed.
    expect(await outcome(s.ops.admin.signOutEverywhere(c, accomplice.id, adminClient))).toBe("OK");
  });

  describe("an account promoted between the reach check and the write", () => {
    // The help desk's call read the target as a plain user; an administrator's SetRoles makes it
    // an admin before the help desk's write lands. The write must not reach the new admin.
    const writes = {
      DisableUser: (c: Caller, id: string) => s.ops.admin.disableUser(c, id, adminClient),
      EnableUser: (c: Caller, id: string) => s.ops.admin.enableUser(c, id, adminClient),
      SetRoles: (c: Caller, id: string) => s.ops.admin.setRoles(c, id, ["helpdesk"], adminClient),
      SignOutEverywhere: (c: Caller, id: string) => s.ops.admin.signOutEverywhere(c, id, adminClient),
    };

    it.each(Object.keys(writes) as (keyof typeof writes)[])(
      "%s: PERMISSION_DENIED, audited, and the promoted account keeps its state and sessions",
      async (name) => {
        const helpdesk = await account(`race-helpdesk-${name}@example.com`, ["helpdesk"]);
        const promoter = await account(`race-admin-${name}@example.com`, ["admin"]);
        const target = await account(`race-target-${name}@example.com`);
        const session = await s.ops.signIn.login({ email: `race-target-${name}@example.com`, password, rememberMe: false }, s.client);
        if (session.state !== "signed_in") throw new Error("not signed in");
        if (name === "EnableUser") await s.ops.admin.disableUser(promoter.caller, target.id, adminClient);
        const before = await s.store.users.findById(target.id);
        const heard = await noticesTo(before?.email ?? "");
        beforeNextWrite = { userId: target.id, change: () => s.ops.admin.setRoles(promoter.caller, target.id, ["admin"], adminClient) };

        expect(await outcome(writes[name](helpdesk.caller, target.id))).toBe("PERMISSION_DENIED");
        expect(beforeNextWrite).toBeUndefined(); // the promotion did land in between
        const after = await s.store.users.findById(target.id);
        expect(after?.roles).toEqual(["admin"]);
        expect([after?.disabledAt, after?.sessionCutoff]).toEqual([before?.disabledAt, before?.sessionCutoff]);
        if (name !== "EnableUser")
          expect((await s.ops.sessions.authenticate({ bearer: session.tokens.accessToken })).userId).toBe(target.id);
        const events = await s.store.audit.list({ targetUserId: target.id, before: null, limit: 10, now: s.clock.now() });
        expect(events.filter((e) => e.actor.id === helpdesk.id).map((e) => e.outcome)).toEqual(["PERMISSION_DENIED"]);
        // The owner hears of the promotion, and of nothing the refused call would have done.
        expect((await noticesTo(after?.email ?? "")).slice(heard.length)).toEqual(["roles_changed"]);
      },
    );

    it("a change that leaves the account within reach does not stop the write: it lands on the account as it now is", async () => {
      const helpdesk = await account("race-helpdesk-within@example.com", ["helpdesk"]);
      const promoter = await account("race-admin-within@example.com", ["admin"]);
      const target = await account("race-target-within@example.com");
      beforeNextWrite = { userId: target.id, change: () => s.ops.admin.setRoles(promoter.caller, target.id, ["support"], adminClient) };
      const view = await s.ops.admin.disableUser(helpdesk.caller, target.id, adminClient);
      expect(beforeNextWrite).toBeUndefined();
      expect([view.roles, view.disabledAt]).toEqual([["support"], s.clock.now()]);
    });

    it("roles that change before every write end the call after a bounded number of tries, changing nothing", async () => {
      const helpdesk = await account("race-helpdesk-churn@example.com", ["helpdesk"]);
      const target = await account("race-target-churn@example.com");
      let changes = 0;
      const churn = async () => {
        changes++;
        await s.store.users.update(target.id, { roles: changes % 2 === 1 ? ["support"] : ["user"] });
        beforeNextWrite = { userId: target.id, change: churn };
      };
      beforeNextWrite = { userId: target.id, change: churn };
      await expect(s.ops.admin.disableUser(helpdesk.caller, target.id, adminClient)).rejects.toThrow(/kept changing/);
      beforeNextWrite = undefined;
      expect(changes).toBe(10);
      expect((await s.store.users.findById(target.id))?.disabledAt).toBeNull();
    });

    describe("ResetSecondFactor and DeleteUser, whose other records no roles condition rides on", () => {
      const writes = {
        ResetSecondFactor: (c: Caller, id: string) => s.ops.admin.resetSecondFactor(c, id, adminClient),
        DeleteUser: (c: Caller, id: string) => s.ops.admin.deleteUser(c, id, adminClient),
      };
      const names = Object.keys(writes) as (keyof typeof writes)[];

      it.each(names)(
        "%s: promoted right after the reach check read it, the account is PERMISSION_DENIED and keeps its second factor, sessions and records",
        async (name) => {
          const helpdesk = await account(`race-helpdesk-read-${name}@example.com`, ["helpdesk"]);
          const promoter = await account(`race-admin-read-${name}@example.com`, ["admin"]);
          const target = await withSecondFactor(`race-target-read-${name}@example.com`);
          const before = await s.store.users.findById(target.id);
          const heard = await noticesTo(before?.email ?? "");
          afterNextRead = { userId: target.id, change: () => s.ops.admin.setRoles(promoter.caller, target.id, ["admin"], adminClient) };

          expect(await outcome(writes[name](helpdesk.caller, target.id))).toBe("PERMISSION_DENIED");
          expect(afterNextRead).toBeUndefined(); // the promotion did land in between
          const after = await s.store.users.findById(target.id);
          expect(after?.roles).toEqual(["admin"]);
          expect([after?.disabledAt, after?.sessionCutoff, after?.twoFactorCutoffRaises]).toEqual([
            before?.disabledAt,
            before?.sessionCutoff,
            before?.twoFactorCutoffRaises,
          ]);
          expect((await s.ops.admin.getUser(promoter.caller, target.id, adminClient)).secondFactor).toMatchObject({
            enabled: true,
            deviceCount: 1,
          });
          expect((await s.ops.sessions.authenticate({ bearer: target.tokens.accessToken })).userId).toBe(target.id);
          const events = await s.store.audit.list({ targetUserId: target.id, before: null, limit: 10, now: s.clock.now() });
          expect(events.filter((e) => e.actor.id === helpdesk.id).map((e) => e.outcome)).toEqual(["PERMISSION_DENIED"]);
          expect((await noticesTo(after?.email ?? "")).slice(heard.length)).toEqual(["roles_changed"]);
        },
      );

      it.each(names)("%s: an account deleted right after the reach check read it is NOT_FOUND", async (name) => {
        const helpdesk = await account(`race-helpdesk-gone-${name}@example.com`, ["helpdesk"]);
        const target = await withSecondFactor(`race-target-gone-${name}@example.com`);
        afterNextRead = { userId: target.id, change: () => s.store.users.delete(target.id) };
        expect(await outcome(writes[name](helpdesk.caller, target.id))).toBe("NOT_FOUND user_id");
        expect(afterNextRead).toBeUndefined();
      });

      it("DeleteUser: a promotion landing after the write that decided the deletion promotes a disabled account, and the erasure completes", async () => {
        const helpdesk = await account("race-helpdesk-decided-delete@example.com", ["helpdesk"]);
        const promoter = await account("race-admin-decided-delete@example.com", ["admin"]);
        const target = await withSecondFactor("race-target-decided-delete@example.com");
        let promoted: Awaited<ReturnType<typeof s.ops.admin.setRoles>> | undefined;
        afterNextWrite = {
          userId: target.id,
          change: async () => {
            // By then the account is disabled and every session of it has ended.
            expect(await outcome(s.ops.sessions.authenticate({ bearer: target.tokens.accessToken }))).toBe("SESSION_REVOKED");
            promoted = await s.ops.admin.setRoles(promoter.caller, target.id, ["admin"], adminClient);
          },
        };

        expect(await outcome(s.ops.admin.deleteUser(helpdesk.caller, target.id, adminClient))).toBe("OK");
        expect([promoted?.roles, promoted?.disabledAt]).toEqual([["admin"], s.clock.now()]);
        expect(await s.store.users.findById(target.id)).toBeNull();
        expect(await s.store.twoFactor.get(target.id)).toBeNull();
        expect(await noticesTo("race-target-decided-delete@example.com")).toContain("account_deleted");
      });

      it("ResetSecondFactor: a promotion landing after the write that decided the reset does not stop it", async () => {
        const helpdesk = await account("race-helpdesk-decided-reset@example.com", ["helpdesk"]);
        const promoter = await account("race-admin-decided-reset@example.com", ["admin"]);
        const target = await withSecondFactor("race-target-decided-reset@example.com");
        const before = await s.store.users.findById(target.id);
        afterNextWrite = {
          userId: target.id,
          change: async () => {
            // Every session has ended already; the second factor is still there.
            expect(await outcome(s.ops.sessions.authenticate({ bearer: target.tokens.accessToken }))).toBe("SESSION_REVOKED");
            expect((await s.ops.admin.getUser(promoter.caller, target.id, adminClient)).secondFactor.enabled).toBe(true);
            await s.ops.admin.setRoles(promoter.caller, target.id, ["admin"], adminClient);
          },
        };

        expect(await s.ops.admin.resetSecondFactor(helpdesk.caller, target.id, adminClient)).toBe(true);
        expect(afterNextWrite).toBeUndefined();
        const after = await s.store.users.findById(target.id);
        expect(after?.roles).toEqual(["admin"]);
        // The deciding write counted as a two-factor change: the credentials' generation stands.
        expect([after?.sessionCutoff.generation, after?.twoFactorCutoffRaises]).toEqual([
          (before?.sessionCutoff.generation ?? 0) + 1,
          (before?.twoFactorCutoffRaises ?? 0) + 1,
        ]);
        expect((await s.ops.admin.getUser(promoter.caller, target.id, adminClient)).secondFactor.enabled).toBe(false);
        expect((await noticesTo("race-target-decided-reset@example.com")).slice(-2)).toEqual(["roles_changed", "two_factor_disabled"]);
      });
    });

    it("an account deleted in between is NOT_FOUND", async () => {
      const helpdesk = await account("race-helpdesk-gone@example.com", ["helpdesk"]);
      const target = await account("race-target-gone@example.com");
      beforeNextWrite = { userId: target.id, change: () => s.store.users.delete(target.id) };
      expect(await outcome(s.ops.admin.signOutEverywhere(helpdesk.caller, target.id, adminClient))).toBe("NOT_FOUND user_id");
    });
  });

  it("a permission taken away counts on the admin's very next call, through the same session", async () => {
    const admin = await account("demoted-admin@example.com", ["admin"]);
    const target = await account("target-of-demoted@example.com");
    expect(await outcome(s.ops.admin.getUser(admin.caller, target.id, adminClient))).toBe("OK");
    await s.store.users.update(admin.id, { roles: ["user"] });
    const again = await asUser(admin.tokens.accessToken);
    expect(await outcome(s.ops.admin.getUser(again, target.id, adminClient))).toBe("PERMISSION_DENIED");
  });
});

describe("ListUsers", () => {
  let admin: Caller;
  beforeAll(async () => {
    admin = (await account("lister@example.com", ["admin"])).caller;
    for (const name of ["paula", "pam", "peter", "piet", "pia"]) await account(`list-${name}@list.example`);
  });
  const list = (pageSize: number, pageToken = "", emailPrefix = "list-p") =>
    s.ops.admin.listUsers(admin, { pageSize, pageToken, emailPrefix }, adminClient);

  it("pages by email within a prefix, with an opaque token, and an empty token on the last page", async () => {
    const first = await list(2);
    expect(first.items.map((u) => u.email)).toEqual(["list-pam@list.example", "list-paula@list.example"]);
    const second = await list(2, first.nextPageToken);
    expect(second.items.map((u) => u.email)).toEqual(["list-peter@list.example", "list-pia@list.example"]);
    const third = await list(2, second.nextPageToken);
    expect(third.items.map((u) => u.email)).toEqual(["list-piet@list.example"]);
    expect(third.nextPageToken).toBe("");
    // The prefix is normalized as emails are; a whole address finds that user.
    expect((await list(10, "", "  LIST-PIA@List.Example ")).items.map((u) => u.email)).toEqual(["list-pia@list.example"]);
    // What an administrator sees: no hash, no cutoff.
    expect(Object.keys(first.items[0]!).sort()).toEqual([
      "createdAt",
      "disabledAt",
      "displayName",
      "email",
      "emailVerified",
      "hasPassword",
      "id",
      "roles",
      "updatedAt",
    ]);
  });

  it("refuses a tampered token, a token of another filter or list, and a negative page size", async () => {
    const { nextPageToken } = await list(1);
    const [body, mac] = nextPageToken.split(".") as [string, string];
    const forgedBody = Buffer.from(JSON.stringify("list-zzz@list.example")).toString("base64url");
    for (const bad of [`${forgedBody}.${mac}`, `${body}.${mac.slice(0, -2)}AA`, `${body}`, "garbage", `${body}.${mac}.x`]) {
      expect(await outcome(list(1, bad))).toBe("INVALID_ARGUMENT page_token");
    }
    expect(await outcome(list(1, nextPageToken, "list-pa"))).toBe("INVALID_ARGUMENT page_token");
    expect(
      await outcome(s.ops.admin.listAuditEvents(admin, { pageSize: 1, pageToken: nextPageToken, targetUserId: "" }, adminClient)),
    ).toBe("INVALID_ARGUMENT page_token");
    expect(await outcome(list(-1))).toBe("INVALID_ARGUMENT page_size");
    for (const control of ["list-\u0000", "list\u0007p", "\u007f"])
      expect(await outcome(list(1, "", control))).toBe("INVALID_ARGUMENT email_prefix");
    // Above the maximum is the maximum (AIP-158), not an error.
    expect((await list(100_000)).items.length).toBe(5);
  });
});

describe("disabling a user closes every way in", () => {
  let admin: Caller;
  beforeAll(async () => {
    admin = (await account("disabler@example.com", ["admin"])).caller;
  });

  it("existing tokens and refresh tokens stop at once, sign-in says ACCOUNT_DISABLED only to the password's holder, and enabling restores sign-in", async () => {
    const target = await account("disabled@example.com");
    const second = await s.ops.signIn.login({ email: "disabled@example.com", password, rememberMe: false }, s.client);
    if (second.state !== "signed_in") throw new Error("not signed in");
    const view = await s.ops.admin.disableUser(admin, target.id, adminClient);
    expect(view.disabledAt).toEqual(s.clock.now());
    expect(await outcome(s.ops.sessions.authenticate({ bearer: target.tokens.accessToken }))).toBe("SESSION_REVOKED");
    expect(await outcome(s.ops.sessions.authenticate({ bearer: second.tokens.accessToken }))).toBe("SESSION_REVOKED");
    expect(await outcome(s.ops.sessions.refresh(target.tokens.refreshToken))).toBe("REFRESH_REVOKED");
    expect(await outcome(s.ops.signIn.login({ email: "disabled@example.com", password, rememberMe: false }, s.client))).toBe(
      "ACCOUNT_DISABLED",
    );
    // A wrong password is answered as for any account, or none.
    const wrong = await outcome(
      s.ops.signIn.login({ email: "disabled@example.com", password: "not the password", rememberMe: false }, s.client),
    );
    const nobody = await outcome(
      s.ops.signIn.login({ email: "nobody@example.com", password: "not the password", rememberMe: false }, s.client),
    );
    expect([wrong, nobody]).toEqual(["INVALID_CREDENTIALS", "INVALID_CREDENTIALS"]);
    expect((await s.store.sessions.listLive(target.id, s.clock.now())).length).toBe(0);

    await s.ops.admin.enableUser(admin, target.id, adminClient);
    const back = await s.ops.signIn.login({ email: "disabled@example.com", password, rememberMe: false }, s.client);
    expect(back.state).toBe("signed_in");
    // Sessions ended by the disable stay ended.
    expect(await outcome(s.ops.sessions.authenticate({ bearer: target.tokens.accessToken }))).toBe("SESSION_REVOKED");
  });

  it("the live check refuses a disabled account's session even where no cutoff ended it (a disable racing a sign-in)", async () => {
    const target = await account("raced@example.com");
    await s.store.users.update(target.id, { disabledAt: s.clock.now() });
    expect(await outcome(s.ops.sessions.authenticate({ bearer: target.tokens.accessToken }))).toBe("SESSION_REVOKED");
    expect(await outcome(s.ops.sessions.refresh(target.tokens.refreshToken))).toBe("REFRESH_REVOKED");
  });

  it("a second step begun before the disable cannot be completed", async () => {
    const target = await account("disabled-2fa@example.com");
    const { secret } = await s.ops.twoFactor.setup(target.caller, { password: "", additionalDevice: false });
    await s.ops.twoFactor.enable(target.caller, { code: totp(secret, s.clock.now()), deviceName: "", secret: "" }, s.client);
    s.clock.advance(30_000);
    const first = await s.ops.signIn.login({ email: "disabled-2fa@example.com", password, rememberMe: false }, s.client);
    if (first.state !== "second_factor_pending") throw new Error("no second step");
    await s.ops.admin.disableUser(admin, target.id, adminClient);
    const completed = s.ops.signIn.completeLogin(first.challenge.token, { code: totp(secret, s.clock.now()) }, s.client);
    expect(await outcome(completed)).toBe("ACCOUNT_DISABLED");
    // Nor with the code in the same call as the password.
    const inOne = s.ops.signIn.login(
      { email: "disabled-2fa@example.com", password, rememberMe: false, loginCode: totp(secret, s.clock.now()) },
      s.client,
    );
    expect(await outcome(inOne)).toBe("ACCOUNT_DISABLED");
  });

  it("a password reset is answered as for anyone but mails nothing, and a code mailed before the disable is refused", async () => {
    const target = await account("disabled-reset@example.com");
    await s.ops.accounts.requestPasswordReset("disabled-reset@example.com", s.client);
    await s.service.background.drain();
    const before = s.outbox.all("disabled-reset@example.com", "password_reset");
    expect(before).toHaveLength(1);
    await s.ops.admin.disableUser(admin, target.id, adminClient);
    expect(await outcome(s.ops.accounts.requestPasswordReset("disabled-reset@example.com", s.client))).toBe("OK");
    await s.service.background.drain();
    expect(s.outbox.all("disabled-reset@example.com", "password_reset")).toHaveLength(1);
    const hashBefore = (await s.store.users.findById(target.id))?.passwordHash;
    expect(await outcome(s.ops.accounts.resetPassword(before[0]!.code, "an entirely new passphrase", s.client))).toBe("ACCOUNT_DISABLED");
    expect((await s.store.users.findById(target.id))?.passwordHash).toBe(hashBefore);
  });

  it("an administrator cannot disable, delete, change the roles of, or reset the second factor of their own account", async () => {
    expect(await outcome(s.ops.admin.disableUser(admin, admin.userId, adminClient))).toBe("INVALID_ARGUMENT user_id");
    expect(await outcome(s.ops.admin.deleteUser(admin, admin.userId, adminClient))).toBe("INVALID_ARGUMENT user_id");
    expect(await outcome(s.ops.admin.setRoles(admin, admin.userId, ["user"], adminClient))).toBe("INVALID_ARGUMENT user_id");
    expect(await outcome(s.ops.admin.resetSecondFactor(admin, admin.userId, adminClient))).toBe("INVALID_ARGUMENT user_id");
    expect((await s.store.users.findById(admin.userId))?.disabledAt).toBeNull();
  });
});

describe("the other changes", () => {
  let admin: Caller;
  beforeAll(async () => {
    admin = (await account("changer@example.com", ["admin"])).caller;
  });

  it("SetRoles takes only configured roles, and counts at once for the live check", async () => {
    const target = await account("roles@example.com");
    expect(await outcome(s.ops.admin.setRoles(admin, target.id, ["superuser"], adminClient))).toBe("INVALID_ARGUMENT roles");
    expect(await outcome(s.ops.admin.setRoles(admin, target.id, [], adminClient))).toBe("INVALID_ARGUMENT roles");
    expect(await outcome(s.ops.admin.setRoles(admin, "no-such-user", ["user"], adminClient))).toBe("NOT_FOUND user_id");
    expect(await outcome(s.ops.admin.setRoles(admin, "../bad id", ["user"], adminClient))).toBe("INVALID_ARGUMENT user_id");
    const updated = await s.ops.admin.setRoles(admin, target.id, ["support", "user", "support"], adminClient);
    expect(updated.roles).toEqual(["support", "user"]);
    expect((await s.ops.sessions.authenticate({ bearer: target.tokens.accessToken })).permissions).toEqual(["users.read"]);
  });

  it("GetUser shows the sessions and the second factor; SignOutEverywhere ends every session", async () => {
    const target = await account("everywhere@example.com");
    await s.ops.signIn.login({ email: "everywhere@example.com", password, rememberMe: false }, s.client);
    const got = await s.ops.admin.getUser(admin, target.id, adminClient);
    expect(got.sessions.map((x) => x.current)).toEqual([false, false]);
    expect(got.secondFactor).toEqual({ enabled: false, enabledAt: null, deviceCount: 0, recoveryCodesRemaining: 0 });
    expect(await s.ops.admin.signOutEverywhere(admin, target.id, adminClient)).toBe(2);
    expect(await outcome(s.ops.sessions.authenticate({ bearer: target.tokens.accessToken }))).toBe("SESSION_REVOKED");
    expect((await s.ops.admin.getUser(admin, target.id, adminClient)).sessions).toEqual([]);
    expect(await outcome(s.ops.admin.getUser(admin, "no-such-user", adminClient))).toBe("NOT_FOUND user_id");
  });

  it("ResetSecondFactor turns 2FA off, ends the sessions, and password alone signs in after", async () => {
    const target = await account("lost-phone@example.com");
    const { secret } = await s.ops.twoFactor.setup(target.caller, { password: "", additionalDevice: false });
    await s.ops.twoFactor.enable(target.caller, { code: totp(secret, s.clock.now()), deviceName: "", secret: "" }, s.client);
    expect((await s.ops.admin.getUser(admin, target.id, adminClient)).secondFactor).toMatchObject({ enabled: true, deviceCount: 1 });
    expect(await s.ops.admin.resetSecondFactor(admin, target.id, adminClient)).toBe(true);
    expect(await outcome(s.ops.sessions.authenticate({ bearer: target.tokens.accessToken }))).toBe("SESSION_REVOKED");
    const after = await s.ops.signIn.login({ email: "lost-phone@example.com", password, rememberMe: false }, s.client);
    if (after.state !== "signed_in") throw new Error("not signed in");
    // Nothing left to reset: no write, and no session ends.
    expect(await s.ops.admin.resetSecondFactor(admin, target.id, adminClient)).toBe(false);
    expect((await s.ops.sessions.authenticate({ bearer: after.tokens.accessToken })).userId).toBe(target.id);
  });

  it("DeleteUser removes the account and its sessions; a second delete is NOT_FOUND", async () => {
    const target = await account("deleted@example.com");
    await s.ops.admin.deleteUser(admin, target.id, adminClient);
    expect(await s.store.users.findById(target.id)).toBeNull();
    expect(await outcome(s.ops.sessions.authenticate({ bearer: target.tokens.accessToken }))).toBe("SESSION_REVOKED");
    expect(await outcome(s.ops.admin.deleteUser(admin, target.id, adminClient))).toBe("NOT_FOUND user_id");
  });
});

describe("the owner is told of each change an administrator makes", () => {
  let admin: Caller;
  beforeAll(async () => {
    admin = (await account("notifying-admin@example.com", ["admin"])).caller;
  });
  afterEach(() => vi.restoreAllMocks());

  it("DisableUser, EnableUser, SetRoles and SignOutEverywhere each mail one notice, after the answer, naming no administrator", async () => {
    const email = "told@example.com";
    const target = await account(email);
    await s.ops.admin.disableUser(admin, target.id, adminClient);
    await s.ops.admin.enableUser(admin, target.id, adminClient);
    await s.ops.admin.setRoles(admin, target.id, ["support", "user"], adminClient);
    await s.ops.admin.signOutEverywhere(admin, target.id, adminClient);
    expect(s.outbox.all(email, "security_notification")).toEqual([]); // not yet: they go out after the answer
    expect(await noticesTo(email)).toEqual(["account_disabled", "account_enabled", "roles_changed", "signed_out_everywhere"]);
    const mails = s.outbox.all(email, "security_notification");
    expect(mails.map((m) => m.subject)).toEqual([
      "Your account was disabled",
      "Your account was enabled again",
      "The roles of your account were changed",
      "Your account was signed out everywhere",
    ]);
    for (const mail of mails) {
      expect(mail.text).toMatch(/^An administrator /);
      expect(mail.text).toContain("Made by: an administrator of this service");
      expect(mail.text).not.toMatch(/From IP address|Browser or app/);
      expect(mail.text).toContain("If you did not expect this, contact support.");
      for (const leak of [adminClient.ipAddress, adminClient.userAgent, "notifying-admin@example.com", target.tokens.accessToken]) {
        expect(mail.text).not.toContain(leak);
      }
    }
  });

  it("the mails of ResetSecondFactor and DeleteUser say an administrator made the change, and send the owner to support", async () => {
    const reset = await withSecondFactor("reset-told@example.com");
    await s.ops.admin.resetSecondFactor(admin, reset.id, adminClient);
    const deleted = await account("delete-told@example.com");
    await s.ops.admin.deleteUser(admin, deleted.id, adminClient);
    expect(await noticesTo("reset-told@example.com")).toContain("two_factor_disabled");
    expect(await noticesTo("delete-told@example.com")).toEqual(["account_deleted"]);
    const mails = [
      ...s.outbox.all("reset-told@example.com", "security_notification").filter((m) => m.notification === "two_factor_disabled"),
      ...s.outbox.all("delete-told@example.com", "security_notification"),
    ];
    for (const mail of mails) {
      expect(mail.text).toContain("Made by: an administrator of this service");
      expect(mail.text).toContain("If you did not expect this, contact support.");
      // Neither an address nor a browser that would stand for the administrator's, nor advice to reset a password.
      expect(mail.text).not.toMatch(/From IP address|Browser or app|reset your password/);
    }
  });

  it("a call that changes nothing mails nothing: disabling a disabled account, enabling an enabled one, the same roles", async () => {
    const email = "unchanged@example.com";
    const target = await account(email);
    await s.ops.admin.enableUser(admin, target.id, adminClient);
    await s.ops.admin.setRoles(admin, target.id, ["user"], adminClient);
    await s.ops.admin.disableUser(admin, target.id, adminClient);
    await s.ops.admin.disableUser(admin, target.id, adminClient);
    expect(await noticesTo(email)).toEqual(["account_disabled"]);
  });

  it("a refused call mails nothing", async () => {
    const email = "refused-notice@example.com";
    const target = await account(email);
    const plain = await account("refused-notice-caller@example.com");
    const helpdesk = await account("refused-notice-helpdesk@example.com", ["helpdesk"]);
    const a = s.ops.admin;
    const refused = [
      a.disableUser(plain.caller, target.id, adminClient),
      a.enableUser(plain.caller, target.id, adminClient),
      a.setRoles(plain.caller, target.id, ["support"], adminClient),
      a.signOutEverywhere(plain.caller, target.id, adminClient),
      a.setRoles(helpdesk.caller, target.id, ["admin"], adminClient),
      a.setRoles(admin, target.id, ["nope"], adminClient),
      a.setRoles(admin, target.id, [], adminClient),
    ];
    for (const call of refused) expect(await outcome(call)).not.toBe("OK");
    expect(await outcome(a.disableUser(target.caller, target.id, adminClient))).toBe("PERMISSION_DENIED");
    expect(await noticesTo(email)).toEqual([]);
  });

  it("a mail that cannot be sent neither fails nor undoes the change", async () => {
    const email = "unmailable@example.com";
    const target = await account(email);
    const send = vi.spyOn(s.outbox, "send").mockRejectedValue(new Error("421 the mail server is shutting down"));
    const view = await s.ops.admin.disableUser(admin, target.id, adminClient);
    expect(view.disabledAt).toEqual(s.clock.now());
    expect(await s.ops.admin.signOutEverywhere(admin, target.id, adminClient)).toBe(0);
    expect(await noticesTo(email)).toEqual([]);
    expect(send.mock.calls.map(([mail]) => mail.kind === "security_notification" && mail.notification)).toEqual([
      "account_disabled",
      "signed_out_everywhere",
    ]);
    expect((await s.store.users.findById(target.id))?.disabledAt).toEqual(s.clock.now());
    expect(await outcome(s.ops.sessions.authenticate({ bearer: target.tokens.accessToken }))).toBe("SESSION_REVOKED");
    const events = await s.store.audit.list({ targetUserId: target.id, before: null, limit: 2, now: s.clock.now() });
    expect(events.map((e) => e.outcome)).toEqual(["OK", "OK"]);
  });

  it("the notices of one kind keep to MAIL_MAX_NOTIFICATIONS_PER_ADDRESS_PER_HOUR", async () => {
    const email = "many-sign-outs@example.com";
    const target = await account(email);
    for (let i = 0; i < 12; i++) await s.ops.admin.signOutEverywhere(admin, target.id, adminClient);
    expect(await noticesTo(email)).toEqual(Array.from({ length: 10 }, () => "signed_out_everywhere"));
  });
});

describe("the audit log", () => {
  it("records who, what, whom, when, from where and the outcome of every call, and pages newest first", async () => {
    const admin = await account("auditing-admin@example.com", ["admin"]);
    const target = await account("audited@example.com");
    s.clock.advance(1_000);
    await s.ops.admin.setRoles(admin.caller, target.id, ["support", "user"], adminClient);
    s.clock.advance(1_000);
    await s.ops.admin.disableUser(admin.caller, target.id, adminClient);
    s.clock.advance(1_000);
    await outcome(s.ops.admin.setRoles(admin.caller, target.id, ["nope"], adminClient));
    const at = s.clock.now();
    s.clock.advance(1_000);
    const page = await s.ops.admin.listAuditEvents(admin.caller, { pageSize: 2, pageToken: "", targetUserId: target.id }, adminClient);
    expect(page.items.map((e) => [e.action, e.outcome, e.detail])).toEqual([
      ["admin.users.set_roles", "INVALID_ARGUMENT", ""],
      ["admin.users.disable", "OK", "revoked_sessions=1"],
    ]);
    expect(page.items[0]).toMatchObject({
      at,
      actor: { kind: "user", id: admin.id, sessionId: admin.caller.sessionId },
      targetUserId: target.id,
      client: adminClient,
    });
    const rest = await s.ops.admin.listAuditEvents(
      admin.caller,
      { pageSize: 2, pageToken: page.nextPageToken, targetUserId: target.id },
      adminClient,
    );
    expect(rest.items.map((e) => [e.action, e.detail])).toEqual([["admin.users.set_roles", "roles=support,user"]]);
    expect(rest.nextPageToken).toBe("");
    // Reading the log is itself recorded.
    const latest = await s.store.audit.list({ targetUserId: null, before: null, limit: 1, now: s.clock.now() });
    expect(latest[0]?.action).toBe("admin.audit.list");
  });

  it("events expire after AUDIT_RETENTION_DAYS", async () => {
    const short = await startService({ EMAIL_VERIFICATION_REQUIRED: "false", AUDIT_RETENTION_DAYS: "1" });
    try {
      const { user, tokens } = await short.ops.accounts.register({ email: "a@example.com", password, displayName: "" }, short.client);
      await short.store.users.update(user.id, { roles: ["admin"] });
      const caller: Caller = { kind: "user", ...(await short.ops.sessions.authenticate({ bearer: tokens!.accessToken })) };
      await short.ops.admin.getUser(caller, user.id, adminClient);
      const [event] = await short.store.audit.list({ targetUserId: user.id, before: null, limit: 5, now: short.clock.now() });
      expect(event?.expiresAt.getTime()).toBe(event!.at.getTime() + 86_400_000);
      short.clock.advance(86_400_000);
      expect(await short.store.audit.list({ targetUserId: user.id, before: null, limit: 5, now: short.clock.now() })).toEqual([]);
    } finally {
      await short.close();
    }
  });
});

describe("ADMIN_EMAILS", () => {
  it("promotes the named account when its owner completes a password reset, not at verification nor at start-up", async () => {
    const a = await startService({ ADMIN_EMAILS: "Boss@Example.com, other@example.com" });
    try {
      // Someone registers the named address before its owner (account pre-hijacking), with a
      // password of their own; the owner, mailed the verification code, verifies it.
      const maker = "the maker's password, not the owner's";
      const { user } = await a.ops.accounts.register({ email: "boss@example.com", password: maker, displayName: "" }, a.client);
      expect(user.roles).toEqual(["user"]);
      await a.service.background.drain();
      const code = a.outbox.latest("boss@example.com", "email_verification")?.code;
      const verified = await a.ops.accounts.verifyEmail(code!);
      expect(verified.roles).toEqual(["user"]);
      // Nor does a start promote it, verified as it is.
      await startService({ ADMIN_EMAILS: "boss@example.com" }, a.store, a.clock);
      expect((await a.store.users.findByEmail("boss@example.com"))?.roles).toEqual(["user"]);
      const held = await a.ops.signIn.login({ email: "boss@example.com", password: maker, rememberMe: false }, a.client);
      if (held.state !== "signed_in") throw new Error("not signed in");
      // The owner resets the password: promoted, audited, and the maker's password and session are gone.
      await a.ops.accounts.requestPasswordReset("boss@example.com", a.client);
      await a.service.background.drain();
      const reset = a.outbox.latest("boss@example.com", "password_reset")?.code;
      await a.ops.accounts.resetPassword(reset!, password, a.client);
      expect((await a.store.users.findByEmail("boss@example.com"))?.roles).toEqual(["admin", "user"]);
      const [event] = await a.store.audit.list({ targetUserId: user.id, before: null, limit: 1, now: a.clock.now() });
      expect(event).toMatchObject({ action: "bootstrap.grant_admin", actor: { kind: "system" }, detail: "roles=admin,user" });
      expect(await outcome(a.ops.sessions.authenticate({ bearer: held.tokens.accessToken }))).toBe("SESSION_REVOKED");
      expect(await outcome(a.ops.signIn.login({ email: "boss@example.com", password: maker, rememberMe: false }, a.client))).toBe(
        "INVALID_CREDENTIALS",
      );
      // Someone else's address, never reset, stays a user across a restart.
      await a.ops.accounts.register({ email: "other@example.com", password, displayName: "" }, a.client);
      await startService({ ADMIN_EMAILS: "other@example.com" }, a.store, a.clock);
      expect((await a.store.users.findByEmail("other@example.com"))?.roles).toEqual(["user"]);
    } finally {
      await a.close();
    }
  });

  it("is validated at start-up", async () => {
    await expect(startService({ ADMIN_EMAILS: "not an email" })).rejects.toThrow(/ADMIN_EMAILS contains an invalid email address/);
    await expect(startService({ ADMIN_EMAILS: "a@example.com", ROLES: '{"user": []}' })).rejects.toThrow(
      /ADMIN_EMAILS grants the role "admin", which ROLES does not define/,
    );
  });
});
