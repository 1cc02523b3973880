// AdminService end to end: the real server, the first administrator made by ADMIN_EMAILS through
// registration, email verification and a password reset (the proof that promotes), then the service called as operators' tools call it: the
// generated Connect client over gRPC, and plain @grpc/grpc-js built from the .proto files.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectDriver, failure, grpcJsDriver, type Driver } from "../support/drivers.ts";
import { grpcTransport, startHarness, type Harness } from "../support/harness.ts";
import { rest } from "../support/rest.ts";

const password = "correct horse battery staple";
let h: Harness;
let drivers: Driver[];

beforeAll(async () => {
  h = await startHarness({ ADMIN_EMAILS: "root@example.com" });
  drivers = [connectDriver("connect-grpc", grpcTransport(h.url), "admin-e2e/1.0"), grpcJsDriver(h.url)];
});
afterAll(async () => {
  for (const d of drivers ?? []) d.close();
  await h?.close();
});

/** Registers, verifies the address (as its owner would, from the mail) and signs in. */
async function signedIn(d: Driver, email: string): Promise<{ id: string; access: string }> {
  await d.call("AuthService/Register", { email, password });
  await h.server.deps.background.drain();
  await d.call("AuthService/VerifyEmail", { code: (await h.mail(email, "email_verification")).code });
  const login = await d.call("AuthService/Login", { email, password });
  return { id: login.user.id, access: login.tokens.accessToken };
}

/**
 * The ADMIN_EMAILS account: verified, which does not promote it, then promoted as its owner
 * completes a password reset (the proof that also replaces every credential of the account).
 */
async function adminSignedIn(d: Driver, email: string): Promise<{ id: string; access: string }> {
  const verified = await signedIn(d, email);
  const me = await d.call("AuthService/GetCurrentUser", {}, verified.access);
  expect(me.user.roles).toEqual(["user"]);
  await d.call("AuthService/RequestPasswordReset", { email });
  await h.server.deps.background.drain();
  await d.call("AuthService/ResetPassword", { code: (await h.mail(email, "password_reset")).code, newPassword: password });
  const login = await d.call("AuthService/Login", { email, password });
  return { id: login.user.id, access: login.tokens.accessToken };
}

describe("AdminService over gRPC (Connect client and grpc-js)", () => {
  let root: { id: string; access: string };
  beforeAll(async () => {
    root = await adminSignedIn(drivers[0]!, "root@example.com");
  });

  it("the ADMIN_EMAILS account is an admin once its owner reset the password: in GetCurrentUser and in its token", async () => {
    const me = await drivers[0]!.call("AuthService/GetCurrentUser", {}, root.access);
    expect(me.user.roles).toEqual(["admin", "user"]);
    const claims = JSON.parse(Buffer.from(root.access.split(".")[1]!, "base64url").toString()) as Record<string, unknown>;
    expect(claims["permissions"]).toEqual(expect.arrayContaining(["audit.read", "users.read", "users.write"]));
  });

  it.each([0, 1])(
    "driver %i: lists, disables (the target's token stops at once), re-enables, sets roles; refuses strangers and plain users",
    async (i) => {
      const d = drivers[i]!;
      const target = await signedIn(d, `target${i}@example.com`);
      const unauthenticated = await failure(d.call("AdminService/ListUsers", {}));
      expect([unauthenticated.code, unauthenticated.reason]).toEqual(["unauthenticated", "UNAUTHENTICATED"]);
      const denied = await failure(d.call("AdminService/DisableUser", { userId: root.id }, target.access));
      expect([denied.code, denied.reason]).toEqual(["permission_denied", "PERMISSION_DENIED"]);

      const page = await d.call("AdminService/ListUsers", { pageSize: 1, emailPrefix: `target${i}@` }, root.access);
      expect(page.users.map((u: { email: string }) => u.email)).toEqual([`target${i}@example.com`]);
      expect(page.nextPageToken ?? "").toBe("");

      const disabled = await d.call("AdminService/DisableUser", { userId: target.id }, root.access);
      expect(disabled.user.disableTime).toBeTruthy();
      const refused = await failure(d.call("AuthService/GetCurrentUser", {}, target.access));
      expect([refused.code, refused.reason]).toEqual(["unauthenticated", "SESSION_REVOKED"]);
      const login = await failure(d.call("AuthService/Login", { email: `target${i}@example.com`, password }));
      expect([login.code, login.reason]).toEqual(["permission_denied", "ACCOUNT_DISABLED"]);
      await d.call("AdminService/EnableUser", { userId: target.id }, root.access);

      const roles = await d.call("AdminService/SetRoles", { userId: target.id, roles: ["admin", "user"] }, root.access);
      expect(roles.user.roles).toEqual(["admin", "user"]);
      const bad = await failure(d.call("AdminService/SetRoles", { userId: target.id, roles: ["root"] }, root.access));
      expect([bad.code, bad.reason, bad.metadata["field"]]).toEqual(["invalid_argument", "INVALID_ARGUMENT", "roles"]);

      const got = await d.call("AdminService/GetUser", { userId: target.id }, root.access);
      expect(got.user.email).toBe(`target${i}@example.com`);
      expect(got.secondFactor.enabled ?? false).toBe(false);
    },
  );

  it("the audit log shows the calls, with the client's user agent, newest first", async () => {
    const { events } = await drivers[0]!.call("AdminService/ListAuditEvents", { pageSize: 100 }, root.access);
    const disables = events.filter((e: { action: string }) => e.action === "admin.users.disable");
    expect(disables.map((e: { outcome: string }) => e.outcome).sort()).toEqual(["OK", "OK", "PERMISSION_DENIED", "PERMISSION_DENIED"]);
    const mine = disables.find(
      (e: { actorId: string; userAgent: string }) => e.actorId === root.id && e.userAgent.startsWith("admin-e2e/1.0"),
    );
    expect(mine).toMatchObject({ actorKind: "user", ipAddress: expect.any(String), targetUserId: expect.any(String) });
    const times = events.map((e: { time: string }) => Date.parse(e.time));
    expect(times).toEqual([...times].sort((a, b) => b - a));
  });

  it("the legacy REST paths refuse a disabled account the same way: 403 ACCOUNT_DISABLED at login, and the same answer to a reset request", async () => {
    const d = drivers[0]!;
    const target = await signedIn(d, "legacy-disabled@example.com");
    const before = await rest(h, "POST", "/api/v1/auth/forgot-password", { body: { email: "legacy-disabled@example.com" } });
    await d.call("AdminService/DisableUser", { userId: target.id }, root.access);
    const me = await rest(h, "GET", "/auth/me", { token: target.access });
    expect([me.status, me.body.code]).toEqual([401, "SESSION_REVOKED"]);
    for (const path of ["/api/v1/auth/login", "/auth/login"]) {
      const res = await rest(h, "POST", path, { body: { email: "legacy-disabled@example.com", password } });
      expect([path, res.status, res.body.code]).toEqual([path, 403, "ACCOUNT_DISABLED"]);
    }
    const after = await rest(h, "POST", "/api/v1/auth/forgot-password", { body: { email: "legacy-disabled@example.com" } });
    const unknown = await rest(h, "POST", "/api/v1/auth/forgot-password", { body: { email: "nobody-at-all@example.com" } });
    expect([after.status, after.body]).toEqual([before.status, before.body]);
    expect([unknown.status, unknown.body]).toEqual([before.status, before.body]);
  });
});
