// Issue 11, item 7: Prometheus metrics. The server is driven through calls whose effects are
// known (good and bad sign-ins, a password lock, a second-factor lock, a refresh replayed within
// its grace and then reused, mail sent and held back by its limit), /metrics is read with an
// independent parser of the text format, and every count must be exactly what happened, with no
// email, address, id or token in it. Then where it is served: behind its token on the main port,
// or on a port of its own and then not on the main one, or nowhere when neither is configured.
import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createOutbox, type Mailer } from "../../src/mail/mailer.ts";
import { scrapeHandler, startMetricsServer } from "../../src/metrics/endpoint.ts";
import { createMetrics, type Metrics } from "../../src/metrics/metrics.ts";
import { StorageFailureError, StorageUnavailableError } from "../../src/store/errors.ts";
import { createMemoryStore } from "../../src/store/memory.ts";
import { expectBrowserSafe } from "../support/assertions.ts";
import { failure, fetchDriver, grpcJsDriver, type Driver } from "../support/drivers.ts";
import { startHarness, type Harness } from "../support/harness.ts";
import { Scrape, scrape } from "../support/prometheus.ts";
import { rest } from "../support/rest.ts";
import { totp, wrongCode } from "../support/totp.ts";
import { makeUser } from "../store/contract.ts";

const token = "metrics-test-token-0123456789abcdef";
const password = "correct horse battery staple";
const wrong = "not the password at all";
const alice = "alice.metrics@example.com";
const bob = "bob.metrics@example.com";

const auth = (method: string, protocol: string) => ({ service: "auth.v1.AuthService", method, protocol });

