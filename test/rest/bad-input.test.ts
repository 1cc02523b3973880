// Bad input on every REST route, generated from the documented routes (test/support/legacy-routes.ts,
// written from docs/legacy-rest, not from the server's route table) so no route is missed:
// no or bad credentials, malformed JSON, a duplicate key, bytes that are not UTF-8, a JSON body
// that is not an object, a wrong content type or charset, a body over the limit, each declared
// field with the wrong JSON type, a repeated query field, an unknown path under each mount and a
// wrong method. Each must get the right status, the owning
// document's error shape with the reason as `code`, nothing internal, and no change in storage.
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { startHarness, type Harness } from "../support/harness.ts";
import { documentedRoutes as routes, httpReasonPhrases, type DocumentedRoute as Route } from "../support/legacy-routes.ts";
import { rest, type Json, type RestResponse } from "../support/rest.ts";

const password = "correct horse battery staple";
const email = "rest-bad@example.com";
let h: Harness;
let token: string;
let userId: string;

beforeAll(async () => {
  h = await startHarness({ EMAIL_VERIFICATION_REQUIRED: "false", MAX_BODY_BYTES: "2048", LOGIN_MAX_FAILURES: "1000" });
  const reg = await rest(h, "POST", "/auth/register", { body: { email, password } });
  userId = reg.body.user.id;
  token = (await rest(h, "POST", "/auth/login", { body: { email, password } })).body.access_token;
});
afterAll(() => h?.close());

async function snapshot() {
  await h.server.deps.background.drain();
  const now = h.clock.now();
  return {
    user: await h.store.users.findById(userId),
    sessions: await h.store.sessions.listLive(userId, now),
    twoFactor: await h.store.twoFactor.get(userId),
    password: await h.store.attempts.get(`password:${email}`, now),
    mails: h.outbox.mails.length,
    users: (await Promise.all(["a@example.com", "nobody@example.com"].map((e) => h.store.users.findByEmail(e)))).filter((u) => u !== null)
      .length,
  };
}

