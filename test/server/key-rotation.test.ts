// Rotating the signing key as the README's "Rotating the signing key" tells an operator to: two
// instances behind a balancer over one store, restarted one at a time at each step (start: A;
// publish: A signs, B next; promote: B signs, A previous; retire: B alone), while clients keep
// calling and refreshing on both. No call fails at any step, tokens of either key work on either
// instance while both are listed, a JWKS-based verifier that fetched the key set after B was
// published accepts B's tokens without fetching it again, and once A is removed its tokens are
// refused by kid (INVALID_TOKEN, not a try of every key). The store outlives every restart, as a
// MongoDB replica set does (the memory store would not survive a real process restart).
import { generateKeyPairSync } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { createRemoteJWKSet, decodeProtectedHeader, errors, jwtVerify } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Store } from "../../src/store/port.ts";
import { connectDriver, failure, fetchDriver, type Driver, type Json, type Method } from "../support/drivers.ts";
import { createGate, grpcTransport, startHarness, type Gate, type Harness } from "../support/harness.ts";
import { openTestStore, storageUnderTest } from "../support/stores.ts";

const password = "correct horse battery staple";

function keyPair() {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  return {
    privatePem: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
    publicPem: publicKey.export({ type: "spki", format: "pem" }).toString(),
  };
}
const A = keyPair();
const B = keyPair();

/** The README's steps, each the whole key configuration of every instance. */
const steps = {
  start: { JWT_PRIVATE_KEY: A.privatePem },
  publish: { JWT_PRIVATE_KEY: A.privatePem, JWT_NEXT_PRIVATE_KEY: B.privatePem },
  promote: { JWT_PRIVATE_KEY: B.privatePem, JWT_PREVIOUS_PUBLIC_KEYS: A.publicPem },
  retire: { JWT_PRIVATE_KEY: B.privatePem },
};
// The same secret on every instance and at every step, as the README asks for.
const common = { EMAIL_VERIFICATION_REQUIRED: "false", SERVER_SECRET: "5e".repeat(32), LOGIN_MAX_FAILURES: "0" };

let shared: Store;
/** Held inside the store when a call reads this session, while `gate` is set. */
let gated: { sessionId: string; gate: Gate } | undefined;
/** The balancer's pool: instances that take new calls. A restarting one is out of it. */
const pool: Harness[] = [];
const instances: Harness[] = [];
let turn = 0;
let balancer: Server;
let balancerUrl: string;
let jwksFetches = 0;
/** Calls held in the store of an instance while it began to close, and answered. */
let inFlightAnswered = 0;

/** A view of the shared store that a harness may close, and that can hold one call in flight. */
function storeView(): Store {
  const sessions = {
    ...shared.sessions,
    async findLive(id: string, now: Date) {
      const held = gated;
      if (held !== undefined && held.sessionId === id) {
        gated = undefined;
        await held.gate.pass();
      }
      return shared.sessions.findLive(id, now);
    },
  };
  return { ...shared, kind: shared.kind, sessions, close: async () => undefined };
}

const next = (): Harness => {
  const h = pool[turn++ % pool.length];
  if (h === undefined) throw new Error("no instance in the pool");
  return h;
};
const call = (method: Method, req: Json, token?: string) => fetchDriver(next().url, "rotation-test").call(method, req, token);

/** One gRPC (HTTP/2) client per instance, its connection kept open across calls as real clients do. */
const grpcDrivers = new Map<string, Driver>();
const grpcCall = (method: Method, req: Json, token?: string) => {
  const { url } = next();
  const driver = grpcDrivers.get(url) ?? connectDriver("grpc", grpcTransport(url), "rotation-test");
  grpcDrivers.set(url, driver);
  return driver.call(method, req, token);
};

async function start(step: keyof typeof steps): Promise<Harness> {
  return startHarness({ ...common, ...steps[step] }, storeView());
}

/**
 * Restarts instance `i` with the key configuration of `step`: out of the pool, closed (its calls
 * in flight finish, one of them held in the store across the start of the close), started again,
 * back in the pool.
 */
