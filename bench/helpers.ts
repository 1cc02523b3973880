// How many V8 helpers a server pinned to one core should have (README, "One helper per spare CPU"):
// the tail of a call at half its peak rate on a fresh server with each set of Node options in
// turn, the sets alternated round by round so that drift in the host hits each alike. The half rate
// is measured first, once per call, on a fresh server with `npm start`'s options (closed loop,
// chain-load's users as the benchmark's). Each window is one fresh server: 32 users signed up (or
// one reader), BENCH_WARMUP_SECONDS at the rate, then BENCH_SECONDS at the rate, p99 pooled over the
// window. A benchmark, not a test: it prints, asserts nothing.
//
// Run: npm run bench:helpers   (BENCH_CALLS, default "refresh.h1,refresh.h2c", of refresh.h1,
// refresh.h2c, user.h1, user.h2c; BENCH_VARIANTS, sets of Node options separated by commas, each
// option replacing npm start's of the same name, default "--v8-pool-size=4,--v8-pool-size=0"; a
// NAME=value word in a set is an environment variable of its servers instead; BENCH_ROUNDS,
// default 3; BENCH_SECONDS, default 20; BENCH_WARMUP_SECONDS, default 5; BENCH_OUT, default
// bench/results/helpers.json)
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { buildChainLoad, defaultPeakShape, runChainLoad } from "./lib/chain-load.ts";
import { median, percentile } from "./lib/figures.ts";
import { freePort, type Pinned, pinSelf, requireTool, startPinned } from "./lib/processes.ts";
import { callLoadOn, serverEnv } from "./lib/service.ts";
import { startFlags } from "./lib/start.ts";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const num = (name: string, fallback: number) => {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number`);
  return value;
};
const callIds = ["refresh.h1", "refresh.h2c", "user.h1", "user.h2c"] as const;
type CallId = (typeof callIds)[number];
const calls = (process.env["BENCH_CALLS"] ?? "refresh.h1,refresh.h2c").split(",").map((c) => c.trim());
for (const c of calls)
  if (!(callIds as readonly string[]).includes(c)) throw new Error(`BENCH_CALLS: ${c} is not one of ${callIds.join(", ")}`);
const variants = (process.env["BENCH_VARIANTS"] ?? "--v8-pool-size=4,--v8-pool-size=0").split(",").map((v) => v.trim());
const rounds = num("BENCH_ROUNDS", 3);
const seconds = num("BENCH_SECONDS", 20);
const warmUpSeconds = num("BENCH_WARMUP_SECONDS", 5);
const outFile = process.env["BENCH_OUT"] ?? path.join(root, "bench", "results", "helpers.json");

requireTool("taskset", "util-linux");
const missing = buildChainLoad();
if (missing !== undefined) {
  console.error(missing);
  process.exit(1);
}
pinSelf("1");

/** A variant's words that start with "-" are Node options; NAME=value words are environment variables. */
const isOption = (word: string) => word.startsWith("-");
const wordsOf = (variant: string) => variant.split(/\s+/).filter((w) => w !== "");

/** npm start's options with the variant's in place of any option of the same name. */
function optionsOf(variant: string): string[] {
  const extra = wordsOf(variant).filter(isOption);
  const names = new Set(extra.map((o) => o.split("=")[0]));
  return [...startFlags().filter((o) => !names.has(o.split("=")[0])), ...extra];
}

/** The variant's environment variables, over the server's own. */
function envOf(variant: string): Record<string, string> {
  const pairs = wordsOf(variant).filter((w) => !isOption(w));
  for (const pair of pairs)
    if (!/^[A-Za-z_][A-Za-z0-9_]*=/.test(pair)) throw new Error(`BENCH_VARIANTS: ${pair} is neither an option nor NAME=value`);
  return Object.fromEntries(pairs.map((pair) => [pair.slice(0, pair.indexOf("=")), pair.slice(pair.indexOf("=") + 1)]));
}

async function freshServer(variant: string): Promise<Pinned> {
  const port = await freePort();
  const env = { ...serverEnv(), ...envOf(variant), PORT: String(port) };
  return startPinned("0", [...optionsOf(variant), path.join(root, "src", "main.ts")], env, port);
}

/** The call's load on `server`: its users signed up there, shaped as `npm run bench`'s defaults. */
const loadOf = (call: CallId, server: Pinned) =>
  callLoadOn(server.port, call.startsWith("user.") ? "user" : "refresh", call.endsWith(".h1") ? "h1" : "h2c", 32, defaultPeakShape);

async function peak(call: CallId): Promise<number> {
  const server = await freshServer("");
  try {
    const load = await loadOf(call, server);
    await runChainLoad({ ...load, port: server.port, warmUpMs: 0, measureMs: 2000 });
    const run = await runChainLoad({ ...load, port: server.port, warmUpMs: 0, measureMs: 4000 });
    return run.reqPerSec;
  } finally {
    await server.stop();
  }
}

interface Window {
  variant: string;
  round: number;
  p50Ms: number;
  p99Ms: number;
  ratio: number;
  errors: number;
  cpuUsPerCall: number;
  peakRssMiB: number;
}

const results: { call: CallId; rate: number; windows: Window[] }[] = [];
console.error(
  `helpers: ${calls.join(", ")}; ${variants.map((v) => `[${[...wordsOf(v).filter((w) => !isOption(w)), ...optionsOf(v)].join(" ")}]`).join(" against ")}; ${rounds} rounds of ${seconds} s after ${warmUpSeconds} s`,
);
for (const call of calls as CallId[]) {
  const rate = Math.round((await peak(call)) / 2);
  const windows: Window[] = [];
  for (let round = 1; round <= rounds; round++) {
    for (const variant of variants) {
      const server = await freshServer(variant);
      try {
        const load = await loadOf(call, server);
        await runChainLoad({ ...load, port: server.port, rate, warmUpMs: 0, measureMs: warmUpSeconds * 1000 });
        const cpuBefore = server.cpuSeconds();
        const run = await runChainLoad({ ...load, port: server.port, rate, warmUpMs: 0, measureMs: seconds * 1000 });
        const cpu = server.cpuSeconds() - cpuBefore;
        const p50Ms = percentile(run.latencies, 0.5);
        const p99Ms = percentile(run.latencies, 0.99);
        const window = {
          variant,
          round,
          p50Ms,
          p99Ms,
          ratio: p99Ms / p50Ms,
          errors: run.errors,
          cpuUsPerCall: (cpu / Math.max(1, run.answered)) * 1e6,
          peakRssMiB: server.memory().hwm / 1024 / 1024,
        };
        windows.push(window);
        console.error(
          `  ${call} at ${rate}/s, ${variant}, round ${round}: p50 ${p50Ms.toFixed(2)} ms, p99 ${p99Ms.toFixed(2)} ms (${window.ratio.toFixed(1)}×)${run.errors ? `, ${run.errors} ERRORS` : ""}`,
        );
      } finally {
        await server.stop();
      }
    }
  }
  results.push({ call, rate, windows });
}

console.log(`\n| call at half its peak, p99/p50 of each window (median) | ${variants.join(" | ")} |`);
console.log(`|---|${variants.map(() => "---").join("|")}|`);
for (const { call, rate, windows } of results) {
  const cells = variants.map((v) => {
    const ratios = windows.filter((w) => w.variant === v).map((w) => w.ratio);
    return `${ratios.map((r) => r.toFixed(1)).join(", ")} (${median(ratios).toFixed(1)})`;
  });
  console.log(`| ${call}, ${rate}/s | ${cells.join(" | ")} |`);
}
mkdirSync(path.dirname(outFile), { recursive: true });
writeFileSync(
  outFile,
  `${JSON.stringify({ node: process.version, options: startFlags(), rounds, seconds, warmUpSeconds, results }, null, 2)}\n`,
);
console.log(`\nwritten to ${path.relative(process.cwd(), outFile)}`);