/** The owning documents' error shape, with the reason as `code` and nothing internal. */
function expectErrorShape(route: Pick<Route, "docs">, res: RestResponse, status: number, reason: string, field?: string): void {
  expect(res.status).toBe(status);
  const body: Json = res.body;
  expect(body.code).toBe(reason);
  const text = JSON.stringify(body);
  expect(text).not.toMatch(/\bat\s+\S+\s+\(|node_modules|\.ts:\d+|Error\b|Exception/);
  for (const doc of route.docs) {
    switch (doc) {
      case "api-v1":
        expect(typeof body.message).toBe("string");
        break;
      case "api-auth-security":
      case "api-auth-2fa":
        expect(body.success).toBe(false);
        expect(typeof body.message).toBe("string");
        break;
      case "root-auth-totp":
        expect(body.statusCode).toBe(status);
        expect(body.error).toBe(httpReasonPhrases[status]);
        if (status === 400) expect(body.message).toEqual([expect.any(String)]);
        else expect(typeof body.message).toBe("string");
        break;
      case "auth-router":
        expect(typeof body.error).toBe("string");
        if (field !== undefined) expect(body.details).toEqual({ field });
        break;
    }
  }
}

async function expectRefused(
  route: Pick<Route, "docs">,
  send: () => Promise<RestResponse>,
  status: number,
  reason: string,
  field?: string,
) {
  const before = await snapshot();
  const res = await send();
  expectErrorShape(route, res, status, reason, field);
  expect(await snapshot()).toEqual(before);
}

const path = (r: Route) => r.path.replace(/:[A-Za-z_]+/g, "00000000-0000-0000-0000-000000000000");
const title = (r: Route, what: string) => `${r.method} ${r.path} (${r.docs.join(" + ")}) ${what}`;
const withBody = routes.filter((r) => r.method !== "GET");
const authenticated = routes.filter((r) => r.auth === "user");

describe("credentials", () => {
  it.each(authenticated.map((r) => [title(r, "without credentials → 401 UNAUTHENTICATED"), r] as const))("%s", async (_t, r) => {
    await expectRefused(r, () => rest(h, r.method, path(r), r.method === "GET" ? {} : { body: {} }), 401, "UNAUTHENTICATED");
  });
  it.each(authenticated.map((r) => [title(r, "with a token that is not a JWT → 401 INVALID_TOKEN"), r] as const))("%s", async (_t, r) => {
    await expectRefused(
      r,
      () => rest(h, r.method, path(r), { token: "not-a-jwt", ...(r.method === "GET" ? {} : { body: {} }) }),
      401,
      "INVALID_TOKEN",
    );
  });
  it.each(authenticated.map((r) => [title(r, "with a forged session cookie → 401 INVALID_TOKEN"), r] as const))("%s", async (_t, r) => {
    const sameSite = { "sec-fetch-site": "same-origin" }; // past the CSRF check: the cookie itself is what fails
    await expectRefused(
      r,
      () => rest(h, r.method, path(r), { cookie: "session=abc.def", headers: sameSite, ...(r.method === "GET" ? {} : { body: {} }) }),
      401,
      "INVALID_TOKEN",
    );
  });
});

describe("bodies", () => {
  it.each(withBody.map((r) => [title(r, "with malformed JSON → 400 MALFORMED_REQUEST"), r] as const))("%s", async (_t, r) => {
    await expectRefused(
      r,
      () => rest(h, r.method, path(r), { token, raw: `{"email": "${email}", "password": ` }),
      400,
      "MALFORMED_REQUEST",
    );
  });
  it.each(withBody.map((r) => [title(r, "with a JSON array body → 400 MALFORMED_REQUEST"), r] as const))("%s", async (_t, r) => {
    await expectRefused(r, () => rest(h, r.method, path(r), { token, raw: "[1,2]" }), 400, "MALFORMED_REQUEST");
  });
  // A layer in front that keeps the first of two members (many do) sees nobody@ where the last one
  // would have registered, signed in or mailed a@ (both counted in the snapshot).
  const twice = `{"email":"nobody@example.com","password":"${password}","name":"N","email":"a@example.com"}`;
  it.each(withBody.map((r) => [title(r, "with a member named twice → 400 MALFORMED_REQUEST"), r] as const))("%s", async (_t, r) => {
    await expectRefused(r, () => rest(h, r.method, path(r), { token, raw: twice }), 400, "MALFORMED_REQUEST");
  });
  it.each([
    ["spelled once with a \\u escape", `{"email":"nobody@example.com","password":"${password}","\\u0065mail":"a@example.com"}`],
    ["in a nested object", `{"email":"nobody@example.com","password":"${password}","extra":{"list":[{"a":1,"a":2}]}}`],
  ])("POST /auth/register with a member named twice %s → 400 MALFORMED_REQUEST", async (_w, raw) => {
    const route = routes.find((r) => r.path === "/auth/register") as Route;
    await expectRefused(route, () => rest(h, "POST", "/auth/register", { raw }), 400, "MALFORMED_REQUEST");
  });
  it("the refusal of a member named twice says so, and does not echo the body", async () => {
    const res = await rest(h, "POST", "/api/v1/auth/login", { raw: `{"email":"x@example.com","password":"s3cret-value","password":"x"}` });
    expect(res.body).toEqual({ code: "MALFORMED_REQUEST", message: "the request body has a duplicate key in a JSON object" });
  });
  // One field under both of the names REST reads it by (the document's and the other case
  // convention's): a layer in front that knows only one of them sees another request than authd.
  it.each([
    ["/api/auth/login", `{"email":"a@example.com","password":"${password}","rememberMe":false,"remember_me":true}`, "rememberMe"],
    ["/auth/login", `{"email":"a@example.com","password":"${password}","remember_me":true,"rememberMe":false}`, "remember_me"],
    ["/api/auth/register", `{"email":"a@example.com","password":"${password}","display_name":"A","displayName":"B"}`, "display_name"],
  ])("POST %s with one field under two names → 400 INVALID_ARGUMENT", async (where, raw, field) => {
    const route = routes.find((r) => r.method === "POST" && r.path === where) as Route;
    await expectRefused(route, () => rest(h, "POST", where, { raw }), 400, "INVALID_ARGUMENT", field);
  });
  // Well-formed JSON whose only fault is the charset declared: a layer in front that decodes it
  // as declared reads other strings than authd.
  const registering = JSON.stringify({ email: "a@example.com", password, name: "N" });
  it.each(withBody.map((r) => [title(r, "with JSON declared in latin1 → 415 UNSUPPORTED_MEDIA_TYPE"), r] as const))("%s", async (_t, r) => {
    const contentType = "application/json; charset=latin1";
    await expectRefused(r, () => rest(h, r.method, path(r), { token, raw: registering, contentType }), 415, "UNSUPPORTED_MEDIA_TYPE");
  });
  it.each([
    "application/json; charset=ISO-8859-1",
    "application/json;charset=utf-16",
    'application/json; charset="latin1"',
    "application/json; charset=utf-8; charset=latin1",
    "application/json; charset=latin1; charset=utf-8",
    "application/json; charset=utf-8 ; CHARSET=windows-1252",
    "application/json; charset=utf_8",
    "application/json; charset=",
    "application/json; charset",
    "application/json; charset = latin1",
    "application/json; charset=utf-8 latin1",
    'application/json; note="unterminated',
    "application/json; charset*=utf-16",
    "application/json; CHARSET*=utf-8''",
  ])("POST /auth/register with content-type %s → 415 UNSUPPORTED_MEDIA_TYPE", async (contentType) => {
    const route = routes.find((r) => r.path === "/auth/register") as Route;
    await expectRefused(route, () => rest(h, "POST", "/auth/register", { raw: registering, contentType }), 415, "UNSUPPORTED_MEDIA_TYPE");
  });
  // Node keeps the first of two Content-Type lines and drops the rest; a proxy or firewall in
  // front may keep the last (text/plain: no JSON to inspect) and see another request than authd.
  it.each([
    ["application/json", "text/plain"],
    ["application/json", "application/json; charset=latin1"],
    ["application/json", "application/json"],
  ])("POST /auth/register with Content-Type given twice (%s, then %s) → 415 UNSUPPORTED_MEDIA_TYPE", async (first, second) => {
    const route = routes.find((r) => r.path === "/auth/register") as Route;
    const net = await import("node:net");
    const { port } = new URL(h.url);
    // Over a socket: fetch and node:http join or refuse a header given twice. The server closes
    // the connection after its answer (Connection: close), which ends the read.
    const send = () =>
      new Promise<RestResponse>((resolve, reject) => {
        const chunks: Buffer[] = [];
        const socket = net.connect(Number(port), "127.0.0.1", () => {
          socket.write(
            `POST /auth/register HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: ${first}\r\nContent-Type: ${second}\r\n` +
              `Content-Length: ${Buffer.byteLength(registering)}\r\n\r\n${registering}`,
          );
        });
        socket.on("data", (c: Buffer) => chunks.push(c));
        socket.on("error", reject);
        socket.on("close", () => {
          const answer = Buffer.concat(chunks).toString("utf8");
          const split = answer.indexOf("\r\n\r\n");
          const status = Number(answer.slice(0, split).split(" ")[1]);
          resolve({ status, headers: new Headers(), body: JSON.parse(answer.slice(split + 4)) });
        });
      });
    await expectRefused(route, send, 415, "UNSUPPORTED_MEDIA_TYPE");
  });
  it("the refusal of another charset says what is taken", async () => {
    const res = await rest(h, "POST", "/api/v1/auth/login", { body: {}, contentType: "application/json; charset=latin1" });
    expect(res.body).toEqual({
      code: "UNSUPPORTED_MEDIA_TYPE",
      message: "the request body must be JSON in UTF-8 (no charset, or charset=utf-8)",
    });
    expect(res.headers.get("accept-encoding")).toBe("identity");
  });
  it.each([
    "application/json",
    "application/json; charset=utf-8",
    "application/json;charset=UTF-8",
    "APPLICATION/JSON; Charset=Utf8",
    'application/json; charset="utf-8"',
    "application/json; charset=utf-8; charset=UTF8",
    "application/json;",
    "application/json; version=1",
    'application/json; note="a;charset=latin1"',
  ])("content-type %s is taken as before", async (contentType) => {
    const login = await rest(h, "POST", "/api/v1/auth/login", { raw: JSON.stringify({ email, password }), contentType });
    expect(login.status).toBe(200);
    expect(login.body.data.accessToken).toEqual(expect.any(String));
  });
  /** A register body for a@example.com whose name holds `bytes` as they are, UTF-8 or not. */
  const withNameBytes = (...bytes: number[]) =>
    Buffer.concat([Buffer.from(`{"email":"a@example.com","password":"${password}","name":"N`), Buffer.from(bytes), Buffer.from('"}')]);
  it.each(withBody.map((r) => [title(r, "with a byte that is not UTF-8 → 400 MALFORMED_REQUEST"), r] as const))("%s", async (_t, r) => {
    await expectRefused(r, () => rest(h, r.method, path(r), { token, raw: withNameBytes(0xff) }), 400, "MALFORMED_REQUEST");
  });
  it.each([
    ["a surrogate encoded (U+D800, as CESU-8 writes it)", [0xed, 0xa0, 0x80]],
    ["a surrogate pair encoded as two surrogates", [0xed, 0xa0, 0xbd, 0xed, 0xb8, 0x80]],
    ["an overlong '/'", [0xc0, 0xaf]],
    ["an overlong NUL", [0xc0, 0x80]],
    ["an overlong in four bytes", [0xf0, 0x82, 0x82, 0xac]],
    ["a code point past U+10FFFF", [0xf4, 0x90, 0x80, 0x80]],
    ["a five-byte form", [0xf8, 0x88, 0x80, 0x80, 0x80]],
    ["a stray continuation byte", [0x80]],
    ["a sequence cut short", [0xe2, 0x82]],
    ["latin1's é", [0xe9]],
  ])("POST /auth/register with %s in a string → 400 MALFORMED_REQUEST", async (_w, bytes) => {
    const route = routes.find((r) => r.path === "/auth/register") as Route;
    await expectRefused(route, () => rest(h, "POST", "/auth/register", { raw: withNameBytes(...bytes) }), 400, "MALFORMED_REQUEST");
  });
  it("a byte that is not UTF-8 in a key, or at the very end, is refused too", async () => {
    const route = routes.find((r) => r.path === "/auth/register") as Route;
    const inKey = Buffer.concat([
      Buffer.from(`{"email":"a@example.com","password":"${password}","x`),
      Buffer.from([0xff]),
      Buffer.from('":1}'),
    ]);
    await expectRefused(route, () => rest(h, "POST", "/auth/register", { raw: inKey }), 400, "MALFORMED_REQUEST");
    const atEnd = Buffer.concat([Buffer.from(`{"email":"a@example.com","password":"${password}"}`), Buffer.from([0xc3])]);
    await expectRefused(route, () => rest(h, "POST", "/auth/register", { raw: atEnd }), 400, "MALFORMED_REQUEST");
  });
  it("the refusal of bytes that are not UTF-8 says so", async () => {
    const res = await rest(h, "POST", "/api/v1/auth/login", { raw: Buffer.from([0x7b, 0xff, 0x7d]) });
    expect(res.body).toEqual({ code: "MALFORMED_REQUEST", message: "the request body is not valid UTF-8" });
  });
  it("a byte-order mark is refused as before, as JSON that does not parse", async () => {
    const route = routes.find((r) => r.path === "/auth/register") as Route;
    const bom = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(`{"email":"a@example.com","password":"${password}"}`)]);
    await expectRefused(route, () => rest(h, "POST", "/auth/register", { raw: bom }), 400, "MALFORMED_REQUEST");
  });
  it("text in UTF-8 of one to four bytes a character is read exactly", async () => {
    const name = "Zoë Ω 日本 🦊";
    const fresh = (await rest(h, "POST", "/auth/login", { body: { email, password } })).body.access_token;
    const res = await rest(h, "PATCH", "/api/auth/profile", {
      token: fresh,
      raw: Buffer.from(JSON.stringify({ display_name: name }), "utf8"),
    });
    expect(res.status).toBe(200);
    expect((await h.store.users.findById(userId))?.displayName).toBe(name);
  });
  it.each(withBody.map((r) => [title(r, "with a form-encoded body → 415 UNSUPPORTED_MEDIA_TYPE"), r] as const))("%s", async (_t, r) => {
    await expectRefused(
      r,
      () => rest(h, r.method, path(r), { token, raw: `email=${email}&password=x`, contentType: "application/x-www-form-urlencoded" }),
      415,
      "UNSUPPORTED_MEDIA_TYPE",
    );
  });
  it.each(withBody.map((r) => [title(r, "with a body over MAX_BODY_BYTES → 413 PAYLOAD_TOO_LARGE"), r] as const))("%s", async (_t, r) => {
    await expectRefused(
      r,
      () => rest(h, r.method, path(r), { token, body: { email, password: "x".repeat(3000) } }),
      413,
      "PAYLOAD_TOO_LARGE",
    );
  });

  const fieldCases = routes.flatMap((r) =>
    Object.entries(r.body ?? {}).map(
      ([field, type]) => [title(r, `with ${field} of the wrong JSON type → 400 INVALID_ARGUMENT`), r, field, type] as const,
    ),
  );
  it.each(fieldCases)("%s", async (_t, r, field, type) => {
    const wrong = type === "string" ? 12345 : "maybe";
    // Every other declared field well-formed, so the wrong one is what is refused.
    const body: Record<string, unknown> = {};
    for (const [name, t] of Object.entries(r.body ?? {})) body[name] = t === "boolean" ? false : "";
    body[field] = wrong;
    await expectRefused(r, () => rest(h, r.method, path(r), { token, body }), 400, "INVALID_ARGUMENT", field);
  });

  const queryRoutes = routes.filter((r) => r.query !== undefined);
  it.each(queryRoutes.map((r) => [title(r, "with a repeated query field → 400 INVALID_ARGUMENT"), r] as const))("%s", async (_t, r) => {
    const name = Object.keys(r.query ?? {})[0] ?? "code";
    await expectRefused(r, () => rest(h, r.method, `${path(r)}?${name}=a&${name}=b`, { token, body: {} }), 400, "INVALID_ARGUMENT", name);
  });
});

