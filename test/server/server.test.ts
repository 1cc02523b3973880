// The server as its operators and clients see it: health, reflection, the published key set,
// CORS, request ids, TLS with ALPN, graceful shutdown, storage outages, concurrency and logs.
import { execFile } from "node:child_process";
import https from "node:https";
import path from "node:path";
import { promisify } from "node:util";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Health, HealthCheckResponse_ServingStatus } from "../../gen/grpc/health/v1/health_pb.js";
import { clientIp } from "../../src/transport/credentials.ts";
import { StorageUnavailableError } from "../../src/store/errors.ts";
import { createMemoryStore } from "../../src/store/memory.ts";
import type { Store } from "../../src/store/port.ts";
import { connectDriver, failure, fetchDriver, grpcJsDriver, rawRpc, type Json } from "../support/drivers.ts";
import { createGate, grpcTransport, repoRoot, startHarness, testTls, type Harness } from "../support/harness.ts";

const execFileAsync = promisify(execFile);
const password = "correct horse battery staple";

async function verifiedUser(h: Harness, email: string): Promise<void> {
  const d = fetchDriver(h.url, "setup");
  await d.call("AuthService/Register", { email, password });
  await d.call("AuthService/VerifyEmail", { code: (await h.mail(email, "email_verification")).code });
}

