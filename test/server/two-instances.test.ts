// Scaling out: two server instances over one store, as N replicas share one MongoDB replica set.
// Nothing that decides security may live in one process's memory. Runs on the embedded store
// (proving the service keeps no such state) and on MongoDB when MONGODB_URI is set.
import { generateKeyPairSync } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Store } from "../../src/store/port.ts";
import { failure, fetchDriver, type Driver } from "../support/drivers.ts";
import { startHarness, type Harness } from "../support/harness.ts";
import { openTestStore, storageUnderTest } from "../support/stores.ts";

const password = "correct horse battery staple";
let shared: Store;
let a: Harness;
let b: Harness;
let onA: Driver;
let onB: Driver;

beforeAll(async () => {
  shared = await openTestStore("two_instances");
  // The keys every replica shares, as the README asks for.
  const env = {
    EMAIL_VERIFICATION_REQUIRED: "false",
    LOGIN_MAX_FAILURES: "4",
    JWT_PRIVATE_KEY: generateKeyPairSync("ed25519").privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
    TOTP_ENCRYPTION_KEY: "cd".repeat(32),
  };
  const view = (): Store => ({ ...shared, kind: shared.kind, close: async () => undefined });
  a = await startHarness(env, view());
  b = await startHarness(env, view());
  onA = fetchDriver(a.url, "replica-a");
  onB = fetchDriver(b.url, "replica-b");
});
afterAll(async () => {
  await a.close();
  await b.close();
  await shared.close();
});

describe(`two instances on one ${storageUnderTest} store`, () => {
  it("a session revoked on one instance is refused by the other at once", async () => {
    const email = "two-revoke@example.com";
    await onA.call("AuthService/Register", { email, password });
    const tokens = (await onA.call("AuthService/Login", { email, password })).tokens;
    expect((await onB.call("AuthService/GetCurrentUser", {}, tokens.accessToken)).user.email).toBe(email);
    await onA.call("AuthService/Logout", {}, tokens.accessToken);
    const refused = await failure(onB.call("AuthService/GetCurrentUser", {}, tokens.accessToken));
    expect([refused.code, refused.reason]).toEqual(["unauthenticated", "SESSION_REVOKED"]);
  });

  it("wrong guesses are counted across both: a burst of 12 split over the two gets exactly 4 checks", async () => {
    const email = "two-guess@example.com";
    await onA.call("AuthService/Register", { email, password });
    const results = await Promise.allSettled(
      Array.from({ length: 12 }, (_, i) => (i % 2 === 0 ? onA : onB).call("AuthService/Login", { email, password: `wrong ${i}` })),
    );
    const reasons = results.map((r) => (r.status === "rejected" ? (r.reason as { reason: string }).reason : "SIGNED_IN"));
    expect(reasons.filter((r) => r === "INVALID_CREDENTIALS")).toHaveLength(4);
    expect(reasons.filter((r) => r === "RATE_LIMITED")).toHaveLength(8);
    // Locked on both, even for the right password.
    for (const d of [onA, onB]) expect((await failure(d.call("AuthService/Login", { email, password }))).reason).toBe("RATE_LIMITED");
  });

  it("one refresh token raced on both instances has exactly one winner, whose pair every racer gets", async () => {
    const email = "two-refresh@example.com";
    await onA.call("AuthService/Register", { email, password });
    const tokens = (await onB.call("AuthService/Login", { email, password })).tokens;
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        (i % 2 === 0 ? onA : onB).call("AuthService/RefreshToken", { refreshToken: tokens.refreshToken }),
      ),
    );
    // The pair is sealed under the shared SERVER_SECRET, so either instance can give it again.
    expect(new Set(results.map((r) => r.tokens.refreshToken)).size).toBe(1);
    expect((await onA.call("AuthService/GetCurrentUser", {}, results[0].tokens.accessToken)).user.email).toBe(email);
  });
});
