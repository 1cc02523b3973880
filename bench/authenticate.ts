// What an authenticated call costs in-process, apart from HTTP: authenticate() (access token
// check plus the live-session check) with the verified-token cache off (every call checks the
// Ed25519 signature) and warm (the same token again), the whole GetCurrentUser operation, and an
// empty async call as the reference. A benchmark, not a test: it prints numbers for a person to
// read. An admin's authenticate() beside a user's shows what working out the permissions of the
// roles on every call costs. Run: npm run bench:authenticate   (ROUNDS=3 MS=1000 by default; medians of the rounds)
import { randomBytes, randomUUID } from "node:crypto";
import { loadConfig } from "../src/config.ts";
import { createLogger } from "../src/log.ts";
import { createOutbox } from "../src/mail/mailer.ts";
import { composeService } from "../src/server/compose.ts";
import { createMemoryStore } from "../src/store/memory.ts";
import type { UserRecord } from "../src/store/port.ts";
import type { AccessClaims } from "../src/tokens/access.ts";
import { bearerFrom } from "../src/transport/credentials.ts";
import { VerifiedTokenCache } from "../src/tokens/verified-cache.ts";
import { callRate } from "./lib/call-rate.ts";

const rounds = Number(process.env.ROUNDS ?? 3);
const msPerCase = Number(process.env.MS ?? 1000);

async function signedIn(cacheSize: string, roles = ["user"]) {
  const config = loadConfig({ LOG_LEVEL: "silent", ACCESS_TOKEN_CACHE_SIZE: cacheSize }, () => "");
  const store = createMemoryStore();
  const service = await composeService(config, { store, mailer: createOutbox(), log: createLogger("silent") });
  const now = new Date();
  const user: UserRecord = {
    id: "usr_bench",
    email: "bench@example.com",
    emailVerified: true,
    emailVerifiedAt: now,
    displayName: "Bench",
    passwordHash: null,
    passwordUpdatedAt: null,
    createdAt: now,
    updatedAt: now,
    sessionCutoff: { generation: 0, keptSessionId: null },
    twoFactorCutoffRaises: 0,
    roles,
    disabledAt: null,
  };
  await store.users.insert(user);
  const pair = await service.operations.sessions.open(user, { ipAddress: "127.0.0.1", userAgent: "bench" }, false, 0);
  return { service, credential: { bearer: pair.accessToken } };
}

const cold = await signedIn("0");
const warm = await signedIn("10000");
// The admin role grants five permissions, worked out from the role map on every call (the live check).
const admin = await signedIn("10000", ["admin", "user"]);
const empty = async () => 0;
// A request brings its token as a new string every time (Node makes one per header it parses),
// whose hash no Map lookup has computed yet: `header()` makes one as Node does, from bytes.
const headerBytes = Buffer.from(`Bearer ${warm.credential.bearer}`, "latin1");
const header = () => headerBytes.toString("latin1");

const cases: Record<string, () => Promise<unknown>> = {
  "empty async call (reference)": empty,
  "accessTokens.verify, cache off": () => cold.service.accessTokens.verify(cold.credential.bearer),
  "accessTokens.verify, cache warm": () => warm.service.accessTokens.verify(warm.credential.bearer),
  "authenticate(), cache off": () => cold.service.operations.sessions.authenticate(cold.credential),
  "authenticate(), cache warm": () => warm.service.operations.sessions.authenticate(warm.credential),
  "authenticate(), cache warm, admin": () => admin.service.operations.sessions.authenticate(admin.credential),
  "a new Authorization header string (reference)": async () => header().length,
  "authenticate(), cache warm, token from a new header": () =>
    warm.service.operations.sessions.authenticate({ bearer: bearerFrom(header()) }),
  "GetCurrentUser operation, cache off": async () =>
    cold.service.operations.accounts.getUser(await cold.service.operations.sessions.authenticate(cold.credential)),
  "GetCurrentUser operation, cache warm": async () =>
    warm.service.operations.accounts.getUser(await warm.service.operations.sessions.authenticate(warm.credential)),
};

// Warm up the JIT (and the cache) once, then interleave the rounds so drift hits every case alike.
for (const fn of Object.values(cases)) for (let i = 0; i < 2000; i++) await fn();
const samples = new Map<string, number[]>(Object.keys(cases).map((k) => [k, []]));
for (let r = 0; r < rounds; r++) {
  for (const [name, fn] of Object.entries(cases)) samples.get(name)?.push(await callRate(fn, msPerCase));
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
const emptyRate = median(samples.get("empty async call (reference)") ?? []);
console.log(`in-process, median of ${rounds} rounds of ${msPerCase} ms each (Node ${process.version})`);
console.log(`${"case".padEnd(52)} ${"calls/s".padStart(12)} ${"µs/call".padStart(9)} ${"µs over empty".padStart(14)}`);
for (const [name, xs] of samples) {
  const r = median(xs);
  const us = 1e6 / r;
  console.log(
    `${name.padEnd(52)} ${r.toFixed(0).padStart(12)} ${us.toFixed(2).padStart(9)} ${(us - 1e6 / emptyRate).toFixed(2).padStart(14)}`,
  );
}

// What an entry of the cache holds in the heap: the key (the token itself, shaped and sized like
// one of ours) and the claims as a verification leaves them (strings parsed out of the token's
// JSON), for N distinct tokens.
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) {
  console.log("(run with --expose-gc, as npm run bench:authenticate does, for the memory per cached token)");
} else {
  const entries = Number(process.env.ENTRIES ?? 100_000);
  const cache = new VerifiedTokenCache<Readonly<AccessClaims>>(entries);
  const expiresAt = Date.now() + 3_600_000;
  const heap = () => {
    gc();
    gc();
    return process.memoryUsage().heapUsed;
  };
  const before = heap();
  for (let i = 0; i < entries; i++) {
    const { sub, sid } = JSON.parse(JSON.stringify({ sub: `usr_${randomUUID()}`, sid: randomUUID() })) as { sub: string; sid: string };
    const b64 = (value: object) => Buffer.from(JSON.stringify(value)).toString("base64url");
    const payload = { sid, iss: "authd", aud: "authd", sub, iat: 1, exp: 2, jti: randomUUID(), roles: ["user"], permissions: [] };
    const token = `${b64({ alg: "EdDSA", kid: "k1", typ: "at+jwt" })}.${b64(payload)}.${randomBytes(64).toString("base64url")}`;
    cache.set(token, Object.freeze({ userId: sub, sessionId: sid, roles: ["user"], permissions: [] }), expiresAt, 0);
  }
  const after = heap();
  console.log(`verified-token cache: ${cache.stats().entries} entries, ${((after - before) / entries).toFixed(0)} bytes of heap each`);
}
await cold.service.store.close();
await warm.service.store.close();
await admin.service.store.close();
