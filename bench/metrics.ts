// What the metrics cost per call, in CPU time of this process (not wall time, so other work on
// the machine matters less): recording one finished request (what the access log does for every
// request), one storage call through the observed port against the bare memory store, and one
// scrape. Medians of 5 rounds. Compare with the CPU time of a whole call (`npm run bench`).
import { createMetrics } from "../src/metrics/metrics.ts";
import { createMemoryStore } from "../src/store/memory.ts";
import type { Outcome } from "../src/transport/outcome.ts";

const rounds = 5;

/** CPU microseconds per iteration of `run` (which runs `n` iterations), median of the rounds. */
async function perCall(n: number, run: (n: number) => void | Promise<void>): Promise<number> {
  const samples: number[] = [];
  await run(Math.min(n, 10_000)); // warm-up
  for (let r = 0; r < rounds; r++) {
    const before = process.cpuUsage();
    await run(n);
    const used = process.cpuUsage(before);
    samples.push((used.user + used.system) / n);
  }
  samples.sort((a, b) => a - b);
  return samples[Math.floor(rounds / 2)] as number;
}

const metrics = createMetrics();

// A realistic mix of label sets: 30 routes × 4 protocols × a few outcomes.
const protocols = ["grpc", "grpc-web", "connect", "rest"] as const;
const outcomes: Outcome[] = [];
for (let route = 0; route < 30; route++) {
  for (const protocol of protocols) {
    outcomes.push({ protocol, route: `auth.v1.AuthService/Method${route}`, rpcCode: "ok" });
    outcomes.push({ protocol, route: `auth.v1.AuthService/Method${route}`, rpcCode: "unauthenticated", reason: "INVALID_TOKEN" });
  }
}
const record = await perCall(500_000, (n) => {
  for (let i = 0; i < n; i++) {
    const outcome = outcomes[i % outcomes.length] as Outcome;
    metrics.calls.record({ outcome, method: "POST", path: "/x", status: 200, completed: true, seconds: 0.0004 });
  }
});

const bare = createMemoryStore({ sweepIntervalMs: 3_600_000 });
const observed = metrics.observeStore(bare);
const storeRun = (store: typeof bare | typeof observed) => async (n: number) => {
  // An absent user: the read itself is cheapest, so the wrapper's share shows best.
  for (let i = 0; i < n; i++) await store.users.findById("u1");
};
const bareRead = await perCall(200_000, storeRun(bare));
const observedRead = await perCall(200_000, storeRun(observed));

let text = "";
const scrape = await perCall(200, async (n) => {
  for (let i = 0; i < n; i++) text = await metrics.scrape();
});
await bare.close();

const series = text.split("\n").filter((l) => l !== "" && !l.startsWith("#")).length;
const fmt = (us: number) => `${us.toFixed(2)} µs`;
console.log("| what | CPU per call |");
console.log("|---|---|");
console.log(`| record one finished request (${outcomes.length} label sets) | ${fmt(record)} |`);
console.log(`| users.findById (absent), bare memory store | ${fmt(bareRead)} |`);
console.log(`| users.findById (absent), observed | ${fmt(observedRead)} (+${fmt(observedRead - bareRead)}) |`);
console.log(`| one scrape (${series} series, ${Math.round(text.length / 1024)} KiB) | ${(scrape / 1000).toFixed(2)} ms |`);
