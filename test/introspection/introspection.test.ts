// Token introspection at the level of its operation: the answer follows the live session, and a
// token that is not live for any reason is `{ active: false }` and nothing more.
import { createPrivateKey, generateKeyPairSync, sign } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Principal } from "../../src/service-accounts/principal.ts";
import { noReauthentication } from "../../src/two-factor/reauthentication.ts";
import { startService, type InProcess } from "../support/service.ts";
import { outcomeOf } from "../support/assertions.ts";

const password = "correct horse battery staple";
let s: InProcess;
let admin: Principal;
let asker: Principal;
let askerKey: string;

const reason = outcomeOf;

async function signedIn(email: string): Promise<{ userId: string; accessToken: string; sessionId: string }> {
  const { user, tokens } = await s.ops.accounts.register({ email, password, displayName: "" }, s.client);
  if (tokens === undefined) throw new Error("no tokens");
  return { userId: user.id, accessToken: tokens.accessToken, sessionId: tokens.sessionId };
}

const introspect = (token: string, who: Principal = asker) => s.ops.introspection.introspect(who, { token });

beforeAll(async () => {
  s = await startService({ EMAIL_VERIFICATION_REQUIRED: "false", JWT_ISSUER: "https://auth.example.test", JWT_AUDIENCE: "example-api" });
  const a = await signedIn("admin@example.com");
  await s.store.users.update(a.userId, { roles: ["admin"] });
  admin = await s.ops.principals.authenticate(a.accessToken);
  const created = await s.ops.serviceAccounts.create(admin, { name: "gateway", permissions: ["tokens.introspect"] }, s.client);
  askerKey = created.apiKey;
  asker = await s.ops.principals.authenticate(askerKey);
});
afterAll(() => s.close());

describe("a live access token", () => {
  it("is active, with its subject, session, the roles and permissions now, and its times", async () => {
    const u = await signedIn("live@example.com");
    const result = await introspect(u.accessToken);
    const payload = JSON.parse(Buffer.from(u.accessToken.split(".")[1] as string, "base64url").toString("utf8")) as Record<string, number>;
    expect(result).toEqual({
      active: true,
      sub: u.userId,
      sid: u.sessionId,
      roles: ["user"],
      permissions: [],
      expiresAt: new Date((payload.exp as number) * 1000),
      issuedAt: new Date((payload.iat as number) * 1000),
      clientId: "example-api",
      tokenType: "Bearer",
      issuer: "https://auth.example.test",
    });
    // Roles are read live: a change shows at once, before any refresh.
    await s.store.users.update(u.userId, { roles: ["admin"] });
    const after = await introspect(u.accessToken);
    expect(after.active && after.roles).toEqual(["admin"]);
    expect(after.active && after.permissions).toContain("service_accounts.manage");
  });

  it("an admin user holding tokens.introspect may ask too; a plain user may not", async () => {
    const u = await signedIn("asked@example.com");
    expect((await introspect(u.accessToken, admin)).active).toBe(true);
    const plain = await s.ops.principals.authenticate(u.accessToken);
    expect(await reason(introspect(u.accessToken, plain))).toBe("PERMISSION_DENIED");
    const noPermission = await s.ops.serviceAccounts.create(admin, { name: "nothing", permissions: [] }, s.client);
    const service = await s.ops.principals.authenticate(noPermission.apiKey);
    expect(await reason(introspect(u.accessToken, service))).toBe("PERMISSION_DENIED");
  });

  it("an empty token is a bad request, not an answer", async () => {
    expect(await reason(introspect(""))).toBe("INVALID_ARGUMENT");
    expect(await reason(introspect("   "))).toBe("INVALID_ARGUMENT");
  });
});

