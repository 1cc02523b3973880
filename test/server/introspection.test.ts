// Service accounts and token introspection end to end, through the real server, as their users
// call them: an admin creates a service account with the Connect client; the service introspects
// users' tokens with a plain @grpc/grpc-js client (built from the .proto files), with Connect JSON,
// and at POST /oauth2/introspect in RFC 7662's form encoding as an API gateway would. Revoking a
// session, or the service's key, counts on the very next call.
import { createClient, type Client } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AdminService } from "../../gen/auth/v1/admin_service_pb.js";
import { ServiceAccountService } from "../../gen/auth/v1/service_account_service_pb.js";
import { TokenService } from "../../gen/auth/v1/token_service_pb.js";
import { Health, HealthCheckResponse_ServingStatus } from "../../gen/grpc/health/v1/health_pb.js";
import { type Driver, failure, fetchDriver, grpcJsDriver, type Json } from "../support/drivers.ts";
import { errorInfoFromConnectError } from "../support/error-info.ts";
import { connectJsonTransport, grpcTransport, grpcWebTransport, startHarness, type Harness } from "../support/harness.ts";

const password = "correct horse battery staple";
let h: Harness;
let admin: { userId: string; accessToken: string };
let adminClient: Client<typeof ServiceAccountService>;
let service: { id: string; apiKey: string };
let grpcJs: Driver;

async function signedIn(email: string): Promise<{ userId: string; accessToken: string; sessionId: string }> {
  const d = fetchDriver(h.url, "introspection-test");
  const r: Json = await d.call("AuthService/Register", { email, password });
  return { userId: r.user.id, accessToken: r.tokens.accessToken, sessionId: r.tokens.sessionId };
}

const auth = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });

/** IntrospectToken over plain @grpc/grpc-js, with the API key as the Bearer credential. */
const grpcIntrospect = (token: string, key: string): Promise<Json> => grpcJs.call("TokenService/IntrospectToken", { token }, key);

async function grpcFailure(p: Promise<unknown>): Promise<{ code: string; reason: string | undefined }> {
  const f = await failure(p);
  return { code: f.code, reason: f.reason };
}

/** POST /oauth2/introspect as an API gateway sends it. */
async function gateway(body: string, headers: Record<string, string>): Promise<{ status: number; headers: Headers; json: Json }> {
  const res = await fetch(`${h.url}/oauth2/introspect`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", ...headers },
    body,
  });
  return { status: res.status, headers: res.headers, json: await res.json() };
}

/** Whether a log line is the audit event of this action on this service account. */
const audited = (line: Record<string, unknown>, action: string, id: string): boolean => {
  const event = line.audit as { action?: string; detail?: string } | undefined;
  return event?.action === action && event.detail?.includes(`service_account=${id}`) === true;
};

const basic = (id: string, secret: string) => ({ authorization: `Basic ${Buffer.from(`${id}:${secret}`).toString("base64")}` });

beforeAll(async () => {
  h = await startHarness({ EMAIL_VERIFICATION_REQUIRED: "false" });
  const a = await signedIn("admin@example.com");
  // The first admin, made directly in the store (the bootstrap is i12-roles' and tested there).
  await h.store.users.update(a.userId, { roles: ["admin"] });
  admin = a;
  adminClient = createClient(ServiceAccountService, grpcTransport(h.url));
  const created = await adminClient.createServiceAccount({ name: "api-gateway", permissions: ["tokens.introspect"] }, auth(a.accessToken));
  service = { id: created.serviceAccount?.id ?? "", apiKey: created.apiKey };

  grpcJs = grpcJsDriver(h.url);
});
afterAll(async () => {
  grpcJs?.close();
  await h?.close();
});

