// The headers every answer of the REST layer carries, whatever became of the request (ASVS 5.0
// V3.4.4, V3.4.6, V14.3.2): never stored by a cache (tokens, codes and secrets travel in these
// bodies), never sniffed as anything but what its Content-Type says (a JSON body echoes what the
// client sent, e.g. a display name), never framed by another site. The same for /openapi.json and
// the JSON the server answers itself (probes, unknown paths).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectBrowserSafe } from "../support/assertions.ts";
import { startHarness, type Harness } from "../support/harness.ts";
import { rest, sessionCookie, type RestResponse } from "../support/rest.ts";

const password = "correct horse battery staple";
const email = "headers@example.com";
let h: Harness;

beforeAll(async () => {
  h = await startHarness({ EMAIL_VERIFICATION_REQUIRED: "false", MAX_BODY_BYTES: "2048" });
  await rest(h, "POST", "/auth/register", { body: { email, password } });
});
afterAll(() => h?.close());

describe("every REST answer", () => {
  it("success, with tokens and the cookies: no-store, nosniff, no framing", async () => {
    const login = await rest(h, "POST", "/auth/login", { body: { email, password } });
    expect(login.status).toBe(200);
    expect(login.headers.get("cache-control")).toBe("no-store");
    expectBrowserSafe(login, "login");
    const cookie = sessionCookie(login);
    const me = await rest(h, "GET", "/auth/me", { cookie });
    expect(me.status).toBe(200);
    expectBrowserSafe(me, "me");
    const logout = await rest(h, "POST", "/auth/logout", { cookie, headers: { origin: h.url } });
    expect(logout.status).toBe(204);
    expectBrowserSafe(logout, "logout (204)");
  });

  it("every refusal: 400, 401, 403 CSRF, 404, 405, 413, 415", async () => {
    const cookie = sessionCookie(await rest(h, "POST", "/auth/login", { body: { email, password } }));
    const cases: Array<[string, Promise<RestResponse>, number]> = [
      ["malformed JSON", rest(h, "POST", "/api/v1/auth/login", { raw: "{" }), 400],
      ["wrong password", rest(h, "POST", "/api/v1/auth/login", { body: { email, password: "not the password" } }), 401],
      ["forged", rest(h, "POST", "/auth/logout", { cookie, headers: { origin: "https://evil.example" } }), 403],
      ["unknown path", rest(h, "GET", "/api/auth/nothing-here"), 404],
      ["wrong method", rest(h, "PUT", "/auth/me"), 405],
      ["too large", rest(h, "POST", "/api/v1/auth/login", { body: { pad: "x".repeat(4096) } }), 413],
      ["not JSON", rest(h, "POST", "/api/v1/auth/login", { raw: "a=b", contentType: "application/x-www-form-urlencoded" }), 415],
    ];
    for (const [label, sent, status] of cases) {
      const res = await sent;
      expect(res.status, label).toBe(status);
      expect(res.headers.get("cache-control"), label).toBe("no-store");
      expectBrowserSafe(res, label);
    }
  });

  it("GET /openapi.json and its 405", async () => {
    expectBrowserSafe(await rest(h, "GET", "/openapi.json"), "openapi");
    expectBrowserSafe(await rest(h, "POST", "/openapi.json"), "openapi 405");
  });
});

describe("the JSON the server answers itself", () => {
  it("probes and unknown paths: nosniff, no framing", async () => {
    for (const path of ["/livez", "/readyz", "/healthz", "/no/such/path"]) {
      expectBrowserSafe(await rest(h, "GET", path), path);
    }
  });
});