describe("metrics on the main port, behind METRICS_TOKEN", () => {
  let h: Harness;
  let connect: Driver;
  let grpc: Driver;
  let m: Scrape;
  const ids: string[] = [];
  const secrets: string[] = [];

  beforeAll(async () => {
    h = await startHarness({
      METRICS_TOKEN: token,
      EMAIL_VERIFICATION_REQUIRED: "false",
      LOGIN_MAX_FAILURES: "3",
      TWO_FACTOR_MAX_FAILURES: "2",
      MAIL_MAX_PER_ADDRESS_PER_HOUR: "1",
    });
    connect = fetchDriver(h.url, "metrics-test");
    grpc = grpcJsDriver(h.url);
  });
  afterAll(async () => {
    grpc?.close();
    await h?.close();
  });

  it("refuses a scrape without the token or with a wrong one", async () => {
    expect(h.server.metricsUrl).toBe(`${h.url}/metrics`);
    const none = await fetch(`${h.url}/metrics`);
    expect(none.status).toBe(401);
    expect(none.headers.get("www-authenticate")).toMatch(/^Bearer/);
    expect(await none.text()).toBe("");
    const bad = await fetch(`${h.url}/metrics`, { headers: { authorization: `Bearer ${token}x` } });
    expect(bad.status).toBe(401);
  });

  it("counts what happened", async () => {
    // Registrations: two, and one refused.
    for (const email of [alice, bob]) {
      const reg = await connect.call("AuthService/Register", { email, password });
      ids.push(reg.user.id);
      secrets.push(reg.tokens.accessToken, reg.tokens.refreshToken);
    }
    expect((await failure(connect.call("AuthService/Register", { email: alice, password }))).reason).toBe("EMAIL_EXISTS");

    // Password sign-ins over gRPC: two wrong and a right one (the right one reaches the limit of 3,
    // and lifts the lock it set: no lockout), then three wrong (a lockout), then the right password
    // refused by the lock.
    for (let i = 0; i < 2; i++) await failure(grpc.call("AuthService/Login", { email: alice, password: wrong }));
    const signedIn = await grpc.call("AuthService/Login", { email: alice, password });
    secrets.push(signedIn.tokens.accessToken, signedIn.tokens.refreshToken);
    for (let i = 0; i < 3; i++) {
      expect((await failure(grpc.call("AuthService/Login", { email: alice, password: wrong }))).reason).toBe("INVALID_CREDENTIALS");
    }
    expect((await failure(grpc.call("AuthService/Login", { email: alice, password }))).reason).toBe("RATE_LIMITED");

    // Refresh over Connect JSON: a rotation, the spent token again within its grace (same pair),
    // then again after it (reuse: the session is revoked).
    const spent = signedIn.tokens.refreshToken;
    const rotated = await connect.call("AuthService/RefreshToken", { refreshToken: spent });
    const replayed = await connect.call("AuthService/RefreshToken", { refreshToken: spent });
    expect(replayed.tokens.refreshToken).toBe(rotated.tokens.refreshToken);
    secrets.push(rotated.tokens.accessToken, rotated.tokens.refreshToken);
    h.clock.advance(31_000);
    expect((await failure(connect.call("AuthService/RefreshToken", { refreshToken: spent }))).reason).toBe("REFRESH_REVOKED");

    // Second factor: bob turns it on. A wrong code then a right one (a recovery code, then a TOTP
    // code) reach the limit of 2 and lift the lock they set: no lockout. Then two wrong codes (a
    // lockout), and the lock refuses the next.
    const bobToken = secrets[2] as string;
    const setup = await connect.call("TwoFactorService/Setup", {}, bobToken);
    const enabled = await connect.call("TwoFactorService/Enable", { code: totp(setup.secret, h.clock.now()) }, bobToken);
    h.clock.advance(30_000);
    const challenge = async () => {
      const pending = await grpc.call("AuthService/Login", { email: bob, password });
      secrets.push(pending.secondFactor.challengeToken);
      return pending.secondFactor.challengeToken as string;
    };
    const code = wrongCode(setup.secret, h.clock.now());
    for (const proof of [{ recoveryCode: enabled.recoveryCodes[0] }, { code: totp(setup.secret, h.clock.now()) }]) {
      const challengeToken = await challenge();
      await failure(connect.call("AuthService/CompleteLogin", { challengeToken, code }));
      const done = await connect.call("AuthService/CompleteLogin", { challengeToken, ...proof });
      secrets.push(done.tokens.accessToken, done.tokens.refreshToken);
    }
    const challengeToken = await challenge();
    for (let i = 0; i < 2; i++) {
      const f = await failure(connect.call("AuthService/CompleteLogin", { challengeToken, code }));
      expect(f.reason).toBe("INVALID_TWO_FACTOR_CODE");
    }
    expect((await failure(connect.call("AuthService/CompleteLogin", { challengeToken, code }))).reason).toBe("TWO_FACTOR_LOCKED");

    // Mail: a reset code mailed, a second one held back by the address's hourly limit of 1.
    await connect.call("AuthService/RequestPasswordReset", { email: alice });
    await connect.call("AuthService/RequestPasswordReset", { email: alice });

    // Paths no route owns, carrying an email: counted as "other", the email nowhere.
    expect((await fetch(`${h.url}/nothing/${alice}`)).status).toBe(404);
    expect((await rest(h, "POST", `/api/v1/${alice}`, { body: {} })).status).toBe(404);
    // A REST route.
    expect((await rest(h, "POST", "/api/v1/auth/forgot-password", { body: { email: "nobody.metrics@example.com" } })).status).toBe(200);

    await h.server.deps.background.drain();
    m = await scrape(`${h.url}/metrics`, token);

    // Calls, by service, method, protocol, status, code and reason.
    const requests = (labels: Record<string, string>) => m.value("authd_requests_total", labels);
    expect(requests({ ...auth("Register", "connect"), status: "200", code: "ok", reason: "" })).toBe(2);
    expect(requests({ ...auth("Register", "connect"), code: "already_exists", reason: "EMAIL_EXISTS" })).toBe(1);
    expect(requests({ ...auth("Login", "grpc"), status: "200", code: "ok" })).toBe(4); // alice once, bob pending thrice
    expect(requests({ ...auth("Login", "grpc"), code: "unauthenticated", reason: "INVALID_CREDENTIALS" })).toBe(5);
    expect(requests({ ...auth("Login", "grpc"), code: "resource_exhausted", reason: "RATE_LIMITED" })).toBe(1);
    expect(requests({ ...auth("RefreshToken", "connect"), code: "ok" })).toBe(2);
    expect(requests({ ...auth("RefreshToken", "connect"), status: "401", code: "unauthenticated", reason: "REFRESH_REVOKED" })).toBe(1);
    expect(requests({ ...auth("CompleteLogin", "connect"), code: "ok" })).toBe(2);
    expect(requests({ ...auth("CompleteLogin", "connect"), code: "unauthenticated", reason: "INVALID_TWO_FACTOR_CODE" })).toBe(4);
    expect(requests({ ...auth("CompleteLogin", "connect"), code: "resource_exhausted", reason: "TWO_FACTOR_LOCKED" })).toBe(1);
    expect(requests({ service: "auth.v1.TwoFactorService", method: "Enable", protocol: "connect", code: "ok" })).toBe(1);
    expect(requests({ service: "http", method: "other", protocol: "http", status: "404" })).toBe(1);
    expect(requests({ service: "rest", method: "other", protocol: "rest", status: "404", reason: "NOT_FOUND" })).toBe(1);
    expect(requests({ service: "rest", method: "POST /api/v1/auth/forgot-password", protocol: "rest", status: "200" })).toBe(1);
    expect(requests({ service: "http", method: "/metrics", protocol: "http", status: "401" })).toBe(2);
    // Every call observed once in the latency histogram.
    expect(m.count("authd_request_duration_seconds", auth("Login", "grpc"))).toBe(10);
    expect(m.count("authd_request_duration_seconds", auth("RefreshToken", "connect"))).toBe(3);
    expect(m.count("authd_request_duration_seconds")).toBe(requests({}));
    expect(m.family("authd_request_duration_seconds").type).toBe("HISTOGRAM");

    // Sign-ins by step and outcome.
    const signIns = (step: string, outcome: string) => m.value("authd_sign_ins_total", { step, outcome });
    expect(signIns("password", "signed_in")).toBe(1);
    expect(signIns("password", "second_factor_pending")).toBe(3);
    expect(signIns("password", "invalid_credentials")).toBe(5);
    expect(signIns("password", "rate_limited")).toBe(1);
    expect(signIns("second_factor", "signed_in")).toBe(2);
    expect(signIns("second_factor", "invalid_two_factor_code")).toBe(4);
    expect(signIns("second_factor", "two_factor_locked")).toBe(1);
    expect(m.value("authd_sign_ins_total")).toBe(17);

    // Locks: one on alice's password, one on bob's second factor (not those right guesses lifted).
    expect(m.value("authd_lockouts_total", { factor: "password", scope: "account" })).toBe(1);
    expect(m.value("authd_lockouts_total", { factor: "password" })).toBe(1);
    expect(m.value("authd_lockouts_total", { factor: "second_factor", scope: "account" })).toBe(1);

    // Refresh: one replay within the grace, one reuse.
    expect(m.value("authd_refresh_grace_replays_total")).toBe(1);
    expect(m.value("authd_refresh_reuse_detected_total")).toBe(1);

    // Mail: what the outbox received, by kind; one reset held back by the address's limit.
    expect(m.value("authd_mails_total", { kind: "password_reset", result: "sent" })).toBe(1);
    expect(h.outbox.all(alice, "password_reset")).toHaveLength(1);
    const notices = h.outbox.mails.filter((mail) => mail.kind === "security_notification");
    for (const kind of new Set(notices.map((n) => n.notification))) {
      const sent = notices.filter((n) => n.notification === kind).length;
      expect(m.value("authd_mails_total", { kind, result: "sent" }), kind).toBe(sent);
    }
    expect(m.value("authd_mails_total", { result: "sent" })).toBe(h.outbox.mails.length);
    expect(m.value("authd_mails_total", { result: "failed" })).toBe(0);
    expect(m.value("authd_mails_limited_total", { limit: "address" })).toBe(1);

    // Storage: every call timed at the port, none failed.
    expect(m.count("authd_storage_operation_duration_seconds", { collection: "users", operation: "findByEmail" })).toBeGreaterThan(0);
    expect(m.count("authd_storage_operation_duration_seconds", { collection: "refreshTokens", operation: "consume" })).toBe(1);
    expect(m.value("authd_storage_errors_total")).toBe(0);

    // Connections, from the listener's own counts, and Node's process metrics.
    expect(m.value("authd_connections_accepted_total")).toBeGreaterThanOrEqual(2);
    expect(m.value("authd_connections_open")).toBeGreaterThanOrEqual(1);
    expect(m.value("authd_connections_refused_total")).toBe(0);
    expect(m.family("process_cpu_user_seconds_total").type).toBe("COUNTER");
    expect(m.value("nodejs_heap_size_total_bytes")).toBeGreaterThan(0);
  });

  it("carries no email, address, id or token", () => {
    expect(m.text).not.toContain("@");
    expect(m.text).not.toContain("example.com");
    expect(m.text).not.toContain("127.0.0.1");
    for (const value of [...ids, ...secrets]) expect(m.text).not.toContain(value);
  });

  // Last in this block: the scrapes it makes are not in the counts above.
  it("never lets a browser sniff or frame an answer: 200, HEAD, 401, 405", async () => {
    const bearer = { authorization: `Bearer ${token}` };
    const cases: Array<[string, RequestInit, number]> = [
      ["200", { headers: bearer }, 200],
      ["HEAD", { method: "HEAD", headers: bearer }, 200],
      ["401", {}, 401],
      ["405", { method: "POST", headers: bearer }, 405],
    ];
    for (const [label, init, status] of cases) {
      const res = await fetch(`${h.url}/metrics`, init);
      expect(res.status, label).toBe(status);
      expectBrowserSafe(res, label);
      await res.body?.cancel();
    }
  });
});

