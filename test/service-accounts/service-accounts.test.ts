// Service accounts at the level of their operations (no socket): who may manage them, what a key
// looks like and what is kept of it, and that a key stops working the moment it is revoked or
// rotated away.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AuthError } from "../../src/errors.ts";
import { apiKeyHash } from "../../src/service-accounts/keys.ts";
import type { Principal } from "../../src/service-accounts/principal.ts";
import { noReauthentication } from "../../src/two-factor/reauthentication.ts";
import { startService, type InProcess } from "../support/service.ts";
import { outcomeOf } from "../support/assertions.ts";

const password = "correct horse battery staple";
let s: InProcess;
let admin: Principal;
let plainUser: Principal;

const reason = outcomeOf;

/** A signed-in user's principal, as the transports build it from the access token. */
async function userPrincipal(email: string, roles?: string[]): Promise<Principal> {
  const { user, tokens } = await s.ops.accounts.register({ email, password, displayName: "" }, s.client);
  if (roles !== undefined) await s.store.users.update(user.id, { roles });
  return s.ops.principals.authenticate(tokens?.accessToken);
}

beforeAll(async () => {
  s = await startService({ EMAIL_VERIFICATION_REQUIRED: "false" });
  admin = await userPrincipal("admin@example.com", ["admin"]);
  plainUser = await userPrincipal("plain@example.com");
});
afterAll(() => s.close());

describe("creating a service account", () => {
  it("returns a key of the documented shape once, and stores only its hash", async () => {
    const { account, apiKey } = await s.ops.serviceAccounts.create(
      admin,
      { name: " billing ", permissions: ["tokens.introspect"] },
      s.client,
    );
    expect(apiKey).toMatch(/^authd_sk_[0-9a-f]{24}_[A-Za-z0-9_-]{43}$/);
    expect(apiKey.startsWith(account.keyPrefix)).toBe(true);
    expect(account.keyPrefix).toBe(`authd_sk_${account.id}_`);
    expect(account).toMatchObject({ name: "billing", permissions: ["tokens.introspect"], lastUsedAt: null, revokedAt: null });
    expect(account.createdBy).toBe(`user:${admin.kind === "user" ? admin.userId : ""}`);
    expect(Object.keys(account)).not.toContain("keyHash");
    const stored = await s.store.serviceAccounts.findById(account.id);
    expect(stored?.keyHash).toBe(apiKeyHash(apiKey));
    expect(JSON.stringify(stored)).not.toContain(apiKey.slice(account.keyPrefix.length));
  });

  it("is refused without service_accounts.manage, and nothing is stored", async () => {
    const before = (await s.store.serviceAccounts.list(1000)).length;
    expect(await reason(s.ops.serviceAccounts.create(plainUser, { name: "x", permissions: [] }, s.client))).toBe("PERMISSION_DENIED");
    expect(await reason(s.ops.serviceAccounts.list(plainUser, { pageSize: 0, pageToken: "" }, s.client))).toBe("PERMISSION_DENIED");
    expect((await s.store.serviceAccounts.list(1000)).length).toBe(before);
  });

  it("grants only configured permissions, and only those the creator holds", async () => {
    expect(await reason(s.ops.serviceAccounts.create(admin, { name: "x", permissions: ["no.such.permission"] }, s.client))).toBe(
      "INVALID_ARGUMENT",
    );
    // A service account that may manage service accounts but holds nothing else cannot mint a
    // more powerful one.
    const manager = await s.ops.serviceAccounts.create(admin, { name: "manager", permissions: ["service_accounts.manage"] }, s.client);
    const asManager = await s.ops.principals.authenticate(manager.apiKey);
    expect(asManager).toMatchObject({ kind: "service", accountId: manager.account.id });
    expect(await reason(s.ops.serviceAccounts.create(asManager, { name: "x", permissions: ["users.write"] }, s.client))).toBe(
      "PERMISSION_DENIED",
    );
    const made = await s.ops.serviceAccounts.create(asManager, { name: "child", permissions: ["service_accounts.manage"] }, s.client);
    expect(made.account.createdBy).toBe(`service:${manager.account.id}`);
  });

  it("a manager cannot rotate (and so take) the key of, or revoke, an account holding permissions it lacks", async () => {
    const powerful = await s.ops.serviceAccounts.create(admin, { name: "powerful", permissions: ["users.write"] }, s.client);
    const manager = await s.ops.serviceAccounts.create(admin, { name: "rotator", permissions: ["service_accounts.manage"] }, s.client);
    const asManager = await s.ops.principals.authenticate(manager.apiKey);
    expect(await reason(s.ops.serviceAccounts.rotateKey(asManager, powerful.account.id, noReauthentication, s.client))).toBe(
      "PERMISSION_DENIED",
    );
    expect(await reason(s.ops.serviceAccounts.revoke(asManager, powerful.account.id, s.client))).toBe("PERMISSION_DENIED");
    // The old key still works: nothing was rotated.
    expect((await s.ops.serviceAccounts.authenticate(powerful.apiKey)).accountId).toBe(powerful.account.id);
    // An account within the manager's own permissions may be rotated.
    const child = await s.ops.serviceAccounts.create(asManager, { name: "child2", permissions: ["service_accounts.manage"] }, s.client);
    expect(await reason(s.ops.serviceAccounts.rotateKey(asManager, child.account.id, noReauthentication, s.client))).toBe("OK");
    expect(await reason(s.ops.serviceAccounts.revoke(asManager, child.account.id, s.client))).toBe("OK");
  });

  it("refuses bad names", async () => {
    for (const name of ["", "   ", "a".repeat(101), "tab\there"]) {
      expect(await reason(s.ops.serviceAccounts.create(admin, { name, permissions: [] }, s.client))).toBe("INVALID_ARGUMENT");
    }
  });
});