async function restart(i: number, step: keyof typeof steps, probe: { token: string; sessionId: string }): Promise<void> {
  const old = instances[i];
  if (old === undefined) throw new Error(`no instance ${i}`);
  const gate = createGate();
  gated = { sessionId: probe.sessionId, gate };
  const inFlight = fetchDriver(old.url, "in-flight").call("AuthService/GetCurrentUser", {}, probe.token);
  await gate.reached;
  pool.splice(pool.indexOf(old), 1);
  const closing = old.close();
  await new Promise((r) => setImmediate(r));
  gate.release();
  // The call that was in the store when the close began still gets its answer.
  expect((await inFlight).user.id).toBeTypeOf("string");
  await closing;
  const fresh = await start(step);
  instances[i] = fresh;
  pool.push(fresh);
  inFlightAnswered++;
}

// ---- clients that keep calling through every step ----

interface Worker {
  email: string;
  /** Half the clients call over gRPC (HTTP/2, one long-lived connection per instance), half JSON over HTTP/1.1. */
  call: typeof call;
  access: string;
  refresh: string;
  calls: number;
  /** kid of each access token this worker used successfully. */
  kids: Set<string>;
}
const workers: Worker[] = [];
const failures: string[] = [];
let running = true;
let loops: Promise<void>[] = [];

async function work(w: Worker): Promise<void> {
  while (running) {
    try {
      if (w.calls % 4 === 3) {
        const { tokens } = await w.call("AuthService/RefreshToken", { refreshToken: w.refresh });
        w.access = tokens.accessToken;
        w.refresh = tokens.refreshToken;
      } else {
        const { user } = await w.call("AuthService/GetCurrentUser", {}, w.access);
        if (user.email !== w.email) failures.push(`${w.email}: answered for ${user.email}`);
        w.kids.add(decodeProtectedHeader(w.access).kid ?? "none");
      }
    } catch (err) {
      failures.push(`${w.email} (${decodeProtectedHeader(w.access).kid}): ${String(err)}`);
    }
    w.calls++;
  }
}

const totalCalls = () => workers.reduce((n, w) => n + w.calls, 0);
/** Waits until every worker has made `n` more calls (progress, not time). */
async function progress(n = 8): Promise<void> {
  const targets = workers.map((w) => w.calls + n);
  while (workers.some((w, i) => w.calls < (targets[i] ?? 0))) await new Promise((r) => setTimeout(r, 5));
}

const signingKeysLine = (h: Harness) => {
  const line = h.logs.find((l) => l.msg === "signing keys");
  return line === undefined
    ? undefined
    : { current: line.current, ...(line.next === undefined ? {} : { next: line.next }), previous: line.previous };
};
const kidOf = (token: string) => decodeProtectedHeader(token).kid;
const jwksOf = async (h: Harness) => {
  const res = await fetch(`${h.url}/.well-known/jwks.json`);
  return { cacheControl: res.headers.get("cache-control"), kids: ((await res.json()) as { keys: Json[] }).keys.map((k) => k.kid) };
};

let kidA: string;
let kidB: string;
/** A session signed in under A and never refreshed: its token is A's until the end. */
let first: { token: string; refresh: string; sessionId: string; userId: string };
/** Fetched the key set before B was published, and will not fetch it again during the test. */
let earlyVerifier: ReturnType<typeof createRemoteJWKSet>;
/** Fetched it after B was published (after the wait the README asks for). */
let verifier: ReturnType<typeof createRemoteJWKSet>;
const verifyWith = (jwks: ReturnType<typeof createRemoteJWKSet>, token: string) =>
  jwtVerify(token, jwks, { issuer: "authd", audience: "authd", typ: "at+jwt" }).then(
    (r) => r.payload.sub,
    (e: unknown) => (e instanceof errors.JOSEError ? e.code : String(e)),
  );

