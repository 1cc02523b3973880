// The bad-input suite of ServiceAccountService and TokenService: every RPC with missing,
// malformed, oversized and wrongly typed fields and with absent, tampered, expired, foreign or
// under-privileged credentials. Each call fails with exactly the documented status and reason,
// leaks nothing it was sent, and changes nothing in storage. Every case runs over JSON (fetch);
// the credential cases also over Connect gRPC, gRPC-Web and plain @grpc/grpc-js, so each
// protocol's error encoding is proven for these services too.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ServiceAccountRecord } from "../../src/store/port.ts";
import { expectRefused as refused, titled, type Expected } from "../support/assertions.ts";
import { connectDriver, type Driver, failure, fetchDriver, grpcJsDriver, type Json, type Method, rawRpc } from "../support/drivers.ts";
import { grpcTransport, grpcWebTransport, startHarness, type Harness } from "../support/harness.ts";

const password = "correct horse battery staple";
let h: Harness;
let json: Driver;
let drivers: Driver[];
let adminToken: string;
let userToken: string;
let expiredToken: string;
let managerKey: string;
let weakKey: string;
let target: { id: string; apiKey: string };
let revokedId: string;

/** Every account as stored, but for lastUsedAt: authenticating a key records its use, even when the call is then refused. */
const snapshot = async (): Promise<Array<Omit<ServiceAccountRecord, "lastUsedAt">>> =>
  (await h.store.serviceAccounts.list(1000)).map(({ lastUsedAt: _, ...rest }) => rest);

beforeAll(async () => {
  h = await startHarness({ EMAIL_VERIFICATION_REQUIRED: "false" });
  json = fetchDriver(h.url, "bad-input");
  drivers = [
    json,
    connectDriver("connect-grpc", grpcTransport(h.url), "bad-input"),
    connectDriver("grpc-web", grpcWebTransport(h.url), "bad-input"),
    grpcJsDriver(h.url),
  ];
  const register = async (email: string): Promise<Json> => json.call("AuthService/Register", { email, password });
  const admin = await register("admin@example.com");
  await h.store.users.update(admin.user.id, { roles: ["admin"] });
  adminToken = admin.tokens.accessToken;
  // Issued now, used after the clock has passed its expiry (and the session is still live).
  const stale = await register("stale-admin@example.com");
  await h.store.users.update(stale.user.id, { roles: ["admin"] });
  expiredToken = stale.tokens.accessToken;
  await register("user@example.com");
  const create = async (name: string, permissions: string[]) =>
    json.call("ServiceAccountService/CreateServiceAccount", { name, permissions }, adminToken);
  managerKey = (await create("manager", ["service_accounts.manage", "tokens.introspect"])).apiKey;
  weakKey = (await create("weak", [])).apiKey;
  const t = await create("target", []);
  target = { id: t.serviceAccount.id, apiKey: t.apiKey };
  const revoked = await create("revoked", []);
  revokedId = revoked.serviceAccount.id;
  await json.call("ServiceAccountService/RevokeServiceAccount", { serviceAccountId: revokedId }, adminToken);
  h.clock.advance(16 * 60_000); // past the 15-minute access token lifetime
  const login = async (email: string): Promise<string> => (await json.call("AuthService/Login", { email, password })).tokens.accessToken;
  adminToken = await login("admin@example.com");
  userToken = await login("user@example.com");
});
afterAll(async () => {
  for (const d of drivers ?? []) d.close();
  await h?.close();
});

const expectRefused = (d: Driver, method: Method, req: Json, credential: string | undefined, expected: Expected): Promise<void> =>
  refused(() => d.call(method, req, credential), expected, [credential ?? "", target.apiKey, managerKey, JSON.stringify(req)], snapshot);

const rpcs: Array<[Method, Json]> = [
  ["ServiceAccountService/CreateServiceAccount", { name: "x", permissions: [] }],
  ["ServiceAccountService/ListServiceAccounts", {}],
  ["ServiceAccountService/RevokeServiceAccount", { serviceAccountId: "000000000000000000000000" }],
  ["ServiceAccountService/RotateServiceAccountKey", { serviceAccountId: "000000000000000000000000" }],
  ["TokenService/IntrospectToken", { token: "x" }],
];

