// The OpenAPI document lists every documented endpoint (checked against a list written here from
// the five documents, not from the route table), and the same user is driven through RPCs and REST
// interchangeably: sessions made on one side are seen and revoked on the other.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { routes } from "../../src/rest/routes/index.ts";
import { connectDriver, failure, grpcJsDriver, type Driver } from "../support/drivers.ts";
import { grpcTransport, startHarness, type Harness } from "../support/harness.ts";
import { documentedRoutes } from "../support/legacy-routes.ts";
import { rest, sessionCookie, type Json } from "../support/rest.ts";
import { totp } from "../support/totp.ts";

let h: Harness;
let rpc: Driver;
let grpcJs: Driver;
beforeAll(async () => {
  h = await startHarness({ EMAIL_VERIFICATION_REQUIRED: "false" });
  rpc = connectDriver("connect-grpc", grpcTransport(h.url), "rpc-client/1.0");
  grpcJs = grpcJsDriver(h.url);
});
afterAll(async () => {
  grpcJs?.close();
  await h?.close();
});

/**
 * Every endpoint of the legacy documents (docs/legacy-rest/), read off the pages by hand into
 * test/support/legacy-routes.ts: [page, method, path], a shared path once for each of its pages.
 */
const documented: Array<[string, string, string]> = documentedRoutes.flatMap((r) =>
  r.docs.map((doc) => [`${doc}.md`, r.method, r.path.replace(/:([A-Za-z_]+)/g, "{$1}")] as [string, string, string]),
);

describe("GET /openapi.json", () => {
  let doc: Json;
  beforeAll(async () => {
    const res = await rest(h, "GET", "/openapi.json");
    expect(res.status).toBe(200);
    doc = res.body;
  });

  it("is OpenAPI 3.1 with the bearer and cookie security schemes", () => {
    expect(doc.openapi).toBe("3.1.0");
    expect(Object.keys(doc.components.securitySchemes)).toEqual(expect.arrayContaining(["bearerAuth", "sessionCookie"]));
  });

  it.each(documented)("lists %s %s %s", (file, method, path) => {
    const op = doc.paths[path]?.[method.toLowerCase()];
    expect(op, `${method} ${path}`).toBeDefined();
    expect(op["x-documents"]).toContain(file);
  });

  it("lists exactly the served routes, each once, and nothing the documents do not have", () => {
    const listed = Object.entries(doc.paths).flatMap(([p, ops]) => Object.keys(ops as object).map((m) => `${m.toUpperCase()} ${p}`));
    const served = routes.map((r) => `${r.method} ${r.path.replace(/:([A-Za-z_]+)/g, "{$1}")}`);
    expect(new Set(listed)).toEqual(new Set(served));
    expect(listed).toHaveLength(served.length);
    const fromDocs = new Set(documented.map(([, m, p]) => `${m} ${p}`));
    expect(new Set(listed)).toEqual(fromDocs);
  });

  it("declares the request fields and path parameters", () => {
    const login = doc.paths["/api/v1/auth/login"].post;
    expect(Object.keys(login.requestBody.content["application/json"].schema.properties)).toEqual(
      expect.arrayContaining(["email", "password", "loginCode", "recoveryCode"]),
    );
    expect(doc.paths["/auth/sessions/{id}"].delete.parameters).toEqual([
      { name: "id", in: "path", required: true, schema: { type: "string" } },
    ]);
    expect(doc.paths["/auth/me"].get.security).toEqual([{ bearerAuth: [] }, { sessionCookie: [] }]);
  });
});

describe("the route declarations", () => {
  it("give each served route the documented pages, credentials, body fields and query fields", () => {
    const shape = (r: { method: string; path: string; docs: readonly string[]; auth: string; body?: object; query?: object }) => ({
      route: `${r.method} ${r.path}`,
      docs: [...r.docs].sort(),
      auth: r.auth,
      body: r.body ?? {},
      query: r.query ?? {},
    });
    const byRoute = (a: { route: string }, b: { route: string }) => a.route.localeCompare(b.route);
    expect(routes.map(shape).sort(byRoute)).toEqual(documentedRoutes.map(shape).sort(byRoute));
  });
});

