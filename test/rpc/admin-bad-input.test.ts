// The bad-input suite of AdminService: every RPC with absent, tampered, expired or
// under-privileged credentials, and with missing, malformed, wrongly typed and unknown fields and
// page tokens. Each call fails with exactly the documented status and reason, leaks nothing it
// was sent, and changes no user. The credential cases run over JSON (fetch), Connect gRPC and
// plain @grpc/grpc-js, so each protocol's error encoding is proven for this service too.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { UserRecord } from "../../src/store/port.ts";
import { expectRefused as refused, titled, type Expected } from "../support/assertions.ts";
import { connectDriver, type Driver, fetchDriver, grpcJsDriver, type Json, type Method, rawRpc } from "../support/drivers.ts";
import { grpcTransport, startHarness, type Harness } from "../support/harness.ts";

const password = "correct horse battery staple";
let h: Harness;
let json: Driver;
let drivers: Driver[];
let adminToken: string;
let adminId: string;
let userToken: string;
let expiredToken: string;
let targetId: string;
let pageToken: string;

/** Every user as stored (sorted by email): what no refused call may change. */
const snapshot = async (): Promise<UserRecord[]> => h.store.users.list({ emailPrefix: "", afterEmail: null, limit: 1000 });

beforeAll(async () => {
  h = await startHarness({ EMAIL_VERIFICATION_REQUIRED: "false" });
  json = fetchDriver(h.url, "bad-input");
  drivers = [json, connectDriver("connect-grpc", grpcTransport(h.url), "bad-input"), grpcJsDriver(h.url)];
  const register = async (email: string): Promise<Json> => json.call("AuthService/Register", { email, password });
  const admin = await register("admin@example.com");
  adminId = admin.user.id;
  await h.store.users.update(adminId, { roles: ["admin"] });
  const stale = await register("stale-admin@example.com");
  await h.store.users.update(stale.user.id, { roles: ["admin"] });
  expiredToken = stale.tokens.accessToken;
  targetId = (await register("target@example.com")).user.id;
  await register("user@example.com");
  h.clock.advance(16 * 60_000); // past the 15-minute access token lifetime
  const login = async (email: string): Promise<string> => (await json.call("AuthService/Login", { email, password })).tokens.accessToken;
  adminToken = await login("admin@example.com");
  userToken = await login("user@example.com");
  pageToken = (await json.call("AdminService/ListUsers", { pageSize: 1 }, adminToken)).nextPageToken;
});
afterAll(async () => {
  for (const d of drivers ?? []) d.close();
  await h?.close();
});

const expectRefused = (d: Driver, method: Method, req: Json, credential: string | undefined, expected: Expected): Promise<void> =>
  refused(() => d.call(method, req, credential), expected, [credential ?? "", JSON.stringify(req)], snapshot);

const rpcs = (): Array<[Method, Json]> => [
  ["AdminService/ListUsers", {}],
  ["AdminService/GetUser", { userId: targetId }],
  ["AdminService/DisableUser", { userId: targetId }],
  ["AdminService/EnableUser", { userId: targetId }],
  ["AdminService/SetRoles", { userId: targetId, roles: ["admin"] }],
  ["AdminService/SignOutEverywhere", { userId: targetId }],
  ["AdminService/ResetSecondFactor", { userId: targetId }],
  ["AdminService/DeleteUser", { userId: targetId }],
  ["AdminService/ListAuditEvents", {}],
];

describe("credentials, on every RPC and every protocol", () => {
  const cases: Array<{ name: string; credential: () => string | undefined } & Expected> = [
    { name: "no credential", credential: () => undefined, code: "unauthenticated", reason: "UNAUTHENTICATED" },
    {
      name: "a tampered access token",
      credential: () => `${adminToken.slice(0, -4)}AAAA`,
      code: "unauthenticated",
      reason: "INVALID_TOKEN",
    },
    { name: "an expired access token", credential: () => expiredToken, code: "unauthenticated", reason: "TOKEN_EXPIRED" },
    { name: "a user without the permission", credential: () => userToken, code: "permission_denied", reason: "PERMISSION_DENIED" },
  ];
  it.each(titled(cases))("%s", async (_title, c) => {
    for (const [method, req] of rpcs()) for (const d of drivers) await expectRefused(d, method, req, c.credential(), c);
  });
});