describe("operations endpoints", () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ CORS_ALLOWED_ORIGINS: "https://app.example.com" });
  });
  afterAll(() => h.close());

  it("answers the gRPC health service and the plain HTTP health endpoint", async () => {
    const health = createClient(Health, grpcTransport(h.url));
    expect((await health.check({ service: "" })).status).toBe(HealthCheckResponse_ServingStatus.SERVING);
    expect((await health.check({ service: "auth.v1.AuthService" })).status).toBe(HealthCheckResponse_ServingStatus.SERVING);
    expect((await health.check({ service: "auth.v1.TwoFactorService" })).status).toBe(HealthCheckResponse_ServingStatus.SERVING);
    const res = await fetch(`${h.url}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: "SERVING", storage: "memory" });
  });

  it("serves reflection: buf curl lists every method without the proto files", async () => {
    const bin = path.join(repoRoot, "node_modules/.bin/buf");
    const { stdout } = await execFileAsync(bin, ["curl", "--http2-prior-knowledge", "--list-methods", h.url]);
    const methods = stdout.trim().split("\n");
    for (const m of [
      "auth.v1.AuthService/Register",
      "auth.v1.AuthService/Login",
      "auth.v1.AuthService/UnlinkAccount",
      "auth.v1.AuthService/CompleteLogin",
      "auth.v1.TwoFactorService/Setup",
      "auth.v1.TwoFactorService/RegenerateRecoveryCodes",
      "auth.v1.SessionService/ListSessions",
      "auth.v1.SessionService/RevokeOtherSessions",
      "grpc.health.v1.Health/Check",
      "grpc.health.v1.Health/Watch",
    ]) {
      expect(methods).toContain(m);
    }
    // And buf curl can call an RPC using only the schema it learned by reflection.
    const call = await execFileAsync(bin, [
      "curl",
      "--http2-prior-knowledge",
      "--protocol",
      "grpc",
      "--data",
      "{}",
      `${h.url}/auth.v1.SessionService/ListSessions`,
    ]).catch((e: { stdout: string; stderr: string }) => e);
    expect(call.stderr).toContain("unauthenticated");
  });

  it("issues access tokens that verify against the published key set with the documented claims", async () => {
    const email = "jwks@example.com";
    await verifiedUser(h, email);
    const login = await fetchDriver(h.url, "jwks").call("AuthService/Login", { email, password });
    const token: string = login.tokens.accessToken;
    const jwks = createRemoteJWKSet(new URL(`${h.url}/.well-known/jwks.json`));
    const { payload, protectedHeader } = await jwtVerify(token, jwks, {
      issuer: "authd",
      audience: "authd",
      currentDate: h.clock.now(),
    });
    expect(protectedHeader.alg).toBe("EdDSA");
    expect(protectedHeader.kid).toBe(decodeProtectedHeader(token).kid);
    expect(payload.sub).toBe(login.user.id);
    expect(payload.sid).toBe(login.tokens.sessionId);
    expect(payload.exp! - payload.iat!).toBe(900);
    expect(payload.jti).toMatch(/^[0-9a-f-]{36}$/);
    const keys = (await (await fetch(`${h.url}/.well-known/jwks.json`)).json()) as { keys: Json[] };
    for (const k of keys.keys) expect(k.d).toBeUndefined(); // public halves only
  });

  it("answers CORS preflights for configured origins with the headers Connect and gRPC-Web need", async () => {
    const pre = await fetch(`${h.url}/auth.v1.AuthService/Login`, {
      method: "OPTIONS",
      headers: {
        origin: "https://app.example.com",
        "access-control-request-method": "POST",
        "access-control-request-headers": "content-type,connect-protocol-version,authorization,x-grpc-web",
      },
    });
    expect(pre.status).toBe(204);
    expect(pre.headers.get("access-control-allow-origin")).toBe("https://app.example.com");
    const allowed = (pre.headers.get("access-control-allow-headers") ?? "").toLowerCase();
    for (const hdr of ["content-type", "connect-protocol-version", "authorization", "x-grpc-web", "grpc-timeout"]) {
      expect(allowed).toContain(hdr);
    }
    const actual = await fetch(`${h.url}/auth.v1.AuthService/Login`, {
      method: "POST",
      headers: { origin: "https://app.example.com", "content-type": "application/json" },
      body: "{}",
    });
    expect(actual.headers.get("access-control-expose-headers")?.toLowerCase()).toContain("grpc-status");

    const foreign = await fetch(`${h.url}/auth.v1.AuthService/Login`, {
      method: "OPTIONS",
      headers: { origin: "https://evil.example.net", "access-control-request-method": "POST" },
    });
    expect(foreign.headers.get("access-control-allow-origin")).toBeNull();
  });

  it("leaves CORS to browser calls: one without Origin gets no CORS headers, only Vary: Origin", async () => {
    const call = (headers: Record<string, string>) =>
      fetch(`${h.url}/grpc.health.v1.Health/Check`, {
        method: "POST",
        headers: { "content-type": "application/json", ...headers },
        body: "{}",
      });
    const server = await call({});
    expect(server.status).toBe(200);
    expect([...server.headers.keys()].filter((k) => k.startsWith("access-control-"))).toEqual([]);
    // A cache must not hand this answer to a browser, whose request carries an Origin.
    expect(server.headers.get("vary")?.toLowerCase()).toContain("origin");
    const browser = await call({ origin: "https://app.example.com" });
    expect(browser.headers.get("access-control-allow-origin")).toBe("https://app.example.com");
    expect(browser.headers.get("vary")?.toLowerCase()).toContain("origin");
  });

  it("tags every response with a request id, keeping a well-formed one the client sent", async () => {
    const mine = await fetch(`${h.url}/healthz`, { headers: { "x-request-id": "trace-123" } });
    expect(mine.headers.get("x-request-id")).toBe("trace-123");
    const bogus = await fetch(`${h.url}/healthz`, { headers: { "x-request-id": "bad id with spaces" } });
    expect(bogus.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("answers an unknown path with a JSON 404", async () => {
    const res = await fetch(`${h.url}/no/such/path`);
    expect(res.status).toBe(404);
    expect(res.headers.get("content-type")).toContain("application/json");
  });

  it("never writes passwords, tokens or codes to the log", async () => {
    const email = "logs@example.com";
    await verifiedUser(h, email);
    const login = await fetchDriver(h.url, "logs").call("AuthService/Login", { email, password });
    await fetchDriver(h.url, "logs").call("AuthService/RefreshToken", { refreshToken: login.tokens.refreshToken });
    await fetchDriver(h.url, "logs").call("AuthService/RequestPasswordReset", { email });
    const code = (await h.mail(email, "password_reset")).code;
    const text = JSON.stringify(h.logs);
    expect(h.logs.length).toBeGreaterThan(5);
    for (const secret of [password, login.tokens.accessToken, login.tokens.refreshToken, code]) {
      expect(text).not.toContain(secret);
    }
    const login_ = (l: Record<string, unknown>) => l.msg === "request" && l.route === "auth.v1.AuthService/Login";
    expect(h.logs.some((l) => login_(l) && l.rpcCode === "ok" && l.status === 200 && typeof l.requestId === "string")).toBe(true);
    await failure(fetchDriver(h.url, "logs").call("AuthService/Login", { email, password: "wrong password" }));
    expect(h.logs.some((l) => login_(l) && l.rpcCode === "unauthenticated" && l.status === 401 && l.reason === "INVALID_CREDENTIALS")).toBe(
      true,
    );
  });
});

describe("storage outages", () => {
  let h: Harness;
  let down = false;
  beforeAll(async () => {
    const inner = createMemoryStore();
    const outage = () => {
      if (down) throw new StorageUnavailableError(new Error("connection refused to mongodb://secret-host:27017"));
    };
    const store: Store = {
      ...inner,
      kind: inner.kind,
      users: {
        ...inner.users,
        findByEmail: async (e) => {
          outage();
          return inner.users.findByEmail(e);
        },
      },
      ping: async () => {
        outage();
        return inner.ping();
      },
      close: () => inner.close(),
    };
    h = await startHarness({}, store);
  });
  afterAll(() => h.close());

  it("reports NOT_SERVING and answers UNAVAILABLE / STORAGE_UNAVAILABLE without the driver's message", async () => {
    down = true;
    await new Promise((r) => setTimeout(r, 1100)); // the health probe caches its answer for a second
    const res = await fetch(`${h.url}/healthz`);
    expect(res.status).toBe(503);
    expect(((await res.json()) as Json).status).toBe("NOT_SERVING");
    const health = createClient(Health, grpcTransport(h.url));
    expect((await health.check({})).status).toBe(HealthCheckResponse_ServingStatus.NOT_SERVING);

    for (const d of [fetchDriver(h.url, "outage"), grpcJsDriver(h.url)]) {
      const f = await failure(d.call("AuthService/Login", { email: "x@example.com", password }));
      expect([f.code, f.reason]).toEqual(["unavailable", "STORAGE_UNAVAILABLE"]);
      expect(f.message).not.toContain("secret-host");
      d.close();
    }
    const raw = await rawRpc(h.url, "AuthService/Login", JSON.stringify({ email: "x@example.com", password }), {
      "content-type": "application/json",
    });
    const body = raw.text;
    expect(raw.status).toBe(503);
    expect(body).not.toContain("secret-host");
    expect(body).not.toMatch(/\bat .+:\d+:\d+/); // no stack frames
    down = false;
  });
});

describe("concurrency", () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ EMAIL_VERIFICATION_REQUIRED: "false" });
  });
  afterAll(() => h.close());

  it("two registrations with the same email at once: exactly one succeeds", async () => {
    const d = fetchDriver(h.url, "race");
    const results = await Promise.allSettled([
      d.call("AuthService/Register", { email: "race@example.com", password }),
      d.call("AuthService/Register", { email: " RACE@example.com", password }),
    ]);
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    const rejected = results.find((r) => r.status === "rejected") as PromiseRejectedResult;
    expect([rejected.reason.code, rejected.reason.reason]).toEqual(["already_exists", "EMAIL_EXISTS"]);
  });

  it("ten concurrent uses of one refresh token: one new pair, given to all ten, and the session lives on", async () => {
    const d = connectDriver("connect-grpc", grpcTransport(h.url), "race");
    await d.call("AuthService/Register", { email: "refresh-race@example.com", password });
    const login = await d.call("AuthService/Login", { email: "refresh-race@example.com", password });
    const results = await Promise.all(
      Array.from({ length: 10 }, () => d.call("AuthService/RefreshToken", { refreshToken: login.tokens.refreshToken })),
    );
    expect(new Set(results.map((r: Json) => r.tokens.refreshToken)).size).toBe(1);
    expect(new Set(results.map((r: Json) => r.tokens.accessToken)).size).toBe(1);
    const me = await d.call("AuthService/GetCurrentUser", {}, results[0].tokens.accessToken);
    expect(me.user.email).toBe("refresh-race@example.com");
    // Past the grace window the spent token is reuse: the family is revoked, the shared pair too.
    h.clock.advance(30_000);
    const reuse = await failure(d.call("AuthService/RefreshToken", { refreshToken: login.tokens.refreshToken }));
    expect(reuse.reason).toBe("REFRESH_REVOKED");
    const dead = await failure(d.call("AuthService/GetCurrentUser", {}, results[0].tokens.accessToken));
    expect(dead.reason).toBe("SESSION_REVOKED");
  });
});

describe("passwords", () => {
  it("hashes with argon2id m=19456 t=2 p=1 by default and upgrades an older hash at the next login", async () => {
    const store = createMemoryStore();
    // Two servers in turn over the same data; the first must not close it.
    const shared: Store = { ...store, kind: store.kind, close: async () => undefined };
    const email = "upgrade@example.com";

    const first = await startHarness({ EMAIL_VERIFICATION_REQUIRED: "false" }, shared, { realHasher: true });
    await fetchDriver(first.url, "first").call("AuthService/Register", { email, password });
    expect((await store.users.findByEmail(email))!.passwordHash).toMatch(/^\$argon2id\$v=19\$m=19456,p=1,t=2\$/);
    await first.close();

    const second = await startHarness({ EMAIL_VERIFICATION_REQUIRED: "false", ARGON2_TIME_COST: "3" }, shared, { realHasher: true });
    const d = fetchDriver(second.url, "second");
    await d.call("AuthService/Login", { email, password });
    expect((await store.users.findByEmail(email))!.passwordHash).toMatch(/^\$argon2id\$v=19\$m=19456,p=1,t=3\$/);
    await d.call("AuthService/Login", { email, password }); // the upgraded hash verifies
    await second.close();
    await store.close();
  });
});

describe("TLS", () => {
  const { ca } = testTls;
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness(testTls.env);
  });
  afterAll(() => h.close());

  it("negotiates h2 for gRPC and http/1.1 for JSON on the same port", async () => {
    expect(h.url).toMatch(/^https:/);
    const health = createClient(Health, createGrpcTransport({ baseUrl: h.url, nodeOptions: { ca } }));
    expect((await health.check({})).status).toBe(HealthCheckResponse_ServingStatus.SERVING);

    const { status, alpn, body } = await new Promise<{ status: number; alpn: string | false | null; body: string }>((resolve, reject) => {
      const options = { ca, ALPNProtocols: ["http/1.1"] } as https.RequestOptions;
      const req = https.request(`${h.url}/healthz`, options, (res) => {
        const alpn = (res.socket as import("node:tls").TLSSocket).alpnProtocol;
        let body = "";
        res.on("data", (c: Buffer) => (body += c.toString()));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, alpn, body }));
      });
      req.on("error", reject);
      req.end();
    });
    expect([status, alpn]).toEqual([200, "http/1.1"]);
    expect(JSON.parse(body).status).toBe("SERVING");
  });
});

describe("graceful shutdown", () => {
  it("finishes an in-flight call, then refuses new connections", async () => {
    // The store holds the registration's insert until the shutdown has begun.
    const inner = createMemoryStore();
    const gate = createGate();
    const store: Store = {
      ...inner,
      kind: inner.kind,
      users: {
        ...inner.users,
        insert: async (u) => {
          await gate.pass();
          return inner.users.insert(u);
        },
      },
    };
    const h = await startHarness({ EMAIL_VERIFICATION_REQUIRED: "false", SHUTDOWN_GRACE_MS: "2000" }, store);
    const d = fetchDriver(h.url, "shutdown");
    const inFlight = d.call("AuthService/Register", { email: "late@example.com", password });
    await gate.reached;
    const closed = h.close();
    await new Promise((r) => setTimeout(r, 50));
    gate.release();
    const res = await inFlight;
    expect(res.user.email).toBe("late@example.com");
    await closed;
    await expect(fetch(`${h.url}/healthz`)).rejects.toThrow();
  });

  it("does not wait out the grace period for idle keep-alive HTTP/1.1 clients", async () => {
    const h = await startHarness({ SHUTDOWN_GRACE_MS: "10000" });
    // fetch keeps its HTTP/1.1 connection open after the response.
    expect((await fetch(`${h.url}/livez`)).status).toBe(200);
    expect((await fetch(`${h.url}/healthz`)).status).toBe(200);
    const started = Date.now();
    await h.close();
    // Well under the 10 s grace: idle connections are ended at once, not cut at the deadline.
    expect(Date.now() - started).toBeLessThan(3000);
  });
});

describe("client address and session lifetime", () => {
  it("takes the client IP from X-Forwarded-For only as far back as the configured trusted proxies", async () => {
    const trusting = await startHarness({ EMAIL_VERIFICATION_REQUIRED: "false", TRUST_PROXY_HOPS: "1" });
    const plain = await startHarness({ EMAIL_VERIFICATION_REQUIRED: "false" });
    try {
      for (const [h, expected] of [
        [trusting, "203.0.113.9"],
        [plain, "127.0.0.1"],
      ] as const) {
        const d = fetchDriver(h.url, "xff");
        await d.call("AuthService/Register", { email: "xff@example.com", password });
        // The client forged the first entry; the one trusted proxy appended the address it saw.
        const login = await d.call("AuthService/Login", { email: "xff@example.com", password }, undefined, {
          "x-forwarded-for": "10.9.9.9, 203.0.113.9",
        });
        const sessions = await d.call("SessionService/ListSessions", {}, login.tokens.accessToken);
        const session = sessions.sessions.find((s: Json) => s.id === login.tokens.sessionId);
        expect(session.ipAddress).toBe(expected);
      }
    } finally {
      await trusting.close();
      await plain.close();
    }
  });

  it("takes a forwarded address without the port a proxy may write with it, bracketed IPv6 too", () => {
    // Some proxies (Azure Application Gateway, for one) append the client's address with its source
    // port. Kept whole, "203.0.113.9:50123" would be a client of its own for each new connection,
    // and every per-client limit (registrations, mail, the hashing queue) would start afresh with
    // each one; an IPv6 "[2001:db8::9]:50123" would fall back to the proxy's own address, which
    // every client shares.
    const from = (xff: string) => clientIp({ headers: { "x-forwarded-for": xff } } as never, "10.0.0.1", 1);
    expect(from("203.0.113.9")).toBe("203.0.113.9");
    expect(from("198.51.100.1, 203.0.113.9:50123")).toBe("203.0.113.9");
    expect(from("2001:db8::9")).toBe("2001:db8::9");
    expect(from("[2001:db8::9]")).toBe("2001:db8::9");
    expect(from("[2001:db8::9]:50123")).toBe("2001:db8::9");
    expect(from(" 198.51.100.1 ,, [2001:db8::9]:443 ")).toBe("2001:db8::9");
    // Anything else the nearest proxy did not write as an address leaves the socket's.
    for (const junk of [
      "",
      ",",
      "unknown",
      "203.0.113.9:",
      "203.0.113.9:port",
      "203.0.113.9:123456",
      "[2001:db8::9",
      "[2001:db8::9]x",
      "1.2.3",
      "::::",
      "..",
      "2001:db8::9:50123:1:2:3:4:5",
    ]) {
      expect(from(junk), junk).toBe("10.0.0.1");
    }
  });

  it("keeps a remember-me session 30 days and an ordinary one 7 days, renewed by refresh", async () => {
    const h = await startHarness({ EMAIL_VERIFICATION_REQUIRED: "false" });
    try {
      const d = fetchDriver(h.url, "ttl");
      await d.call("AuthService/Register", { email: "ttl@example.com", password });
      const day = 86_400_000;
      const now = h.clock.now().getTime();
      const short = (await d.call("AuthService/Login", { email: "ttl@example.com", password })).tokens;
      const long = (await d.call("AuthService/Login", { email: "ttl@example.com", password, rememberMe: true })).tokens;
      expect(Date.parse(short.refreshTokenExpireTime) - now).toBe(7 * day);
      expect(Date.parse(long.refreshTokenExpireTime) - now).toBe(30 * day);
      h.clock.advance(6 * day);
      const renewed = (await d.call("AuthService/RefreshToken", { refreshToken: short.refreshToken })).tokens;
      expect(Date.parse(renewed.refreshTokenExpireTime) - now).toBe(13 * day);
      const listed = await d.call("SessionService/ListSessions", {}, renewed.accessToken);
      const mine = listed.sessions.find((s: Json) => s.id === short.sessionId);
      expect(Date.parse(mine.expireTime) - now).toBe(13 * day);
      // However often it is refreshed, no session outlives 30 days from sign-in.
      let token = renewed.refreshToken;
      for (const [today, expires] of [
        [12, 19],
        [18, 25],
        [24, 30], // not 31: the absolute limit
      ]) {
        h.clock.advance(6 * day);
        expect(h.clock.now().getTime() - now).toBe(today! * day);
        const next = (await d.call("AuthService/RefreshToken", { refreshToken: token })).tokens;
        token = next.refreshToken;
        expect(Date.parse(next.refreshTokenExpireTime) - now).toBe(expires! * day);
      }
      h.clock.advance(6 * day); // day 30
      const ended = await failure(d.call("AuthService/RefreshToken", { refreshToken: token }));
      expect(ended.reason).toBe("REFRESH_EXPIRED");
    } finally {
      await h.close();
    }
  });
});