const sid = (jwt: string): string => JSON.parse(Buffer.from(jwt.split(".")[1] ?? "", "base64url").toString()).sid;

describe("one user, RPC and REST interchangeably", () => {
  const email = "both@example.com";
  const password = "correct horse battery staple";

  it("a session created by a REST login is listed and revocable over gRPC, and dies on REST at once", async () => {
    await rest(h, "POST", "/api/v1/auth/register", { body: { email, password } });
    const restLogin = await rest(h, "POST", "/api/v1/auth/login", { body: { email, password } });
    const restToken: string = restLogin.body.data.accessToken;
    const rpcTokens = (await rpc.call("AuthService/Login", { email, password })).tokens;
    const listed = await rpc.call("SessionService/ListSessions", {}, rpcTokens.accessToken);
    const restSession = listed.sessions.find((s: Json) => s.id === sid(restToken));
    expect(restSession).toMatchObject({ userAgent: "legacy-client/1.0" });
    await grpcJs.call("SessionService/RevokeSession", { sessionId: sid(restToken) }, rpcTokens.accessToken);
    const after = await rest(h, "GET", "/api/v1/auth/me", { token: restToken });
    expect(after.status).toBe(401);
    expect(after.body.code).toBe("SESSION_REVOKED");
  });

  it("a session created over gRPC is listed and revocable over REST, and dies on gRPC at once", async () => {
    const rpcTokens = (await grpcJs.call("AuthService/Login", { email, password })).tokens;
    const restToken = (await rest(h, "POST", "/auth/login", { body: { email, password } })).body.access_token;
    const list = await rest(h, "GET", "/auth/sessions", { token: restToken });
    expect(list.body.map((s: Json) => s.id)).toContain(rpcTokens.sessionId);
    const del = await rest(h, "DELETE", `/api/auth/sessions/${rpcTokens.sessionId}`, { token: restToken });
    expect(del.body).toMatchObject({ success: true });
    const f = await failure(rpc.call("AuthService/GetCurrentUser", {}, rpcTokens.accessToken));
    expect([f.code, f.reason]).toEqual(["unauthenticated", "SESSION_REVOKED"]);
  });

  it("a cookie session is revoked by gRPC RevokeOtherSessions, and a refresh token from REST refreshes over gRPC", async () => {
    const login = await rest(h, "POST", "/auth/login", { body: { email, password } });
    const cookie = sessionCookie(login);
    expect((await rest(h, "GET", "/auth/me", { cookie })).status).toBe(200);
    const refreshed = await rpc.call("AuthService/RefreshToken", { refreshToken: login.body.refresh_token });
    expect(refreshed.tokens.sessionId).toBe(sid(login.body.access_token));
    const other = (await rpc.call("AuthService/Login", { email, password })).tokens;
    await rpc.call("SessionService/RevokeOtherSessions", {}, other.accessToken);
    expect((await rest(h, "GET", "/auth/me", { cookie })).status).toBe(401);
  });

  it("2FA enrolled over REST governs RPC sign-in, and the reverse", async () => {
    const token = (await rest(h, "POST", "/auth/login", { body: { email, password } })).body.access_token;
    const setup = await rest(h, "GET", "/totp/setup", { token });
    await rest(h, "POST", "/totp/enable", {
      token,
      body: { secret: setup.body.secret, otp: totp(setup.body.secret, h.clock.now()), deviceName: "Phone" },
    });
    const rpcLogin = await rpc.call("AuthService/Login", { email, password });
    expect(rpcLogin.secondFactor.challengeToken).toBeTruthy();
    h.clock.advance(30_000);
    const done = await rpc.call("AuthService/CompleteLogin", {
      challengeToken: rpcLogin.secondFactor.challengeToken,
      code: totp(setup.body.secret, h.clock.now()),
    });
    const status = await rest(h, "GET", "/api/v1/auth/2fa/status", { token: done.tokens.accessToken });
    expect(status.body.data.enabled).toBe(true);
    // Disabled over gRPC: REST sign-in gives tokens straight away.
    await rpc.call("TwoFactorService/Disable", { password }, done.tokens.accessToken);
    const again = await rest(h, "POST", "/auth/login", { body: { email, password } });
    expect(again.body.requires2FA).toBe(false);
  });
});
