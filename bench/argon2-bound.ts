// The Login bound of the benchmark: argon2id verifications per second of one hash with the
// server's parameters (ARGON2_* as config reads them), as many at once as the server's hashing
// gate lets through (ARGON2_MAX_CONCURRENT, by default the CPUs: 1 here), in a thread pool sized
// by the server's own rule (src/thread-pool.ts), on the CPUs this process is pinned to. Started by bench/run.ts under `taskset -c 0`, the server's core; prints one JSON line.
import { availableParallelism } from "node:os";
import argon2 from "argon2";
import { loadConfig } from "../src/config.ts";
import { threadPoolSize } from "../src/thread-pool.ts";

// Before the first piece of work reaches the pool, which reads its size once, then.
const size = threadPoolSize(process.env, availableParallelism());
if (size !== undefined) process.env["UV_THREADPOOL_SIZE"] = String(size);

const seconds = Number(process.argv[2] ?? 4);
const { argon2: params } = loadConfig({ ...process.env, LOG_LEVEL: "silent" }, () => "");
const parallel = params.maxConcurrent;
const password = "correct horse battery staple";
const hash = await argon2.hash(password, {
  type: argon2.argon2id,
  memoryCost: params.memoryKiB,
  timeCost: params.timeCost,
  parallelism: params.parallelism,
});
// One warm-up round, then count verifications finished within the window.
await Promise.all(Array.from({ length: parallel }, () => argon2.verify(hash, password)));
const cpuBefore = process.cpuUsage();
const start = performance.now();
const end = start + seconds * 1000;
let done = 0;
let all = 0;
await Promise.all(
  Array.from({ length: parallel }, async () => {
    while (performance.now() < end) {
      if (!(await argon2.verify(hash, password))) throw new Error("argon2 verify failed");
      all++;
      if (performance.now() <= end) done++;
    }
  }),
);
// Process CPU time counts the thread pool's threads too: where argon2 runs.
const cpu = process.cpuUsage(cpuBefore);
const cpuUs = cpu.user + cpu.system;
const coreShare = cpuUs / 1000 / (performance.now() - start);
console.log(JSON.stringify({ perSecond: done / seconds, cpuUsPerCall: cpuUs / all, coreShare, parallel, params }));