beforeAll(async () => {
  shared = await openTestStore("key_rotation");
  for (let i = 0; i < 2; i++) instances.push(await start("start"));
  pool.push(...instances);
  // The balancer's JWKS route, as verifiers see it: one address whatever instance answers.
  balancer = createServer((req, res) => {
    jwksFetches++;
    void fetch(`${next().url}${req.url}`).then(async (r) => {
      res.writeHead(r.status, { "content-type": "application/json", "cache-control": r.headers.get("cache-control") ?? "" });
      res.end(await r.text());
    });
  });
  await new Promise<void>((r) => balancer.listen(0, "127.0.0.1", r));
  balancerUrl = `http://127.0.0.1:${(balancer.address() as AddressInfo).port}/.well-known/jwks.json`;
  // No refetch during the test, whatever kid comes: what a verifier caching for minutes sees.
  const cached = { cacheMaxAge: 3_600_000, cooldownDuration: 3_600_000 };
  earlyVerifier = createRemoteJWKSet(new URL(balancerUrl), cached);
  verifier = createRemoteJWKSet(new URL(balancerUrl), cached);

  const email = "rotation-first@example.com";
  await call("AuthService/Register", { email, password });
  const login = await call("AuthService/Login", { email, password });
  first = { token: login.tokens.accessToken, refresh: login.tokens.refreshToken, sessionId: login.tokens.sessionId, userId: login.user.id };
  for (let i = 0; i < 4; i++) {
    const workerEmail = `rotation-${i}@example.com`;
    await call("AuthService/Register", { email: workerEmail, password });
    const { tokens } = await call("AuthService/Login", { email: workerEmail, password });
    workers.push({
      email: workerEmail,
      call: i % 2 === 0 ? call : grpcCall,
      access: tokens.accessToken,
      refresh: tokens.refreshToken,
      calls: 0,
      kids: new Set(),
    });
  }
  loops = workers.map(work);
});

afterAll(async () => {
  running = false;
  await Promise.all(loops);
  await Promise.all(instances.map((h) => h.close()));
  await new Promise((r) => balancer.close(r));
  await shared.close();
});

