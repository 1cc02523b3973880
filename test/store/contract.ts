// The one suite every storage adapter must pass. It exercises every method and rule of
// src/store/port.ts. Each test gets a fresh store from `makeStore` (closed afterwards) and uses
// unique ids and emails, so tests stay independent even when stores share a database.

import { randomUUID } from "node:crypto";
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import { DuplicateEmailError, DuplicateProviderLinkError } from "../../src/store/errors.ts";
import { credentialGeneration } from "../../src/store/port.ts";
import type {
  AuditEventRecord,
  CodePurpose,
  CodeRecord,
  PasskeyRecord,
  ProviderLinkRecord,
  RefreshTokenRecord,
  ServiceAccountRecord,
  SessionRecord,
  Store,
  TwoFactorRecord,
  UserRecord,
} from "../../src/store/port.ts";

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;

function uid(prefix: string): string {
  return `${prefix}_${randomUUID()}`;
}

/** A hex string shaped like a SHA-256 hash, unique per call. */
function hash(): string {
  return (randomUUID() + randomUUID()).replaceAll("-", "");
}

function at(base: Date, offsetMs: number): Date {
  return new Date(base.getTime() + offsetMs);
}

const DAY = 24 * HOUR;

/** Spends a refresh token without shortening its life (the shortening has its own test). */
function spend(store: Store, tokenHash: string, when: Date) {
  return store.refreshTokens.consume(tokenHash, when, at(when, 365 * DAY));
}

/** A user record for a store's own tests: an unknown address, a password hash, the default role. */
export function makeUser(now: Date, overrides: Partial<UserRecord> = {}): UserRecord {
  return {
    id: uid("usr"),
    email: `${randomUUID()}@example.test`,
    emailVerified: false,
    emailVerifiedAt: null,
    displayName: "Ada Lovelace",
    passwordHash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo",
    passwordUpdatedAt: at(now, -HOUR),
    createdAt: at(now, -HOUR),
    updatedAt: at(now, -HOUR),
    sessionCutoff: { generation: 0, keptSessionId: null },
    twoFactorCutoffRaises: 0,
    roles: ["user"],
    disabledAt: null,
    ...overrides,
  };
}

function makeSession(userId: string, now: Date, overrides: Partial<SessionRecord> = {}): SessionRecord {
  return {
    id: uid("ses"),
    userId,
    userAgent: "contract-test/1.0",
    ipAddress: "192.0.2.1",
    rememberMe: false,
    createdAt: at(now, -MINUTE),
    lastActiveAt: at(now, -MINUTE),
    expiresAt: at(now, HOUR),
    revokedAt: null,
    generations: { user: 2, twoFactor: 7 }, // non-zero, so a round trip that drops them shows
    ...overrides,
  };
}

function makeRefresh(userId: string, sessionId: string, now: Date, overrides: Partial<RefreshTokenRecord> = {}): RefreshTokenRecord {
  return {
    tokenHash: hash(),
    sessionId,
    userId,
    createdAt: at(now, -MINUTE),
    expiresAt: at(now, HOUR),
    consumedAt: null,
    successor: null,
    ...overrides,
  };
}

function makeCode(userId: string, purpose: CodePurpose, now: Date, overrides: Partial<CodeRecord> = {}): CodeRecord {
  return {
    codeHash: hash(),
    purpose,
    userId,
    createdAt: at(now, -MINUTE),
    expiresAt: at(now, 15 * MINUTE),
    ...overrides,
  };
}

function makeServiceAccount(now: Date, overrides: Partial<ServiceAccountRecord> = {}): ServiceAccountRecord {
  return {
    id: randomUUID().replaceAll("-", "").slice(0, 24),
    name: "billing",
    permissions: ["tokens.introspect", "users.read"],
    keyHash: hash(),
    keyCreatedAt: at(now, -MINUTE),
    createdBy: "user:admin",
    createdAt: at(now, -MINUTE),
    lastUsedAt: null,
    revokedAt: null,
    ...overrides,
  };
}

