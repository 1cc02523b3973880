// The forward-auth endpoint as the proxies call it (issue 12, item 4): any method, any path under
// /auth/forward, a Bearer token or the REST session cookie, checked against the live session; the
// identity in X-Auth-* response headers, never one the client sent; 401 with WWW-Authenticate and
// 403 for a permission the proxy requires. The nginx end-to-end test is nginx.test.ts.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectBrowserSafe } from "../support/assertions.ts";
import { startHarness, type Harness } from "../support/harness.ts";
import { fetchDriver } from "../support/drivers.ts";
import { scrape } from "../support/prometheus.ts";
import { rest, sessionCookie } from "../support/rest.ts";

const password = "correct horse battery staple";
const metricsToken = "forward-auth-test-token-0123456789";
const roles = '{"user": ["profile.read"], "admin": ["users.read", "users.write"], "support": ["users.read"], "guest": []}';

let h: Harness;

async function signIn(email: string): Promise<{ accessToken: string; sessionId: string; userId: string }> {
  const d = fetchDriver(h.url, "forward-auth-test");
  await d.call("AuthService/Register", { email, password });
  const login = await d.call("AuthService/Login", { email, password });
  const me = await d.call("AuthService/GetCurrentUser", {}, login.tokens.accessToken);
  return { accessToken: login.tokens.accessToken, sessionId: login.tokens.sessionId, userId: me.user.id };
}

const forward = (path: string, init: RequestInit = {}) => fetch(`${h.url}${path}`, init);
const bearer = (token: string, more: Record<string, string> = {}) => ({ authorization: `Bearer ${token}`, ...more });

beforeAll(async () => {
  h = await startHarness({ EMAIL_VERIFICATION_REQUIRED: "false", METRICS_TOKEN: metricsToken, ROLES: roles });
});
afterAll(() => h?.close());