describe("metrics on their own port", () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ METRICS_PORT: "0", MAX_CONNECTIONS: "1" });
  });
  afterAll(() => h?.close());

  it("serves /metrics there without a token, and counts the connections the main port refused", async () => {
    const url = h.server.metricsUrl as string;
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    expect(new URL(url).port).not.toBe(new URL(h.url).port);

    // With MAX_CONNECTIONS=1 a second connection to the main port is closed at once, the one place
    // being busy (a request half sent: an idle one would make room).
    const held = net.connect(Number(new URL(h.url).port), "127.0.0.1");
    await new Promise((resolve) => held.once("connect", resolve));
    held.write("GET /livez HTTP/1.1\r\n");
    await new Promise((resolve) => setTimeout(resolve, 50));
    const refused = net.connect(Number(new URL(h.url).port), "127.0.0.1");
    await new Promise((resolve) => refused.once("close", resolve));
    held.destroy();

    let m = await scrape(url);
    // The main port's one connection is free again once the server has seen it close.
    for (let i = 0; i < 100 && m.value("authd_connections_open") > 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
      m = await scrape(url);
    }
    expect(m.value("authd_connections_open")).toBe(0);
    expect(m.value("authd_connections_refused_total", { why: "total" })).toBe(1);
    expect(m.value("authd_connections_accepted_total")).toBe(1);
    expect((await fetch(url.replace(/\/metrics$/, "/livez"))).status).toBe(404);
  });

  it("and not on the main port", async () => {
    const res = await fetch(`${h.url}/metrics`);
    expect(res.status).toBe(404);
    expect(await res.text()).not.toContain("authd_requests_total");
  });

  it("never lets a browser sniff or frame an answer there: 200, 405, 404", async () => {
    const url = h.server.metricsUrl as string;
    for (const [label, res, status] of [
      ["200", await fetch(url), 200],
      ["405", await fetch(url, { method: "DELETE" }), 405],
      ["404", await fetch(url.replace(/\/metrics$/, "/elsewhere")), 404],
    ] as const) {
      expect(res.status, label).toBe(status);
      expectBrowserSafe(res, label);
      await res.body?.cancel();
    }
  });
});