export function storageContract(name: string, makeStore: () => Promise<Store>, cleanup?: () => Promise<void>): void {
  describe(`storage contract: ${name}`, () => {
    let store: Store;
    /** The test's reference instant. Records are placed relative to it; reads pass explicit `now`s. */
    let now: Date;

    beforeEach(async () => {
      store = await makeStore();
      now = new Date();
    });

    afterEach(async () => {
      await store.close();
    });

    if (cleanup !== undefined) afterAll(cleanup);

    describe("store", () => {
      it("reports its kind", () => {
        expect(["memory", "mongodb"]).toContain(store.kind);
      });

      it("ping resolves", async () => {
        await expect(store.ping()).resolves.toBeUndefined();
      });
    });

    describe("service accounts", () => {
      it("inserts and finds one by id, every field kept; a second insert of the id fails", async () => {
        const account = makeServiceAccount(now, { lastUsedAt: at(now, -SECOND) });
        await store.serviceAccounts.insert(account);
        expect(await store.serviceAccounts.findById(account.id)).toEqual(account);
        expect(await store.serviceAccounts.findById("000000000000000000000000")).toBeNull();
        await expect(store.serviceAccounts.insert({ ...account, name: "other" })).rejects.toThrow();
        expect((await store.serviceAccounts.findById(account.id))?.name).toBe("billing");
      });

      it("returns copies", async () => {
        const account = makeServiceAccount(now);
        await store.serviceAccounts.insert(account);
        const copy = await store.serviceAccounts.findById(account.id);
        copy?.permissions.push("everything");
        account.permissions.push("more");
        expect((await store.serviceAccounts.findById(account.id))?.permissions).toEqual(["tokens.introspect", "users.read"]);
      });

      it("replaces the key of an active account atomically, and never of a revoked one", async () => {
        const account = makeServiceAccount(now);
        await store.serviceAccounts.insert(account);
        const rotated = await store.serviceAccounts.replaceKey(account.id, "new-hash", now);
        expect(rotated).toEqual({ ...account, keyHash: "new-hash", keyCreatedAt: now });
        expect(await store.serviceAccounts.findById(account.id)).toEqual(rotated);
        expect(await store.serviceAccounts.replaceKey("000000000000000000000000", "x", now)).toBeNull();

        const revoked = await store.serviceAccounts.revoke(account.id, at(now, SECOND));
        expect(revoked).toEqual({ ...rotated, revokedAt: at(now, SECOND) });
        expect(await store.serviceAccounts.replaceKey(account.id, "after-revoke", at(now, 2 * SECOND))).toBeNull();
        expect((await store.serviceAccounts.findById(account.id))?.keyHash).toBe("new-hash");
      });

      it("revokes once: of concurrent revocations exactly one gets the account", async () => {
        const account = makeServiceAccount(now);
        await store.serviceAccounts.insert(account);
        const results = await Promise.all(Array.from({ length: 5 }, () => store.serviceAccounts.revoke(account.id, now)));
        expect(results.filter((r) => r !== null)).toEqual([{ ...account, revokedAt: now }]);
        expect(await store.serviceAccounts.revoke("000000000000000000000000", now)).toBeNull();
      });

      it("touches lastUsedAt of an active account only", async () => {
        const active = makeServiceAccount(now);
        const revoked = makeServiceAccount(now, { revokedAt: at(now, -SECOND) });
        await store.serviceAccounts.insert(active);
        await store.serviceAccounts.insert(revoked);
        await store.serviceAccounts.touch(active.id, now);
        await store.serviceAccounts.touch(revoked.id, now);
        await store.serviceAccounts.touch("000000000000000000000000", now);
        expect((await store.serviceAccounts.findById(active.id))?.lastUsedAt).toEqual(now);
        expect((await store.serviceAccounts.findById(revoked.id))?.lastUsedAt).toBeNull();
      });

      it("lists newest first, a page at a time, ties broken by id", async () => {
        // A far-future base, so accounts other tests left in a shared database sort after these.
        const base = at(now, 1000 * DAY);
        const same = at(base, -HOUR);
        const accounts = [
          makeServiceAccount(now, { createdAt: base }),
          makeServiceAccount(now, { id: "ffffffffffffffffffff0002", createdAt: same }),
          makeServiceAccount(now, { id: "ffffffffffffffffffff0001", createdAt: same, revokedAt: now }),
          makeServiceAccount(now, { createdAt: at(base, -2 * HOUR) }),
        ];
        for (const a of [accounts[2], accounts[0], accounts[3], accounts[1]]) await store.serviceAccounts.insert(a as ServiceAccountRecord);
        const first = await store.serviceAccounts.list(2);
        expect(first).toEqual(accounts.slice(0, 2));
        const last = first[1] as ServiceAccountRecord;
        const second = await store.serviceAccounts.list(2, { createdAt: last.createdAt, id: last.id });
        expect(second).toEqual(accounts.slice(2, 4));
      });
    });

    describe("users", () => {
      it("inserts and finds a user by id and by email", async () => {
        const user = makeUser(now);
        await store.users.insert(user);
        expect(await store.users.findById(user.id)).toEqual(user);
        expect(await store.users.findByEmail(user.email)).toEqual(user);
      });

      it("stores a null password hash and null passwordUpdatedAt", async () => {
        const user = makeUser(now, { passwordHash: null, passwordUpdatedAt: null });
        await store.users.insert(user);
        expect(await store.users.findById(user.id)).toEqual(user);
      });

      it("stores roles and patches them like any other field; a copy is returned", async () => {
        const user = makeUser(now, { roles: ["admin", "user"] });
        await store.users.insert(user);
        expect((await store.users.findById(user.id))!.roles).toEqual(["admin", "user"]);
        const updated = await store.users.update(user.id, { roles: ["support"], updatedAt: at(now, MINUTE) });
        expect(updated).toEqual({ ...user, roles: ["support"], updatedAt: at(now, MINUTE) });
        updated!.roles.push("mutated");
        expect(await store.users.findByEmail(user.email)).toEqual({ ...user, roles: ["support"], updatedAt: at(now, MINUTE) });
      });

      it("returns null for an unknown id or email", async () => {
        expect(await store.users.findById(uid("usr"))).toBeNull();
        expect(await store.users.findByEmail(`${randomUUID()}@example.test`)).toBeNull();
      });

      it("rejects a second user with the same email with DuplicateEmailError and keeps the first", async () => {
        const first = makeUser(now);
        await store.users.insert(first);
        const second = makeUser(now, { email: first.email, displayName: "Impostor" });
        await expect(store.users.insert(second)).rejects.toBeInstanceOf(DuplicateEmailError);
        expect(await store.users.findByEmail(first.email)).toEqual(first);
        expect(await store.users.findById(second.id)).toBeNull();
      });

      it("lets exactly one of two concurrent inserts with the same email win", async () => {
        const email = `${randomUUID()}@example.test`;
        const a = makeUser(now, { email, displayName: "A" });
        const b = makeUser(now, { email, displayName: "B" });
        const results = await Promise.allSettled([store.users.insert(a), store.users.insert(b)]);
        const fulfilled = results.filter((r) => r.status === "fulfilled");
        const rejected = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
        expect(fulfilled).toHaveLength(1);
        expect(rejected).toHaveLength(1);
        expect(rejected[0]?.reason).toBeInstanceOf(DuplicateEmailError);

        const winner = results[0]?.status === "fulfilled" ? a : b;
        const loser = winner === a ? b : a;
        expect(await store.users.findByEmail(email)).toEqual(winner);
        expect(await store.users.findById(loser.id)).toBeNull();
      });

      it("updates the patched fields, keeps the others, and returns the updated user", async () => {
        const user = makeUser(now);
        await store.users.insert(user);
        const patch = {
          emailVerified: true,
          emailVerifiedAt: at(now, -MINUTE),
          displayName: "Countess of Lovelace",
          updatedAt: at(now, 0),
        };
        const expected: UserRecord = { ...user, ...patch };
        expect(await store.users.update(user.id, patch)).toEqual(expected);
        expect(await store.users.findById(user.id)).toEqual(expected);
        expect(await store.users.findByEmail(user.email)).toEqual(expected);
      });

      it("can set the password hash to null (credential unlinked) and back", async () => {
        const user = makeUser(now);
        await store.users.insert(user);
        const unlinked = await store.users.update(user.id, { passwordHash: null, passwordUpdatedAt: null });
        expect(unlinked).toEqual({ ...user, passwordHash: null, passwordUpdatedAt: null });
        const relinked = await store.users.update(user.id, { passwordHash: "$argon2id$new", passwordUpdatedAt: now });
        expect(relinked).toEqual({ ...user, passwordHash: "$argon2id$new", passwordUpdatedAt: now });
      });

      it("an empty patch changes nothing and returns the user", async () => {
        const user = makeUser(now);
        await store.users.insert(user);
        expect(await store.users.update(user.id, {})).toEqual(user);
        expect(await store.users.findById(user.id)).toEqual(user);
      });

      it("update of an unknown user returns null and creates nothing", async () => {
        const id = uid("usr");
        expect(await store.users.update(id, { displayName: "Ghost" })).toBeNull();
        expect(await store.users.findById(id)).toBeNull();
      });

      it("deletes a user, reports whether it did, and frees the email", async () => {
        const user = makeUser(now);
        await store.users.insert(user);
        expect(await store.users.delete(user.id)).toBe(true);
        expect(await store.users.findById(user.id)).toBeNull();
        expect(await store.users.findByEmail(user.email)).toBeNull();
        expect(await store.users.delete(user.id)).toBe(false);

        const again = makeUser(now, { email: user.email });
        await store.users.insert(again);
        expect(await store.users.findByEmail(user.email)).toEqual(again);
      });

      it("returns copies: mutating inputs or results never changes what is stored", async () => {
        const user = makeUser(now);
        const original = structuredClone(user);
        await store.users.insert(user);
        user.displayName = "mutated input";
        user.createdAt.setTime(0);

        const found = await store.users.findById(user.id);
        expect(found).toEqual(original);
        if (found === null) throw new Error("unreachable");
        found.displayName = "mutated result";
        found.updatedAt.setTime(0);
        found.emailVerified = true;
        found.sessionCutoff.generation = 99;

        const byEmail = await store.users.findByEmail(original.email);
        expect(byEmail).toEqual(original);
        if (byEmail === null) throw new Error("unreachable");
        byEmail.email = "someone-else@example.test";

        const updated = await store.users.update(original.id, { displayName: "patched" });
        if (updated === null) throw new Error("unreachable");
        updated.displayName = "mutated update result";
        updated.sessionCutoff.keptSessionId = "mutated";
        updated.passwordUpdatedAt?.setTime(0);

        expect(await store.users.findById(original.id)).toEqual({ ...original, displayName: "patched" });
        expect(await store.users.findByEmail(original.email)).toEqual({ ...original, displayName: "patched" });
      });

      it("update with endSessions raises the session cutoff in the same write as the patch", async () => {
        const user = makeUser(now);
        await store.users.insert(user);
        const later = at(now, MINUTE);
        const kept = uid("ses");
        const changed = await store.users.update(
          user.id,
          { passwordHash: "$argon2id$changed", updatedAt: later },
          { endSessions: { keep: kept } },
        );
        expect(changed).toEqual({
          ...user,
          passwordHash: "$argon2id$changed",
          updatedAt: later,
          sessionCutoff: { generation: 1, keptSessionId: kept },
        });
        expect(await store.users.findById(user.id)).toEqual(changed);
        // A second change, keeping no one; combined with ifPasswordHash, a stale writer changes nothing.
        expect(await store.users.update(user.id, {}, { ifPasswordHash: "$argon2id$stale", endSessions: { keep: null } })).toBeNull();
        const reset = await store.users.update(
          user.id,
          { passwordHash: "$argon2id$reset" },
          { ifPasswordHash: "$argon2id$changed", endSessions: { keep: null } },
        );
        expect(reset!.sessionCutoff).toEqual({ generation: 2, keptSessionId: null });
        // A cutoff alone (an empty patch) is still a write.
        const alone = await store.users.update(user.id, {}, { endSessions: { keep: kept } });
        expect(alone!.sessionCutoff).toEqual({ generation: 3, keptSessionId: kept });
        expect(await store.users.update(uid("usr"), {}, { endSessions: { keep: null } })).toBeNull();
      });

      it("concurrent cutoffs are each counted", async () => {
        const user = makeUser(now);
        await store.users.insert(user);
        await Promise.all(Array.from({ length: 8 }, () => store.users.update(user.id, {}, { endSessions: { keep: null } })));
        expect((await store.users.findById(user.id))!.sessionCutoff.generation).toBe(8);
      });

      it("update with ifSessionPasses applies only while the cutoff still lets that session through", async () => {
        const user = makeUser(now);
        await store.users.insert(user);
        const [old, kept, newer] = [uid("ses"), uid("ses"), uid("ses")];
        // No cutoff yet: every session passes.
        const first = await store.users.update(
          user.id,
          {},
          { ifSessionPasses: { sessionId: old, generation: 0 }, endSessions: { keep: kept } },
        );
        expect(first!.sessionCutoff).toEqual({ generation: 1, keptSessionId: kept });
        // Ended by that change: refused, and nothing is written.
        expect(
          await store.users.update(
            user.id,
            { displayName: "stale" },
            { ifSessionPasses: { sessionId: old, generation: 0 }, endSessions: { keep: old } },
          ),
        ).toBeNull();
        expect(await store.users.findById(user.id)).toEqual(first);
        // The kept session passes, whatever its generation; so does one opened under the new generation.
        const second = await store.users.update(
          user.id,
          {},
          { ifSessionPasses: { sessionId: kept, generation: 0 }, endSessions: { keep: kept } },
        );
        expect(second!.sessionCutoff).toEqual({ generation: 2, keptSessionId: kept });
        const third = await store.users.update(
          user.id,
          {},
          { ifSessionPasses: { sessionId: newer, generation: 2 }, endSessions: { keep: newer } },
        );
        expect(third!.sessionCutoff).toEqual({ generation: 3, keptSessionId: newer });
        // Now the first kept one is behind, and no longer kept.
        expect(
          await store.users.update(user.id, {}, { ifSessionPasses: { sessionId: kept, generation: 0 }, endSessions: { keep: kept } }),
        ).toBeNull();
        expect((await store.users.findById(user.id))!.sessionCutoff).toEqual({ generation: 3, keptSessionId: newer });
        expect(await store.users.update(uid("usr"), {}, { ifSessionPasses: { sessionId: newer, generation: 3 } })).toBeNull();
      });

      it("update with ifPasswordHash and ifSessionPasses together applies only while both hold", async () => {
        const user = makeUser(now);
        await store.users.insert(user);
        const [old, kept] = [uid("ses"), uid("ses")];
        const ended = await store.users.update(user.id, {}, { endSessions: { keep: kept } });
        const remove = { passwordHash: null, passwordUpdatedAt: null };
        // The hash still holds, the session does not.
        expect(
          await store.users.update(user.id, remove, {
            ifPasswordHash: user.passwordHash,
            ifSessionPasses: { sessionId: old, generation: 0 },
            endSessions: { keep: old },
          }),
        ).toBeNull();
        // The session passes, the hash is another.
        expect(
          await store.users.update(user.id, remove, {
            ifPasswordHash: "$argon2id$other",
            ifSessionPasses: { sessionId: kept, generation: 0 },
            endSessions: { keep: kept },
          }),
        ).toBeNull();
        expect(await store.users.findById(user.id)).toEqual(ended);
        const both = await store.users.update(user.id, remove, {
          ifPasswordHash: user.passwordHash,
          ifSessionPasses: { sessionId: kept, generation: 0 },
          endSessions: { keep: kept },
        });
        expect(both).toMatchObject({ passwordHash: null, sessionCutoff: { generation: 2, keptSessionId: kept } });
      });

      it("update with ifRoles applies only while the stored roles are still exactly those", async () => {
        const user = makeUser(now, { roles: ["admin", "user"] });
        await store.users.insert(user);
        const later = at(now, MINUTE);
        const disable = { disabledAt: later, updatedAt: later };
        // Fewer, more, or the same names in another order: not the roles as read, and nothing is written.
        for (const stale of [["user"], ["admin"], ["admin", "support", "user"], ["user", "admin"], []]) {
          expect(await store.users.update(user.id, disable, { ifRoles: stale, endSessions: { keep: null } }), stale.join()).toBeNull();
        }
        expect(await store.users.findById(user.id)).toEqual(user);
        const landed = await store.users.update(user.id, disable, { ifRoles: ["admin", "user"], endSessions: { keep: null } });
        expect(landed).toEqual({ ...user, ...disable, sessionCutoff: { generation: 1, keptSessionId: null } });
        // Roles written in the meantime make the roles read before them stale.
        await store.users.update(user.id, { roles: ["user"] });
        expect(await store.users.update(user.id, { disabledAt: null }, { ifRoles: ["admin", "user"] })).toBeNull();
        expect((await store.users.update(user.id, { disabledAt: null }, { ifRoles: ["user"] }))!.disabledAt).toBeNull();
        expect(await store.users.update(uid("usr"), { disabledAt: null }, { ifRoles: ["user"] })).toBeNull();
      });

      it("update with ifRoles and a two-factor change's endSessions raises neither count on a miss, both on a hit", async () => {
        // AdminService's ResetSecondFactor decides the reset with this write (src/admin/admin.ts).
        const user = makeUser(now, {
          roles: ["support", "user"],
          sessionCutoff: { generation: 2, keptSessionId: null },
          twoFactorCutoffRaises: 1,
        });
        await store.users.insert(user);
        const endSessions = { keep: null, twoFactorChange: true };
        expect(await store.users.update(user.id, { updatedAt: at(now, MINUTE) }, { ifRoles: ["user"], endSessions })).toBeNull();
        expect(await store.users.findById(user.id)).toEqual(user);
        const landed = await store.users.update(user.id, { updatedAt: at(now, MINUTE) }, { ifRoles: ["support", "user"], endSessions });
        expect(landed).toEqual({
          ...user,
          updatedAt: at(now, MINUTE),
          sessionCutoff: { generation: 3, keptSessionId: null },
          twoFactorCutoffRaises: 2,
        });
      });

      it("update with ifRoles and ifSessionPasses together applies only while both hold", async () => {
        const user = makeUser(now, { roles: ["support", "user"] });
        await store.users.insert(user);
        const [old, kept] = [uid("ses"), uid("ses")];
        const ended = await store.users.update(user.id, {}, { endSessions: { keep: kept } });
        const patch = { displayName: "changed" };
        expect(
          await store.users.update(user.id, patch, { ifRoles: ["support", "user"], ifSessionPasses: { sessionId: old, generation: 0 } }),
        ).toBeNull();
        expect(
          await store.users.update(user.id, patch, { ifRoles: ["user"], ifSessionPasses: { sessionId: kept, generation: 0 } }),
        ).toBeNull();
        expect(await store.users.findById(user.id)).toEqual(ended);
        const both = await store.users.update(user.id, patch, {
          ifRoles: ["support", "user"],
          ifSessionPasses: { sessionId: kept, generation: 0 },
        });
        expect(both).toEqual({ ...ended, ...patch });
      });

      it("update with endSessions for a two-factor change counts that raise in twoFactorCutoffRaises, in the same write", async () => {
        const user = makeUser(now, { sessionCutoff: { generation: 4, keptSessionId: null }, twoFactorCutoffRaises: 1 });
        await store.users.insert(user);
        expect(await store.users.findById(user.id)).toEqual(user);
        const [old, kept] = [uid("ses"), uid("ses")];
        const twoFactorChange = (sessionId: string, generation: number) =>
          store.users.update(
            user.id,
            { updatedAt: at(now, MINUTE) },
            { ifSessionPasses: { sessionId, generation }, endSessions: { keep: sessionId, twoFactorChange: true } },
          );
        const raised = await twoFactorChange(kept, 4);
        expect(raised).toEqual({
          ...user,
          updatedAt: at(now, MINUTE),
          sessionCutoff: { generation: 5, keptSessionId: kept },
          twoFactorCutoffRaises: 2,
        });
        // What binds to the credentials (device tokens, sign-in challenges) does not move with it.
        expect(credentialGeneration(raised!)).toBe(credentialGeneration(user));
        // Refused (the session no longer passes): neither moves.
        expect(await twoFactorChange(old, 4)).toBeNull();
        expect(await store.users.findById(user.id)).toEqual(raised);
        // Any other raise leaves the count as it is.
        const ended = await store.users.update(user.id, {}, { endSessions: { keep: null } });
        expect(ended).toMatchObject({ sessionCutoff: { generation: 6, keptSessionId: null }, twoFactorCutoffRaises: 2 });
        expect(credentialGeneration(ended!)).toBe(credentialGeneration(user) + 1);
        // Concurrent raises are each counted once.
        await Promise.all(
          Array.from({ length: 6 }, (_, i) =>
            store.users.update(user.id, {}, { endSessions: { keep: null, twoFactorChange: i % 2 === 0 } }),
          ),
        );
        expect(await store.users.findById(user.id)).toMatchObject({ sessionCutoff: { generation: 12 }, twoFactorCutoffRaises: 5 });
      });

      it("update with ifPasswordHash applies only while the stored hash is still that one", async () => {
        const user = makeUser(now);
        await store.users.insert(user);
        const later = at(now, MINUTE);
        expect(
          await store.users.update(user.id, { passwordHash: "$argon2id$new", updatedAt: later }, { ifPasswordHash: "$argon2id$other" }),
        ).toBeNull();
        expect(await store.users.findById(user.id)).toEqual(user);
        const updated = await store.users.update(
          user.id,
          { passwordHash: "$argon2id$new", updatedAt: later },
          { ifPasswordHash: user.passwordHash },
        );
        expect(updated).toEqual({ ...user, passwordHash: "$argon2id$new", updatedAt: later });
        // The old hash no longer matches, so a stale writer is refused.
        expect(await store.users.update(user.id, { passwordHash: "$argon2id$stale" }, { ifPasswordHash: user.passwordHash })).toBeNull();
        expect((await store.users.findById(user.id))!.passwordHash).toBe("$argon2id$new");
      });
    });

    describe("users: list", () => {
      /** Users under a fresh domain, so that stores shared with other tests list only these. */
      async function seed(emails: string[]): Promise<string> {
        const domain = `${randomUUID()}.test`;
        for (const local of emails) await store.users.insert(makeUser(now, { email: `${local}@${domain}` }));
        return domain;
      }
      const emailsOf = (users: UserRecord[]) => users.map((u) => u.email.split("@")[0]);

      it("pages through users in email order after a cursor, within a prefix", async () => {
        const domain = await seed(["carol", "alice", "bob", "dave", "al"]);
        // The prefix "al" on lower-case emails; every test user of other tests sorts elsewhere.
        const all = await store.users.list({ emailPrefix: "", afterEmail: null, limit: 10_000 });
        expect(all.map((u) => u.email)).toEqual([...all.map((u) => u.email)].sort());
        const mine = all.filter((u) => u.email.endsWith(`@${domain}`));
        expect(emailsOf(mine)).toEqual(["al", "alice", "bob", "carol", "dave"]);
        expect(mine[0]).toEqual(await store.users.findByEmail(`al@${domain}`));
        const first = await store.users.list({ emailPrefix: `b`, afterEmail: null, limit: 10_000 });
        expect(first.every((u) => u.email.startsWith("b"))).toBe(true);
        expect(emailsOf(first.filter((u) => u.email.endsWith(domain)))).toEqual(["bob"]);
        expect(await store.users.list({ emailPrefix: `al@${domain}`, afterEmail: null, limit: 5 })).toEqual([
          await store.users.findByEmail(`al@${domain}`),
        ]);
        // Two at a time, each page after the last email of the one before.
        const prefix = "";
        const page1 = (await store.users.list({ emailPrefix: prefix, afterEmail: `al@${domain}`, limit: 2 })).map((u) => u.email);
        expect(page1.length).toBe(2);
        expect(page1.every((e) => e > `al@${domain}`)).toBe(true);
        expect(await store.users.list({ emailPrefix: "zzzz-nobody", afterEmail: null, limit: 5 })).toEqual([]);
      });

      it("treats the prefix literally (no pattern characters), and returns copies", async () => {
        const domain = await seed(["a.b", "axb"]);
        const dotted = await store.users.list({ emailPrefix: `a.b@${domain}`, afterEmail: null, limit: 10 });
        expect(dotted.map((u) => u.email)).toEqual([`a.b@${domain}`]);
        expect(await store.users.list({ emailPrefix: "a.*", afterEmail: null, limit: 10 })).toEqual([]);
        dotted[0]!.roles.push("mutated");
        expect((await store.users.findByEmail(`a.b@${domain}`))!.roles).toEqual(["user"]);
      });

      it("stores disabledAt and patches it back to null", async () => {
        const user = makeUser(now);
        await store.users.insert(user);
        expect((await store.users.update(user.id, { disabledAt: now }))!.disabledAt).toEqual(now);
        expect((await store.users.findById(user.id))!.disabledAt).toEqual(now);
        expect((await store.users.update(user.id, { disabledAt: null }))!.disabledAt).toBeNull();
        expect(await store.users.findById(user.id)).toEqual(user);
      });
    });

    describe("audit events", () => {
      function makeEvent(overrides: Partial<AuditEventRecord> = {}): AuditEventRecord {
        return {
          id: uid("aud"),
          at: now,
          actor: { kind: "user", id: uid("usr"), sessionId: uid("ses") },
          action: "admin.users.disable",
          targetUserId: uid("usr"),
          client: { ipAddress: "192.0.2.7", userAgent: "contract-test/1.0" },
          outcome: "OK",
          detail: "",
          expiresAt: at(now, DAY),
          ...overrides,
        };
      }

      it("lists a target's events newest first, paging by (at, id), without the expired ones", async () => {
        const target = uid("usr");
        const events = [
          makeEvent({ targetUserId: target, at: at(now, -3 * MINUTE), id: "aud_a" }),
          makeEvent({ targetUserId: target, at: at(now, -MINUTE), id: "aud_b", detail: "roles=admin,user" }),
          makeEvent({ targetUserId: target, at: at(now, -MINUTE), id: "aud_c", outcome: "PERMISSION_DENIED" }),
          makeEvent({ targetUserId: target, at: at(now, -2 * MINUTE), id: "aud_d", expiresAt: at(now, -SECOND) }),
          makeEvent({ targetUserId: uid("usr"), at: at(now, -MINUTE), id: "aud_e" }),
        ];
        for (const e of events) await store.audit.insert(e);
        const query = { targetUserId: target, before: null, limit: 10, now };
        expect(await store.audit.list(query)).toEqual([events[2], events[1], events[0]]);
        const first = await store.audit.list({ ...query, limit: 2 });
        expect(first.map((e) => e.id)).toEqual(["aud_c", "aud_b"]);
        const last = first[first.length - 1]!;
        expect(await store.audit.list({ ...query, before: { at: last.at, id: last.id } })).toEqual([events[0]]);
        const everyone = await store.audit.list({ targetUserId: null, before: null, limit: 10_000, now });
        expect(everyone.map((e) => e.id)).toEqual(expect.arrayContaining(["aud_a", "aud_b", "aud_c", "aud_e"]));
        expect(everyone.map((e) => e.id)).not.toContain("aud_d");
      });

      it("keeps an event without a target, and returns copies", async () => {
        const event = makeEvent({ targetUserId: null, action: "admin.users.list", id: uid("aud"), at: at(now, DAY) });
        await store.audit.insert(event);
        const [found] = await store.audit.list({ targetUserId: null, before: null, limit: 1, now });
        expect(found).toEqual(event);
        found!.client.ipAddress = "mutated";
        expect((await store.audit.list({ targetUserId: null, before: null, limit: 1, now }))[0]).toEqual(event);
      });
    });

    describe("sessions", () => {
      it("inserts a session and finds it while live", async () => {
        const session = makeSession(uid("usr"), now);
        await store.sessions.insert(session);
        expect(await store.sessions.findLive(session.id, now)).toEqual(session);
      });

      it("findLive returns null for an unknown id", async () => {
        expect(await store.sessions.findLive(uid("ses"), now)).toBeNull();
      });

      it("treats a session as absent once expiresAt is not after now", async () => {
        const session = makeSession(uid("usr"), now, { expiresAt: at(now, HOUR) });
        await store.sessions.insert(session);
        expect(await store.sessions.findLive(session.id, at(now, HOUR - 1))).toEqual(session);
        expect(await store.sessions.findLive(session.id, at(now, HOUR))).toBeNull();
        expect(await store.sessions.findLive(session.id, at(now, 2 * HOUR))).toBeNull();
        expect(await store.sessions.listLive(session.userId, at(now, HOUR))).toEqual([]);
      });

      it("treats a revoked session as absent", async () => {
        const session = makeSession(uid("usr"), now, { revokedAt: at(now, -SECOND) });
        await store.sessions.insert(session);
        expect(await store.sessions.findLive(session.id, now)).toBeNull();
        expect(await store.sessions.listLive(session.userId, now)).toEqual([]);
      });

      it("listLive returns only the user's live sessions, newest createdAt first", async () => {
        const userId = uid("usr");
        const oldest = makeSession(userId, now, { createdAt: at(now, -3 * HOUR) });
        const newest = makeSession(userId, now, { createdAt: at(now, -1 * HOUR) });
        const middle = makeSession(userId, now, { createdAt: at(now, -2 * HOUR) });
        const expired = makeSession(userId, now, { createdAt: at(now, -30 * MINUTE), expiresAt: now });
        const revoked = makeSession(userId, now, { createdAt: at(now, -20 * MINUTE), revokedAt: at(now, -MINUTE) });
        const foreign = makeSession(uid("usr"), now, { createdAt: at(now, -10 * MINUTE) });
        for (const s of [oldest, newest, middle, expired, revoked, foreign]) await store.sessions.insert(s);

        expect(await store.sessions.listLive(userId, now)).toEqual([newest, middle, oldest]);
        expect(await store.sessions.listLive(uid("usr"), now)).toEqual([]);
      });

      it("moreLiveThan counts what listLive lists: the user's sessions neither revoked nor expired", async () => {
        const userId = uid("usr");
        const live = [makeSession(userId, now), makeSession(userId, now, { createdAt: at(now, -HOUR) })];
        const expired = makeSession(userId, now, { expiresAt: now });
        const revoked = makeSession(userId, now, { revokedAt: at(now, -MINUTE) });
        const foreign = makeSession(uid("usr"), now);
        for (const s of [...live, expired, revoked, foreign]) await store.sessions.insert(s);

        const more = (limit: number, at = now, user = userId) => store.sessions.moreLiveThan(user, at, limit);
        expect(await store.sessions.listLive(userId, now)).toHaveLength(2);
        // Four sessions of the user's, two live: limits on either side of each count.
        expect([await more(0), await more(1), await more(2), await more(3), await more(4)]).toEqual([true, true, false, false, false]);
        expect(await more(0, now, uid("usr"))).toBe(false);
        // A revoke counts at once; later the first expires too.
        await store.sessions.revoke(live[1]!.id, userId, now);
        expect([await more(0), await more(1)]).toEqual([true, false]);
        expect(await more(0, live[0]!.expiresAt)).toBe(false);
      });

      it("touch sets lastActiveAt of a live session and keeps expiresAt when none is given", async () => {
        const session = makeSession(uid("usr"), now);
        await store.sessions.insert(session);
        const later = at(now, 5 * MINUTE);
        expect(await store.sessions.touch(session.id, later)).toBe(true);
        expect(await store.sessions.findLive(session.id, later)).toEqual({ ...session, lastActiveAt: later });
      });

      it("touch with expiresAt moves the expiry (extending the session's life)", async () => {
        const session = makeSession(uid("usr"), now, { expiresAt: at(now, HOUR) });
        await store.sessions.insert(session);
        const later = at(now, 30 * MINUTE);
        const newExpiry = at(now, 3 * HOUR);
        expect(await store.sessions.touch(session.id, later, newExpiry)).toBe(true);
        const beyondOldExpiry = at(now, 2 * HOUR);
        expect(await store.sessions.findLive(session.id, beyondOldExpiry)).toEqual({
          ...session,
          lastActiveAt: later,
          expiresAt: newExpiry,
        });
        expect(await store.sessions.findLive(session.id, newExpiry)).toBeNull();
      });

      it("touch returns false for unknown, expired or revoked sessions and changes nothing", async () => {
        const userId = uid("usr");
        const expiring = makeSession(userId, now, { expiresAt: at(now, HOUR) });
        const revoked = makeSession(userId, now, { revokedAt: at(now, -SECOND) });
        await store.sessions.insert(expiring);
        await store.sessions.insert(revoked);

        expect(await store.sessions.touch(uid("ses"), now)).toBe(false);
        expect(await store.sessions.touch(expiring.id, at(now, HOUR), at(now, 5 * HOUR))).toBe(false);
        expect(await store.sessions.touch(revoked.id, now, at(now, 5 * HOUR))).toBe(false);
        // The expired touch did not resurrect or modify it.
        expect(await store.sessions.findLive(expiring.id, at(now, HOUR))).toBeNull();
        expect(await store.sessions.findLive(expiring.id, now)).toEqual(expiring);
      });

      it("revoke revokes the owner's live session once", async () => {
        const session = makeSession(uid("usr"), now);
        await store.sessions.insert(session);
        expect(await store.sessions.revoke(session.id, session.userId, now)).toBe(true);
        expect(await store.sessions.findLive(session.id, now)).toBeNull();
        expect(await store.sessions.listLive(session.userId, now)).toEqual([]);
        expect(await store.sessions.revoke(session.id, session.userId, now)).toBe(false);
      });

      it("revoke by another user's id returns false and leaves the session live", async () => {
        const session = makeSession(uid("usr"), now);
        await store.sessions.insert(session);
        expect(await store.sessions.revoke(session.id, uid("usr"), now)).toBe(false);
        expect(await store.sessions.findLive(session.id, now)).toEqual(session);
      });

      it("revoke returns false for unknown and expired sessions", async () => {
        const session = makeSession(uid("usr"), now, { expiresAt: at(now, HOUR) });
        await store.sessions.insert(session);
        expect(await store.sessions.revoke(uid("ses"), session.userId, now)).toBe(false);
        expect(await store.sessions.revoke(session.id, session.userId, at(now, HOUR))).toBe(false);
      });

      it("revokeAllForUser revokes every live session except exceptId and returns how many", async () => {
        const userId = uid("usr");
        const keep = makeSession(userId, now);
        const a = makeSession(userId, now);
        const b = makeSession(userId, now);
        const expired = makeSession(userId, now, { expiresAt: at(now, -SECOND) });
        const alreadyRevoked = makeSession(userId, now, { revokedAt: at(now, -SECOND) });
        const foreign = makeSession(uid("usr"), now);
        for (const s of [keep, a, b, expired, alreadyRevoked, foreign]) await store.sessions.insert(s);

        expect(await store.sessions.revokeAllForUser(userId, now, keep.id)).toBe(2);
        expect(await store.sessions.listLive(userId, now)).toEqual([keep]);
        expect(await store.sessions.findLive(a.id, now)).toBeNull();
        expect(await store.sessions.findLive(b.id, now)).toBeNull();
        expect(await store.sessions.findLive(foreign.id, now)).toEqual(foreign);

        expect(await store.sessions.revokeAllForUser(userId, now)).toBe(1);
        expect(await store.sessions.listLive(userId, now)).toEqual([]);
        expect(await store.sessions.revokeAllForUser(userId, now)).toBe(0);
        expect(await store.sessions.findLive(foreign.id, now)).toEqual(foreign);
      });

      it("deleteAllForUser removes every session of the user and only theirs", async () => {
        const userId = uid("usr");
        const live = makeSession(userId, now);
        const revoked = makeSession(userId, now, { revokedAt: at(now, -SECOND) });
        const foreign = makeSession(uid("usr"), now);
        for (const s of [live, revoked, foreign]) await store.sessions.insert(s);

        await store.sessions.deleteAllForUser(userId);
        expect(await store.sessions.findLive(live.id, now)).toBeNull();
        expect(await store.sessions.listLive(userId, now)).toEqual([]);
        expect(await store.sessions.revokeAllForUser(userId, now)).toBe(0);
        expect(await store.sessions.findLive(foreign.id, now)).toEqual(foreign);
        await expect(store.sessions.deleteAllForUser(uid("usr"))).resolves.toBeUndefined();
      });

      it("returns copies: mutating inputs or results never changes what is stored", async () => {
        const session = makeSession(uid("usr"), now);
        const original = structuredClone(session);
        await store.sessions.insert(session);
        session.userAgent = "mutated input";
        session.expiresAt.setTime(0);

        const found = await store.sessions.findLive(original.id, now);
        expect(found).toEqual(original);
        if (found === null) throw new Error("unreachable");
        found.revokedAt = now;
        found.expiresAt.setTime(0);
        found.generations.user = 99;

        const [listed] = await store.sessions.listLive(original.userId, now);
        expect(listed).toEqual(original);
        if (listed === undefined) throw new Error("unreachable");
        listed.userId = "someone-else";
        listed.createdAt.setTime(0);
        listed.generations.twoFactor = 99;

        expect(await store.sessions.findLive(original.id, now)).toEqual(original);
        expect(await store.sessions.listLive(original.userId, now)).toEqual([original]);
      });
    });

    describe("refresh tokens", () => {
      it("spending shortens the record's life to keepSpentUntil when that is sooner, never lengthens it", async () => {
        const token = makeRefresh(uid("usr"), uid("ses"), now, { expiresAt: at(now, 10 * DAY) });
        await store.refreshTokens.insert(token);
        const spent = await store.refreshTokens.consume(token.tokenHash, now, at(now, HOUR));
        expect(spent).toEqual({ outcome: "consumed", record: token });
        expect(await store.refreshTokens.find(token.tokenHash)).toEqual({ ...token, consumedAt: now, expiresAt: at(now, HOUR) });
        const short = makeRefresh(uid("usr"), uid("ses"), now, { expiresAt: at(now, MINUTE) });
        await store.refreshTokens.insert(short);
        await store.refreshTokens.consume(short.tokenHash, now, at(now, HOUR));
        expect((await store.refreshTokens.find(short.tokenHash))!.expiresAt).toEqual(at(now, MINUTE));
      });

      it("consumes a token once, then reports reuse", async () => {
        const token = makeRefresh(uid("usr"), uid("ses"), now);
        await store.refreshTokens.insert(token);

        const first = await spend(store, token.tokenHash, now);
        expect(first).toEqual({ outcome: "consumed", record: token });

        const later = at(now, MINUTE);
        const second = await spend(store, token.tokenHash, later);
        expect(second).toEqual({ outcome: "reused", record: { ...token, consumedAt: now } });

        expect(await spend(store, token.tokenHash, later)).toEqual(second);
      });

      it("find returns the record whatever its state, and null for an unknown hash", async () => {
        const token = makeRefresh(uid("usr"), uid("ses"), now);
        await store.refreshTokens.insert(token);
        expect(await store.refreshTokens.find(token.tokenHash)).toEqual(token);
        await spend(store, token.tokenHash, now);
        expect(await store.refreshTokens.find(token.tokenHash)).toEqual({ ...token, consumedAt: now });
        expect(await store.refreshTokens.find(hash())).toBeNull();
      });

      it("gives unknown for a hash that was never stored", async () => {
        expect(await spend(store, hash(), now)).toEqual({ outcome: "unknown" });
      });

      it("does not judge expiry: an expired token is still consumed, with expiresAt for the caller", async () => {
        const token = makeRefresh(uid("usr"), uid("ses"), now, { expiresAt: at(now, HOUR) });
        await store.refreshTokens.insert(token);
        const afterExpiry = at(now, 2 * HOUR);
        expect(await spend(store, token.tokenHash, afterExpiry)).toEqual({
          outcome: "consumed",
          record: token,
        });
      });

      it("of 10 concurrent consumes exactly one gets consumed, the rest reused", async () => {
        const token = makeRefresh(uid("usr"), uid("ses"), now);
        await store.refreshTokens.insert(token);
        const results = await Promise.all(Array.from({ length: 10 }, (_, i) => spend(store, token.tokenHash, at(now, i))));
        const consumed = results.filter((r) => r.outcome === "consumed");
        const reused = results.filter((r) => r.outcome === "reused");
        expect(consumed).toHaveLength(1);
        expect(reused).toHaveLength(9);
        expect(consumed[0]).toEqual({ outcome: "consumed", record: token });
        // Every reuse sees the one consumedAt the single winner wrote.
        const consumedAts = new Set(reused.map((r) => (r.outcome === "reused" ? r.record.consumedAt?.getTime() : undefined)));
        expect(consumedAts.size).toBe(1);
        expect(consumedAts.has(undefined)).toBe(false);
      });

      it("the spend records the successor in the same step: every reuse, concurrent or later, sees the winner's", async () => {
        const token = makeRefresh(uid("usr"), uid("ses"), now);
        await store.refreshTokens.insert(token);
        const successors = Array.from({ length: 10 }, (_, i) => ({
          tokenHash: hash(),
          sealedPair: `v1.sealed-${i}`,
          graceUntil: at(now, 30 * SECOND),
        }));
        const results = await Promise.all(successors.map((s) => store.refreshTokens.consume(token.tokenHash, now, at(now, DAY), s)));
        const winner = results.findIndex((r) => r.outcome === "consumed");
        expect(winner).toBeGreaterThanOrEqual(0);
        expect(results.filter((r) => r.outcome === "consumed")).toHaveLength(1);
        for (const r of results) {
          if (r.outcome === "reused") expect(r.record.successor).toEqual(successors[winner]);
        }
        expect((await store.refreshTokens.find(token.tokenHash))!.successor).toEqual(successors[winner]);
        // A spend without one keeps none.
        const plain = makeRefresh(uid("usr"), uid("ses"), now);
        await store.refreshTokens.insert(plain);
        await spend(store, plain.tokenHash, now);
        expect((await store.refreshTokens.find(plain.tokenHash))!.successor).toBeNull();
      });

      it("delete removes that one token and nothing else", async () => {
        const userId = uid("usr");
        const [gone, kept] = [makeRefresh(userId, uid("ses"), now), makeRefresh(userId, uid("ses"), now)];
        for (const t of [gone, kept]) await store.refreshTokens.insert(t);
        await store.refreshTokens.delete(gone.tokenHash);
        expect(await store.refreshTokens.find(gone.tokenHash)).toBeNull();
        expect(await store.refreshTokens.find(kept.tokenHash)).toEqual(kept);
        await expect(store.refreshTokens.delete(hash())).resolves.toBeUndefined();
      });

      it("dropSpentBeyond keeps a session's most recently spent tokens, its unspent one, and other sessions' tokens", async () => {
        const userId = uid("usr");
        const sessionId = uid("ses");
        // A chain of refreshes, one a minute: each spends the token the one before stored.
        const chain = Array.from({ length: 6 }, () => makeRefresh(userId, sessionId, now));
        const other = makeRefresh(userId, uid("ses"), now);
        for (const t of [...chain, other]) await store.refreshTokens.insert(t);
        for (const [i, t] of chain.slice(0, 5).entries()) await spend(store, t.tokenHash, at(now, i * MINUTE));
        await spend(store, other.tokenHash, now);

        await store.refreshTokens.dropSpentBeyond(sessionId, 2);
        const left = await Promise.all([...chain, other].map((t) => store.refreshTokens.find(t.tokenHash)));
        // Spent at minutes 0-4: the three oldest go, minutes 3 and 4 stay; the unspent sixth stays.
        expect(left.map((t) => t !== null)).toEqual([false, false, false, true, true, true, true]);
        expect(left[5]?.consumedAt).toBeNull();

        // At or under the bound, and for a session with no tokens, nothing changes.
        await store.refreshTokens.dropSpentBeyond(sessionId, 2);
        await store.refreshTokens.dropSpentBeyond(uid("ses"), 0);
        expect((await Promise.all(chain.map((t) => store.refreshTokens.find(t.tokenHash)))).map((t) => t !== null)).toEqual([
          false,
          false,
          false,
          true,
          true,
          true,
        ]);
        // Dropped is unknown, as after the purge at expiry.
        expect(await spend(store, (chain[0] as RefreshTokenRecord).tokenHash, now)).toEqual({ outcome: "unknown" });
      });

      it("dropSpentBeyond goes by the order tokens were spent, not the order they were stored", async () => {
        const [userId, sessionId] = [uid("usr"), uid("ses")];
        const [first, second, third] = [0, 1, 2].map(() => makeRefresh(userId, sessionId, now)) as [
          RefreshTokenRecord,
          RefreshTokenRecord,
          RefreshTokenRecord,
        ];
        for (const t of [first, second, third]) await store.refreshTokens.insert(t);
        await spend(store, third.tokenHash, at(now, 0));
        await spend(store, first.tokenHash, at(now, MINUTE));
        await spend(store, second.tokenHash, at(now, 2 * MINUTE));
        await store.refreshTokens.dropSpentBeyond(sessionId, 1);
        const left = await Promise.all([first, second, third].map((t) => store.refreshTokens.find(t.tokenHash)));
        expect(left.map((t) => t !== null)).toEqual([false, true, false]);
      });

      it("expireSession brings the expiry of the session's tokens, spent or not, forward to `until`, never back", async () => {
        const userId = uid("usr");
        const sessionId = uid("ses");
        const unspent = makeRefresh(userId, sessionId, now, { expiresAt: at(now, 30 * DAY) });
        const spent = makeRefresh(userId, sessionId, now, { expiresAt: at(now, 30 * DAY) });
        const sooner = makeRefresh(userId, sessionId, now, { expiresAt: at(now, MINUTE) });
        const otherSession = makeRefresh(userId, uid("ses"), now, { expiresAt: at(now, 30 * DAY) });
        for (const t of [unspent, spent, sooner, otherSession]) await store.refreshTokens.insert(t);
        await spend(store, spent.tokenHash, now);

        await store.refreshTokens.expireSession(sessionId, userId, at(now, DAY));
        const after = await Promise.all([unspent, spent, sooner, otherSession].map((t) => store.refreshTokens.find(t.tokenHash)));
        expect(after.map((t) => t?.expiresAt)).toEqual([at(now, DAY), at(now, DAY), at(now, MINUTE), at(now, 30 * DAY)]);
        expect(after[0]?.consumedAt).toBeNull();
        // A session the user does not have, or no such session: nothing changes.
        await store.refreshTokens.expireSession(sessionId, uid("usr"), now);
        await store.refreshTokens.expireSession(uid("ses"), userId, now);
        expect((await store.refreshTokens.find(unspent.tokenHash))?.expiresAt).toEqual(at(now, DAY));
      });

      it("expireAllForUser brings every session's tokens forward but the one kept, and no other user's", async () => {
        const userId = uid("usr");
        const [kept, ended, other] = [uid("ses"), uid("ses"), uid("ses")];
        const tokens = [
          makeRefresh(userId, kept, now, { expiresAt: at(now, 30 * DAY) }),
          makeRefresh(userId, ended, now, { expiresAt: at(now, 30 * DAY) }),
          makeRefresh(userId, other, now, { expiresAt: at(now, MINUTE) }),
          makeRefresh(uid("usr"), uid("ses"), now, { expiresAt: at(now, 30 * DAY) }),
        ];
        for (const t of tokens) await store.refreshTokens.insert(t);
        await store.refreshTokens.expireAllForUser(userId, at(now, DAY), kept);
        const after = await Promise.all(tokens.map((t) => store.refreshTokens.find(t.tokenHash)));
        expect(after.map((t) => t?.expiresAt)).toEqual([at(now, 30 * DAY), at(now, DAY), at(now, MINUTE), at(now, 30 * DAY)]);
        await store.refreshTokens.expireAllForUser(userId, at(now, HOUR));
        expect((await store.refreshTokens.find(tokens[0]!.tokenHash))?.expiresAt).toEqual(at(now, HOUR));
      });

      it("deleteAllForUser removes the user's tokens and only theirs", async () => {
        const userId = uid("usr");
        const mine = [makeRefresh(userId, uid("ses"), now), makeRefresh(userId, uid("ses"), now)];
        const foreign = makeRefresh(uid("usr"), uid("ses"), now);
        for (const t of [...mine, foreign]) await store.refreshTokens.insert(t);

        await store.refreshTokens.deleteAllForUser(userId);
        for (const t of mine) {
          expect(await spend(store, t.tokenHash, now)).toEqual({ outcome: "unknown" });
        }
        expect(await spend(store, foreign.tokenHash, now)).toEqual({ outcome: "consumed", record: foreign });
        await expect(store.refreshTokens.deleteAllForUser(uid("usr"))).resolves.toBeUndefined();
      });

      it("returns copies: mutating inputs or results never changes what is stored", async () => {
        const token = makeRefresh(uid("usr"), uid("ses"), now);
        const original = structuredClone(token);
        await store.refreshTokens.insert(token);
        token.userId = "mutated input";
        token.expiresAt.setTime(0);

        const first = await spend(store, original.tokenHash, now);
        expect(first).toEqual({ outcome: "consumed", record: original });
        if (first.outcome !== "consumed") throw new Error("unreachable");
        first.record.consumedAt = null;
        first.record.userId = "mutated result";

        const second = await spend(store, original.tokenHash, now);
        expect(second).toEqual({ outcome: "reused", record: { ...original, consumedAt: now } });
        if (second.outcome !== "reused") throw new Error("unreachable");
        second.record.consumedAt?.setTime(0);

        expect(await spend(store, original.tokenHash, now)).toEqual({
          outcome: "reused",
          record: { ...original, consumedAt: now },
        });
      });
    });

    describe("codes", () => {
      it("find returns a live code of that purpose without using it", async () => {
        const code: CodeRecord = {
          codeHash: hash(),
          purpose: "password_reset",
          userId: uid("usr"),
          createdAt: now,
          expiresAt: at(now, HOUR),
        };
        await store.codes.replace(code);
        expect(await store.codes.find(code.codeHash, "password_reset", now)).toEqual(code);
        expect(await store.codes.find(code.codeHash, "email_verification", now)).toBeNull();
        expect(await store.codes.find(code.codeHash, "password_reset", at(now, HOUR))).toBeNull();
        expect(await store.codes.find(hash(), "password_reset", now)).toBeNull();
        // Still there: find does not consume.
        expect(await store.codes.consume(code.codeHash, "password_reset", now)).toEqual(code);
      });

      it("stores a code and consumes it exactly once", async () => {
        const code = makeCode(uid("usr"), "email_verification", now);
        await store.codes.replace(code);
        expect(await store.codes.consume(code.codeHash, "email_verification", now)).toEqual(code);
        expect(await store.codes.consume(code.codeHash, "email_verification", now)).toBeNull();
      });

      it("consume of an unknown hash returns null", async () => {
        expect(await store.codes.consume(hash(), "password_reset", now)).toBeNull();
      });

      it("replace deletes older codes of the same user and purpose, not of another purpose or user", async () => {
        const userId = uid("usr");
        const older1 = makeCode(userId, "password_reset", now);
        const older2 = makeCode(userId, "password_reset", now);
        const otherPurpose = makeCode(userId, "email_verification", now);
        const otherUser = makeCode(uid("usr"), "password_reset", now);
        await store.codes.replace(older1);
        await store.codes.replace(otherPurpose);
        await store.codes.replace(otherUser);
        await store.codes.replace(older2); // deletes older1
        const newest = makeCode(userId, "password_reset", now);
        await store.codes.replace(newest); // deletes older2

        expect(await store.codes.consume(older1.codeHash, "password_reset", now)).toBeNull();
        expect(await store.codes.consume(older2.codeHash, "password_reset", now)).toBeNull();
        expect(await store.codes.consume(newest.codeHash, "password_reset", now)).toEqual(newest);
        expect(await store.codes.consume(otherPurpose.codeHash, "email_verification", now)).toEqual(otherPurpose);
        expect(await store.codes.consume(otherUser.codeHash, "password_reset", now)).toEqual(otherUser);
      });

      it("replace with a record already expired voids the live code of that user and purpose (sign-in/email.ts)", async () => {
        const userId = uid("usr");
        const code = makeCode(userId, "email_sign_in_code", now);
        const link = makeCode(userId, "email_sign_in_link", now);
        await store.codes.replace(code);
        await store.codes.replace(link);
        const standIn = makeCode(userId, "email_sign_in_code", now, { expiresAt: now });
        await store.codes.replace(standIn);
        expect(await store.codes.consume(code.codeHash, "email_sign_in_code", now)).toBeNull();
        expect(await store.codes.consume(standIn.codeHash, "email_sign_in_code", now)).toBeNull();
        expect(await store.codes.consume(link.codeHash, "email_sign_in_link", now)).toEqual(link);
      });

      it("consume with the wrong purpose returns null and leaves the code in place", async () => {
        const code = makeCode(uid("usr"), "email_verification", now);
        await store.codes.replace(code);
        expect(await store.codes.consume(code.codeHash, "password_reset", now)).toBeNull();
        expect(await store.codes.consume(code.codeHash, "email_verification", now)).toEqual(code);
      });

      it("consume returns null once expiresAt is not after now", async () => {
        const code = makeCode(uid("usr"), "password_reset", now, { expiresAt: at(now, 15 * MINUTE) });
        const other = makeCode(uid("usr"), "password_reset", now, { expiresAt: at(now, 15 * MINUTE) });
        await store.codes.replace(code);
        await store.codes.replace(other);
        expect(await store.codes.consume(code.codeHash, "password_reset", at(now, 15 * MINUTE))).toBeNull();
        expect(await store.codes.consume(code.codeHash, "password_reset", at(now, HOUR))).toBeNull();
        expect(await store.codes.consume(other.codeHash, "password_reset", at(now, 15 * MINUTE - 1))).toEqual(other);
      });

      it("of 10 concurrent consumes exactly one gets the code", async () => {
        const code = makeCode(uid("usr"), "password_reset", now);
        await store.codes.replace(code);
        const results = await Promise.all(Array.from({ length: 10 }, () => store.codes.consume(code.codeHash, "password_reset", now)));
        const winners = results.filter((r) => r !== null);
        expect(winners).toEqual([code]);
      });

      it("deleteAllForUser removes the user's codes of every purpose and only theirs", async () => {
        const userId = uid("usr");
        const verify = makeCode(userId, "email_verification", now);
        const reset = makeCode(userId, "password_reset", now);
        const foreign = makeCode(uid("usr"), "password_reset", now);
        for (const c of [verify, reset, foreign]) await store.codes.replace(c);

        await store.codes.deleteAllForUser(userId);
        expect(await store.codes.consume(verify.codeHash, "email_verification", now)).toBeNull();
        expect(await store.codes.consume(reset.codeHash, "password_reset", now)).toBeNull();
        expect(await store.codes.consume(foreign.codeHash, "password_reset", now)).toEqual(foreign);
        await expect(store.codes.deleteAllForUser(uid("usr"))).resolves.toBeUndefined();
      });

      it("returns copies: mutating inputs or results never changes what is stored", async () => {
        const userId = uid("usr");
        const code = makeCode(userId, "email_verification", now);
        const original = structuredClone(code);
        await store.codes.replace(code);
        code.purpose = "password_reset";
        code.expiresAt.setTime(0);
        code.userId = "mutated input";

        // Had the stored record followed the input, this would now be a password_reset code.
        expect(await store.codes.consume(original.codeHash, "password_reset", now)).toBeNull();
        const consumed = await store.codes.consume(original.codeHash, "email_verification", now);
        expect(consumed).toEqual(original);
      });
    });

    describe("codes added beside others", () => {
      it("add keeps the other codes of the same user and purpose, and each is consumed once", async () => {
        const first = makeCode("", "passkey_sign_in", now);
        const second = makeCode("", "passkey_sign_in", now);
        await store.codes.add(first);
        await store.codes.add(second);
        const results = await Promise.all(Array.from({ length: 10 }, () => store.codes.consume(first.codeHash, "passkey_sign_in", now)));
        expect(results.filter((r) => r !== null)).toEqual([first]);
        expect(await store.codes.consume(second.codeHash, "passkey_registration", now)).toBeNull();
        expect(await store.codes.consume(second.codeHash, "passkey_sign_in", at(now, HOUR))).toBeNull();
        expect(await store.codes.consume(second.codeHash, "passkey_sign_in", now)).toEqual(second);
      });
    });

    describe("passkeys", () => {
      function makePasskey(userId: string, overrides: Partial<PasskeyRecord> = {}): PasskeyRecord {
        return {
          id: uid("pk"),
          userId,
          credentialId: hash(),
          publicKey: "pQECAyYgASFYIA",
          counter: 0,
          transports: ["internal", "hybrid"],
          backupEligible: true,
          backedUp: false,
          userHandle: "dXNlcg",
          name: "Laptop",
          createdAt: now,
          lastUsedAt: null,
          ...overrides,
        };
      }

      it("stores a passkey, finds it by credential id and lists a user's oldest first", async () => {
        const userId = uid("usr");
        const later = makePasskey(userId, { createdAt: at(now, MINUTE), name: "Phone" });
        const first = makePasskey(userId);
        const foreign = makePasskey(uid("usr"));
        for (const p of [later, first, foreign]) expect(await store.passkeys.insert(p)).toBe(true);
        expect(await store.passkeys.findByCredentialId(first.credentialId)).toEqual(first);
        expect(await store.passkeys.findByCredentialId(hash())).toBeNull();
        expect(await store.passkeys.listForUser(userId)).toEqual([first, later]);
        expect(await store.passkeys.listForUser(uid("usr"))).toEqual([]);
      });

      it("lists passkeys made at the same instant in id order, whatever order they were stored in", async () => {
        const userId = uid("usr");
        const same = [makePasskey(userId, { id: "pk-c" }), makePasskey(userId, { id: "pk-a" }), makePasskey(userId, { id: "pk-b" })];
        for (const p of same) await store.passkeys.insert(p);
        expect((await store.passkeys.listForUser(userId)).map((p) => p.id)).toEqual(["pk-a", "pk-b", "pk-c"]);
      });

      it("refuses a passkey whose own id is taken (a bug, not a second registration): it throws", async () => {
        const first = makePasskey(uid("usr"));
        await store.passkeys.insert(first);
        await expect(store.passkeys.insert(makePasskey(uid("usr"), { id: first.id }))).rejects.toThrow();
        expect(await store.passkeys.findByCredentialId(first.credentialId)).toEqual(first);
      });

      it("refuses a credential id registered already, to any user, and of concurrent inserts exactly one wins", async () => {
        const taken = makePasskey(uid("usr"));
        expect(await store.passkeys.insert(taken)).toBe(true);
        expect(await store.passkeys.insert(makePasskey(uid("usr"), { credentialId: taken.credentialId }))).toBe(false);
        const credentialId = hash();
        const results = await Promise.all(
          Array.from({ length: 5 }, () => store.passkeys.insert(makePasskey(uid("usr"), { credentialId }))),
        );
        expect(results.filter((r) => r)).toHaveLength(1);
        expect(await store.passkeys.findByCredentialId(taken.credentialId)).toEqual(taken);
      });

      it("renames and deletes only the owner's passkey", async () => {
        const userId = uid("usr");
        const passkey = makePasskey(userId);
        await store.passkeys.insert(passkey);
        expect(await store.passkeys.rename(uid("usr"), passkey.id, "Stolen")).toBeNull();
        expect(await store.passkeys.rename(userId, uid("pk"), "Nothing")).toBeNull();
        expect(await store.passkeys.rename(userId, passkey.id, "Desk key")).toEqual({ ...passkey, name: "Desk key" });
        expect(await store.passkeys.delete(uid("usr"), passkey.id)).toBe(false);
        expect(await store.passkeys.delete(userId, passkey.id)).toBe(true);
        expect(await store.passkeys.delete(userId, passkey.id)).toBe(false);
        expect(await store.passkeys.findByCredentialId(passkey.credentialId)).toBeNull();
        // Its credential id is free again.
        expect(await store.passkeys.insert(makePasskey(userId, { credentialId: passkey.credentialId }))).toBe(true);
      });

      it("records a use only over the counter read, so of racing uses one is written", async () => {
        const passkey = makePasskey(uid("usr"), { counter: 4 });
        await store.passkeys.insert(passkey);
        const use = { counter: 5, backedUp: true, lastUsedAt: at(now, MINUTE) };
        const results = await Promise.all(Array.from({ length: 5 }, () => store.passkeys.recordUse(passkey.id, 4, use)));
        expect(results.filter((r) => r)).toHaveLength(1);
        expect(await store.passkeys.recordUse(passkey.id, 4, { ...use, counter: 6 })).toBe(false);
        expect(await store.passkeys.recordUse(uid("pk"), 0, use)).toBe(false);
        expect(await store.passkeys.findByCredentialId(passkey.credentialId)).toEqual({ ...passkey, ...use });
      });

      it("deleteAllForUser removes the user's passkeys and only theirs; results are copies", async () => {
        const userId = uid("usr");
        const mine = makePasskey(userId);
        const foreign = makePasskey(uid("usr"));
        await store.passkeys.insert(mine);
        await store.passkeys.insert(foreign);
        const read = await store.passkeys.findByCredentialId(foreign.credentialId);
        read?.transports.push("usb");
        mine.transports.push("usb");
        await store.passkeys.deleteAllForUser(userId);
        expect(await store.passkeys.findByCredentialId(mine.credentialId)).toBeNull();
        expect(await store.passkeys.findByCredentialId(foreign.credentialId)).toEqual(foreign);
        expect(await store.passkeys.listForUser(userId)).toEqual([]);
      });
    });

    describe("provider links", () => {
      const makeLink = (userId: string, overrides: Partial<ProviderLinkRecord> = {}): ProviderLinkRecord => ({
        id: uid("lnk"),
        userId,
        provider: "google",
        issuer: "https://accounts.google.com",
        subject: uid("sub"),
        email: `${randomUUID()}@example.test`,
        createdAt: at(now, -MINUTE),
        ...overrides,
      });

      it("finds a link by provider, issuer and subject only", async () => {
        const link = makeLink(uid("usr"));
        await store.providerLinks.insert(link);
        expect(await store.providerLinks.findBySubject(link.provider, link.issuer, link.subject)).toEqual(link);
        expect(await store.providerLinks.findBySubject("microsoft", link.issuer, link.subject)).toBeNull();
        expect(await store.providerLinks.findBySubject(link.provider, "https://other.example", link.subject)).toBeNull();
        expect(await store.providerLinks.findBySubject(link.provider, link.issuer, uid("sub"))).toBeNull();
      });

      it("refuses a second link of the same provider account, even to another user, atomically", async () => {
        const first = makeLink(uid("usr"));
        const racers = [makeLink(uid("usr"), { subject: first.subject }), makeLink(uid("usr"), { subject: first.subject })];
        await store.providerLinks.insert(first);
        for (const racer of racers) await expect(store.providerLinks.insert(racer)).rejects.toBeInstanceOf(DuplicateProviderLinkError);
        const subject = uid("sub");
        const concurrent = [makeLink(uid("usr"), { subject }), makeLink(uid("usr"), { subject })];
        const settled = await Promise.allSettled(concurrent.map((l) => store.providerLinks.insert(l)));
        expect(settled.filter((r) => r.status === "fulfilled")).toHaveLength(1);
        // The same subject at another issuer is another account.
        await store.providerLinks.insert(makeLink(uid("usr"), { subject: first.subject, issuer: "https://login.example/t2" }));
      });

      it("lists a user's links oldest first, and deletes only the owner's", async () => {
        const userId = uid("usr");
        const newer = makeLink(userId, { createdAt: at(now, -SECOND) });
        const older = makeLink(userId, { provider: "microsoft", createdAt: at(now, -HOUR) });
        const others = makeLink(uid("usr"));
        for (const l of [newer, older, others]) await store.providerLinks.insert(l);
        expect(await store.providerLinks.listForUser(userId)).toEqual([older, newer]);
        expect(await store.providerLinks.delete(others.id, userId)).toBe(false);
        expect(await store.providerLinks.delete(newer.id, userId)).toBe(true);
        expect(await store.providerLinks.delete(newer.id, userId)).toBe(false);
        expect(await store.providerLinks.findBySubject(newer.provider, newer.issuer, newer.subject)).toBeNull();
        // The provider account is free again.
        await store.providerLinks.insert(makeLink(uid("usr"), { subject: newer.subject }));
        await store.providerLinks.deleteAllForUser(userId);
        expect(await store.providerLinks.listForUser(userId)).toEqual([]);
        expect(await store.providerLinks.findBySubject(older.provider, older.issuer, older.subject)).toBeNull();
        expect(await store.providerLinks.listForUser(others.userId)).toEqual([others]);
      });

      it("a provider flow's code keeps its provider and session", async () => {
        const code: CodeRecord = {
          ...makeCode(uid("usr"), "provider_link", now),
          provider: "google",
          sessionId: uid("ses"),
          rememberMe: true,
        };
        await store.codes.replace(code);
        expect(await store.codes.consume(code.codeHash, "provider_sign_in", now)).toBeNull();
        expect(await store.codes.consume(code.codeHash, "provider_link", now)).toEqual(code);
      });
    });

    describe("account deletion", () => {
      it("deleteAllForUser on every store plus users.delete leaves nothing of the user", async () => {
        const user = makeUser(now);
        const bystander = makeUser(now);
        await store.users.insert(user);
        await store.users.insert(bystander);
        const session = makeSession(user.id, now);
        const token = makeRefresh(user.id, session.id, now);
        const code = makeCode(user.id, "password_reset", now);
        const bystanderSession = makeSession(bystander.id, now);
        await store.sessions.insert(session);
        await store.sessions.insert(bystanderSession);
        await store.refreshTokens.insert(token);
        await store.codes.replace(code);

        await store.sessions.deleteAllForUser(user.id);
        await store.refreshTokens.deleteAllForUser(user.id);
        await store.codes.deleteAllForUser(user.id);
        expect(await store.users.delete(user.id)).toBe(true);

        expect(await store.users.findById(user.id)).toBeNull();
        expect(await store.users.findByEmail(user.email)).toBeNull();
        expect(await store.sessions.listLive(user.id, now)).toEqual([]);
        expect(await spend(store, token.tokenHash, now)).toEqual({ outcome: "unknown" });
        expect(await store.codes.consume(code.codeHash, "password_reset", now)).toBeNull();

        expect(await store.users.findById(bystander.id)).toEqual(bystander);
        expect(await store.sessions.listLive(bystander.id, now)).toEqual([bystanderSession]);
      });
    });

    describe("attempts", () => {
      const policy = { maxFailures: 5, windowSeconds: 15 * 60, lockSeconds: 15 * 60 };

      it("starts at zero, counts failures, and the fifth locks the key for lockSeconds", async () => {
        const key = uid("login");
        expect(await store.attempts.get(key, now)).toEqual({ failures: 0, lockedUntil: null });
        for (let i = 1; i <= 4; i++) {
          expect(await store.attempts.fail(key, at(now, i * SECOND), policy)).toEqual({
            counted: true,
            state: { failures: i, lockedUntil: null },
          });
        }
        const lockedUntil = at(now, 5 * SECOND + 15 * MINUTE);
        expect(await store.attempts.fail(key, at(now, 5 * SECOND), policy)).toEqual({
          counted: true,
          state: { failures: 5, lockedUntil },
        });
        // While locked nothing is counted and nothing changes.
        expect(await store.attempts.fail(key, at(now, 6 * SECOND), policy)).toEqual({
          counted: false,
          state: { failures: 5, lockedUntil },
        });
        expect(await store.attempts.get(key, at(now, 10 * MINUTE))).toEqual({ failures: 5, lockedUntil });
        // Once the lock passes the key starts afresh.
        expect(await store.attempts.get(key, lockedUntil)).toEqual({ failures: 0, lockedUntil: null });
        expect(await store.attempts.fail(key, lockedUntil, policy)).toEqual({
          counted: true,
          state: { failures: 1, lockedUntil: null },
        });
      });

      it("forgets failures older than the window", async () => {
        const key = uid("login");
        await store.attempts.fail(key, now, policy);
        await store.attempts.fail(key, at(now, MINUTE), policy);
        const afterWindow = at(now, 15 * MINUTE);
        expect(await store.attempts.get(key, afterWindow)).toEqual({ failures: 0, lockedUntil: null });
        expect((await store.attempts.fail(key, afterWindow, policy)).state).toEqual({ failures: 1, lockedUntil: null });
      });

      it("of 20 concurrent failures exactly maxFailures are counted, then the key is locked", async () => {
        const key = uid("2fa");
        const results = await Promise.all(Array.from({ length: 20 }, () => store.attempts.fail(key, now, policy)));
        expect(results.filter((r) => r.counted)).toHaveLength(5);
        expect(await store.attempts.get(key, now)).toEqual({ failures: 5, lockedUntil: at(now, 15 * MINUTE) });
      });

      it("forgive takes back one failure, lifts the lock that failure set, and leaves a missing key missing", async () => {
        const key = uid("login");
        await store.attempts.forgive(key, now, policy);
        expect(await store.attempts.get(key, now)).toEqual({ failures: 0, lockedUntil: null });
        for (let i = 0; i < 5; i++) await store.attempts.fail(key, now, policy);
        expect((await store.attempts.get(key, now)).lockedUntil).toEqual(at(now, 15 * MINUTE));
        await store.attempts.forgive(key, at(now, SECOND), policy);
        expect(await store.attempts.get(key, at(now, SECOND))).toEqual({ failures: 4, lockedUntil: null });
        // The count still ends with its window, counted from its first failure.
        expect(await store.attempts.get(key, at(now, 15 * MINUTE))).toEqual({ failures: 0, lockedUntil: null });
        expect((await store.attempts.fail(key, at(now, 2 * SECOND), policy)).state.failures).toBe(5);
      });

      it("20 concurrent failures each followed by a forgive leave nothing counted", async () => {
        const key = uid("login");
        await Promise.all(
          Array.from({ length: 20 }, async () => {
            if ((await store.attempts.fail(key, now, policy)).counted) await store.attempts.forgive(key, now, policy);
          }),
        );
        expect((await store.attempts.get(key, now)).failures).toBe(0);
      });

      it("clear forgets the key and leaves other keys alone", async () => {
        const key = uid("login");
        const other = uid("login");
        await store.attempts.fail(key, now, policy);
        await store.attempts.fail(other, now, policy);
        await store.attempts.clear(key);
        expect(await store.attempts.get(key, now)).toEqual({ failures: 0, lockedUntil: null });
        expect(await store.attempts.get(other, now)).toEqual({ failures: 1, lockedUntil: null });
      });
    });

    describe("two-factor records", () => {
      function makeTwoFactor(userId: string, version: number): TwoFactorRecord {
        return {
          userId,
          version,
          enabledAt: at(now, -MINUTE),
          devices: [
            {
              id: uid("dev"),
              name: "Phone",
              secretCiphertext: "v1.aaaa.bbbb.cccc",
              createdAt: at(now, -MINUTE),
              lastUsedAt: null,
              lastUsedStep: null,
            },
            {
              id: uid("dev"),
              name: "Tablet",
              secretCiphertext: "v1.dddd.eeee.ffff",
              createdAt: now,
              lastUsedAt: now,
              lastUsedStep: 59_000_123,
            },
          ],
          recoveryCodeHashes: [hash(), hash()],
          spentRecoveryCodeHashes: [hash()],
          pending: [{ purpose: "device", secretCiphertext: "v1.gggg.hhhh.iiii", createdAt: now, expiresAt: at(now, 10 * MINUTE) }],
          sessionCutoff: { generation: version, keptSessionId: version % 2 === 0 ? null : uid("ses") },
        };
      }

      it("get is null for a user without one; save with expected version 0 creates it, field for field", async () => {
        const userId = uid("usr");
        expect(await store.twoFactor.get(userId)).toBeNull();
        const record = makeTwoFactor(userId, 1);
        expect(await store.twoFactor.save(record, 0)).toBe(true);
        expect(await store.twoFactor.get(userId)).toEqual(record);
      });

      it("save is a compare-and-set on the version", async () => {
        const userId = uid("usr");
        const first = makeTwoFactor(userId, 1);
        await store.twoFactor.save(first, 0);
        expect(await store.twoFactor.save(makeTwoFactor(userId, 1), 0)).toBe(false); // already exists
        const second = { ...makeTwoFactor(userId, 2), enabledAt: null, devices: [], recoveryCodeHashes: [], pending: [] };
        expect(await store.twoFactor.save(second, 1)).toBe(true);
        expect(await store.twoFactor.save(makeTwoFactor(userId, 2), 1)).toBe(false); // stale writer
        expect(await store.twoFactor.get(userId)).toEqual(second);
      });

      it("refuses a next version that is not expected + 1", async () => {
        await expect(store.twoFactor.save(makeTwoFactor(uid("usr"), 3), 0)).rejects.toThrow();
      });

      it("of 20 concurrent saves from the same version exactly one wins", async () => {
        const userId = uid("usr");
        await store.twoFactor.save(makeTwoFactor(userId, 1), 0);
        const results = await Promise.all(Array.from({ length: 20 }, () => store.twoFactor.save(makeTwoFactor(userId, 2), 1)));
        expect(results.filter(Boolean)).toHaveLength(1);
        expect((await store.twoFactor.get(userId))?.version).toBe(2);
      });

      it("returns copies, deep ones: mutating inputs or results never changes what is stored", async () => {
        const userId = uid("usr");
        const input = makeTwoFactor(userId, 1);
        const original = structuredClone(input);
        await store.twoFactor.save(input, 0);
        const mutate = (r: TwoFactorRecord) => {
          (r.devices[0] as TwoFactorRecord["devices"][number]).createdAt.setTime(0);
          (r.devices[1] as TwoFactorRecord["devices"][number]).lastUsedStep = 1;
          (r.pending[0] as TwoFactorRecord["pending"][number]).expiresAt.setTime(0);
          r.enabledAt?.setTime(0);
          r.sessionCutoff.generation = 99;
          r.recoveryCodeHashes.push(hash());
        };
        mutate(input);
        const found = await store.twoFactor.get(userId);
        expect(found).toEqual(original);
        if (found === null) throw new Error("unreachable");
        mutate(found);
        expect(await store.twoFactor.get(userId)).toEqual(original);
      });

      it("returns copies, and delete removes only that user's record", async () => {
        const [a, b] = [uid("usr"), uid("usr")];
        await store.twoFactor.save(makeTwoFactor(a, 1), 0);
        await store.twoFactor.save(makeTwoFactor(b, 1), 0);
        const copy = await store.twoFactor.get(a);
        copy?.devices.pop();
        copy?.recoveryCodeHashes.pop();
        expect((await store.twoFactor.get(a))?.devices).toHaveLength(2);
        expect((await store.twoFactor.get(a))?.recoveryCodeHashes).toHaveLength(2);
        await store.twoFactor.delete(a);
        expect(await store.twoFactor.get(a)).toBeNull();
        expect(await store.twoFactor.get(b)).not.toBeNull();
      });

      it("login challenges keep remember_me, and are consumed once", async () => {
        const challenge: CodeRecord = {
          codeHash: hash(),
          purpose: "login_challenge",
          userId: uid("usr"),
          createdAt: now,
          expiresAt: at(now, 5 * MINUTE),
          rememberMe: true,
        };
        await store.codes.replace(challenge);
        expect(await store.codes.find(challenge.codeHash, "login_challenge", now)).toEqual(challenge);
        expect(await store.codes.find(challenge.codeHash, "password_reset", now)).toBeNull();
        const results = await Promise.all(Array.from({ length: 5 }, () => store.codes.consume(challenge.codeHash, "login_challenge", now)));
        expect(results.filter((r) => r !== null)).toEqual([challenge]);
      });
    });
  });
}
