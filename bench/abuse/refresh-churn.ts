// Refresh churn, bounded (issue 10, item 3): one session refreshed over and over on the embedded
// store, the heap sampled after a full GC. It shows that what a refresh leaves behind is freed
// once the reuse-detection window has passed (heap flat with a short window), and that with the
// default window a session still holds no more than its last 128 spent tokens (before that bound,
// 40,000 refreshes held 40,001 records, 504 bytes each; the heap that grows past them now is the
// verified-token cache filling with the 10,000 access tokens). A load script, not a test: it
// prints figures for a person to read.
// Run: npm run bench:refresh-churn   (REFRESHES=50000 to change the count)
//
// Time is simulated: a clock moved by STEP_MS per refresh (a client refreshing 10 times a second
// by default), and the store swept each simulated minute, as the production timer does.
import { Writable } from "node:stream";
import { loadConfig } from "../../src/config.ts";
import { createLogger } from "../../src/log.ts";
import { createOutbox } from "../../src/mail/mailer.ts";
import { composeService } from "../../src/server/compose.ts";
import { createMemoryStore } from "../../src/store/memory.ts";

const gc = globalThis.gc;
if (gc === undefined) throw new Error("run with --expose-gc (npm run bench:refresh-churn does)");
const refreshes = Number(process.env["REFRESHES"] ?? 40_000);
const stepMs = Number(process.env["STEP_MS"] ?? 100);
const samples = 8;

class BenchClock {
  t = Date.now();
  now(): Date {
    return new Date(this.t);
  }
}

function heapUsed(): number {
  gc?.();
  gc?.();
  return process.memoryUsage().heapUsed;
}

const mb = (bytes: number) => `${(bytes / 1048576).toFixed(1)} MB`;

async function churn(label: string, env: Record<string, string>): Promise<void> {
  const clock = new BenchClock();
  const store = createMemoryStore({ clock });
  const config = loadConfig({ EMAIL_VERIFICATION_REQUIRED: "false", LOG_LEVEL: "silent", ...env }, () => "");
  const service = await composeService(config, {
    store,
    clock,
    mailer: createOutbox(),
    log: createLogger("silent", new Writable({ write: (_c, _e, done) => done() })),
  });
  const client = { ipAddress: "192.0.2.1", userAgent: "refresh-churn" };
  const { tokens } = await service.operations.accounts.register(
    { email: "churn@example.com", password: "correct horse battery staple", displayName: "" },
    client,
  );
  let token = tokens!.refreshToken;
  const start = heapUsed();
  let nextSweep = clock.t + 60_000;
  const line: string[] = [];
  const began = performance.now();
  for (let i = 1; i <= refreshes; i++) {
    clock.t += stepMs;
    if (clock.t >= nextSweep) {
      store.sweep();
      nextSweep += 60_000;
    }
    token = (await service.operations.sessions.refresh(token)).refreshToken;
    if (i % (refreshes / samples) === 0) line.push(`${i}: ${mb(heapUsed() - start)} (${store.recordCounts().refreshTokens} tokens)`);
  }
  const elapsed = performance.now() - began;
  const grown = heapUsed() - start;
  const held = store.recordCounts().refreshTokens;
  console.log(`${label}`);
  console.log(`  heap growth after GC by refreshes done: ${line.join(", ")}`);
  console.log(
    `  ${refreshes} refreshes in ${(elapsed / 1000).toFixed(1)} s; ${held} refresh records held; ` +
      `${Math.round(grown / refreshes)} bytes per refresh overall, ${Math.round(grown / held)} bytes per record held`,
  );
  await service.background.drain();
  await store.close();
}

console.log(`refresh churn: ${refreshes} refreshes of one session, ${stepMs} ms of simulated time apart`);
await churn("REFRESH_REUSE_DETECTION_SECONDS=60 (spent tokens forgotten after a minute): heap must stay flat", {
  REFRESH_REUSE_DETECTION_SECONDS: "60",
});
await churn("REFRESH_REUSE_DETECTION_SECONDS=86400 (the default; the session's last 128 spent tokens remembered)", {});
