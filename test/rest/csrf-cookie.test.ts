// Cookie-authenticated requests: forgery is decided before anything about the body (issue 10,
// item 13), and logout clears the session cookie only when the logout was accepted, or when the
// cookie it was sent with is already dead (item 12). Every refusal leaves the session alive.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startHarness, type Harness } from "../support/harness.ts";
import { documentedRoutes } from "../support/legacy-routes.ts";
import { rest, sessionCookie } from "../support/rest.ts";

const password = "correct horse battery staple";
const email = "csrf-cookie@example.com";
const evil = { origin: "https://evil.example" };
let h: Harness;

beforeAll(async () => {
  h = await startHarness({ EMAIL_VERIFICATION_REQUIRED: "false", MAX_BODY_BYTES: "2048", LOGIN_MAX_FAILURES: "1000" });
  await rest(h, "POST", "/auth/register", { body: { email, password } });
});
afterAll(() => h?.close());

async function signIn(): Promise<string> {
  return sessionCookie(await rest(h, "POST", "/auth/login", { body: { email, password } }));
}

/** The cookie still names a live session. */
async function alive(cookie: string): Promise<boolean> {
  return (await rest(h, "GET", "/auth/me", { cookie })).status === 200;
}

describe("CSRF is decided before the body's content type", () => {
  const writes = documentedRoutes.filter((r) => r.auth === "user" && r.method !== "GET");

  it.each(writes.map((r) => [`${r.method} ${r.path}`, r] as const))(
    "%s: a forged text/plain cookie request → 403 CSRF_REJECTED",
    async (_t, route) => {
      const cookie = await signIn();
      const path = route.path.replace(/:\w+/g, "some-id");
      // What a cross-site HTML form or fetch in no-cors mode can send without a preflight.
      const forged = { cookie, raw: "email=evil@example.com&password=x", contentType: "text/plain" };
      const withOrigin = await rest(h, route.method, path, { ...forged, headers: evil });
      expect(withOrigin.status).toBe(403);
      expect(withOrigin.body.code).toBe("CSRF_REJECTED");
      expect(withOrigin.headers.get("set-cookie")).toBeNull();
      // An old browser that sends neither Origin nor Sec-Fetch-Site.
      const bare = await rest(h, route.method, path, forged);
      expect(bare.status).toBe(403);
      expect(bare.body.code).toBe("CSRF_REJECTED");
      const fetchSite = await rest(h, route.method, path, { ...forged, headers: { "sec-fetch-site": "cross-site" } });
      expect(fetchSite.status).toBe(403);
      expect(fetchSite.body.code).toBe("CSRF_REJECTED");
      expect(await alive(cookie)).toBe(true);
    },
  );

  it("a same-site cookie request with a text/plain body still gets 415", async () => {
    const cookie = await signIn();
    const res = await rest(h, "POST", "/auth/password", { cookie, raw: "x", contentType: "text/plain", headers: { origin: h.url } });
    expect(res.status).toBe(415);
    expect(res.body.code).toBe("UNSUPPORTED_MEDIA_TYPE");
  });

  it("a forged request's body is drained: the same connection answers the next request", async () => {
    const cookie = await signIn();
    const big = "x".repeat(1500);
    for (let i = 0; i < 3; i++) {
      const res = await rest(h, "POST", "/auth/password", { cookie, raw: big, contentType: "text/plain", headers: evil });
      expect(res.status).toBe(403);
    }
    expect(await alive(cookie)).toBe(true);
  });
});

describe.each(["/auth/logout", "/api/v1/auth/logout"])("POST %s clears the cookie only when the logout is accepted", (path) => {
  it("refused as cross-site (Origin, Sec-Fetch-Site, or neither with a form body): 403, no Set-Cookie, the session lives", async () => {
    const cookie = await signIn();
    const refusals: Array<Record<string, string>> = [evil, { "sec-fetch-site": "cross-site" }, {}];
    for (const headers of refusals) {
      const res = await rest(h, "POST", path, { cookie, raw: "", contentType: "application/x-www-form-urlencoded", headers });
      expect(res.status).toBe(403);
      expect(res.body.code).toBe("CSRF_REJECTED");
      expect(res.headers.get("set-cookie")).toBeNull();
    }
    const plain = await rest(h, "POST", path, { cookie, raw: "bye", contentType: "text/plain", headers: evil });
    expect(plain.status).toBe(403);
    expect(plain.headers.get("set-cookie")).toBeNull();
    expect(await alive(cookie)).toBe(true);
  });

  it("refused for its body (415, 413, malformed JSON) from the same site: no Set-Cookie, the session lives", async () => {
    const cookie = await signIn();
    const sameSite = { origin: h.url };
    const cases = [
      { raw: "bye", contentType: "text/plain", status: 415 },
      { raw: "{", contentType: "application/json", status: 400 },
      { raw: JSON.stringify({ pad: "x".repeat(4096) }), contentType: "application/json", status: 413 },
    ];
    for (const c of cases) {
      const res = await rest(h, "POST", path, { cookie, raw: c.raw, contentType: c.contentType, headers: sameSite });
      expect(res.status).toBe(c.status);
      expect(res.headers.get("set-cookie")).toBeNull();
    }
    expect(await alive(cookie)).toBe(true);
  });

  it("refused for a bad Authorization header while the cookie lives: 401, no Set-Cookie", async () => {
    const cookie = await signIn();
    const res = await rest(h, "POST", path, { cookie, headers: { origin: h.url, authorization: "Bearer not-a-token" } });
    expect(res.status).toBe(401);
    expect(res.body.code).toBe("INVALID_TOKEN");
    expect(res.headers.get("set-cookie")).toBeNull();
    expect(await alive(cookie)).toBe(true);
  });

  it("accepted: the session ends and the cookie is cleared; a same-site retry with the dead cookie clears it again", async () => {
    const cookie = await signIn();
    const out = await rest(h, "POST", path, { cookie, headers: { origin: h.url } });
    expect(out.status).toBeLessThan(300);
    expect(out.headers.get("set-cookie")).toMatch(/^session=;.*Max-Age=0/);
    expect(await alive(cookie)).toBe(false);
    const again = await rest(h, "POST", path, { cookie, headers: { origin: h.url } });
    expect(again.status).toBe(401);
    expect(again.headers.get("set-cookie")).toMatch(/^session=;.*Max-Age=0/);
    // A dead cookie from another site is still refused as forged first, and keeps its cookie.
    const cross = await rest(h, "POST", path, { cookie, headers: evil });
    expect(cross.status).toBe(403);
    expect(cross.headers.get("set-cookie")).toBeNull();
  });
});