describe("the audit log", () => {
  it("records every management call, refused ones included, and never a key", async () => {
    const input = { name: "audited", permissions: ["tokens.introspect"] };
    const { account, apiKey } = await s.ops.serviceAccounts.create(admin, input, s.client);
    // The log orders events by time: each call a millisecond after the last.
    s.clock.advance(1);
    await reason(s.ops.serviceAccounts.revoke(plainUser, account.id, s.client));
    s.clock.advance(1);
    await s.ops.serviceAccounts.rotateKey(admin, account.id, noReauthentication, s.client);
    s.clock.advance(1);
    await s.ops.serviceAccounts.revoke(admin, account.id, s.client);
    const events = (await s.store.audit.list({ targetUserId: null, before: null, limit: 100, now: s.clock.now() })).filter((e) =>
      e.detail.includes(`service_account=${account.id}`),
    );
    const adminId = admin.kind === "user" ? admin.userId : "";
    const plainId = plainUser.kind === "user" ? plainUser.userId : "";
    expect(events.map((e) => [e.action, e.outcome, e.actor.id]).reverse()).toEqual([
      ["service_accounts.create", "OK", adminId],
      ["service_accounts.revoke", "PERMISSION_DENIED", plainId],
      ["service_accounts.rotate_key", "OK", adminId],
      ["service_accounts.revoke", "OK", adminId],
    ]);
    expect(events.at(-1)?.detail).toBe(`service_account=${account.id} permissions=tokens.introspect`);
    expect(events[0]?.client).toEqual(s.client);
    expect(JSON.stringify(events)).not.toContain(apiKey.slice(account.keyPrefix.length));
  });

  it("names a service account that acts as the actor", async () => {
    const manager = await s.ops.serviceAccounts.create(admin, { name: "robot", permissions: ["service_accounts.manage"] }, s.client);
    const robot = await s.ops.principals.authenticate(manager.apiKey);
    s.clock.advance(1);
    await s.ops.serviceAccounts.list(robot, { pageSize: 1, pageToken: "" }, s.client);
    const [latest] = await s.store.audit.list({ targetUserId: null, before: null, limit: 1, now: s.clock.now() });
    expect(latest).toMatchObject({
      action: "service_accounts.list",
      outcome: "OK",
      actor: { kind: "service", id: manager.account.id, sessionId: "" },
    });
  });
});

