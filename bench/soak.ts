// Soak (issue 11, item 5): the server (src/main.ts, embedded store, with the Node options of
// `npm start`) pinned to CPU 0 under a steady mixed load from CPU 1 for SOAK_SECONDS (2 minutes
// by default; 3600 for the hour), its resident set and its heap after a full collection sampled
// every SOAK_SAMPLE_SECONDS. Prints the samples,
// first and last, and the slope of each (least squares after the first quarter, MB per minute).
// Then what the embedded store holds per user, per session and per refresh (in this process).
// Run: npm run bench:soak   (SOAK_SECONDS, SOAK_RATE, SOAK_CLIENTS, SOAK_SAMPLE_SECONDS)
// A load script, not a test: it asserts nothing.
//
// The load: SOAK_CLIENTS clients (one account each), calls started on a schedule at SOAK_RATE per
// second in all; each client signs in (keeping its known-device token, as a browser does), calls
// GetCurrentUser, refreshes every 20th call and signs out every 200th, and starts over.
import path from "node:path";
import { fileURLToPath } from "node:url";
import { percentile, slope } from "./lib/figures.ts";
import { runLoad } from "./lib/load.ts";
import { freePort, pinSelf, requireTool, startPinned } from "./lib/processes.ts";
import { lifecycle, register, serverEnv } from "./lib/service.ts";
import { startFlags } from "./lib/start.ts";
import { measureStoreMemory } from "./lib/store-memory.ts";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const num = (name: string, fallback: number) => {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number`);
  return value;
};
const seconds = num("SOAK_SECONDS", 120);
const rate = num("SOAK_RATE", 200);
const clients = num("SOAK_CLIENTS", 32);
const sampleEvery = num("SOAK_SAMPLE_SECONDS", seconds >= 600 ? 30 : 5);
const storeUsers = num("SOAK_STORE_USERS", 2000);
const mib = (bytes: number) => bytes / 1048576;

requireTool("taskset", "util-linux");
pinSelf("1");

const port = await freePort();
const server = await startPinned(
  "0",
  [...startFlags(), "--expose-gc", path.join(root, "bench", "probed-server.ts")],
  { ...serverEnv(), PORT: String(port) },
  port,
  true,
);
const heapAfterGc = async () => ((await server.ask("memory")) as { memory: NodeJS.MemoryUsage }).memory.heapUsed;

try {
  const emails = Array.from({ length: clients }, (_, i) => `soak${i}@bench.example`);
  await Promise.all(emails.map((email) => register(port, email)));
  console.log(
    `soak: ${seconds} s at ${rate} calls/s from ${clients} clients (sign in, GetCurrentUser, refresh every 20th, sign out every 200th); samples every ${sampleEvery} s`,
  );

  const samples: { minutes: number; rssMiB: number; heapMiB: number }[] = [];
  const started = performance.now();
  let sampling = Promise.resolve();
  const take = () => {
    sampling = sampling.then(async () => {
      const heapMiB = mib(await heapAfterGc());
      const sample = { minutes: (performance.now() - started) / 60_000, rssMiB: mib(server.memory().rss), heapMiB };
      samples.push(sample);
      // As they come: an hour's run shows its course while it runs.
      console.log(
        `  ${sample.minutes.toFixed(2).padStart(6)}   ${sample.rssMiB.toFixed(1).padStart(7)}   ${heapMiB.toFixed(1).padStart(17)}`,
      );
    });
  };
  console.log("  minute   RSS MiB   heap after GC MiB");
  take();
  const timer = setInterval(take, sampleEvery * 1000);
  const load = await runLoad({
    url: `http://127.0.0.1:${port}`,
    users: emails.map((email) => lifecycle(email, 20, 200)),
    connections: 4,
    warmUpMs: 0,
    measureMs: seconds * 1000,
    rate,
  });
  clearInterval(timer);
  take();
  await sampling;

  const settled = samples.filter((s) => s.minutes >= samples.at(-1)!.minutes / 4);
  const first = samples[0]!;
  const last = samples.at(-1)!;
  const rssSlope = slope(settled.map((s) => ({ x: s.minutes, y: s.rssMiB })));
  const heapSlope = slope(settled.map((s) => ({ x: s.minutes, y: s.heapMiB })));
  console.log(
    `calls: ${load.ok} ok, ${load.errors} failed (${(load.ok / seconds).toFixed(0)}/s); latency p50 ${percentile(load.latencies, 0.5).toFixed(2)} ms, p99 ${percentile(load.latencies, 0.99).toFixed(2)} ms`,
  );
  for (const failure of load.failures) console.log(`  failed: ${failure}`);
  console.log(
    `RSS: first ${first.rssMiB.toFixed(1)} MiB, last ${last.rssMiB.toFixed(1)} MiB, peak (VmHWM) ${mib(server.memory().hwm).toFixed(1)} MiB; slope after the first quarter ${rssSlope.toFixed(2)} MiB/min`,
  );
  console.log(
    `heap after GC: first ${first.heapMiB.toFixed(1)} MiB, last ${last.heapMiB.toFixed(1)} MiB; slope after the first quarter ${heapSlope.toFixed(2)} MiB/min`,
  );
} finally {
  await server.stop();
}

const memory = await measureStoreMemory(storeUsers, 4);
console.log(
  `embedded store, ${memory.users} users × ${memory.sessionsPerUser} sessions: ${memory.bytesPerUser.toFixed(0)} bytes per user, ` +
    `${memory.bytesPerSession.toFixed(0)} per session (Login: session and refresh token), ${memory.bytesPerRefresh.toFixed(0)} per refresh ` +
    `just made, ${memory.bytesPerRefreshAfterGrace.toFixed(0)} once its reuse grace has passed (the spent token, remembered for ` +
    `REFRESH_REUSE_DETECTION_SECONDS)`,
);