describe("credentials, on every RPC and every protocol", () => {
  const unauthenticated = { code: "unauthenticated", reason: "UNAUTHENTICATED" };
  const invalid = { code: "unauthenticated", reason: "INVALID_TOKEN" };
  const cases: Array<{ name: string; credential: () => string | undefined } & Expected> = [
    { name: "no credential", credential: () => undefined, ...unauthenticated },
    { name: "a tampered access token", credential: () => `${adminToken.slice(0, -4)}AAAA`, ...invalid },
    { name: "an expired access token", credential: () => expiredToken, code: "unauthenticated", reason: "TOKEN_EXPIRED" },
    { name: "a malformed API key", credential: () => "authd_sk_nothex_x", ...invalid },
    {
      name: "an API key with a wrong secret",
      credential: () => `${target.apiKey.slice(0, -1)}${target.apiKey.endsWith("A") ? "B" : "A"}`,
      ...invalid,
    },
    { name: "a revoked account's key (shape of a real one)", credential: () => `authd_sk_${revokedId}_${"A".repeat(43)}`, ...invalid },
    { name: "a user without the permission", credential: () => userToken, code: "permission_denied", reason: "PERMISSION_DENIED" },
    { name: "a service account without the permission", credential: () => weakKey, code: "permission_denied", reason: "PERMISSION_DENIED" },
  ];
  for (const [method, req] of rpcs) {
    it.each(titled(cases, ` (${method})`))("%s", async (_title, c) => {
      for (const d of drivers) await expectRefused(d, method, req, c.credential(), c);
    });
  }
});

