// Where a Login's time goes, in-process (no HTTP): the whole operation with the production argon2id
// parameters, argon2id verify alone, the whole operation with a hasher that answers at once (all
// that Login costs besides argon2), and the steps of that remainder one by one. Login should cost
// argon2 and little else: the remainder is what keeps Login under the argon2 bound on a busy core.
// A benchmark, not a test: it prints numbers for a person to read.
// Run: npm run bench:login-path   (ROUNDS=20 sign-ins with argon2, FAST=2000 without)
import { randomUUID } from "node:crypto";
import { loadConfig } from "../src/config.ts";
import { createLogger } from "../src/log.ts";
import { createOutbox } from "../src/mail/mailer.ts";
import { createPasswordHasher, type PasswordHasher } from "../src/passwords/hasher.ts";
import { composeService } from "../src/server/compose.ts";
import { deriveServerSecrets } from "../src/secrets/server-secrets.ts";
import { createMemoryStore } from "../src/store/memory.ts";
import { createDeviceTokens } from "../src/tokens/devices.ts";

const rounds = Number(process.env.ROUNDS ?? 20);
const fast = Number(process.env.FAST ?? 2000);
const password = "correct horse battery staple";
const client = { ipAddress: "192.0.2.1", userAgent: "bench/1.0" };
// Thousands of sign-ups from one client below: the per-network bound on them is off.
const config = loadConfig(
  { LOG_LEVEL: "silent", EMAIL_VERIFICATION_REQUIRED: "false", LOGIN_MAX_FAILURES: "0", REGISTRATION_MAX_PER_ADDRESS_PER_HOUR: "0" },
  () => "",
);
const real = await createPasswordHasher(config.argon2);
const stored = await real.hash(password);
/** Answers at once: what a Login costs besides argon2. */
const instant: PasswordHasher = {
  hash: async () => stored,
  verify: async () => true,
  needsRehash: () => false,
  burn: async () => {},
};

async function serviceWith(hasher: PasswordHasher) {
  const service = await composeService(config, { store: createMemoryStore(), hasher, mailer: createOutbox(), log: createLogger("silent") });
  return service;
}

/** Mean milliseconds of `fn` over `n` calls, one at a time. */
async function meanMs(n: number, fn: (i: number) => Promise<unknown>): Promise<number> {
  if (n > 1) for (let i = 0; i < Math.min(n, 20); i++) await fn(i);
  const start = performance.now();
  for (let i = 0; i < n; i++) await fn(i);
  return (performance.now() - start) / n;
}

const rows: Array<[string, number]> = [];
const row = (name: string, ms: number) => {
  rows.push([name, ms]);
  console.log(`${name.padEnd(64)} ${ms.toFixed(3).padStart(9)} ms`);
};
console.log(
  `in-process, Node ${process.version}, argon2id m=${config.argon2.memoryKiB} KiB t=${config.argon2.timeCost} p=${config.argon2.parallelism}`,
);

// 1. The whole Login, with and without argon2.
const withArgon2 = await serviceWith(real);
await withArgon2.operations.accounts.register({ email: "real@bench.example", password, displayName: "" }, client);
const login = (s: Awaited<ReturnType<typeof serviceWith>>, email: string) => () =>
  s.operations.signIn.login({ email, password, rememberMe: false }, client);