describe("inactive, at once, and without saying why", () => {
  it("after logout, a revocation from another session, sign-out everywhere, or a password change", async () => {
    const a = await signedIn("ends@example.com");
    await s.ops.sessions.logout(await s.ops.sessions.authenticate({ bearer: a.accessToken }));
    expect(await introspect(a.accessToken)).toEqual({ active: false });

    const login = async () => {
      const r = await s.ops.signIn.login({ email: "ends@example.com", password, rememberMe: false }, s.client);
      if (r.state !== "signed_in") throw new Error("not signed in");
      return r.tokens;
    };
    const [one, two] = [await login(), await login()];
    expect((await introspect(two.accessToken)).active).toBe(true);
    await s.ops.sessions.revoke(await s.ops.sessions.authenticate({ bearer: one.accessToken }), two.sessionId);
    expect(await introspect(two.accessToken)).toEqual({ active: false });

    const three = await login();
    await s.ops.sessions.revokeOthers(await s.ops.sessions.authenticate({ bearer: one.accessToken }));
    expect(await introspect(three.accessToken)).toEqual({ active: false });

    const four = await login();
    await s.ops.accounts.changePassword(
      await s.ops.sessions.authenticate({ bearer: one.accessToken }),
      password,
      "another correct horse battery staple",
      s.client,
    );
    expect(await introspect(four.accessToken)).toEqual({ active: false });
    expect((await introspect(one.accessToken)).active).toBe(true);
  });

  it("expired, tampered, forged with another key, or not a token at all", async () => {
    const u = await signedIn("forged@example.com");
    const [header, payload, signature] = u.accessToken.split(".") as [string, string, string];
    const claims = JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as Record<string, unknown>;
    const otherKey = createPrivateKey(generateKeyPairSync("ed25519").privateKey.export({ format: "pem", type: "pkcs8" }));
    const forgedInput = `${header}.${payload}`;
    const forged = `${forgedInput}.${sign(null, Buffer.from(forgedInput), otherKey).toString("base64url")}`;
    const elevated = Buffer.from(JSON.stringify({ ...claims, sub: "someone-else" })).toString("base64url");
    const flipped = `${signature.slice(0, -2)}${signature.endsWith("AA") ? "BB" : "AA"}`;
    for (const token of [
      `${header}.${payload}.${flipped}`,
      `${header}.${elevated}.${signature}`,
      forged,
      "not-a-token",
      "a.b.c",
      "authd_sk_000000000000000000000000_x",
      "x".repeat(10_000),
    ]) {
      expect(await introspect(token)).toEqual({ active: false });
    }
    expect((await introspect(u.accessToken)).active).toBe(true);
    s.clock.advance(16 * 60_000); // past the default 15-minute access token lifetime
    expect(await introspect(u.accessToken)).toEqual({ active: false });
  });

  it("a user an administrator disabled, and one marked disabled without any session cleanup", async () => {
    if (admin.kind !== "user") throw new Error("the admin is a user");
    const u = await signedIn("disabled@example.com");
    expect((await introspect(u.accessToken)).active).toBe(true);
    await s.ops.admin.disableUser(admin, u.userId, s.client);
    expect(await introspect(u.accessToken)).toEqual({ active: false });

    // The flag alone (a disable racing a sign-in, a record restored from a backup) is enough.
    const v = await signedIn("flagged@example.com");
    await s.store.users.update(v.userId, { disabledAt: s.clock.now() });
    expect(await introspect(v.accessToken)).toEqual({ active: false });
    await s.store.users.update(v.userId, { disabledAt: null });
    expect((await introspect(v.accessToken)).active).toBe(true);
  });

  it("a user deleted since the token was issued", async () => {
    const u = await signedIn("deleted@example.com");
    await s.store.users.delete(u.userId);
    expect(await introspect(u.accessToken)).toEqual({ active: false });
  });
});

describe("API keys", () => {
  it("an active key is active with its account's permissions, a revoked one is not", async () => {
    // The admin signed in long ago (the clock has moved): making a key takes the password again.
    const reauthentication = { ...noReauthentication, password };
    const { account, apiKey } = await s.ops.serviceAccounts.create(
      admin,
      { name: "probe", permissions: ["users.read"], reauthentication },
      s.client,
    );
    expect(await introspect(apiKey)).toEqual({
      active: true,
      sub: account.id,
      sid: "",
      roles: [],
      permissions: ["users.read"],
      expiresAt: null,
      issuedAt: account.keyCreatedAt,
      clientId: account.id,
      tokenType: "api_key",
      issuer: "",
    });
    // Being looked at is not being used.
    expect((await s.store.serviceAccounts.findById(account.id))?.lastUsedAt).toBeNull();
    await s.ops.serviceAccounts.revoke(admin, account.id, s.client);
    expect(await introspect(apiKey)).toEqual({ active: false });
  });
});
