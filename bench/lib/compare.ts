// Several kinds of call against one pinned server, compared: closed-loop load from our h2c
// generator for each case in turn (rounds interleave the cases, so drift on a shared machine hits
// each alike), then answers per second and the server's CPU time per answer, each also as a ratio
// to the reference case. Shared by the benchmarks that put a call next to the ones it is most like.
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { median } from "./figures.ts";
import { runLoad, type VirtualUser } from "./load.ts";
import { freePort, type Pinned, pinSelf, requireTool, startPinned } from "./processes.ts";
import { serverEnv } from "./service.ts";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

/** A server under comparison, and the settings of the runs (BENCH_SECONDS, BENCH_RUNS). */
export interface Bench {
  server: Pinned;
  port: number;
  url: string;
  users: number;
  seconds: number;
  runs: number;
}

/** Starts the server (with `env` on top of the benchmark's settings) on CPU 0, this process on CPU 1. */
export async function startBench(env: Record<string, string> = {}): Promise<Bench> {
  requireTool("taskset", "util-linux");
  if (os.availableParallelism() < 2) console.warn("warning: fewer than 2 CPUs: server and load share a core, figures mean little");
  pinSelf("1");
  const port = await freePort();
  const server = await startPinned("0", [path.join(root, "src", "main.ts")], { ...serverEnv(), ...env, PORT: String(port) }, port);
  const seconds = Number(process.env["BENCH_SECONDS"] ?? 3);
  const runs = Number(process.env["BENCH_RUNS"] ?? 3);
  return { server, port, url: `http://127.0.0.1:${port}`, users: 32, seconds, runs };
}

export interface Comparison {
  /** Case name → the virtual user number i runs. */
  cases: Record<string, (i: number) => VirtualUser>;
  /** The name of the case the ratios are against. */
  reference: string;
}

export async function compareCases(bench: Bench, cases: Comparison): Promise<void> {
  const c = { ...bench, ...cases };
  const results = new Map<string, { rate: number[]; cpuUs: number[] }>(Object.keys(c.cases).map((k) => [k, { rate: [], cpuUs: [] }]));
  for (let r = 0; r < c.runs; r++) {
    for (const [name, make] of Object.entries(c.cases)) {
      const cpuBefore = c.server.cpuSeconds();
      const result = await runLoad({
        url: c.url,
        users: Array.from({ length: c.users }, (_, i) => make(i)),
        connections: 4,
        warmUpMs: 500,
        measureMs: c.seconds * 1000,
      });
      const cpu = c.server.cpuSeconds() - cpuBefore;
      if (result.errors > 0) throw new Error(`${name}: ${result.errors} unexpected answers`);
      const entry = results.get(name);
      entry?.rate.push(result.reqPerSec);
      entry?.cpuUs.push((cpu / result.answered) * 1e6);
    }
  }
  const reference = results.get(c.reference);
  const refRate = median(reference?.rate ?? []);
  const refCpu = median(reference?.cpuUs ?? []);
  console.log(
    `server on CPU 0, load on CPU 1, ${c.users} users over 4 h2c connections, medians of ${c.runs} runs of ${c.seconds} s (Node ${process.version})`,
  );
  console.log(
    `${"case".padEnd(56)} ${"answers/s".padStart(10)} ${"x ref".padStart(6)} ${"CPU µs/answer".padStart(14)} ${"x ref".padStart(6)}`,
  );
  for (const [name, { rate, cpuUs }] of results) {
    const rt = median(rate);
    const cu = median(cpuUs);
    console.log(
      `${name.padEnd(56)} ${rt.toFixed(0).padStart(10)} ${(rt / refRate).toFixed(2).padStart(6)} ${cu.toFixed(0).padStart(14)} ${(cu / refCpu).toFixed(2).padStart(6)}`,
    );
  }
}