describe("ServiceAccountService", () => {
  it("creates an account whose key is shown once and never logged", async () => {
    expect(service.apiKey).toMatch(new RegExp(`^authd_sk_${service.id}_[A-Za-z0-9_-]{43}$`));
    const list = await adminClient.listServiceAccounts({}, auth(admin.accessToken));
    const listed = list.serviceAccounts.find((a) => a.id === service.id);
    expect(listed).toMatchObject({ name: "api-gateway", permissions: ["tokens.introspect"], keyPrefix: `authd_sk_${service.id}_` });
    expect(JSON.stringify(listed, (_k, v) => (typeof v === "bigint" ? String(v) : v))).not.toContain(service.apiKey);
    const logs = JSON.stringify(h.logs);
    expect(logs).not.toContain(service.apiKey.slice(-43));
    expect(h.logs.some((l) => audited(l, "service_accounts.create", service.id))).toBe(true);
  });

  it("refuses a caller without service_accounts.manage, on every protocol", async () => {
    const plain = await signedIn("plain@example.com");
    const err = await adminClient.listServiceAccounts({}, auth(plain.accessToken)).catch((e: unknown) => e);
    expect(errorInfoFromConnectError(err as never)?.reason).toBe("PERMISSION_DENIED");
    const json = await fetch(`${h.url}/auth.v1.ServiceAccountService/ListServiceAccounts`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${service.apiKey}` },
      body: "{}",
    });
    expect(json.status).toBe(403);
    expect(((await json.json()) as Json).details).toBeDefined();
  });

  it("is served and reported healthy like the other services", async () => {
    const health = createClient(Health, grpcTransport(h.url));
    for (const name of ["auth.v1.ServiceAccountService", "auth.v1.TokenService"]) {
      expect((await health.check({ service: name })).status).toBe(HealthCheckResponse_ServingStatus.SERVING);
    }
  });
});

describe("TokenService.IntrospectToken", () => {
  it("answers from the live session over gRPC (grpc-js), Connect JSON and gRPC-Web; a logout counts at once", async () => {
    const u = await signedIn("user@example.com");
    const live = await grpcIntrospect(u.accessToken, service.apiKey);
    expect(live).toMatchObject({ active: true, sub: u.userId, sid: u.sessionId, roles: ["user"], tokenType: "Bearer", clientId: "authd" });
    expect(Number(live.expireTime.seconds)).toBeGreaterThan(Number(live.issueTime.seconds));

    const connect = createClient(TokenService, connectJsonTransport(h.url));
    const overConnect = await connect.introspectToken({ token: u.accessToken }, auth(service.apiKey));
    expect(overConnect).toMatchObject({ active: true, sub: u.userId, sid: u.sessionId });
    const grpcWeb = createClient(TokenService, grpcWebTransport(h.url));
    expect(await grpcWeb.introspectToken({ token: u.accessToken }, auth(service.apiKey))).toMatchObject({ active: true, sub: u.userId });

    const sessions = fetchDriver(h.url, "introspection-test");
    await sessions.call("AuthService/Logout", {}, u.accessToken);
    expect(await grpcIntrospect(u.accessToken, service.apiKey)).toMatchObject({ active: false, sub: "", sid: "", roles: [] });
    expect((await connect.introspectToken({ token: u.accessToken }, auth(service.apiKey))).active).toBe(false);
  });

  it("a user disabled through AdminService is inactive at once", async () => {
    const u = await signedIn("disabled@example.com");
    expect((await grpcIntrospect(u.accessToken, service.apiKey)).active).toBe(true);
    await createClient(AdminService, grpcTransport(h.url)).disableUser({ userId: u.userId }, auth(admin.accessToken));
    expect((await grpcIntrospect(u.accessToken, service.apiKey)).active).toBe(false);
  });

  it("a forged or garbage token is inactive, never an error", async () => {
    const u = await signedIn("forged@example.com");
    const [hd, pl] = u.accessToken.split(".");
    for (const token of [`${hd}.${pl}.AAAA`, "garbage", "authd_sk_nope"]) {
      expect((await grpcIntrospect(token, service.apiKey)).active).toBe(false);
    }
    expect(await grpcFailure(grpcIntrospect("", service.apiKey))).toEqual({ code: "invalid_argument", reason: "INVALID_ARGUMENT" });
  });

  it("a revoked key is refused at once; a rotated key replaces the old one at once", async () => {
    const u = await signedIn("rotation@example.com");
    const made = await adminClient.createServiceAccount(
      { name: "short-lived", permissions: ["tokens.introspect"] },
      auth(admin.accessToken),
    );
    const id = made.serviceAccount?.id ?? "";
    expect((await grpcIntrospect(u.accessToken, made.apiKey)).active).toBe(true);

    const rotated = await adminClient.rotateServiceAccountKey({ serviceAccountId: id }, auth(admin.accessToken));
    expect(await grpcFailure(grpcIntrospect(u.accessToken, made.apiKey))).toEqual({ code: "unauthenticated", reason: "INVALID_TOKEN" });
    expect((await grpcIntrospect(u.accessToken, rotated.apiKey)).active).toBe(true);

    const revoked = await adminClient.revokeServiceAccount({ serviceAccountId: id }, auth(admin.accessToken));
    expect(revoked.serviceAccount?.revokeTime).toBeDefined();
    expect(await grpcFailure(grpcIntrospect(u.accessToken, rotated.apiKey))).toEqual({ code: "unauthenticated", reason: "INVALID_TOKEN" });
    const rest = await gateway(`token=${u.accessToken}`, { authorization: `Bearer ${rotated.apiKey}` });
    expect(rest.status).toBe(401);
    expect(h.logs.some((l) => audited(l, "service_accounts.revoke", id))).toBe(true);
  });

  it("without a credential: UNAUTHENTICATED", async () => {
    expect(await grpcFailure(grpcJs.call("TokenService/IntrospectToken", { token: "x" }))).toEqual({
      code: "unauthenticated",
      reason: "UNAUTHENTICATED",
    });
  });
});

describe("POST /oauth2/introspect (RFC 7662)", () => {
  it("answers RFC 7662 JSON to Bearer and to HTTP Basic, uncached", async () => {
    const u = await signedIn("gateway@example.com");
    const body = new URLSearchParams({ token: u.accessToken, token_type_hint: "access_token" }).toString();
    for (const headers of [{ authorization: `Bearer ${service.apiKey}` }, basic(service.id, service.apiKey)]) {
      const res = await gateway(body, headers);
      expect(res.status).toBe(200);
      expect(res.headers.get("cache-control")).toBe("no-store");
      expect(res.headers.get("content-type")).toMatch(/^application\/json/);
      expect(res.json).toMatchObject({
        active: true,
        sub: u.userId,
        sid: u.sessionId,
        client_id: "authd",
        token_type: "Bearer",
        iss: "authd",
      });
      expect(typeof res.json.exp).toBe("number");
      expect(typeof res.json.iat).toBe("number");
      expect(res.json.exp - res.json.iat).toBe(900);
    }
    await fetchDriver(h.url, "t").call("SessionService/RevokeOtherSessions", {}, u.accessToken);
    await fetchDriver(h.url, "t").call("AuthService/Logout", {}, u.accessToken);
    const after = await gateway(body, basic(service.id, service.apiKey));
    expect(after).toMatchObject({ status: 200, json: { active: false } });
    expect(Object.keys(after.json)).toEqual(["active"]);
  });

  it("401 with WWW-Authenticate for missing or bad caller credentials", async () => {
    const body = "token=whatever";
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{}, /^Basic realm="authd", Bearer realm="authd"$/],
      // The key with its last character changed (to another one: a random key ends in "A" 1 time in 16).
      [basic(service.id, `${service.apiKey.slice(0, -1)}${service.apiKey.endsWith("A") ? "B" : "A"}`), /^Basic realm="authd"$/],
      [basic("0".repeat(24), service.apiKey), /^Basic realm="authd"$/], // client_id not the key's account
      [{ authorization: "Bearer authd_sk_0000" }, /^Bearer realm="authd", error="invalid_token"$/],
      [{ authorization: "Bearer not.a.jwt" }, /^Bearer realm="authd", error="invalid_token"$/],
      [{ authorization: "Digest whatever" }, /^Basic realm="authd", Bearer realm="authd"$/],
    ];
    for (const [headers, challenge] of cases) {
      const res = await gateway(body, headers);
      expect(res.status).toBe(401);
      expect(res.headers.get("www-authenticate")).toMatch(challenge);
      expect(res.json.error).toBe("invalid_client");
    }
  });

  it("403 for a caller without tokens.introspect", async () => {
    const weak = await adminClient.createServiceAccount({ name: "weak", permissions: [] }, auth(admin.accessToken));
    const res = await gateway("token=x", basic(weak.serviceAccount?.id ?? "", weak.apiKey));
    expect(res.status).toBe(403);
    expect(res.json.error).toBe("insufficient_scope");
  });

  it("400 for malformed bodies, 405 for other methods", async () => {
    const key = { authorization: `Bearer ${service.apiKey}` };
    const bad: Array<[string, Record<string, string>]> = [
      ["", key],
      ["token=", key],
      ["token_type_hint=access_token", key],
      ["token=a&token=b", key],
      ['{"token":"x"}', { ...key, "content-type": "application/json" }],
      ["token=x", { ...key, "content-type": "text/plain" }],
    ];
    for (const [body, headers] of bad) {
      const res = await gateway(body, headers);
      expect({ body, status: res.status, error: res.json.error }).toEqual({ body, status: 400, error: "invalid_request" });
    }
    const get = await fetch(`${h.url}/oauth2/introspect?token=x`, { headers: key });
    expect(get.status).toBe(405);
    expect(get.headers.get("allow")).toBe("POST");
    const huge = await gateway(`token=${"x".repeat(2_000_000)}`, key);
    expect(huge.status).toBe(413);
  });
});