describe("authenticating with a key", () => {
  it("gives the account's permissions, and records its use about once a minute", async () => {
    const { account, apiKey } = await s.ops.serviceAccounts.create(admin, { name: "svc", permissions: ["tokens.introspect"] }, s.client);
    const caller = await s.ops.serviceAccounts.authenticate(apiKey);
    expect(caller).toEqual({ kind: "service", accountId: account.id, name: "svc", permissions: ["tokens.introspect"] });
    const firstUse = (await s.store.serviceAccounts.findById(account.id))?.lastUsedAt;
    expect(firstUse).toEqual(s.clock.now());
    s.clock.advance(30_000);
    await s.ops.serviceAccounts.authenticate(apiKey);
    expect((await s.store.serviceAccounts.findById(account.id))?.lastUsedAt).toEqual(firstUse);
    s.clock.advance(31_000);
    await s.ops.serviceAccounts.authenticate(apiKey);
    expect((await s.store.serviceAccounts.findById(account.id))?.lastUsedAt).toEqual(s.clock.now());
  });

  it("refuses every other key with the same INVALID_TOKEN", async () => {
    const { account, apiKey } = await s.ops.serviceAccounts.create(admin, { name: "svc", permissions: [] }, s.client);
    const other = await s.ops.serviceAccounts.create(admin, { name: "other", permissions: [] }, s.client);
    const secret = apiKey.slice(account.keyPrefix.length);
    const flipped = `${account.keyPrefix}${secret[0] === "A" ? "B" : "A"}${secret.slice(1)}`;
    const bad = [
      flipped,
      `${other.account.keyPrefix}${secret}`, // a real secret under another account's id
      `authd_sk_${"0".repeat(24)}_${secret}`, // an id no account has
      `${apiKey}x`,
      "authd_sk_",
      "authd_sk_nothex",
    ];
    const messages = new Set<string>();
    for (const key of bad) {
      const err = await s.ops.serviceAccounts.authenticate(key).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AuthError);
      expect((err as AuthError).reason).toBe("INVALID_TOKEN");
      messages.add((err as AuthError).message);
    }
    expect([...messages]).toHaveLength(1);
  });

  it("stops at once when the account is revoked, and revoking twice is NOT_FOUND", async () => {
    const { account, apiKey } = await s.ops.serviceAccounts.create(admin, { name: "svc", permissions: [] }, s.client);
    await s.ops.serviceAccounts.authenticate(apiKey);
    const revoked = await s.ops.serviceAccounts.revoke(admin, account.id, s.client);
    expect(revoked.revokedAt).toEqual(s.clock.now());
    expect(await reason(s.ops.serviceAccounts.authenticate(apiKey))).toBe("INVALID_TOKEN");
    expect(await reason(s.ops.serviceAccounts.revoke(admin, account.id, s.client))).toBe("NOT_FOUND");
    expect(await reason(s.ops.serviceAccounts.rotateKey(admin, account.id, noReauthentication, s.client))).toBe("NOT_FOUND");
    expect(await reason(s.ops.serviceAccounts.revoke(admin, "0".repeat(24), s.client))).toBe("NOT_FOUND");
    expect(await reason(s.ops.serviceAccounts.revoke(admin, "not-one-of-ours", s.client))).toBe("NOT_FOUND");
    expect(await reason(s.ops.serviceAccounts.revoke(admin, "", s.client))).toBe("INVALID_ARGUMENT");
    expect(await reason(s.ops.serviceAccounts.revoke(plainUser, account.id, s.client))).toBe("PERMISSION_DENIED");
  });

  it("a rotated key replaces the old one at once", async () => {
    const { account, apiKey } = await s.ops.serviceAccounts.create(admin, { name: "svc", permissions: [] }, s.client);
    s.clock.advance(1_000);
    const rotated = await s.ops.serviceAccounts.rotateKey(admin, account.id, noReauthentication, s.client);
    expect(rotated.apiKey).not.toBe(apiKey);
    expect(rotated.account.keyCreatedAt).toEqual(s.clock.now());
    expect(await reason(s.ops.serviceAccounts.authenticate(apiKey))).toBe("INVALID_TOKEN");
    expect((await s.ops.serviceAccounts.authenticate(rotated.apiKey)).accountId).toBe(account.id);
  });
});

