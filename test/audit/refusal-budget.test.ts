// AUDIT_MAX_REFUSALS_PER_ADDRESS_PER_HOUR: anyone who can register can call AdminService and be
// refused. Refusals are stored up to the budget per client network and hour, then only logged;
// allowed calls are stored whatever the budget, another network has a budget of its own, and each
// caller's first refusal of the hour is stored even when others spent the network's budget.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Caller } from "../../src/sessions/caller.ts";
import { outcome, startService, type InProcess } from "../support/service.ts";

let s: InProcess;
beforeAll(async () => {
  s = await startService({ EMAIL_VERIFICATION_REQUIRED: "false", AUDIT_MAX_REFUSALS_PER_ADDRESS_PER_HOUR: "3" });
});
afterAll(() => s.close());

async function signedIn(email: string, roles?: string[]): Promise<Caller> {
  const { tokens, user } = await s.ops.accounts.register({ email, password: "a long enough passphrase", displayName: "" }, s.client);
  if (roles !== undefined) await s.store.users.update(user.id, { roles });
  return s.ops.sessions.authenticate({ bearer: tokens?.accessToken });
}

const stored = async () => s.store.audit.list({ targetUserId: null, before: null, limit: 1_000, now: s.clock.now() });

describe("refused calls in the audit log", () => {
  it("are stored up to the budget per network and hour; allowed calls always", async () => {
    const user = await signedIn("plain@example.com");
    const admin = await signedIn("admin@example.com", ["admin", "user"]);
    const list = (caller: Caller, client = s.client) =>
      outcome(s.ops.admin.listUsers({ kind: "user", ...caller }, { pageSize: 10, pageToken: "", emailPrefix: "" }, client));

    for (let i = 0; i < 10; i++) expect(await list(user)).toBe("PERMISSION_DENIED");
    for (let i = 0; i < 5; i++) expect(await list(admin)).toBe("OK");
    const events = await stored();
    // The caller's first of the hour, then the network's budget of 3.
    expect(events.filter((e) => e.outcome === "PERMISSION_DENIED")).toHaveLength(4);
    expect(events.filter((e) => e.outcome === "OK")).toHaveLength(5);

    // Another caller on the spent network: its first refusal is stored, its second not.
    const prober = await signedIn("prober@example.com");
    for (let i = 0; i < 2; i++) expect(await list(prober)).toBe("PERMISSION_DENIED");
    const byProber = async () => (await stored()).filter((e) => e.actor.id === prober.userId);
    expect(await byProber()).toHaveLength(1);
    // Another network has its own budget; an hour later, so has this one.
    const elsewhere = { ipAddress: "198.51.100.7", userAgent: "elsewhere" };
    expect(await list(user, elsewhere)).toBe("PERMISSION_DENIED");
    expect((await stored()).filter((e) => e.outcome === "PERMISSION_DENIED")).toHaveLength(6);
    s.clock.advance(3_600_000);
    expect(await list(user)).toBe("PERMISSION_DENIED");
    expect((await stored()).filter((e) => e.outcome === "PERMISSION_DENIED")).toHaveLength(7);
  });
});

describe("refused calls from an IPv6 aggregate (CLIENT_IPV6_AGGREGATE_PREFIX, _MULTIPLE)", () => {
  it("the /64s of one /48 share 2 times one network's budget; another /48 has its own", async () => {
    const v = await startService({
      EMAIL_VERIFICATION_REQUIRED: "false",
      AUDIT_MAX_REFUSALS_PER_ADDRESS_PER_HOUR: "1",
      CLIENT_IPV6_AGGREGATE_MULTIPLE: "2",
    });
    const { tokens } = await v.ops.accounts.register(
      { email: "prober@example.com", password: "a long enough passphrase", displayName: "" },
      v.client,
    );
    const user = await v.ops.sessions.authenticate({ bearer: tokens?.accessToken });
    const refusedFrom = async (ipAddress: string) => {
      const answer = await outcome(
        v.ops.admin.listUsers(
          { kind: "user", ...user },
          { pageSize: 10, pageToken: "", emailPrefix: "" },
          { ipAddress, userAgent: "probe" },
        ),
      );
      expect(answer).toBe("PERMISSION_DENIED");
    };
    const storedFrom = async () =>
      (await v.store.audit.list({ targetUserId: null, before: null, limit: 1_000, now: v.clock.now() })).map((e) => e.client.ipAddress);

    await refusedFrom("192.0.2.1"); // the caller's first of the hour: stored whatever the budgets
    for (let i = 1; i <= 4; i++) await refusedFrom(`2001:db8:48:${i}::1`);
    await refusedFrom("2001:db8:49::1");
    expect((await storedFrom()).sort()).toEqual(["192.0.2.1", "2001:db8:48:1::1", "2001:db8:48:2::1", "2001:db8:49::1"]);
    await v.close();
  });
});