describe(`rotating the signing key on two instances over one ${storageUnderTest} store, under load`, () => {
  it("start: A signs, and the early verifier caches a key set of A alone", async () => {
    kidA = kidOf(first.token) ?? "";
    expect(await verifyWith(earlyVerifier, first.token)).toBe(first.userId);
    for (const h of instances) expect(await jwksOf(h)).toEqual({ cacheControl: "public, max-age=300", kids: [kidA] });
    await progress();
  });

  it("publish: B is published next to A on both instances, one restart at a time, and still A signs", async () => {
    await restart(0, "publish", first);
    await progress();
    await restart(1, "publish", first);
    await progress();
    const published = await jwksOf(instances[0] as Harness);
    expect(published.kids).toHaveLength(2);
    expect(published.kids[0]).toBe(kidA);
    kidB = published.kids[1];
    expect(await jwksOf(instances[1] as Harness)).toEqual(published);
    // What an operator checks in each instance's log at each step.
    for (const h of instances) expect(signingKeysLine(h)).toEqual({ current: kidA, next: kidB, previous: [] });
    const login = await call("AuthService/Login", { email: "rotation-first@example.com", password });
    expect(kidOf(login.tokens.accessToken)).toBe(kidA);
    // After the wait: a verifier that fetches the key set now holds B before B signs anything.
    const fetchesBefore = jwksFetches;
    expect(await verifyWith(verifier, first.token)).toBe(first.userId);
    expect(jwksFetches).toBe(fetchesBefore + 1);
  });

  it("promote: B signs, A verifies; while only one instance is promoted, each takes the other's tokens", async () => {
    await restart(0, "promote", first);
    // Mixed: instance 0 signs with B (A previous), instance 1 with A (B next).
    const fromB = await fetchDriver((instances[0] as Harness).url, "mixed").call("AuthService/Login", {
      email: "rotation-first@example.com",
      password,
    });
    const fromA = await fetchDriver((instances[1] as Harness).url, "mixed").call("AuthService/Login", {
      email: "rotation-first@example.com",
      password,
    });
    expect([kidOf(fromB.tokens.accessToken), kidOf(fromA.tokens.accessToken)]).toEqual([kidB, kidA]);
    for (const h of instances) {
      for (const token of [fromA.tokens.accessToken, fromB.tokens.accessToken, first.token]) {
        expect((await fetchDriver(h.url, "mixed").call("AuthService/GetCurrentUser", {}, token)).user.id).toBe(first.userId);
      }
    }
    await progress();
    await restart(1, "promote", first);
    await progress();
    for (const h of instances) {
      expect((await jwksOf(h)).kids).toEqual([kidB, kidA]);
      expect(signingKeysLine(h)).toEqual({ current: kidB, previous: [kidA] });
    }
  });

  it("after promotion: A's token, B's tokens, A's refresh token and the session all still work, and both verifiers' answers", async () => {
    const login = await call("AuthService/Login", { email: "rotation-first@example.com", password });
    const tokenB = login.tokens.accessToken;
    expect(kidOf(tokenB)).toBe(kidB);
    for (const h of instances) {
      for (const token of [first.token, tokenB]) {
        expect((await fetchDriver(h.url, "after").call("AuthService/GetCurrentUser", {}, token)).user.id).toBe(first.userId);
      }
    }
    // The verifier that fetched after B was published takes B's tokens without fetching again.
    const fetchesBefore = jwksFetches;
    expect(await verifyWith(verifier, first.token)).toBe(first.userId);
    expect(await verifyWith(verifier, tokenB)).toBe(first.userId);
    expect(jwksFetches).toBe(fetchesBefore);
    // The one that cached before B was published does not know B: why the README says to wait.
    expect(await verifyWith(earlyVerifier, tokenB)).toBe("ERR_JWKS_NO_MATCHING_KEY");
    // The session signed in under A is still listed, and its refresh token (issued under A) works.
    const sessions = await call("SessionService/ListSessions", {}, first.token);
    expect(sessions.sessions.map((s: Json) => s.id)).toContain(first.sessionId);
    const refreshed = await call("AuthService/RefreshToken", { refreshToken: first.refresh });
    expect(kidOf(refreshed.tokens.accessToken)).toBe(kidB);
    expect((await call("AuthService/GetCurrentUser", {}, refreshed.tokens.accessToken)).user.id).toBe(first.userId);
    // The old access token stays valid until it expires: a refresh does not end the session.
    expect((await call("AuthService/GetCurrentUser", {}, first.token)).user.id).toBe(first.userId);
  });

  it("retire: once every client holds a B token, A is removed and nothing in use fails; A's tokens are refused", async () => {
    // Stands for "wait one access-token lifetime": every worker has refreshed since promotion.
    while (workers.some((w) => kidOf(w.access) !== kidB)) await progress(1);
    const login = await call("AuthService/Login", { email: "rotation-first@example.com", password });
    const probe = { token: login.tokens.accessToken, sessionId: login.tokens.sessionId };
    await restart(0, "retire", probe);
    await progress();
    await restart(1, "retire", probe);
    await progress();
    for (const h of instances) {
      expect(await jwksOf(h)).toEqual({ cacheControl: "public, max-age=300", kids: [kidB] });
      const refused = await failure(fetchDriver(h.url, "retired").call("AuthService/GetCurrentUser", {}, first.token));
      expect([refused.code, refused.reason]).toEqual(["unauthenticated", "INVALID_TOKEN"]);
    }
    // A verifier that fetches the key set now refuses A's tokens too.
    const fresh = createRemoteJWKSet(new URL(balancerUrl));
    expect(await verifyWith(fresh, first.token)).toBe("ERR_JWKS_NO_MATCHING_KEY");
  });

  it("no call of any client failed at any step, and both keys' tokens were used", async () => {
    running = false;
    await Promise.all(loops);
    expect(failures).toEqual([]);
    expect(totalCalls()).toBeGreaterThan(0);
    // Every client, over either protocol, used tokens of both keys.
    for (const w of workers) expect([w.email, w.kids]).toEqual([w.email, new Set([kidA, kidB])]);
    expect(inFlightAnswered).toBeGreaterThanOrEqual(4);
  });
});