describe("listing", () => {
  it("pages newest first with page tokens, revoked accounts included", async () => {
    const fresh = await startService({ EMAIL_VERIFICATION_REQUIRED: "false" });
    try {
      const { tokens, user } = await fresh.ops.accounts.register({ email: "a@example.com", password, displayName: "" }, fresh.client);
      await fresh.store.users.update(user.id, { roles: ["admin"] });
      const boss = await fresh.ops.principals.authenticate(tokens?.accessToken);
      const made: string[] = [];
      for (const name of ["one", "two", "three"]) {
        made.unshift((await fresh.ops.serviceAccounts.create(boss, { name, permissions: [] }, fresh.client)).account.id);
        fresh.clock.advance(1_000);
      }
      await fresh.ops.serviceAccounts.revoke(boss, made[1] as string, fresh.client);
      const first = await fresh.ops.serviceAccounts.list(boss, { pageSize: 2, pageToken: "" }, fresh.client);
      expect(first.accounts.map((a) => a.id)).toEqual(made.slice(0, 2));
      expect(first.accounts[1]?.revokedAt).not.toBeNull();
      const second = await fresh.ops.serviceAccounts.list(boss, { pageSize: 2, pageToken: first.nextPageToken }, fresh.client);
      expect(second.accounts.map((a) => a.id)).toEqual(made.slice(2));
      expect(second.nextPageToken).toBe("");
      expect((await fresh.ops.serviceAccounts.list(boss, { pageSize: 0, pageToken: "" }, fresh.client)).accounts).toHaveLength(3);
      // AIP-158: more than the maximum is the maximum.
      expect((await fresh.ops.serviceAccounts.list(boss, { pageSize: 1000, pageToken: "" }, fresh.client)).accounts).toHaveLength(3);
      // A page token is signed for this list: altered, or one of AdminService.ListUsers', it is refused.
      const [body, mac] = first.nextPageToken.split(".") as [string, string];
      const users = await fresh.ops.admin.listUsers(boss as never, { pageSize: 1, pageToken: "", emailPrefix: "" }, fresh.client);
      for (const bad of [
        { pageSize: -1, pageToken: "" },
        { pageSize: 2, pageToken: "garbage!" },
        { pageSize: 2, pageToken: `${body}x.${mac}` },
        { pageSize: 2, pageToken: users.nextPageToken || "x.y" },
      ]) {
        expect(await reason(fresh.ops.serviceAccounts.list(boss, bad, fresh.client))).toBe("INVALID_ARGUMENT");
      }
    } finally {
      await fresh.close();
    }
  });
});