describe("paths and methods", () => {
  it.each([
    ["/api/v1/no-such-thing", ["api-v1"]],
    ["/api/auth/no-such-thing", ["api-auth-security", "api-auth-2fa"]],
    ["/totp/no-such-thing", ["root-auth-totp"]],
    ["/auth/no-such-thing", ["root-auth-totp", "auth-router"]],
  ] as const)("an unknown path %s → JSON 404 NOT_FOUND in that mount's shape", async (p, owners) => {
    await expectRefused({ docs: [...owners] }, () => rest(h, "GET", p), 404, "NOT_FOUND");
  });

  const byPath = new Map<string, Route[]>();
  for (const r of routes) byPath.set(r.path, [...(byPath.get(r.path) ?? []), r]);
  it.each([...byPath.entries()].map(([p, rs]) => [`PUT ${p} → 405 with Allow: ${rs.map((r) => r.method).join(", ")}`, p, rs] as const))(
    "%s",
    async (_t, p, rs) => {
      const route = rs[0] as Route;
      const before = await snapshot();
      const res = await rest(h, "PUT", path(route), { token, body: {} });
      expectErrorShape(route, res, 405, "METHOD_NOT_ALLOWED");
      expect((res.headers.get("allow") ?? "").split(", ").sort()).toEqual(rs.map((r) => r.method).sort());
      expect(await snapshot()).toEqual(before);
      void p;
    },
  );

  // `/\/+$/` over the path backtracked over every slash from every slash: a path of 60,000 slashes
  // (an HTTP/2 :path fits 64 KiB) held the event loop for 2.5 s, 12,000 over HTTP/1.1 for 0.15 s.
  it("trailing slashes are cut without a regular expression run over the path", async () => {
    const slashes = "/".repeat(12_000);
    const replace = vi.spyOn(RegExp.prototype, Symbol.replace);
    const split = vi.spyOn(RegExp.prototype, Symbol.split);
    try {
      await expectRefused({ docs: ["root-auth-totp", "auth-router"] }, () => rest(h, "GET", `/auth${slashes}x`), 404, "NOT_FOUND");
      const overThePath = [...replace.mock.calls, ...split.mock.calls].filter(([text]) => String(text).includes(slashes));
      expect(overThePath).toEqual([]);
    } finally {
      vi.restoreAllMocks();
    }
    // Still cut: a route with them is that route (here without credentials), not an unknown path.
    await expectRefused({ docs: ["api-v1"] }, () => rest(h, "GET", "/api/v1/auth/me///"), 401, "UNAUTHENTICATED");
    await expectRefused(
      { docs: ["root-auth-totp", "auth-router"] },
      () => rest(h, "GET", `/auth/no-such-thing${slashes}`),
      404,
      "NOT_FOUND",
    );
  });

  it("a malformed percent-escape in a path parameter is a 400, not a 500", async () => {
    const route = routes.find((r) => r.path === "/auth/sessions/:id" && r.method === "DELETE") as Route;
    await expectRefused(route, () => rest(h, "DELETE", "/auth/sessions/%E0%A4%A", { token }), 400, "INVALID_ARGUMENT", "session_id");
  });
});