describe("the scrape when the metrics cannot be collected", () => {
  it("answers 500, empty, and never lets a browser sniff or frame it", async () => {
    const errors: unknown[] = [];
    const broken = { contentType: "text/plain", scrape: () => Promise.reject(new Error("a collector threw")) } as unknown as Metrics;
    const server = await startMetricsServer(
      scrapeHandler(broken, undefined, { error: (obj: unknown) => errors.push(obj) } as never),
      0,
      "127.0.0.1",
    );
    try {
      const res = await fetch(`http://127.0.0.1:${server.port}/metrics`);
      expect(res.status).toBe(500);
      expect(await res.text()).toBe("");
      expectBrowserSafe(res, "500");
      expect(errors).toHaveLength(1);
    } finally {
      await server.close();
    }
  });
});

describe("metrics on their own port, reachable beyond this machine", () => {
  it("warn at start when no token guards them; not on loopback, nor with a token", async () => {
    const warned = (h: Harness) => h.logs.some((l) => l["level"] === "warn" && String(l["msg"]).includes("without METRICS_TOKEN"));
    const open = await startHarness({ METRICS_PORT: "0", METRICS_HOST: "0.0.0.0" });
    const local = await startHarness({ METRICS_PORT: "0" });
    const guarded = await startHarness({ METRICS_PORT: "0", METRICS_HOST: "0.0.0.0", METRICS_TOKEN: token });
    try {
      expect([warned(open), warned(local), warned(guarded)]).toEqual([true, false, false]);
    } finally {
      await Promise.all([open.close(), local.close(), guarded.close()]);
    }
  });
});

describe("metrics on their own port with a token", () => {
  it("require the token there too", async () => {
    const h = await startHarness({ METRICS_PORT: "0", METRICS_TOKEN: token });
    try {
      const url = h.server.metricsUrl as string;
      expect((await fetch(url)).status).toBe(401);
      expect((await scrape(url, token)).value("authd_refresh_reuse_detected_total")).toBe(0);
    } finally {
      await h.close();
    }
  });
});

