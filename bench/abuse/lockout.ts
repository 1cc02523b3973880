// Malicious lockout, bounded (issue 10, item 5): the outside tester's attack replayed for a
// simulated working day against the service's operations, with the production argon2 hasher and
// the default limits. An attacker who knows the owner's address guesses from a fresh address
// every time, as fast as the server lets it; the owner signs in every 10 minutes from their
// known device, and from a new device. A load script, not a test: it prints figures for a person
// to read.
// Run: npm run bench:lockout   (HOURS=8 GUESSES_PER_MINUTE=30 by default)
//
// It then times the RATE_LIMITED answer for a registered and an unknown address, both locked,
// alternating, to show that the refusal does not tell them apart.
import { Writable } from "node:stream";
import { loadConfig } from "../../src/config.ts";
import { AuthError } from "../../src/errors.ts";
import { createLogger } from "../../src/log.ts";
import { createOutbox } from "../../src/mail/mailer.ts";
import { composeService } from "../../src/server/compose.ts";
import { createMemoryStore } from "../../src/store/memory.ts";

const hours = Number(process.env["HOURS"] ?? 8);
const perMinute = Number(process.env["GUESSES_PER_MINUTE"] ?? 30);
const timingSamples = Number(process.env["TIMING_SAMPLES"] ?? 2000);

class BenchClock {
  t = Date.now();
  now(): Date {
    return new Date(this.t);
  }
}

const clock = new BenchClock();
const store = createMemoryStore({ clock });
const config = loadConfig({ EMAIL_VERIFICATION_REQUIRED: "false", LOG_LEVEL: "silent" }, () => "");
const service = await composeService(config, {
  store,
  clock,
  mailer: createOutbox(),
  log: createLogger("silent", new Writable({ write: (_c, _e, done) => done() })),
});
const { signIn, accounts } = service.operations;
const email = "owner@example.com";
const password = "correct horse battery staple";
const home = { ipAddress: "203.0.113.7", userAgent: "owner-laptop" };
await accounts.register({ email, password, displayName: "" }, home);

async function attempt(input: { email: string; password: string; deviceToken?: string }, ipAddress: string): Promise<string> {
  try {
    const r = await signIn.login({ ...input, rememberMe: false }, { ipAddress, userAgent: "bench" });
    return r.state === "signed_in" ? "ok" : r.state;
  } catch (err) {
    if (err instanceof AuthError) return err.reason;
    throw err;
  }
}

const first = await signIn.login({ email, password, rememberMe: false }, home);
if (first.state !== "signed_in") throw new Error("the owner could not sign in");
let deviceToken = first.device.token;

const tally = new Map<string, number>();
const checkedAt: number[] = [];
const owner = { knownTries: 0, knownOk: 0, newTries: 0, newOk: 0 };
let guess = 0;
const began = performance.now();
for (let minute = 0; minute < hours * 60; minute++) {
  clock.t += 60_000;
  for (let i = 0; i < perMinute; i++) {
    guess++;
    const address = `198.51.${Math.floor(guess / 250) % 250}.${guess % 250}`;
    const reason = await attempt({ email, password: `guess ${guess}` }, address);
    tally.set(reason, (tally.get(reason) ?? 0) + 1);
    if (reason === "INVALID_CREDENTIALS") checkedAt.push(clock.t);
  }
  if (minute % 10 === 0) {
    owner.knownTries++;
    const known = await signIn.login({ email, password, rememberMe: false, deviceToken }, home).catch(() => null);
    if (known?.state === "signed_in") {
      owner.knownOk++;
      deviceToken = known.device.token;
    }
    owner.newTries++;
    if ((await attempt({ email, password }, "203.0.113.99")) === "ok") owner.newOk++;
  }
}
const seconds = (performance.now() - began) / 1000;

// The largest number of checked wrong passwords in any 60-minute window.
let worstHour = 0;
for (let i = 0, j = 0; j < checkedAt.length; j++) {
  while ((checkedAt[j] ?? 0) - (checkedAt[i] ?? 0) >= 3_600_000) i++;
  worstHour = Math.max(worstHour, j - i + 1);
}

console.log(`simulated ${hours} h, ${guess} guesses from ${guess} addresses (${perMinute}/min), ${seconds.toFixed(1)} s of wall time`);
console.log(`  attacker answers: ${[...tally].map(([r, n]) => `${r} ${n}`).join(", ")}`);
console.log(`  wrong passwords checked: ${checkedAt.length} in all, at most ${worstHour} in any 60 minutes`);
console.log(`  owner on the known device: ${owner.knownOk}/${owner.knownTries} sign-ins succeeded`);
console.log(`  owner on a new device:     ${owner.newOk}/${owner.newTries} sign-ins succeeded`);

// RATE_LIMITED for a registered and an unknown address, both locked for strangers.
const unknown = "nobody@example.com";
for (const target of [email, unknown]) for (let i = 0; i < 12; i++) await attempt({ email: target, password: `x ${i}` }, "192.0.2.200");
const times: Record<string, number[]> = { [email]: [], [unknown]: [] };
for (let i = 0; i < timingSamples; i++) {
  for (const target of i % 2 === 0 ? [email, unknown] : [unknown, email]) {
    const t0 = performance.now();
    const reason = await attempt({ email: target, password: "still wrong" }, `192.0.2.${i % 200}`);
    times[target]?.push(performance.now() - t0);
    if (reason !== "RATE_LIMITED") throw new Error(`expected RATE_LIMITED, got ${reason}`);
  }
}
const q = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.floor(p * (xs.length - 1))] ?? Number.NaN;
for (const [label, target] of [
  ["registered", email],
  ["unknown   ", unknown],
] as const) {
  const xs = times[target] ?? [];
  console.log(
    `  RATE_LIMITED, ${label} address: median ${(q(xs, 0.5) * 1000).toFixed(1)} µs, p90 ${(q(xs, 0.9) * 1000).toFixed(1)} µs (n=${xs.length})`,
  );
}
await store.close();