describe("fields", () => {
  const invalid = (field: string) => ({ code: "invalid_argument", reason: "INVALID_ARGUMENT", field });
  const notFound = { code: "not_found", reason: "NOT_FOUND", field: "user_id" };
  const malformed = { code: "invalid_argument", reason: "MALFORMED_REQUEST" };
  const cases: Array<{ name: string; method: Method; req: () => Json } & Expected> = [
    {
      name: "ListUsers with a negative page size",
      method: "AdminService/ListUsers",
      req: () => ({ pageSize: -1 }),
      ...invalid("page_size"),
    },
    { name: "ListUsers with a page size that is text", method: "AdminService/ListUsers", req: () => ({ pageSize: "ten" }), ...malformed },
    {
      name: "ListUsers with a forged page token",
      method: "AdminService/ListUsers",
      req: () => ({ pageToken: "eyJ4IjoxfQ.AAAA" }),
      ...invalid("page_token"),
    },
    {
      name: "ListUsers with another filter's page token",
      method: "AdminService/ListUsers",
      req: () => ({ pageToken, emailPrefix: "t" }),
      ...invalid("page_token"),
    },
    {
      name: "ListUsers with an oversized prefix",
      method: "AdminService/ListUsers",
      req: () => ({ emailPrefix: "a".repeat(300) }),
      ...invalid("email_prefix"),
    },
    {
      name: "ListAuditEvents with a users page token",
      method: "AdminService/ListAuditEvents",
      req: () => ({ pageToken }),
      ...invalid("page_token"),
    },
    {
      name: "ListAuditEvents with a malformed target",
      method: "AdminService/ListAuditEvents",
      req: () => ({ targetUserId: "../x" }),
      ...invalid("target_user_id"),
    },
    { name: "GetUser without an id", method: "AdminService/GetUser", req: () => ({}), ...invalid("user_id") },
    { name: "GetUser with a malformed id", method: "AdminService/GetUser", req: () => ({ userId: "a b" }), ...invalid("user_id") },
    { name: "GetUser with an unknown id", method: "AdminService/GetUser", req: () => ({ userId: "f".repeat(36) }), ...notFound },
    { name: "DisableUser on an unknown id", method: "AdminService/DisableUser", req: () => ({ userId: "f".repeat(36) }), ...notFound },
    { name: "DisableUser on oneself", method: "AdminService/DisableUser", req: () => ({ userId: adminId }), ...invalid("user_id") },
    { name: "EnableUser without an id", method: "AdminService/EnableUser", req: () => ({}), ...invalid("user_id") },
    { name: "SetRoles with no roles", method: "AdminService/SetRoles", req: () => ({ userId: targetId, roles: [] }), ...invalid("roles") },
    {
      name: "SetRoles with an unconfigured role",
      method: "AdminService/SetRoles",
      req: () => ({ userId: targetId, roles: ["root"] }),
      ...invalid("roles"),
    },
    {
      name: "SetRoles with roles that are not a list",
      method: "AdminService/SetRoles",
      req: () => ({ userId: targetId, roles: "admin" }),
      ...malformed,
    },
    {
      name: "SetRoles on oneself",
      method: "AdminService/SetRoles",
      req: () => ({ userId: adminId, roles: ["user"] }),
      ...invalid("user_id"),
    },
    {
      name: "SignOutEverywhere on an unknown id",
      method: "AdminService/SignOutEverywhere",
      req: () => ({ userId: "0".repeat(36) }),
      ...notFound,
    },
    {
      name: "ResetSecondFactor on an unknown id",
      method: "AdminService/ResetSecondFactor",
      req: () => ({ userId: "0".repeat(36) }),
      ...notFound,
    },
    { name: "DeleteUser on oneself", method: "AdminService/DeleteUser", req: () => ({ userId: adminId }), ...invalid("user_id") },
    { name: "DeleteUser on an unknown id", method: "AdminService/DeleteUser", req: () => ({ userId: "0".repeat(36) }), ...notFound },
  ];
  it.each(titled(cases))("%s", async (_title, c) => {
    await expectRefused(json, c.method, c.req(), adminToken, c);
  });

  it("a body over MAX_BODY_BYTES → resource_exhausted / PAYLOAD_TOO_LARGE, nothing changed", async () => {
    const before = await snapshot();
    const res = await rawRpc(h.url, "AdminService/SetRoles", JSON.stringify({ userId: targetId, roles: ["x".repeat(2_000_000)] }), {
      "content-type": "application/json",
      authorization: `Bearer ${adminToken}`,
    });
    expect(res.status).toBe(429);
    expect(JSON.parse(res.text).code).toBe("resource_exhausted");
    expect(await snapshot()).toEqual(before);
  });
});