describe("metrics of the REST routes", () => {
  it("count a REST sign-in once, as the RPC's would be, under its route pattern", async () => {
    const h = await startHarness({ METRICS_PORT: "0", EMAIL_VERIFICATION_REQUIRED: "false" });
    try {
      await rest(h, "POST", "/auth/register", { body: { email: alice, password } });
      expect((await rest(h, "POST", "/auth/login", { body: { email: alice, password: wrong } })).status).toBe(401);
      expect((await rest(h, "POST", "/auth/login", { body: { email: alice, password } })).status).toBe(200);
      const m = await scrape(h.server.metricsUrl as string);
      const login = { service: "rest", method: "POST /auth/login", protocol: "rest" };
      expect(m.value("authd_requests_total", { ...login, status: "401", reason: "INVALID_CREDENTIALS" })).toBe(1);
      expect(m.value("authd_requests_total", { ...login, status: "200" })).toBe(1);
      expect(m.count("authd_request_duration_seconds", login)).toBe(2);
      expect(m.value("authd_sign_ins_total", { step: "password", outcome: "invalid_credentials" })).toBe(1);
      expect(m.value("authd_sign_ins_total", { step: "password", outcome: "signed_in" })).toBe(1);
      expect(m.value("authd_sign_ins_total")).toBe(2);
    } finally {
      await h.close();
    }
  });
});

describe("metrics off", () => {
  it("without METRICS_PORT or METRICS_TOKEN: nothing collected, /metrics is an unknown path", async () => {
    const h = await startHarness();
    try {
      expect(h.server.metricsUrl).toBeUndefined();
      expect(h.server.deps.metrics).toBeUndefined();
      expect((await fetch(`${h.url}/metrics`)).status).toBe(404);
    } finally {
      await h.close();
    }
  });
});

describe("the instruments", () => {
  it("count storage failures by collection, operation and kind, and a taken email as none", async () => {
    const metrics = createMetrics();
    const inner = createMemoryStore();
    let fail: Error | undefined;
    const store = metrics.observeStore({
      ...inner,
      users: { ...inner.users, findById: async (id) => (fail === undefined ? inner.users.findById(id) : Promise.reject(fail)) },
    });
    await store.users.findById("u1");
    fail = new StorageUnavailableError();
    await expect(store.users.findById("u1")).rejects.toBe(fail);
    fail = new StorageFailureError();
    await expect(store.users.findById("u1")).rejects.toBe(fail);
    const user = makeUser(new Date(), { id: "u1", email: "a@b.c" });
    await store.users.insert(user);
    await expect(store.users.insert({ ...user, id: "u2" })).rejects.toThrow();
    const m = new Scrape(await metrics.scrape());
    const users = (operation: string) => ({ collection: "users", operation });
    expect(m.count("authd_storage_operation_duration_seconds", users("findById"))).toBe(3);
    expect(m.count("authd_storage_operation_duration_seconds", users("insert"))).toBe(2);
    expect(m.value("authd_storage_errors_total", { ...users("findById"), error: "unavailable" })).toBe(1);
    expect(m.value("authd_storage_errors_total", { ...users("findById"), error: "failure" })).toBe(1);
    expect(m.value("authd_storage_errors_total", users("insert"))).toBe(0);
  });

  it("count mail that failed to send, and pass the failure on", async () => {
    const metrics = createMetrics();
    const outbox = createOutbox();
    const broken: Mailer = { send: () => Promise.reject(new Error("smtp down")) };
    const mail = { kind: "password_reset", to: "x@y.z", subject: "s", text: "t", code: "123456" } as const;
    await metrics.observeMailer(outbox).send(mail);
    await expect(metrics.observeMailer(broken).send(mail)).rejects.toThrow("smtp down");
    const m = new Scrape(await metrics.scrape());
    expect(m.value("authd_mails_total", { kind: "password_reset", result: "sent" })).toBe(1);
    expect(m.value("authd_mails_total", { kind: "password_reset", result: "failed" })).toBe(1);
  });

  it("keep label values to known sets: an unknown reason is 'other', an unmatched path is 'other'", async () => {
    const metrics = createMetrics();
    metrics.calls.record({
      outcome: { protocol: "connect", route: "auth.v1.AuthService/Login", rpcCode: "internal", reason: "SOMETHING_ELSE@x" },
      method: "POST",
      path: "/auth.v1.AuthService/Login",
      status: 500,
      completed: true,
      seconds: 0.01,
    });
    metrics.calls.record({ outcome: { protocol: "http" }, method: "GET", path: "/u/a@b.c", status: 404, completed: false, seconds: 0.001 });
    const m = new Scrape(await metrics.scrape());
    expect(m.value("authd_requests_total", { ...auth("Login", "connect"), reason: "other" })).toBe(1);
    expect(m.value("authd_requests_total", { service: "http", method: "other", status: "404" })).toBe(1);
    expect(m.value("authd_requests_aborted_total", { service: "http", method: "other" })).toBe(1);
    expect(m.text).not.toContain("@");
  });
});