describe("requests the client abandons", () => {
  const body = (e: string) => JSON.stringify({ email: e, password });

  it("an HTTP/2 upload reset before its declared length runs nothing (no account is created)", async () => {
    const http2 = await import("node:http2");
    const target = "h2-abandoned@example.com";
    const client = http2.connect(h.url);
    await new Promise<void>((resolve) => {
      const payload = body(target);
      const s = client.request(
        {
          ":method": "POST",
          ":path": "/auth/register",
          "content-type": "application/json",
          "content-length": String(payload.length + 100),
        },
        { endStream: false },
      );
      s.on("error", () => {});
      s.on("close", () => resolve());
      s.write(payload);
      setTimeout(() => s.close(http2.constants.NGHTTP2_CANCEL), 200);
    });
    client.close();
    await new Promise((r) => setTimeout(r, 200));
    expect(await h.store.users.findByEmail(target)).toBeNull();
  });

  it("an HTTP/1.1 upload cut off mid-body runs nothing and is not logged as a server error", async () => {
    const net = await import("node:net");
    const target = "h1-abandoned@example.com";
    const payload = body(target);
    const { port } = new URL(h.url);
    await new Promise<void>((resolve) => {
      const socket = net.connect(Number(port), "127.0.0.1", () => {
        socket.write(
          `POST /auth/register HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${payload.length + 50}\r\n\r\n${payload}`,
        );
        setTimeout(() => socket.destroy(), 150);
      });
      socket.on("close", () => resolve());
      socket.on("error", () => resolve());
    });
    await new Promise((r) => setTimeout(r, 200));
    expect(await h.store.users.findByEmail(target)).toBeNull();
    expect(h.logs.filter((l) => (l.level as number) >= 50)).toEqual([]);
  });
});