describe("a sign-out by Bearer token", () => {
  it("clears the cookie only if it names the session that ended; another session's cookie stays, and so does its session", async () => {
    const first = await rest(h, "POST", "/auth/login", { body: { email, password } });
    const second = await rest(h, "POST", "/auth/login", { body: { email, password } });
    const [cookieA, cookieB] = [sessionCookie(first), sessionCookie(second)];
    const out = await rest(h, "POST", "/auth/logout", { token: second.body.access_token, cookie: cookieA, headers: { origin: h.url } });
    expect(out.status).toBeLessThan(300);
    expect(out.headers.get("set-cookie")).toBeNull();
    expect(await alive(cookieA)).toBe(true);
    expect(await alive(cookieB)).toBe(false);
    const own = await rest(h, "POST", "/auth/logout", { token: first.body.access_token, cookie: cookieA, headers: { origin: h.url } });
    expect(own.headers.get("set-cookie")).toMatch(/^session=;.*Max-Age=0/);
    expect(await alive(cookieA)).toBe(false);
  });
});

describe("more than one session cookie", () => {
  it("is refused (401 INVALID_TOKEN) rather than taken first: a cookie planted for the parent domain cannot put this browser in its session", async () => {
    const own = await signIn();
    const planted = await cookieOf("cookie-tosser@example.com");
    // Browsers send the cookie with the longer path first: the planted one.
    const both = await rest(h, "GET", "/auth/me", { cookie: `${planted}; ${own}` });
    expect(both.status).toBe(401);
    expect(both.body.code).toBe("INVALID_TOKEN");
    const write = await rest(h, "PATCH", "/api/auth/profile", {
      cookie: `${planted}; ${own}`,
      headers: { origin: h.url },
      body: { name: "x" },
    });
    expect(write.status).toBe(401);
    // Each alone is its own account's, and the refusals ended neither.
    expect((await rest(h, "GET", "/auth/me", { cookie: own })).body.email).toBe(email);
    expect((await rest(h, "GET", "/auth/me", { cookie: planted })).body.email).toBe("cookie-tosser@example.com");
  });
});

describe("an http: Origin when the client is known to be on HTTPS", () => {
  // Behind one trusted proxy that says the client came over HTTPS, a page on the same host served
  // over plain HTTP (injected by someone on the network before HSTS applies) is another site.
  let proxied: Harness;
  beforeAll(async () => {
    proxied = await startHarness({ EMAIL_VERIFICATION_REQUIRED: "false", TRUST_PROXY_HOPS: "1" });
    await rest(proxied, "POST", "/auth/register", { body: { email, password } });
  });
  afterAll(() => proxied?.close());

  it("is refused as cross-site; the https: Origin of the same host passes, and so does http: when the scheme is not known", async () => {
    const cookie = sessionCookie(await rest(proxied, "POST", "/auth/login", { body: { email, password } }));
    const write = (origin: string, proto?: string) =>
      rest(proxied, "PATCH", "/api/auth/profile", {
        cookie,
        body: { name: "Ada" },
        headers: { origin, ...(proto === undefined ? {} : { "x-forwarded-proto": proto }) },
      });
    const httpOrigin = proxied.url;
    const httpsOrigin = proxied.url.replace(/^http:/, "https:");
    const refused = await write(httpOrigin, "https");
    expect([refused.status, refused.body.code]).toEqual([403, "CSRF_REJECTED"]);
    expect((await write(httpsOrigin, "https")).status).toBe(200);
    // The nearest proxy's value counts, not one the client put further left.
    expect((await write(httpOrigin, "http, https")).status).toBe(403);
    expect((await write(httpOrigin, "https, http")).status).toBe(200);
    expect((await write(httpOrigin)).status).toBe(200);
  });
});

/** Registers an account and signs it in over REST: its session cookie. */
async function cookieOf(address: string): Promise<string> {
  await rest(h, "POST", "/auth/register", { body: { email: address, password } });
  return sessionCookie(await rest(h, "POST", "/auth/login", { body: { email: address, password } }));
}