describe("forward auth", () => {
  it("answers 200 with the identity in headers, for every method and every path under the prefix", async () => {
    const alice = await signIn("forward-alice@example.com");
    for (const [method, path] of [
      ["GET", "/auth/forward"],
      ["HEAD", "/auth/forward"],
      ["POST", "/auth/forward"],
      ["DELETE", "/auth/forward"],
      ["PATCH", "/auth/forward/app/items/7?x=1"],
      ["PUT", "/auth/forward/"],
    ] as const) {
      const res = await forward(path, { method, headers: bearer(alice.accessToken), body: method === "POST" ? "ignored" : undefined });
      expect(res.status, `${method} ${path}`).toBe(200);
      expect(res.headers.get("x-auth-user-id")).toBe(alice.userId);
      expect(res.headers.get("x-auth-session-id")).toBe(alice.sessionId);
      expect(res.headers.get("x-auth-roles")).toBe("user");
      expect(res.headers.get("x-auth-permissions")).toBe("profile.read");
      expect(res.headers.get("cache-control")).toBe("no-store");
      expect(await res.text()).toBe("");
    }
  });

  it("takes the REST session cookie, and the Bearer header alone when both are sent", async () => {
    const email = "forward-cookie@example.com";
    const alice = await signIn(email);
    const cookie = sessionCookie(await rest(h, "POST", "/auth/login", { body: { email, password } }));
    const res = await forward("/auth/forward", { headers: { cookie: `other=1; ${cookie}` } });
    expect(res.status).toBe(200);
    expect(res.headers.get("x-auth-user-id")).toBe(alice.userId);
    expect(res.headers.get("x-auth-session-id")).not.toBe(alice.sessionId);
    // An Authorization header decides alone, as on the REST routes: a broken one is not rescued by the cookie.
    const both = await forward("/auth/forward", { headers: { cookie, authorization: "Bearer not.a.token" } });
    expect(both.status).toBe(401);
    const basic = await forward("/auth/forward", { headers: { cookie, authorization: "Basic dXNlcjpwYXNz" } });
    expect(basic.status).toBe(401);
    // A cookie whose MAC does not match is refused.
    const forged = await forward("/auth/forward", { headers: { cookie: cookie.replace(/.$/, (c) => (c === "A" ? "B" : "A")) } });
    expect(forged.status).toBe(401);
    // Two session cookies (one planted by a sibling subdomain, say): which is the browser's own
    // cannot be told, so neither is taken.
    const mallory = await cookieOf("forward-tosser@example.com");
    const tossed = await forward("/auth/forward", { headers: { cookie: `${mallory}; other=1; ${cookie}` } });
    expect(tossed.status).toBe(401);
    expect(tossed.headers.get("x-auth-user-id")).toBeNull();
  });

  it("answers 401 with a Bearer challenge and a tiny body without secrets", async () => {
    const alice = await signIn("forward-401@example.com");
    const none = await forward("/auth/forward");
    expect(none.status).toBe(401);
    expect(none.headers.get("www-authenticate")).toBe("Bearer");
    expect(none.headers.get("cache-control")).toBe("no-store");
    expect(await none.json()).toEqual({ code: "UNAUTHENTICATED", message: expect.any(String) });

    const tampered = `${alice.accessToken.slice(0, -4)}AAAA`;
    const bad = await forward("/auth/forward", { headers: bearer(tampered) });
    expect(bad.status).toBe(401);
    expect(bad.headers.get("www-authenticate")).toBe('Bearer error="invalid_token"');
    const text = await bad.text();
    expect(text.length).toBeLessThan(200);
    expect(text).not.toContain(tampered);
    expect(text).not.toContain(alice.userId);
    for (const name of ["x-auth-user-id", "x-auth-session-id", "x-auth-roles", "x-auth-permissions"]) {
      expect(bad.headers.get(name)).toBeNull();
    }
  });

  it("refuses a revoked session at once: logout and RevokeSession", async () => {
    const d = fetchDriver(h.url, "forward-auth-test");
    const alice = await signIn("forward-revoke@example.com");
    const other = await d.call("AuthService/Login", { email: "forward-revoke@example.com", password });
    expect((await forward("/auth/forward", { headers: bearer(alice.accessToken) })).status).toBe(200);
    expect((await forward("/auth/forward", { headers: bearer(other.tokens.accessToken) })).status).toBe(200);

    await d.call("SessionService/RevokeSession", { sessionId: other.tokens.sessionId }, alice.accessToken);
    const revoked = await forward("/auth/forward", { headers: bearer(other.tokens.accessToken) });
    expect(revoked.status).toBe(401);
    expect(((await revoked.json()) as { code: string }).code).toBe("SESSION_REVOKED");
    expect(revoked.headers.get("www-authenticate")).toBe('Bearer error="invalid_token"');

    await d.call("AuthService/Logout", {}, alice.accessToken);
    expect((await forward("/auth/forward", { headers: bearer(alice.accessToken) })).status).toBe(401);
  });

  it("refuses a disabled account at once, with the token it already holds", async () => {
    const alice = await signIn("forward-disabled@example.com");
    expect((await forward("/auth/forward", { headers: bearer(alice.accessToken) })).status).toBe(200);
    // Written straight to the record: the live check itself refuses it, not only the session revocation
    // that AdminService.DisableUser also does.
    await h.store.users.update(alice.userId, { disabledAt: h.clock.now() });
    const refused = await forward("/auth/forward", { headers: bearer(alice.accessToken) });
    expect(refused.status).toBe(401);
    expect(refused.headers.get("x-auth-user-id")).toBeNull();
  });

  it("never answers with an identity the client sent", async () => {
    const alice = await signIn("forward-forged@example.com");
    const forged = {
      "x-auth-user-id": "admin-user",
      "x-auth-session-id": "forged-session",
      "x-auth-roles": "admin",
      "x-auth-permissions": "users.write",
    };
    const anonymous = await forward("/auth/forward", { headers: forged });
    expect(anonymous.status).toBe(401);
    for (const name of Object.keys(forged)) expect(anonymous.headers.get(name)).toBeNull();

    const signedIn = await forward("/auth/forward", { headers: bearer(alice.accessToken, forged) });
    expect(signedIn.status).toBe(200);
    expect(signedIn.headers.get("x-auth-user-id")).toBe(alice.userId);
    expect(signedIn.headers.get("x-auth-session-id")).toBe(alice.sessionId);
    expect(signedIn.headers.get("x-auth-roles")).toBe("user");
    expect(signedIn.headers.get("x-auth-permissions")).toBe("profile.read");
  });

  it("answers 403 for a permission the proxy requires and the caller lacks, by query or header", async () => {
    const alice = await signIn("forward-403@example.com");
    for (const [path, headers] of [
      ["/auth/forward?permission=users.write", {}],
      ["/auth/forward", { "x-auth-required-permission": "users.write" }],
      // Envoy appends the client's path and query to the prefix: a client can add requirements, never drop one.
      ["/auth/forward/app?permission=users.write", {}],
    ] as const) {
      const res = await forward(path, { headers: bearer(alice.accessToken, headers) });
      expect(res.status, path).toBe(403);
      expect(res.headers.get("www-authenticate")).toBe('Bearer error="insufficient_scope"');
      expect(((await res.json()) as { code: string }).code).toBe("PERMISSION_DENIED");
      expect(res.headers.get("x-auth-user-id")).toBeNull();
    }
    // Without credentials the answer is 401, whatever is required: a proxy sends the client to sign in.
    expect((await forward("/auth/forward?permission=users.write")).status).toBe(401);
    // A malformed requirement is the proxy configuration's fault: refused for everyone (the proxy fails closed).
    const bad = await forward("/auth/forward?permission=Users%20Write", { headers: bearer(alice.accessToken) });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { code: string }).code).toBe("INVALID_ARGUMENT");
  });

  it("lets through a caller whose roles grant every required permission; a change of roles counts at once", async () => {
    const alice = await signIn("forward-roles@example.com");
    const check = (query: string, headers: Record<string, string> = {}) =>
      forward(`/auth/forward${query}`, { headers: bearer(alice.accessToken, headers) });
    expect((await check("?permission=profile.read")).status).toBe(200);
    expect((await check("?permission=users.read")).status).toBe(403);

    // Promoted: the same token, issued when the user had only "user", passes at once.
    await h.store.users.update(alice.userId, { roles: ["support", "user"] });
    const promoted = await check("?permission=users.read&permission=profile.read");
    expect(promoted.status).toBe(200);
    expect(promoted.headers.get("x-auth-roles")).toBe("support,user");
    expect(promoted.headers.get("x-auth-permissions")).toBe("profile.read,users.read");
    // Every requirement from every source must hold: query and header together.
    expect((await check("?permission=users.read", { "x-auth-required-permission": "profile.read" })).status).toBe(200);
    expect((await check("?permission=users.read", { "x-auth-required-permission": "profile.read, users.write" })).status).toBe(403);

    // Demoted: refused at once.
    await h.store.users.update(alice.userId, { roles: ["user"] });
    expect((await check("?permission=users.read")).status).toBe(403);

    // No permissions at all: the header is still sent, empty, so a proxy that copies it replaces
    // a forged one (Traefik's authResponseHeaders, Envoy's allowed_upstream_headers).
    await h.store.users.update(alice.userId, { roles: ["guest"] });
    const guest = await check("", { "x-auth-permissions": "users.write" });
    expect(guest.status).toBe(200);
    expect(guest.headers.get("x-auth-permissions")).toBe("");
  });

  it("never lets a browser sniff or frame an answer, whatever it is: 200, 401, 403, 400", async () => {
    const alice = await signIn("forward-headers@example.com");
    const cases: Array<[string, Promise<Response>, number]> = [
      ["200", forward("/auth/forward", { headers: bearer(alice.accessToken) }), 200],
      ["200 to HEAD", forward("/auth/forward/app", { method: "HEAD", headers: bearer(alice.accessToken) }), 200],
      ["401, no credentials", forward("/auth/forward"), 401],
      ["401, a bad token", forward("/auth/forward", { headers: bearer("not.a.token") }), 401],
      ["403", forward("/auth/forward?permission=users.write", { headers: bearer(alice.accessToken) }), 403],
      ["400", forward("/auth/forward?permission=Users%20Write", { headers: bearer(alice.accessToken) }), 400],
    ];
    for (const [label, sent, status] of cases) {
      const res = await sent;
      expect(res.status, label).toBe(status);
      expectBrowserSafe(res, label);
      await res.body?.cancel();
    }
  });

  it("answers a forwarded CORS preflight with the check, not with the CORS middleware's 204", async () => {
    const res = await forward("/auth/forward", {
      method: "OPTIONS",
      headers: { origin: "https://app.example.com", "access-control-request-method": "POST" },
    });
    expect(res.status).toBe(401);
    expect(res.headers.get("access-control-allow-origin")).toBeNull();
  });

  it("logs each check with its route and counts it under its own path in the metrics", async () => {
    const alice = await signIn("forward-log@example.com");
    await forward("/auth/forward/some/app/path", { headers: { ...bearer(alice.accessToken), "x-request-id": "forward-ok" } });
    await forward("/auth/forward", { headers: { "x-request-id": "forward-none" } });
    const line = (id: string) => h.logs.find((l) => l.msg === "request" && l.requestId === id);
    // The line is written when the response closes, which may come just after fetch resolves.
    for (let i = 0; i < 100 && (line("forward-ok") === undefined || line("forward-none") === undefined); i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(line("forward-ok")).toMatchObject({ route: "/auth/forward", status: 200, protocol: "http" });
    expect(line("forward-none")).toMatchObject({ route: "/auth/forward", status: 401, reason: "UNAUTHENTICATED" });
    const m = await scrape(`${h.url}/metrics`, metricsToken);
    const labels = { service: "http", method: "/auth/forward", protocol: "http" };
    expect(m.value("authd_requests_total", { ...labels, status: "200" })).toBeGreaterThanOrEqual(1);
    expect(m.value("authd_requests_total", { ...labels, status: "401", reason: "UNAUTHENTICATED" })).toBeGreaterThanOrEqual(1);
  });
});

/** Registers an account and signs it in over REST: its session cookie. */
async function cookieOf(address: string): Promise<string> {
  await rest(h, "POST", "/auth/register", { body: { email: address, password } });
  return sessionCookie(await rest(h, "POST", "/auth/login", { body: { email: address, password } }));
}