// A key outlives the session that made it: a user who makes one proves who they are, as for other
// high-value changes, and is mailed; a service's key is its own proof.
describe("making a key", () => {
  it("by a user signed in longer ago than REAUTH_MAX_AGE_SECONDS needs the password; nothing is made without it", async () => {
    const owner = await userPrincipal("key-maker@example.com", ["admin"]);
    const made = await s.ops.serviceAccounts.create(owner, { name: "fresh", permissions: [] }, s.client);
    s.clock.advance(601_000);
    const before = (await s.store.serviceAccounts.list(1000)).length;
    expect(await reason(s.ops.serviceAccounts.create(owner, { name: "stale", permissions: [] }, s.client))).toBe(
      "REAUTHENTICATION_REQUIRED",
    );
    expect(await reason(s.ops.serviceAccounts.rotateKey(owner, made.account.id, noReauthentication, s.client))).toBe(
      "REAUTHENTICATION_REQUIRED",
    );
    const wrong = { ...noReauthentication, password: "not the password at all" };
    expect(await reason(s.ops.serviceAccounts.create(owner, { name: "stale", permissions: [], reauthentication: wrong }, s.client))).toBe(
      "INVALID_CREDENTIALS",
    );
    expect((await s.store.serviceAccounts.list(1000)).length).toBe(before);
    // An unknown or revoked account is NOT_FOUND before the proof is looked at: no guess spent.
    const revoked = await s.ops.serviceAccounts.create(
      owner,
      { name: "gone", permissions: [], reauthentication: { ...noReauthentication, password } },
      s.client,
    );
    await s.ops.serviceAccounts.revoke(owner, revoked.account.id, s.client);
    for (const id of ["0123456789abcdef01234567", revoked.account.id]) {
      expect(await reason(s.ops.serviceAccounts.rotateKey(owner, id, wrong, s.client))).toBe("NOT_FOUND");
    }
    // The old key still works: the refused rotation changed nothing.
    expect((await s.ops.principals.authenticate(made.apiKey)).kind).toBe("service");

    const proof = { ...noReauthentication, password };
    expect(await reason(s.ops.serviceAccounts.create(owner, { name: "proven", permissions: [], reauthentication: proof }, s.client))).toBe(
      "OK",
    );
    expect(await reason(s.ops.serviceAccounts.rotateKey(owner, made.account.id, proof, s.client))).toBe("OK");
  });

  it("by a service needs no proof: its key is one", async () => {
    const creator = await userPrincipal("service-maker@example.com", ["admin"]);
    const { apiKey } = await s.ops.serviceAccounts.create(creator, { name: "manager", permissions: ["service_accounts.manage"] }, s.client);
    const manager = await s.ops.principals.authenticate(apiKey);
    s.clock.advance(3_600_000);
    const child = await s.ops.serviceAccounts.create(manager, { name: "child", permissions: [] }, s.client);
    expect(await reason(s.ops.serviceAccounts.rotateKey(manager, child.account.id, noReauthentication, s.client))).toBe("OK");
  });

  it("mails the user who made it, without the key", async () => {
    const email = "mailed-maker@example.com";
    const owner = await userPrincipal(email, ["admin"]);
    const { account, apiKey } = await s.ops.serviceAccounts.create(owner, { name: "mailed", permissions: [] }, s.client);
    const rotated = await s.ops.serviceAccounts.rotateKey(owner, account.id, noReauthentication, s.client);
    await s.service.background.drain();
    const mails = s.outbox.all(email, "security_notification");
    expect(mails.map((m) => m.notification)).toEqual(["service_account_key_issued", "service_account_key_issued"]);
    for (const mail of mails) {
      for (const key of [apiKey, rotated.apiKey]) expect(mail.text).not.toContain(key.slice(account.keyPrefix.length));
    }
  });
});

describe("a permission the configuration no longer knows", () => {
  it("is held by no account: not at authentication, not in introspection, and it does not stop a revocation", async () => {
    const roles = (extra: string[]) =>
      JSON.stringify({
        user: [],
        admin: ["users.read", "users.write", "service_accounts.manage", "tokens.introspect", "audit.read", ...extra],
      });
    const before = await startService({ EMAIL_VERIFICATION_REQUIRED: "false", ROLES: roles(["billing.refund"]) }, undefined);
    const { user, tokens } = await before.ops.accounts.register({ email: "roles@example.com", password, displayName: "" }, before.client);
    await before.store.users.update(user.id, { roles: ["admin"] });
    const boss = await before.ops.principals.authenticate(tokens?.accessToken);
    const made = await before.ops.serviceAccounts.create(
      boss,
      { name: "refunds", permissions: ["billing.refund", "users.read"] },
      before.client,
    );

    // The operator takes billing.refund out of ROLES and restarts on the same store.
    const after = await startService({ EMAIL_VERIFICATION_REQUIRED: "false", ROLES: roles([]) }, before.store, before.clock);
    const service = await after.ops.principals.authenticate(made.apiKey);
    expect(service.permissions).toEqual(["users.read"]);
    const gateway = await after.ops.serviceAccounts.create(boss, { name: "gw", permissions: ["tokens.introspect"] }, after.client);
    const seen = await after.ops.introspection.introspect(await after.ops.principals.authenticate(gateway.apiKey), { token: made.apiKey });
    expect(seen).toMatchObject({ active: true, permissions: ["users.read"] });
    expect(await reason(after.ops.serviceAccounts.revoke(boss, made.account.id, after.client))).toBe("OK");
    await after.close();
  });
});
