// Sign-ups are bounded per client network and hour (REGISTRATION_MAX_PER_ADDRESS_PER_HOUR): each
// costs an argon2id hash and leaves an account kept for good, verified or not, so one client
// must not be able to make them without end. Every attempt counts, an existing email's too.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { failure, fetchDriver, type Driver } from "../support/drivers.ts";
import { startHarness, type Harness } from "../support/harness.ts";
import { outcome, startService } from "../support/service.ts";

const password = "correct horse battery staple";
const from = (address: string) => ({ "x-forwarded-for": address });
let h: Harness;
let d: Driver;
beforeAll(async () => {
  h = await startHarness({ EMAIL_VERIFICATION_REQUIRED: "false", TRUST_PROXY_HOPS: "1", REGISTRATION_MAX_PER_ADDRESS_PER_HOUR: "3" });
  d = fetchDriver(h.url, "sign-ups");
});
afterAll(() => h.close());

describe("sign-ups per client network", () => {
  it("refuses the fourth attempt of the hour from one network with RATE_LIMITED, not others', and lets it in an hour later", async () => {
    const register = (email: string, address: string) => d.call("AuthService/Register", { email, password }, undefined, from(address));
    await register("first@example.com", "203.0.113.7");
    await register("second@example.com", "203.0.113.7");
    // An address taken still counts: the attempt is the work bounded.
    expect((await failure(register("first@example.com", "203.0.113.7"))).reason).toBe("EMAIL_EXISTS");
    const refused = await failure(register("fourth@example.com", "203.0.113.7"));
    expect([refused.code, refused.reason]).toEqual(["resource_exhausted", "RATE_LIMITED"]);
    expect(Number(refused.metadata.retry_after_seconds)).toBeGreaterThan(0);
    expect(await h.store.users.findByEmail("fourth@example.com")).toBeNull();
    // Another network is not held back, and signing in is not either.
    await register("elsewhere@example.com", "198.51.100.20");
    await d.call("AuthService/Login", { email: "first@example.com", password }, undefined, from("203.0.113.7"));
    h.clock.advance(3_600_000);
    await register("fourth@example.com", "203.0.113.7");
  });
});

describe("sign-ups per IPv6 aggregate (CLIENT_IPV6_AGGREGATE_PREFIX, _MULTIPLE)", () => {
  it("a /48's /64s share 3 times one network's budget; one /64 keeps its own; another /48 has its own", async () => {
    const s = await startService({ REGISTRATION_MAX_PER_ADDRESS_PER_HOUR: "2", CLIENT_IPV6_AGGREGATE_MULTIPLE: "3" });
    const register = (email: string, ipAddress: string) =>
      outcome(s.ops.accounts.register({ email, password, displayName: "" }, { ipAddress, userAgent: "sign-ups" }));
    // One /64: its own 2, as before.
    expect([await register("a1@example.com", "2001:db8:48:1::1"), await register("a2@example.com", "2001:db8:48:1::2")]).toEqual([
      "OK",
      "OK",
    ]);
    expect(await register("a3@example.com", "2001:db8:48:1::3")).toBe("RATE_LIMITED");
    // Other /64s of the /48: 4 more, then every /64 of it is refused.
    const more: string[] = [];
    for (let i = 2; i < 8; i++) more.push(await register(`b${i}@example.com`, `2001:db8:48:${i.toString(16)}::1`));
    expect(more).toEqual(["OK", "OK", "OK", "OK", "RATE_LIMITED", "RATE_LIMITED"]);
    expect(await s.store.users.findByEmail("b6@example.com")).toBeNull();
    expect(await register("c@example.com", "2001:db8:49::1")).toBe("OK");
    await s.close();
  });
});
