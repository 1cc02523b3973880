// Measures what password handling costs and shows that a login for an unknown address takes as
// long as one with a wrong password (no enumeration by timing). A benchmark, not a test: it prints
// numbers for a person to read. Run: npm run bench:passwords
import { createOutbox } from "../src/mail/mailer.ts";
import { loadConfig } from "../src/config.ts";
import { createLogger } from "../src/log.ts";
import { createPasswordHasher } from "../src/passwords/hasher.ts";
import { startServer } from "../src/server/app.ts";

const rounds = Number(process.env.ROUNDS ?? 30);
const config = loadConfig(
  { PORT: "0", HOST: "127.0.0.1", EMAIL_VERIFICATION_REQUIRED: "false", LOGIN_MAX_FAILURES: "0", LOG_LEVEL: "silent" },
  () => "",
);

function stats(samples: number[]): string {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!.toFixed(1);
  const mean = samples.reduce((a, b) => a + b, 0) / samples.length;
  return `mean ${mean.toFixed(1)} ms, p50 ${at(0.5)} ms, p90 ${at(0.9)} ms (n=${samples.length})`;
}

async function time(fn: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await fn();
  return performance.now() - start;
}

const hasher = await createPasswordHasher(config.argon2);
const hashSamples: number[] = [];
for (let i = 0; i < rounds; i++) hashSamples.push(await time(() => hasher.hash(`password number ${i}`)));
console.log(
  `argon2id hash (m=${config.argon2.memoryKiB} KiB, t=${config.argon2.timeCost}, p=${config.argon2.parallelism}): ${stats(hashSamples)}`,
);

const server = await startServer(config, { mailer: createOutbox(), log: createLogger("silent") });
const post = (method: string, body: object) =>
  fetch(`${server.url}/auth.v1.AuthService/${method}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
await post("Register", { email: "bench@example.com", password: "the real password" });

const unknown: number[] = [];
const wrong: number[] = [];
for (let i = 0; i < rounds; i++) {
  // Interleaved, so drift in machine load affects both alike.
  unknown.push(await time(() => post("Login", { email: `nobody${i}@example.com`, password: "a wrong password" }).then((r) => r.text())));
  wrong.push(await time(() => post("Login", { email: "bench@example.com", password: "a wrong password" }).then((r) => r.text())));
}
console.log(`Login, unknown email:  ${stats(unknown)}`);
console.log(`Login, wrong password: ${stats(wrong)}`);
await server.close();