// Interleaved, so that drift in the machine's load hits both alike.
const verifyAlone: number[] = [];
const wholeLogin: number[] = [];
for (let r = 0; r < rounds; r++) {
  verifyAlone.push(await meanMs(1, () => real.verify(stored, password)));
  wholeLogin.push(await meanMs(1, login(withArgon2, "real@bench.example")));
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;
row("argon2id verify alone (median)", median(verifyAlone));
row("Login, whole operation (median)", median(wholeLogin));

// The same under load: as many at once as the thread pool runs, CPU time of every thread of the
// process per operation (what a saturated core divides its time by), rounds interleaved.
const parallel = Number(process.env.UV_THREADPOOL_SIZE || 4);
async function cpuMsPerOp(n: number, fn: () => Promise<unknown>): Promise<number> {
  const before = process.cpuUsage();
  let left = n;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (left-- > 0) await fn();
    }),
  );
  const used = process.cpuUsage(before);
  return (used.user + used.system) / 1000 / n;
}
const verifyCpu: number[] = [];
const loginCpu: number[] = [];
for (let r = 0; r < 5; r++) {
  verifyCpu.push(await cpuMsPerOp(rounds, () => real.verify(stored, password)));
  loginCpu.push(await cpuMsPerOp(rounds, login(withArgon2, "real@bench.example")));
}
row(`argon2id verify alone, ${parallel} at once: CPU per operation (median)`, median(verifyCpu));
row(`Login, ${parallel} at once: CPU per operation (median)`, median(loginCpu));
console.log(`  Login / argon2 bound by CPU: ${(median(verifyCpu) / median(loginCpu)).toFixed(3)}`);

const noArgon2 = await serviceWith(instant);
await noArgon2.operations.accounts.register({ email: "fast@bench.example", password, displayName: "" }, client);
// Sessions beyond MAX_SESSIONS_PER_USER are revoked at each sign-in: the steady state has the cap.
const steady = await meanMs(fast, login(noArgon2, "fast@bench.example"));
row(`Login without argon2 (${config.maxSessionsPerUser} sessions held, the cap)`, steady);
const fresh = await meanMs(fast, (i) => {
  const email = `fresh${i}-${randomUUID()}@bench.example`;
  return noArgon2.operations.accounts.register({ email, password, displayName: "" }, client).then(login(noArgon2, email));
});
const registerOnly = await meanMs(fast, (i) =>
  noArgon2.operations.accounts.register({ email: `only${i}-${randomUUID()}@bench.example`, password, displayName: "" }, client),
);
row("Login without argon2 (first session of the account)", fresh - registerOnly);

// 2. The steps of that remainder.
const { sessions } = noArgon2.operations;
const account = await noArgon2.store.users.findByEmail("fast@bench.example");
if (account === null) throw new Error("no account");
row(
  "  accessTokens.issue (EdDSA sign)",
  await meanMs(fast, () =>
    noArgon2.accessTokens.issue({ userId: account.id, sessionId: randomUUID(), roles: account.roles, permissions: [] }),
  ),
);
row("  sessions.open (session, cap, refresh token, access token)", await meanMs(fast, () => sessions.open(account, client, false, 0)));
row("  users.findByEmail", await meanMs(fast, () => noArgon2.store.users.findByEmail("fast@bench.example")));
row("  attempts.get", await meanMs(fast, () => noArgon2.store.attempts.get(`password:${account.email}`, new Date())));
const devices = createDeviceTokens({
  signer: deriveServerSecrets(Buffer.alloc(32, 1)).deviceTokens,
  clock: { now: () => new Date() },
  ttlSeconds: 86_400,
});
const owner = { id: account.id, email: account.email, generation: 0 };
const grant = devices.grant(owner, null);
row(
  "  known-device token: read + grant (HMAC)",
  await meanMs(fast, async () => devices.grant(owner, devices.read(grant.token, account.email))),
);
row("  accounts.getUser-like read (users.findById)", await meanMs(fast, () => noArgon2.store.users.findById(account.id)));

const argon2Ms = rows.find(([name]) => name === "argon2id verify alone (median)")?.[1] ?? Number.NaN;
console.log(
  `\nLogin besides argon2: ${steady.toFixed(3)} ms at the session cap, ${((steady / argon2Ms) * 100).toFixed(1)} % of one argon2id verify: ` +
    `on one core Login can reach at most ${(argon2Ms / (argon2Ms + steady)).toFixed(3)} of the argon2 bound`,
);
await withArgon2.store.close();
await noArgon2.store.close();
