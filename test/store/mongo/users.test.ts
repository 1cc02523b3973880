// The MongoDB users adapter without a MongoDB server: its filters and update documents run on
// mingo (an independent implementation of MongoDB's query and update language) behind a
// collection double, as in refresh-tokens.test.ts. The storage contract runs with this adapter for
// users (the other record kinds are the memory store's), and a document written before a field
// existed reads with that field's default.
import { describe, expect, it } from "vitest";
import { createMemoryStore } from "../../../src/store/memory.ts";
import { mongoAudit, type AuditEventDoc } from "../../../src/store/mongo/audit.ts";
import type { UserDoc } from "../../../src/store/mongo/users.ts";
import { credentialGeneration, type Store } from "../../../src/store/port.ts";
import { fakeCollection } from "../../support/mingo-collection.ts";
import { memoryStoreWithMingoUsers, mingoUsers } from "../../support/mingo-users.ts";
import { storageContract } from "../contract.ts";

storageContract("mongodb users on mingo", async (): Promise<Store> => memoryStoreWithMingoUsers());

/** A user document as an older release wrote it: no roles, disabledAt, cutoff or emailVerifiedAt. */
function olderReleaseDoc(id: string, email: string): UserDoc {
  const created = new Date("2026-01-01T00:00:00Z");
  return {
    _id: id,
    email,
    emailVerified: true,
    displayName: "",
    passwordHash: null,
    passwordUpdatedAt: null,
    createdAt: created,
    updatedAt: created,
  } as UserDoc;
}

describe("mongodb users written by an older release", () => {
  it("a document without roles or disabledAt reads as the default role, enabled, and keeps it through an update", async () => {
    const old = olderReleaseDoc("usr_old", "old@example.test");
    const store = mingoUsers([old]);
    expect((await store.findById("usr_old"))!.roles).toEqual(["user"]);
    expect((await store.findById("usr_old"))!.disabledAt).toBeNull();
    expect((await store.update("usr_old", { displayName: "Old" }))!.roles).toEqual(["user"]);
    expect((await store.update("usr_old", { roles: ["admin", "user"] }))!.roles).toEqual(["admin", "user"]);
  });

  it("a document without roles matches ifRoles of the default role alone, and no other", async () => {
    const old = olderReleaseDoc("usr_noroles", "noroles@example.test");
    const store = mingoUsers([old]);
    for (const other of [["admin"], ["admin", "user"], []]) {
      expect(await store.update("usr_noroles", { displayName: "stale" }, { ifRoles: other }), other.join()).toBeNull();
    }
    expect((await store.findById("usr_noroles"))!.displayName).toBe("");
    expect((await store.update("usr_noroles", { displayName: "as read" }, { ifRoles: ["user"] }))!.displayName).toBe("as read");
  });

  it("a document without a session cutoff lets every session through ifSessionPasses, and gets one", async () => {
    const old = olderReleaseDoc("usr_nocut", "nocut@example.test");
    const store = mingoUsers([old]);
    const updated = await store.update(
      "usr_nocut",
      {},
      { ifSessionPasses: { sessionId: "ses_a", generation: 0 }, endSessions: { keep: "ses_a" } },
    );
    expect(updated!.sessionCutoff).toEqual({ generation: 1, keptSessionId: "ses_a" });
    expect(
      await store.update("usr_nocut", {}, { ifSessionPasses: { sessionId: "ses_b", generation: 0 }, endSessions: { keep: "ses_b" } }),
    ).toBeNull();
  });

  it("a document without a count of two-factor raises reads 0 (its device tokens stay current), and a two-factor change starts it", async () => {
    const store = mingoUsers([
      { ...olderReleaseDoc("usr_noraises", "noraises@example.test"), sessionCutoff: { generation: 3, keptSessionId: "ses_a" } },
    ]);
    const read = (await store.findById("usr_noraises"))!;
    expect(read.twoFactorCutoffRaises).toBe(0);
    expect(credentialGeneration(read)).toBe(3);
    const raised = await store.update(
      "usr_noraises",
      {},
      { ifSessionPasses: { sessionId: "ses_a", generation: 0 }, endSessions: { keep: "ses_a", twoFactorChange: true } },
    );
    expect(raised).toMatchObject({ sessionCutoff: { generation: 4, keptSessionId: "ses_a" }, twoFactorCutoffRaises: 1 });
    expect(credentialGeneration(raised!)).toBe(3);
  });

  it("a document without emailVerifiedAt reads a verified address as proven at creation, an unverified one as not proven", async () => {
    const created = new Date("2026-01-01T00:00:00Z");
    const old = (id: string, emailVerified: boolean) =>
      ({
        _id: id,
        email: `${id}@example.test`,
        emailVerified,
        displayName: "",
        passwordHash: null,
        passwordUpdatedAt: null,
        createdAt: created,
        updatedAt: created,
      }) as UserDoc;
    const store = mingoUsers([old("usr_verified", true), old("usr_unverified", false)]);
    expect((await store.findById("usr_verified"))!.emailVerifiedAt).toEqual(created);
    expect((await store.findById("usr_unverified"))!.emailVerifiedAt).toBeNull();
    const proven = new Date("2026-02-01T00:00:00Z");
    expect((await store.update("usr_unverified", { emailVerified: true, emailVerifiedAt: proven }))!.emailVerifiedAt).toEqual(proven);
  });
});

storageContract("mongodb audit events on mingo", async (): Promise<Store> => {
  const memory = createMemoryStore();
  const audit = fakeCollection<AuditEventDoc>();
  return { ...memory, kind: "mongodb", audit: mongoAudit((op) => op({ audit }), { maxTimeMS: 1_000 }) };
});