describe("smaller edges", () => {
  it("POST /openapi.json → 405 with Allow: GET", async () => {
    const res = await rest(h, "POST", "/openapi.json", { body: {} });
    expect(res.status).toBe(405);
    expect(res.headers.get("allow")).toBe("GET");
    expect(res.body.code).toBe("METHOD_NOT_ALLOWED");
  });

  it("logout with a cookie whose session is gone still clears the cookie", async () => {
    const login = await rest(h, "POST", "/auth/login", { body: { email, password } });
    const cookie = /(session=[^;]*)/.exec(login.headers.get("set-cookie") ?? "")?.[1] ?? "";
    await rest(h, "POST", "/auth/logout", { cookie, headers: { origin: h.url } });
    const again = await rest(h, "POST", "/auth/logout", { cookie, headers: { origin: h.url } });
    expect(again.status).toBe(401);
    expect(again.headers.get("set-cookie")).toMatch(/^session=;.*Max-Age=0/);
  });

  it("a cookie-authenticated write with neither Origin nor Sec-Fetch-Site must be JSON or carry X-Requested-With", async () => {
    const login = await rest(h, "POST", "/auth/login", { body: { email, password } });
    const cookie = /(session=[^;]*)/.exec(login.headers.get("set-cookie") ?? "")?.[1] ?? "";
    const route = routes.find((r) => r.path === "/api/auth/sessions/revoke-all") as Route;
    // An empty form post: what a cross-site HTML form sends from an old browser.
    await expectRefused(
      route,
      () => rest(h, "POST", "/api/auth/sessions/revoke-all", { cookie, raw: "", contentType: "application/x-www-form-urlencoded" }),
      403,
      "CSRF_REJECTED",
    );
    const json = await rest(h, "POST", "/api/auth/sessions/revoke-all", { cookie, body: {} });
    expect(json.status).toBe(200);
    const header = await rest(h, "POST", "/api/auth/sessions/revoke-all", { cookie, headers: { "x-requested-with": "XMLHttpRequest" } });
    expect(header.status).toBe(200);
  });
});