describe("fields", () => {
  const invalid = (field: string) => ({ code: "invalid_argument", reason: "INVALID_ARGUMENT", field });
  const notFound = { code: "not_found", reason: "NOT_FOUND", field: "service_account_id" };
  const malformed = { code: "invalid_argument", reason: "MALFORMED_REQUEST" };
  const cases: Array<{ name: string; method: Method; req: () => Json } & Expected> = [
    { name: "Create without a name", method: "ServiceAccountService/CreateServiceAccount", req: () => ({}), ...invalid("name") },
    {
      name: "Create with a blank name",
      method: "ServiceAccountService/CreateServiceAccount",
      req: () => ({ name: "  " }),
      ...invalid("name"),
    },
    {
      name: "Create with a 101-character name",
      method: "ServiceAccountService/CreateServiceAccount",
      req: () => ({ name: "n".repeat(101) }),
      ...invalid("name"),
    },
    {
      name: "Create with a control character",
      method: "ServiceAccountService/CreateServiceAccount",
      req: () => ({ name: "a\u0007b" }),
      ...invalid("name"),
    },
    {
      name: "Create with a lone surrogate",
      method: "ServiceAccountService/CreateServiceAccount",
      // The protocol layer refuses JSON text that is not valid Unicode before any operation runs.
      req: () => ({ name: "a\ud800" }),
      ...malformed,
    },
    {
      name: "Create with an unknown permission",
      method: "ServiceAccountService/CreateServiceAccount",
      req: () => ({ name: "x", permissions: ["root"] }),
      ...invalid("permissions"),
    },
    {
      name: "Create with 201 permissions",
      method: "ServiceAccountService/CreateServiceAccount",
      req: () => ({ name: "x", permissions: Array.from({ length: 201 }, (_, i) => `p${i}`) }),
      ...invalid("permissions"),
    },
    {
      name: "Create with a name that is a number",
      method: "ServiceAccountService/CreateServiceAccount",
      req: () => ({ name: 7 }),
      ...malformed,
    },
    {
      name: "Create with permissions that are not a list",
      method: "ServiceAccountService/CreateServiceAccount",
      req: () => ({ name: "x", permissions: "tokens.introspect" }),
      ...malformed,
    },
    {
      name: "List with a negative page size",
      method: "ServiceAccountService/ListServiceAccounts",
      req: () => ({ pageSize: -1 }),
      ...invalid("page_size"),
    },
    {
      name: "List with a forged page token",
      method: "ServiceAccountService/ListServiceAccounts",
      req: () => ({ pageToken: "eyJ0IjoiYSJ9" }),
      ...invalid("page_token"),
    },
    {
      name: "List with a page size that is text",
      method: "ServiceAccountService/ListServiceAccounts",
      req: () => ({ pageSize: "ten" }),
      ...malformed,
    },
    {
      name: "Revoke without an id",
      method: "ServiceAccountService/RevokeServiceAccount",
      req: () => ({}),
      ...invalid("service_account_id"),
    },
    {
      name: "Revoke a malformed id",
      method: "ServiceAccountService/RevokeServiceAccount",
      req: () => ({ serviceAccountId: "../etc" }),
      ...invalid("service_account_id"),
    },
    {
      name: "Revoke an id of another shape",
      method: "ServiceAccountService/RevokeServiceAccount",
      req: () => ({ serviceAccountId: "0c8f7c54-2bd4-4f3e-9d55" }),
      ...notFound,
    },
    {
      name: "Revoke an unknown id",
      method: "ServiceAccountService/RevokeServiceAccount",
      req: () => ({ serviceAccountId: "0".repeat(24) }),
      ...notFound,
    },
    {
      name: "Revoke an account already revoked",
      method: "ServiceAccountService/RevokeServiceAccount",
      req: () => ({ serviceAccountId: revokedId }),
      ...notFound,
    },
    {
      name: "Rotate without an id",
      method: "ServiceAccountService/RotateServiceAccountKey",
      req: () => ({}),
      ...invalid("service_account_id"),
    },
    {
      name: "Rotate an unknown id",
      method: "ServiceAccountService/RotateServiceAccountKey",
      req: () => ({ serviceAccountId: "f".repeat(24) }),
      ...notFound,
    },
    {
      name: "Rotate a revoked account",
      method: "ServiceAccountService/RotateServiceAccountKey",
      req: () => ({ serviceAccountId: revokedId }),
      ...notFound,
    },
    { name: "Introspect without a token", method: "TokenService/IntrospectToken", req: () => ({}), ...invalid("token") },
    { name: "Introspect a blank token", method: "TokenService/IntrospectToken", req: () => ({ token: " " }), ...invalid("token") },
    { name: "Introspect a token that is a list", method: "TokenService/IntrospectToken", req: () => ({ token: ["a"] }), ...malformed },
  ];
  it.each(titled(cases))("%s", async (_title, c) => {
    const credential = c.method.startsWith("TokenService") ? managerKey : adminToken;
    await expectRefused(json, c.method, c.req(), credential, c);
  });

  it("a body over MAX_BODY_BYTES → resource_exhausted / PAYLOAD_TOO_LARGE, nothing stored", async () => {
    const before = await snapshot();
    const res = await rawRpc(h.url, "ServiceAccountService/CreateServiceAccount", JSON.stringify({ name: "x".repeat(2_000_000) }), {
      "content-type": "application/json",
      authorization: `Bearer ${adminToken}`,
    });
    expect(res.status).toBe(429);
    expect(JSON.parse(res.text).code).toBe("resource_exhausted");
    expect(await snapshot()).toEqual(before);
  });

  it("an unknown permission cut mid-character in the message is still answered, on every protocol", async () => {
    // The message quotes the first 64 UTF-16 units of the name: here the 64th is half of an emoji.
    // A lone surrogate cannot be percent-encoded (encodeURIComponent throws), and grpc-message is
    // percent-encoded: the gRPC and gRPC-Web answers were never written, and the call hung.
    const permission = `${"p".repeat(63)}\u{1F600}`;
    const answers: Record<string, unknown> = {};
    for (const d of drivers) {
      const call = failure(d.call("ServiceAccountService/CreateServiceAccount", { name: "x", permissions: [permission] }, adminToken));
      const f = await Promise.race([call, new Promise<"hung">((resolve) => setTimeout(() => resolve("hung"), 3000).unref())]);
      answers[d.name] =
        f === "hung"
          ? f
          : { code: f.code, reason: f.reason, field: f.metadata["field"], quoted: f.message.includes(`"${"p".repeat(63)}\uFFFD"`) };
    }
    const expected = { code: "invalid_argument", reason: "INVALID_ARGUMENT", field: "permissions", quoted: true };
    expect(answers).toEqual(Object.fromEntries(drivers.map((d) => [d.name, expected])));
  });

  it("an oversized token under the body limit is inactive, not an error", async () => {
    expect(await json.call("TokenService/IntrospectToken", { token: "x".repeat(60_000) }, managerKey)).toEqual({});
  });
});
