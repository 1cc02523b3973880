// The service's own benchmark (issue 11): the server (src/main.ts, embedded store) and a bare
// node:http2 / node:http reference, each pinned in turn to CPU 0, driven from CPU 1 by h2load
// (Debian's nghttp2-client) or, for RefreshToken, by our generator (bench/lib/load.ts). Medians of
// BENCH_RUNS short runs; one table of figures with the ratio of each to its reference, latency,
// and the servers' resident memory. Results also go to bench/results/latest.json (BENCH_OUT) for
// before/after comparisons (BENCH_COMPARE=path of an earlier file adds a column). After the table,
// the ratios issue 11 sets bounds on measured again in pairs, both halves back to back (see pair()).
// Run: npm run bench     (knobs: see README "Benchmark")
// A benchmark, not a test: it asserts nothing about speed.
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import http2 from "node:http2";
import os from "node:os";
import path from "node:path";
import { PerformanceObserver, performance as perf } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import {
  grpcFrame,
  median,
  type PairSide,
  type PairSummary,
  parseH2load,
  parseRequestLog,
  percentile,
  type RatioSpread,
  runInPairs,
  slowCallsInGc,
  spread,
  summarizePairs,
} from "./lib/figures.ts";
import {
  buildChainLoad,
  type ChainLoadOptions,
  defaultPeakShape,
  fixedCallUsers as fixedCallUsersOf,
  runChainLoad,
} from "./lib/chain-load.ts";
import { runLoad, type VirtualUser } from "./lib/load.ts";
import { callLoadOn, JSON_HEADERS, register, serverEnv, signer } from "./lib/service.ts";
import { startEnv, startFlags } from "./lib/start.ts";
import {
  assertV8WorkerNice,
  freePort,
  type Pinned,
  pinSelf,
  requireTool,
  run,
  sampleRss,
  startPinned,
  type ThreadCpu,
} from "./lib/processes.ts";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const num = (name: string, fallback: number) => {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number`);
  return value;
};
const knobs = {
  seconds: num("BENCH_SECONDS", 4),
  runs: num("BENCH_RUNS", 3),
  warmUpSeconds: num("BENCH_WARMUP_SECONDS", 1),
  h2Clients: num("BENCH_H2_CLIENTS", defaultPeakShape.h2Clients),
  h2Streams: num("BENCH_H2_STREAMS", defaultPeakShape.h2Streams),
  h1Clients: num("BENCH_H1_CLIENTS", defaultPeakShape.h1Clients),
  loginConcurrency: num("BENCH_LOGIN_CONCURRENCY", 8),
  users: num("BENCH_USERS", 32),
  // The runs of the V8_WORKER_NICE stage: longer than the others, since what it compares (a full
  // collection's concurrent marking) comes every several seconds.
  niceSeconds: num("BENCH_NICE_SECONDS", 8),
  niceWarmUpSeconds: num("BENCH_NICE_WARMUP_SECONDS", 5),
  pairs: num("BENCH_PAIRS", 5),
  pairSeconds: num("BENCH_PAIR_SECONDS", 2),
  // Sign-ins before Login's pairs. A server in production is long warm; right after start V8 is
  // still compiling the sign-in path: after 1 s the main thread spent 2.0-2.1 ms per sign-in in
  // the first pair against 1.4-1.8 later, and V8's compiler threads 0.5 ms more; after 10 s the
  // first pair is like the rest, and 30 s changed nothing more (README "Paired ratios").
  loginPairWarmUpSeconds: num("BENCH_PAIR_LOGIN_WARMUP_SECONDS", 10),
  // Item 5's bound in pairs of fresh processes (peakRssPairs): one figure's peak RSS moved from
  // 1.15× to 1.57× of the bare server's between two runs of the same load.
  memoryPairs: num("BENCH_MEMORY_PAIRS", 3),
};
const only = process.env["BENCH_ONLY"] ? new RegExp(process.env["BENCH_ONLY"]) : undefined;
const outFile = process.env["BENCH_OUT"] ?? path.join(root, "bench", "results", "latest.json");
const compareFile = process.env["BENCH_COMPARE"];
// Another checkout's entry point (e.g. an older commit unpacked elsewhere) to measure it instead.
const serverEntry = path.resolve(process.env["BENCH_SERVER_ENTRY"] ?? path.join(root, "src", "main.ts"));
// Node options for every process under test, the bare references and the server alike, so that
// the ratios compare the same runtime: by default those `npm start` gives the server (package.json),
// BENCH_NODE_FLAGS= (empty) for Node's defaults.
const nodeFlags = (process.env["BENCH_NODE_FLAGS"] ?? startFlags().join(" ")).split(/\s+/).filter((f) => f !== "");
// And the malloc they run on, as startPinned preloads it (lib/start.ts; MEMORY_ALLOCATOR=system for
// the C library's).
const malloc = startEnv(process.env)["LD_PRELOAD"] ?? "the C library's malloc";
const SERVER_CPU = "0";
const DRIVER_CPU = "1";

requireTool("h2load", "nghttp2-client");
requireTool("taskset", "util-linux");
const chainLoadMissing = buildChainLoad();
if (chainLoadMissing !== undefined) {
  console.error(chainLoadMissing);
  process.exit(1);
}
if (os.availableParallelism() < 2) console.warn("warning: fewer than 2 CPUs: server and load share a core, figures mean little");
pinSelf(DRIVER_CPU);

type Protocol = "h2c" | "h1" | "grpc";
interface Request {
  protocol: Protocol;
  path: string;
  headers: Record<string, string>;
  body: Buffer;
}

interface Figure {
  id: string;
  label: string;
  reqPerSec: number;
  runs: number[];
  reference?: string;
  ratio?: number;
  p50Ms: number;
  p99Ms: number;
  /** CPU time of the process under test per call answered, µs: what noise from other processes barely moves. */
  cpuUsPerCall: number;
  /**
   * CPU time of the process under test over wall time while driven: near 1 when it had its core to
   * itself and was the bottleneck; well below at peak load, another process took part of the core.
   */
  coreShare: number;
  /** The reference's CPU per call over this figure's: the ratio on a core of its own. */
  cpuRatio?: number;
  /** Share of the measured time the server spent collecting garbage (median of the runs). */
  gcShare?: number;
  /** Longest garbage-collection pause of the server in any run, ms: what a p99 can owe to GC. */
  gcMaxPauseMs?: number;
  /** Calls slower than 10× the median (all runs), and how many of them a GC pause of the server overlapped. */
  slowCalls?: number;
  slowCallsInGc?: number;
  /**
   * Our generator runs in this process: of the slow calls, how many a GC pause of this process
   * overlapped (a stall of the load generator, not of the server; h2load figures have none).
   */
  slowCallsInDriverGc?: number;
  /** Largest resident set of the process under test seen while this figure ran (MiB). */
  peakRssMiB: number;
  errors: number;
  note?: string;
}

const figures: Figure[] = [];
const tmp = mkdtempSync(path.join(os.tmpdir(), "authd-bench-"));
const running = new Set<Pinned>();
const mib = (bytes: number) => bytes / 1048576;
const wanted = (id: string) => only === undefined || only.test(id);

// This process's own GC pauses of 1 ms or more ([start, ms since the epoch; duration, ms]): our
// generator's stalls, lined up with the slow calls of the figures it drives.
const driverPauses: [number, number][] = [];
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    if (entry.duration >= 1 && driverPauses.length < 100_000) driverPauses.push([perf.timeOrigin + entry.startTime, entry.duration]);
  }
}).observe({ entryTypes: ["gc"] });

// --- requests ---------------------------------------------------------------------------------

const connectJson = (protocol: "h2c" | "h1", route: string, body: object, headers: Record<string, string> = {}): Request => ({
  protocol,
  path: route,
  headers: { ...JSON_HEADERS, ...headers },
  body: Buffer.from(JSON.stringify(body)),
});
// Both empty messages encode to zero bytes: the gRPC body is the 5-byte prefix alone.
const grpc = (route: string, headers: Record<string, string> = {}): Request => ({
  protocol: "grpc",
  path: route,
  headers: { "content-type": "application/grpc", te: "trailers", ...headers },
  body: grpcFrame(new Uint8Array()),
});
const HEALTH = "/grpc.health.v1.Health/Check";
const GET_USER = "/auth.v1.AuthService/GetCurrentUser";
const REFRESH = "/auth.v1.AuthService/RefreshToken";

/** Sends `request` once and returns status, grpc-status and body: to check a figure measures success. */
function probe(port: number, request: Request): Promise<{ status: number; grpcStatus?: string; body: string }> {
  if (request.protocol === "h1") {
    return new Promise((resolve, reject) => {
      const req = http.request({ host: "127.0.0.1", port, method: "POST", path: request.path, headers: request.headers }, (res) => {
        let body = "";
        res.on("data", (c: Buffer) => {
          body += c.toString();
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on("error", reject);
      req.end(request.body);
    });
  }
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on("error", reject);
    const req = session.request({ ":method": "POST", ":path": request.path, ...request.headers });
    let status = 0;
    let grpcStatus: string | undefined;
    let body = "";
    req.on("response", (h) => {
      status = Number(h[":status"]);
      grpcStatus = h["grpc-status"] as string | undefined;
    });
    req.on("trailers", (t) => {
      grpcStatus = (t["grpc-status"] as string | undefined) ?? grpcStatus;
    });
    req.on("data", (c: Buffer) => {
      body += c.toString("latin1");
    });
    req.on("end", () => {
      session.close();
      resolve({ status, ...(grpcStatus === undefined ? {} : { grpcStatus }), body });
    });
    req.on("error", reject);
    req.end(request.body);
  });
}

async function expectOk(port: number, request: Request, what: string): Promise<void> {
  const answer = await probe(port, request);
  const ok = answer.status === 200 && (request.protocol !== "grpc" || answer.grpcStatus === "0");
  if (!ok)
    throw new Error(
      `${what}: the probe call failed (HTTP ${answer.status}, grpc-status ${answer.grpcStatus}): ${answer.body.slice(0, 300)}`,
    );
}

// --- h2load -----------------------------------------------------------------------------------

let fileCount = 0;
async function h2load(port: number, request: Request, seconds: number): Promise<Run> {
  const bodyFile = path.join(tmp, `body-${fileCount}`);
  const logFile = path.join(tmp, `log-${fileCount++}`);
  writeFileSync(bodyFile, request.body);
  const h1 = request.protocol === "h1";
  const args = [
    ...["-c", String(h1 ? knobs.h1Clients : knobs.h2Clients), "-m", String(h1 ? 1 : knobs.h2Streams)],
    ...["-D", String(seconds), "-d", bodyFile, "--log-file", logFile],
    ...Object.entries(request.headers).flatMap(([k, v]) => ["-H", `${k}: ${v}`]),
    ...(h1 ? ["--h1"] : []),
    `http://127.0.0.1:${port}${request.path}`,
  ];
  const summary = parseH2load(await run("taskset", ["-c", DRIVER_CPU, "h2load", ...args]));
  const calls = parseRequestLog(readFileSync(logFile, "utf8"));
  rmSync(logFile);
  rmSync(bodyFile);
  const answered = Object.values(summary.status).reduce((a, b) => a + b, 0);
  return { reqPerSec: summary.reqPerSec, answered, ...calls, errors: summary.failed + summary.errored + summary.timeout };
}

interface Collections {
  count: number;
  totalMs: number;
  maxMs: number;
  /** [start, ms since the epoch; duration, ms] of each pause of 1 ms or more. */
  pauses: [number, number][];
}

interface Run {
  reqPerSec: number;
  /** Every call the process under test answered during the run (the measured period or not). */
  answered: number;
  /** Latency of each successful call, ms. */
  latencies: number[];
  /** When each started, ms since the epoch. */
  starts: number[];
  errors: number;
}

/** What one run of `once` cost `target`: its CPU time per call answered (in all, and by thread), and its share of the core. */
async function timed(target: Pinned, once: (seconds: number) => Promise<Run>, seconds: number) {
  const threadsBefore = target.threadCpuSeconds();
  const cpuBefore = target.cpuSeconds();
  const wallBefore = performance.now();
  const result = await once(seconds);
  const cpu = target.cpuSeconds() - cpuBefore;
  const wall = (performance.now() - wallBefore) / 1000;
  const threadsAfter = target.threadCpuSeconds();
  const perCall = (k: keyof ThreadCpu) => ((threadsAfter[k] - threadsBefore[k]) * 1e6) / result.answered;
  const threadUsPerCall: ThreadCpu = { main: perCall("main"), libuv: perCall("libuv"), v8: perCall("v8"), other: perCall("other") };
  return { ...result, cpuUsPerCall: (cpu * 1e6) / result.answered, coreShare: cpu / wall, threadUsPerCall };
}

/** One figure: a warm-up run, then BENCH_RUNS runs of `once` (`seconds` each); medians, and the peak RSS meanwhile. */
async function measure(
  id: string,
  label: string,
  target: Pinned,
  once: (seconds: number) => Promise<Run>,
  inProcessDriver = false,
  seconds = knobs.seconds,
): Promise<Figure> {
  const rss = sampleRss(target);
  await once(knobs.warmUpSeconds);
  const runs: (Run & { cpuUsPerCall: number; coreShare: number; gc: Collections; driverGc: [number, number][] })[] = [];
  const collections = async () =>
    target.ipc ? ((await target.ask("gc")) as { gc: Collections }).gc : { count: 0, totalMs: 0, maxMs: 0, pauses: [] };
  for (let i = 0; i < knobs.runs; i++) {
    await collections(); // from here
    // Our generator runs in this process: a full collection now (npm run bench exposes gc) leaves
    // less garbage to collect while it times calls.
    globalThis.gc?.();
    driverPauses.length = 0;
    const result = await timed(target, once, seconds);
    runs.push({
      ...result,
      gc: await collections(),
      driverGc: [...driverPauses],
    });
  }
  const gc = target.ipc
    ? {
        gcShare: median(runs.map((r) => r.gc.totalMs / (seconds * 1000))),
        gcMaxPauseMs: Math.max(...runs.map((r) => r.gc.maxMs)),
        ...slowInGc(runs),
      }
    : {};
  const pooled = runs.flatMap((r) => Array.from(r.latencies));
  const figure: Figure = {
    id,
    label,
    reqPerSec: median(runs.map((r) => r.reqPerSec)),
    runs: runs.map((r) => r.reqPerSec),
    // Over every call of the runs together, not the median of each run's: a collection that comes
    // every several seconds falls in some runs only, and a median of three would leave it out.
    p50Ms: percentile(pooled, 0.5),
    p99Ms: percentile(pooled, 0.99),
    cpuUsPerCall: median(runs.map((r) => r.cpuUsPerCall)),
    coreShare: median(runs.map((r) => r.coreShare)),
    peakRssMiB: mib(rss.stop()),
    errors: runs.reduce((s, r) => s + r.errors, 0),
    ...gc,
    ...(inProcessDriver ? { slowCallsInDriverGc: runs.reduce((sum, r) => sum + slowCallsInGc(r, r.driverGc).inGc, 0) } : {}),
  };
  figures.push(figure);
  progress(figure);
  return figure;
}

/** Over all runs: the calls slower than 10× their run's median, and those in flight during a GC pause. */
function slowInGc(runs: (Run & { gc: Collections })[]): { slowCalls: number; slowCallsInGc: number } {
  const counts = runs.map((r) => slowCallsInGc(r, r.gc.pauses));
  return { slowCalls: counts.reduce((s, c) => s + c.slow, 0), slowCallsInGc: counts.reduce((s, c) => s + c.inGc, 0) };
}

/** A figure measured with h2load, after checking that one such call succeeds. */
async function h2loadFigure(id: string, label: string, target: Pinned, request: Request): Promise<Figure | undefined> {
  if (!wanted(id)) return undefined;
  await expectOk(target.port, request, label);
  return measure(id, label, target, (seconds) => h2load(target.port, request, seconds));
}

/** A figure measured with our generator (closed loop, or at `rate` calls per second). */
async function generatorFigure(
  id: string,
  label: string,
  target: Pinned,
  users: VirtualUser[],
  rate?: number,
): Promise<Figure | undefined> {
  if (!wanted(id)) return undefined;
  return measure(id, label, target, generatorRun(target, users, rate), true);
}

/**
 * A figure measured with chain-load (bench/chain-load/chain-load.c): `load.tokens` one per virtual
 * user, each run going on from where the last left them; closed loop, or `rate` calls a second.
 */
async function chainFigure(
  id: string,
  label: string,
  target: Pinned,
  load: Omit<ChainLoadOptions, "port" | "warmUpMs" | "measureMs" | "rate">,
  rate?: number,
  runSeconds = knobs.seconds,
): Promise<Figure | undefined> {
  if (!wanted(id)) return undefined;
  const base = { ...load, port: target.port, warmUpMs: 0 };
  const once = (seconds: number) => runChainLoad({ ...base, measureMs: seconds * 1000, ...(rate === undefined ? {} : { rate }) });
  return measure(id, label, target, once, false, runSeconds);
}

/** chain-load's users for one fixed call, shaped as this run's h2load at peak (the knobs). */
const fixedCallUsers = (protocol: "h2c" | "h1", callPath: string, headers: Record<string, string> = {}) =>
  fixedCallUsersOf(protocol, callPath, headers, knobs);

/** A run of our generator against `target`: closed loop, or at `rate` calls per second. */
function generatorRun(target: Pinned, users: VirtualUser[], rate?: number): (seconds: number) => Promise<Run> {
  const base = { url: `http://127.0.0.1:${target.port}`, users, connections: Math.min(4, users.length), warmUpMs: 0 };
  return (seconds) => runLoad({ ...base, measureMs: seconds * 1000, ...(rate === undefined ? {} : { rate }) });
}

function progress(f: Figure): void {
  const runs = f.runs.map((r) => r.toFixed(0)).join(", ");
  console.error(
    `  ${f.label}: ${f.reqPerSec.toFixed(0)} req/s (runs ${runs}), ${f.cpuUsPerCall.toFixed(0)} µs CPU/call, p50 ${f.p50Ms.toFixed(2)} ms, p99 ${f.p99Ms.toFixed(2)} ms${f.errors ? `, ${f.errors} ERRORS` : ""}`,
  );
}

function relate(id: string, referenceId: string): void {
  const f = figures.find((x) => x.id === id);
  const ref = figures.find((x) => x.id === referenceId);
  if (f === undefined || ref === undefined) return;
  f.reference = ref.label;
  f.ratio = f.reqPerSec / ref.reqPerSec;
  f.cpuRatio = ref.cpuUsPerCall / f.cpuUsPerCall;
}

// --- the targets ------------------------------------------------------------------------------

async function pinned(args: string[], env: Record<string, string>, ipc = false): Promise<Pinned> {
  const port = await freePort();
  const target = await startPinned(SERVER_CPU, [...nodeFlags, ...args], { ...env, PORT: String(port) }, port, ipc);
  running.add(target);
  return target;
}

async function stop(target: Pinned): Promise<number> {
  const { hwm } = target.memory();
  await target.stop();
  running.delete(target);
  return hwm;
}

/** What one run of bench/argon2-bound.ts prints. */
interface BoundRun {
  perSecond: number;
  cpuUsPerCall: number;
  coreShare: number;
  parallel: number;
}

/** One run of the argon2id bound: bench/argon2-bound.ts in a process of its own on the server's core. */
async function argon2Bound(seconds: number): Promise<BoundRun> {
  const out = await run("taskset", ["-c", SERVER_CPU, process.execPath, path.join(root, "bench", "argon2-bound.ts"), String(seconds)]);
  return JSON.parse(out.trim().split("\n").pop() ?? "{}") as BoundRun;
}

// --- pairs ------------------------------------------------------------------------------------

/** One side of a pair: how to run it once, and its warm-up before the first pair (0: none). */
interface Side {
  label: string;
  warmUpSeconds: number;
  once(seconds: number): Promise<Sample>;
}

interface Sample extends PairSide {
  errors: number;
  /** CPU time per call by thread, when the side is the server. */
  threadUsPerCall?: ThreadCpu;
}

interface Pair extends PairSummary {
  id: string;
  label: string;
  reference: string;
  figure: string;
  seconds: number;
  warmUpSeconds: number;
  errors: number;
  /** The figure's CPU per call by thread (median over the pairs of each kind), when it is the server. */
  figureThreadUs?: ThreadCpu;
  samples: { referenceFirst: boolean; reference: Sample; figure: Sample }[];
}

const pairs: Pair[] = [];

/** A side answered by `target`, run with `once` (h2load or our generator). */
function onServer(label: string, target: Pinned, once: (seconds: number) => Promise<Run>, warmUpSeconds: number): Side {
  return {
    label,
    warmUpSeconds,
    async once(seconds) {
      globalThis.gc?.(); // as in measure(): our generator's garbage from before is not collected in the run
      const r = await timed(target, once, seconds);
      return { reqPerSec: r.reqPerSec, cpuUsPerCall: r.cpuUsPerCall, errors: r.errors, threadUsPerCall: r.threadUsPerCall };
    },
  };
}

/**
 * A ratio measured in pairs: BENCH_PAIRS pairs, each a run of the reference and one of the figure
 * back to back (ABBA order), after each side's warm-up. The table relates medians taken minutes
 * apart, which on this shared machine drift by more than the margins issue 11 sets (the argon2id
 * bound read 40, 47 and 41/s in three consecutive runs); here each ratio is taken within a pair,
 * seconds apart, and the spread over the pairs shows how far to trust it.
 */
async function pair(id: string, label: string, reference: Side, figure: Side, seconds: number): Promise<void> {
  if (!wanted(id)) return;
  for (const side of [reference, figure]) if (side.warmUpSeconds > 0) await side.once(side.warmUpSeconds);
  const samples = await runInPairs(
    knobs.pairs,
    () => reference.once(seconds),
    () => figure.once(seconds),
  );
  const threads = samples.flatMap((s) => (s.figure.threadUsPerCall ? [s.figure.threadUsPerCall] : []));
  const byThread = (k: keyof ThreadCpu) => median(threads.map((t) => t[k]));
  const result: Pair = {
    id,
    label,
    reference: reference.label,
    figure: figure.label,
    seconds,
    warmUpSeconds: figure.warmUpSeconds,
    errors: samples.reduce((n, s) => n + s.reference.errors + s.figure.errors, 0),
    ...summarizePairs(samples),
    ...(threads.length > 0
      ? { figureThreadUs: { main: byThread("main"), libuv: byThread("libuv"), v8: byThread("v8"), other: byThread("other") } }
      : {}),
    samples,
  };
  pairs.push(result);
  const cpu = result.byCpu;
  console.error(
    `  pair ${label}: by CPU ${cpu.median.toFixed(2)} (${cpu.each.map((r) => r.toFixed(2)).join(", ")}), by req/s ${result.byRate.median.toFixed(2)}${result.errors ? `, ${result.errors} ERRORS` : ""}`,
  );
}

/**
 * A pair of two requests h2load sends to `target`, each checked to succeed once first: the
 * reference `[label, request]` and the figure.
 */
async function h2loadPair(
  id: string,
  label: string,
  target: Pinned,
  [referenceLabel, reference]: [string, Request],
  [figureLabel, figure]: [string, Request],
): Promise<void> {
  if (!wanted(id)) return;
  for (const request of [reference, figure]) await expectOk(target.port, request, id);
  const side = (sideLabel: string, request: Request) =>
    onServer(sideLabel, target, (seconds) => h2load(target.port, request, seconds), knobs.warmUpSeconds);
  await pair(id, label, side(referenceLabel, reference), side(figureLabel, figure), knobs.pairSeconds);
}

/** Item 5's bound measured in pairs of fresh processes (peakRssPairs). */
interface MemoryPairs {
  id: "pair.memory";
  label: string;
  /** The server's peak over the bare server's, per pair. */
  ratio: RatioSpread;
  /** Each pair's peaks (VmHWM, MiB), in the order measured. */
  samples: { referenceFirst: boolean; bareMiB: number; serverMiB: number }[];
}

/** The peak resident set (VmHWM, MiB) of a fresh process under `request` for one figure's runs. */
async function peakRssUnderLoad(args: string[], env: Record<string, string>, request: Request): Promise<number> {
  const target = await pinned(args, env);
  let hwm: number;
  try {
    await expectOk(target.port, request, "pair.memory");
    await h2load(target.port, request, knobs.warmUpSeconds);
    for (let i = 0; i < knobs.runs; i++) await h2load(target.port, request, knobs.seconds);
  } finally {
    hwm = await stop(target);
  }
  return mib(hwm);
}

/**
 * Issue 11's memory bound, peak RSS under the same load against bare node:http2, in pairs: a
 * fresh bare server and a fresh service (nothing set up, so nothing but the empty RPC's load in
 * its peak), each given the empty RPC over h2c for a figure's runs, back to back, BENCH_MEMORY_PAIRS
 * times in ABBA order. The table's one reading of it (empty.h2c against bare.h2c) moved from
 * 1.15× to 1.57× between two runs of the same code: a peak is where a full collection happened to
 * find the heap, and what the allocator held then.
 */
async function peakRssPairs(): Promise<MemoryPairs | undefined> {
  const id = "pair.memory";
  if (!wanted(id)) return undefined;
  const request = connectJson("h2c", HEALTH, {});
  const bare = () => peakRssUnderLoad([path.join(root, "bench", "bare.ts"), "h2c"], { BARE_V8_WORKER_NICE: "" }, request);
  const service = () => peakRssUnderLoad([serverEntry], serverEnv(), request);
  const samples = (await runInPairs(knobs.memoryPairs, bare, service)).map((run) => ({
    referenceFirst: run.referenceFirst,
    bareMiB: run.reference,
    serverMiB: run.figure,
  }));
  const result: MemoryPairs = {
    id,
    label: "peak RSS, fresh server / fresh bare node:http2, the empty RPC over h2c",
    ratio: spread(samples.map((s) => s.serverMiB / s.bareMiB)),
    samples,
  };
  const each = samples.map((s) => `${s.serverMiB.toFixed(0)}/${s.bareMiB.toFixed(0)}`).join(", ");
  console.error(`  pair ${result.label}: ${result.ratio.median.toFixed(2)}× (MiB ${each})`);
  return result;
}

// --- the run ----------------------------------------------------------------------------------

async function main(): Promise<void> {
  const started = Date.now();
  const loadBefore = os.loadavg();
  console.error(
    `bench: node ${nodeFlags.join(" ") || "(defaults)"} on ${malloc} for every process under test; ${knobs.runs} runs of ${knobs.seconds} s per figure (+${knobs.warmUpSeconds} s warm-up); server on CPU ${SERVER_CPU}, load on CPU ${DRIVER_CPU}; load average ${loadBefore.map((l) => l.toFixed(2)).join(" ")}`,
  );
  const references: Record<string, number> = {};

  // 1. The bare references, alone on the server's core.
  const emptyJson = (protocol: "h2c" | "h1") => connectJson(protocol, HEALTH, {});
  for (const mode of ["h2c", "h1"] as const) {
    const id = `bare.${mode}`;
    if (!wanted(id) && !(mode === "h2c" && wanted("pair.bearer.bare"))) continue;
    const target = await pinned([path.join(root, "bench", "bare.ts"), mode], { BARE_V8_WORKER_NICE: "" });
    const label = mode === "h2c" ? "bare node:http2, fixed JSON, h2c" : "bare node:http, fixed JSON, HTTP/1.1";
    const peak = await h2loadFigure(id, label, target, emptyJson(mode));
    // Item 6's oracle: Node's own tail at half its peak, on the even schedule the service's
    // half-rate figures get.
    if (peak !== undefined) {
      const halfLabel = `${label.split(",")[0]} at half its peak rate`;
      await chainFigure(`${id}.half`, halfLabel, target, fixedCallUsers(mode, HEALTH), peak.reqPerSec / 2);
    }
    if (mode === "h2c") {
      // The same, carrying an Authorization header as long as GetCurrentUser's, against the same
      // without it: what Node itself pays for the header. HTTP/2 clients send `authorization` never
      // indexed (RFC 7541 section 7.1.3; h2load reads 454 bytes per request with it, 33 without),
      // so every call decodes it anew. A pair, not a figure: as two figures of the table the one
      // with the header read cheaper in both full runs that had it; the table's noise is larger.
      const header = { authorization: `Bearer ${randomBytes(381).toString("base64url")}` };
      await h2loadPair(
        "pair.bearer.bare",
        "bare node:http2 with a 508-character bearer token / without, h2c",
        target,
        ["without", emptyJson(mode)],
        ["with the header", connectJson(mode, HEALTH, {}, header)],
      );
    }
    references[`${id}.hwm`] = await stop(target);
  }
  // The same handler behind the service's listener: what sniffing and connection limits cost.
  if (wanted("listener")) {
    const target = await pinned([path.join(root, "bench", "bare.ts"), "listener"], { BARE_V8_WORKER_NICE: "" });
    await h2loadFigure("listener.h2c", "fixed JSON behind our listener, h2c", target, emptyJson("h2c"));
    await h2loadFigure("listener.h1", "fixed JSON behind our listener, HTTP/1.1", target, emptyJson("h1"));
    await stop(target);
  }

  // 2. The argon2id bound: verifications per second on the server's core.
  if (wanted("argon2.bound")) {
    const runs: number[] = [];
    const cpu: number[] = [];
    const share: number[] = [];
    let parallel = 0;
    for (let i = 0; i < knobs.runs; i++) {
      const parsed = await argon2Bound(knobs.seconds);
      runs.push(parsed.perSecond);
      cpu.push(parsed.cpuUsPerCall);
      share.push(parsed.coreShare);
      parallel = parsed.parallel;
    }
    const figure: Figure = {
      id: "argon2.bound",
      label: `argon2id verify alone, ${parallel} in parallel`,
      reqPerSec: median(runs),
      runs,
      p50Ms: Number.NaN,
      p99Ms: Number.NaN,
      cpuUsPerCall: median(cpu),
      coreShare: median(share),
      peakRssMiB: Number.NaN,
      errors: 0,
    };
    figures.push(figure);
    progress(figure);
  }

  // 3. The server.
  // Through bench/probed-server.ts, which reports the server's garbage collections.
  const server = await pinned([path.join(root, "bench", "probed-server.ts")], { ...serverEnv(), PROBED_SERVER_ENTRY: serverEntry }, true);
  const port = server.port;
  const userTokens = await register(port, "reader@bench.example");
  const bearer = { authorization: `Bearer ${userTokens.accessToken}` };
  // The empty RPC and GetCurrentUser on each protocol: figures, then pairs.
  const calls = {
    h2c: {
      name: "Connect JSON h2c",
      empty: emptyJson("h2c"),
      emptyWithBearer: connectJson("h2c", HEALTH, {}, bearer),
      user: connectJson("h2c", GET_USER, {}, bearer),
    },
    h1: {
      name: "Connect JSON HTTP/1.1",
      empty: emptyJson("h1"),
      emptyWithBearer: connectJson("h1", HEALTH, {}, bearer),
      user: connectJson("h1", GET_USER, {}, bearer),
    },
    grpc: { name: "gRPC", empty: grpc(HEALTH), emptyWithBearer: grpc(HEALTH, bearer), user: grpc(GET_USER, bearer) },
  };

  await h2loadFigure("empty.h2c", "empty RPC (Health/Check), Connect JSON h2c", server, calls.h2c.empty);
  await h2loadFigure("empty.h1", "empty RPC (Health/Check), Connect JSON HTTP/1.1", server, calls.h1.empty);
  await h2loadFigure("empty.grpc", "empty RPC (Health/Check), gRPC", server, calls.grpc.empty);
  const gcuH2c = await h2loadFigure("user.h2c", "GetCurrentUser, Connect JSON h2c", server, calls.h2c.user);
  const gcuH1 = await h2loadFigure("user.h1", "GetCurrentUser, Connect JSON HTTP/1.1", server, calls.h1.user);
  await h2loadFigure("user.grpc", "GetCurrentUser, gRPC", server, calls.grpc.user);

  let refresh: Figure | undefined;
  let refreshH1: Figure | undefined;
  if (wanted("refresh") || wanted("empty.generator") || wanted("refresh.h1")) {
    // One session per virtual user, each spending and renewing its own refresh token.
    const sessions = await Promise.all(Array.from({ length: knobs.users }, (_, i) => register(port, `refresh${i}@bench.example`)));
    const tokens = sessions.map((t) => t.refreshToken);
    const chains = { protocol: "h2c", path: REFRESH, field: "refreshToken", tokens, connections: 4 } as const;
    const fixed = { protocol: "h2c", path: HEALTH, tokens: sessions.map(() => "-"), connections: 4 } as const;
    await chainFigure("empty.generator", "empty RPC, Connect JSON h2c, chain-load", server, fixed);
    refresh = await chainFigure("refresh", "RefreshToken, Connect JSON h2c, chain-load", server, chains);
    if (refresh !== undefined && wanted("refresh.half")) {
      await chainFigure("refresh.half", "RefreshToken at half its peak rate", server, chains, refresh.reqPerSec / 2);
    }
    // The same chains over HTTP/1.1 (a connection per user), where Node's HTTP/2 header strings are
    // not in the way (docs/upstream-node.md): the tail of the call itself.
    const chainsH1 = { ...chains, protocol: "h1" } as const;
    refreshH1 = await chainFigure("refresh.h1", "RefreshToken, Connect JSON HTTP/1.1, chain-load", server, chainsH1);
    if (refreshH1 !== undefined && wanted("refresh.h1.half")) {
      await chainFigure("refresh.h1.half", "RefreshToken HTTP/1.1 at half its peak rate", server, chainsH1, refreshH1.reqPerSec / 2);
    }
  }
  // At half the peak rate, calls started on chain-load's even schedule (fixedCallUsers), each
  // timed from when it was due. h2load's --rps, used before, starts each client's calls in bursts:
  // its median was mostly the queue of the burst (6-7 ms over h2c against 0.4-0.6 ms on an even
  // schedule, same server and rate), which hid the pauses in p99/p50.
  if (gcuH1 !== undefined) {
    const users = fixedCallUsers("h1", GET_USER, bearer);
    await chainFigure("user.h1.half", "GetCurrentUser HTTP/1.1 at half its peak rate", server, users, gcuH1.reqPerSec / 2);
  }
  if (gcuH2c !== undefined) {
    const users = fixedCallUsers("h2c", GET_USER, bearer);
    await chainFigure("user.h2c.half", "GetCurrentUser h2c at half its peak rate", server, users, gcuH2c.reqPerSec / 2);
  }
  // One account per virtual user: concurrent sign-ins to one account count against its failure
  // limit while they are checked (LOGIN_MAX_FAILURES), which is the point of that limit. Registered
  // when first needed, not before the figures above (argon2id's memory would count in their RSS).
  let signers: VirtualUser[] | undefined;
  const loginUsers = async () => {
    if (signers === undefined) {
      const emails = Array.from({ length: knobs.loginConcurrency }, (_, i) => `login${i}@bench.example`);
      await Promise.all(emails.map((email) => register(port, email)));
      signers = emails.map(signer);
    }
    return signers;
  };
  if (wanted("login")) await generatorFigure("login", "Login, Connect JSON h2c, our generator", server, await loginUsers());

  // 4. The pairs, on the same server.
  for (const protocol of ["h2c", "h1", "grpc"] as const) {
    const call = calls[protocol];
    const empty: [string, Request] = ["empty RPC", call.empty];
    await h2loadPair(`pair.user.${protocol}`, `GetCurrentUser / empty RPC, ${call.name}`, server, empty, ["GetCurrentUser", call.user]);
  }
  // What the header alone costs the server: the empty RPC carrying GetCurrentUser's header (the
  // health service reads no credentials). The user pair's ratio is this one's times the rest.
  for (const protocol of ["h2c", "h1", "grpc"] as const) {
    const call = calls[protocol];
    await h2loadPair(
      `pair.bearer.${protocol}`,
      `empty RPC with GetCurrentUser's Authorization header / empty RPC, ${call.name}`,
      server,
      ["empty RPC", call.empty],
      ["empty RPC with the header", call.emptyWithBearer],
    );
  }
  if (wanted("pair.login")) {
    await pair(
      "pair.login",
      "Login / argon2id verify alone",
      // Each run of the bound is a fresh process that warms itself up (one verification before its
      // window): a warm-up run would leave nothing behind for the pairs.
      {
        label: "argon2id verify alone",
        warmUpSeconds: 0,
        once: async (seconds) => {
          const bound = await argon2Bound(seconds);
          return { reqPerSec: bound.perSecond, cpuUsPerCall: bound.cpuUsPerCall, errors: 0 };
        },
      },
      onServer("Login", server, generatorRun(server, await loginUsers()), knobs.loginPairWarmUpSeconds),
      // Twice the other pairs' runs: at 40-50 sign-ins a second a 2 s run counts only 80-100 calls
      // of 20 ms (one call more or less moves the rate by over 1 %) and 200 ticks of CPU.
      knobs.pairSeconds * 2,
    );
  }
  const serverHwm = await stop(server);

  // 5. The same half-rate calls with V8's worker threads below the main thread (V8_WORKER_NICE,
  // src/v8-workers.ts): on one core, a full collection's concurrent marking otherwise takes most of
  // it from the calls. For each call, a fresh server with Node's threads as they start and then one
  // with them at nice 19, given the same call at the same rate (half its peak above), so that only
  // the threads' priority differs; a server per figure, so that none carries what an earlier
  // figure left (a saturated core leaves the nice 19 server's marking behind, and its heap larger).
  const halfRates: [string, string, number | undefined][] = [
    ["user.h1", "GetCurrentUser HTTP/1.1", gcuH1?.reqPerSec],
    ["refresh.h1", "RefreshToken HTTP/1.1", refreshH1?.reqPerSec],
    ["user.h2c", "GetCurrentUser h2c", gcuH2c?.reqPerSec],
    ["refresh", "RefreshToken h2c", refresh?.reqPerSec],
  ];
  for (const [id, call, peak] of halfRates) {
    for (const nice of [0, 19]) {
      const figureId = `nice${nice}.${id}.half`;
      if (peak === undefined || !wanted(figureId)) continue;
      const env = { ...serverEnv(), PROBED_SERVER_ENTRY: serverEntry, V8_WORKER_NICE: String(nice) };
      const fresh = await pinned([path.join(root, "bench", "probed-server.ts")], env, true);
      try {
        assertV8WorkerNice(fresh.pid, nice);
        const protocol = id === "user.h1" || id === "refresh.h1" ? "h1" : "h2c";
        const load = await callLoadOn(fresh.port, id.startsWith("user.") ? "user" : "refresh", protocol, knobs.users, knobs);
        // A fresh server's code is still being optimized; at nice 19 the compiler's jobs wait for
        // the main thread's idle time, so both get a longer warm-up at the rate than other figures.
        await runChainLoad({ ...load, port: fresh.port, rate: peak / 2, warmUpMs: 0, measureMs: knobs.niceWarmUpSeconds * 1000 });
        const label = `${call} at the rate above, fresh server, V8 workers at nice ${nice}`;
        await chainFigure(figureId, label, fresh, load, peak / 2, knobs.niceSeconds);
      } finally {
        await stop(fresh);
      }
    }
  }

  // 6. Item 5's memory bound in pairs of fresh processes.
  const memoryPairs = await peakRssPairs();

  for (const [id, ref] of [
    ["bare.h1", "bare.h2c"],
    ["listener.h2c", "bare.h2c"],
    ["listener.h1", "bare.h1"],
    ["empty.h2c", "bare.h2c"],
    ["empty.h1", "bare.h1"],
    ["empty.grpc", "bare.h2c"],
    ["user.h2c", "empty.h2c"],
    ["user.h1", "empty.h1"],
    ["user.grpc", "empty.grpc"],
    ["empty.generator", "bare.h2c"],
    ["refresh", "empty.generator"],
    ["bare.h2c.half", "bare.h2c"],
    ["bare.h1.half", "bare.h1"],
    ["refresh.half", "refresh"],
    ["refresh.h1.half", "refresh.h1"],
    ["nice19.user.h1.half", "nice0.user.h1.half"],
    ["nice19.refresh.h1.half", "nice0.refresh.h1.half"],
    ["nice19.user.h2c.half", "nice0.user.h2c.half"],
    ["nice19.refresh.half", "nice0.refresh.half"],
    ["user.h1.half", "user.h1"],
    ["user.h2c.half", "user.h2c"],
    ["login", "argon2.bound"],
  ] as const) {
    relate(id, ref);
  }

  const memory = {
    serverPeakRssMiB: mib(serverHwm),
    bareH2PeakRssMiB: references["bare.h2c.hwm"] === undefined ? Number.NaN : mib(references["bare.h2c.hwm"]),
    bareH1PeakRssMiB: references["bare.h1.hwm"] === undefined ? Number.NaN : mib(references["bare.h1.hwm"]),
    ...(memoryPairs === undefined ? {} : { pairs: memoryPairs }),
  };
  printTable(memory);
  printPairs();
  const result = {
    date: new Date(started).toISOString(),
    commit: spawnSync("git", ["rev-parse", "--short", "HEAD"], { cwd: path.dirname(serverEntry), encoding: "utf8" }).stdout.trim(),
    server: serverEntry,
    node: process.version,
    nodeFlags,
    malloc,
    knobs,
    loadAverageBefore: loadBefore,
    loadAverageAfter: os.loadavg(),
    durationSeconds: (Date.now() - started) / 1000,
    figures,
    memory,
    pairs,
  };
  mkdirSync(path.dirname(outFile), { recursive: true });
  writeFileSync(outFile, `${JSON.stringify(result, null, 2)}\n`);
  console.log(
    `\n${figures.length} figures${pairs.length ? ` and ${pairs.length} pairs` : ""} in ${result.durationSeconds.toFixed(0)} s; written to ${path.relative(process.cwd(), outFile)}`,
  );
}

function printTable(memory: { serverPeakRssMiB: number; bareH2PeakRssMiB: number; bareH1PeakRssMiB: number; pairs?: MemoryPairs }): void {
  const before = compareFile
    ? new Map((JSON.parse(readFileSync(compareFile, "utf8")) as { figures: Figure[] }).figures.map((f) => [f.id, f]))
    : undefined;
  const fmt = (n: number | undefined, digits = 0) => (n === undefined || Number.isNaN(n) ? "-" : n.toFixed(digits));
  const header = [
    "figure",
    "req/s",
    "ratio",
    "CPU µs/call",
    "ratio by CPU",
    "core %",
    "p50 ms",
    "p99 ms",
    "p99/p50",
    "GC %",
    "GC max ms",
    "slow in GC",
    "in driver GC",
    "peak RSS MiB",
    ...(before ? ["before req/s", "before ratio", "before by CPU"] : []),
    "reference",
  ];
  const rows = figures.map((f) => {
    const was = before?.get(f.id);
    return [
      f.label + (f.errors ? ` (${f.errors} errors!)` : ""),
      fmt(f.reqPerSec),
      fmt(f.ratio, 2),
      fmt(f.cpuUsPerCall),
      fmt(f.cpuRatio, 2),
      fmt(f.coreShare * 100),
      fmt(f.p50Ms, 2),
      fmt(f.p99Ms, 2),
      fmt(f.p99Ms / f.p50Ms, 1),
      fmt(f.gcShare === undefined ? undefined : f.gcShare * 100, 1),
      fmt(f.gcMaxPauseMs, 1),
      f.slowCalls === undefined ? "-" : `${f.slowCallsInGc}/${f.slowCalls}`,
      f.slowCallsInDriverGc === undefined ? "-" : String(f.slowCallsInDriverGc),
      fmt(f.peakRssMiB),
      ...(before ? [fmt(was?.reqPerSec), fmt(was?.ratio, 2), fmt(was?.cpuRatio, 2)] : []),
      f.reference ?? "",
    ];
  });
  const text = (i: number) => i === 0 || i === header.length - 1;
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    `| ${cells.map((c, i) => (text(i) ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join(" | ")} |`;
  console.log(line(header));
  console.log(`|${widths.map((w, i) => (text(i) ? "-".repeat(w + 2) : `${"-".repeat(w + 1)}:`)).join("|")}|`);
  for (const row of rows) console.log(line(row));
  const ratio = memory.serverPeakRssMiB / memory.bareH2PeakRssMiB;
  console.log(
    `\npeak RSS (VmHWM) over the whole run: server ${fmt(memory.serverPeakRssMiB)} MiB, bare node:http2 ${fmt(memory.bareH2PeakRssMiB)} MiB (${fmt(ratio, 2)}×), bare node:http ${fmt(memory.bareH1PeakRssMiB)} MiB`,
  );
  // The same h2load load on both: what the issue's memory bound compares. Over the whole run the
  // server also signs in, refreshes (keeping each spent token for reuse detection) and so on,
  // which the bare server cannot do.
  const sameLoad = figures.find((f) => f.id === "empty.h2c");
  const bareSameLoad = figures.find((f) => f.id === "bare.h2c");
  if (sameLoad !== undefined && bareSameLoad !== undefined) {
    console.log(
      `peak RSS under the same load (${sameLoad.label} against ${bareSameLoad.label}): ${fmt(sameLoad.peakRssMiB)} against ${fmt(bareSameLoad.peakRssMiB)} MiB (${fmt(sameLoad.peakRssMiB / bareSameLoad.peakRssMiB, 2)}×)`,
    );
  }
  const pairs = memory.pairs;
  if (pairs !== undefined) {
    const each = pairs.samples.map((s) => `${fmt(s.serverMiB)} / ${fmt(s.bareMiB)}`).join(", ");
    console.log(
      `${pairs.label}, ${pairs.samples.length} pairs (ABBA): median ${fmt(pairs.ratio.median, 2)}× (${fmt(pairs.ratio.min, 2)}-${fmt(pairs.ratio.max, 2)}); MiB ${each}`,
    );
  }
}

/** The paired ratios, after the table (BENCH_COMPARE adds the earlier file's ratio by CPU, when it has pairs). */
function printPairs(): void {
  if (pairs.length === 0) return;
  const before = compareFile
    ? new Map(((JSON.parse(readFileSync(compareFile, "utf8")) as { pairs?: Pair[] }).pairs ?? []).map((p) => [p.id, p]))
    : undefined;
  const range = (r: { min: number; max: number }) => `${r.min.toFixed(2)}-${r.max.toFixed(2)}`;
  const header = [
    "pair: figure / reference",
    "pairs × s",
    "by CPU",
    "min-max",
    "by req/s",
    "min-max",
    "ref CPU µs/call",
    "figure CPU µs/call",
    "figure main thread µs/call",
    ...(before ? ["before by CPU"] : []),
  ];
  const rows = pairs.map((p) => [
    p.label + (p.errors ? ` (${p.errors} errors!)` : ""),
    `${p.samples.length} × ${p.seconds}`,
    p.byCpu.median.toFixed(2),
    range(p.byCpu),
    p.byRate.median.toFixed(2),
    range(p.byRate),
    p.referenceCpuUs.toFixed(0),
    p.figureCpuUs.toFixed(0),
    p.figureThreadUs ? p.figureThreadUs.main.toFixed(0) : "-",
    ...(before ? [before.get(p.id)?.byCpu.median.toFixed(2) ?? "-"] : []),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join(" | ")} |`;
  console.log(
    `\npaired (BENCH_PAIRS pairs of runs back to back on the same core, ABBA order; medians and ranges of the per-pair ratios, medians of each half):`,
  );
  console.log(line(header));
  console.log(`|${widths.map((w, i) => (i === 0 ? "-".repeat(w + 2) : `${"-".repeat(w + 1)}:`)).join("|")}|`);
  for (const row of rows) console.log(line(row));
  const login = pairs.find((p) => p.id === "pair.login");
  if (login?.figureThreadUs !== undefined) {
    const t = login.figureThreadUs;
    console.log(
      `Login after ${login.warmUpSeconds} s of warm-up, server CPU µs per sign-in by thread (medians): main ${t.main.toFixed(0)}, libuv ${t.libuv.toFixed(0)}, V8 workers ${t.v8.toFixed(0)}, other ${t.other.toFixed(0)}; main thread per pair: ${login.samples.map((s) => s.figure.threadUsPerCall?.main.toFixed(0)).join(", ")}`,
    );
  }
}

const cleanup = () => {
  for (const target of running) void target.stop();
  rmSync(tmp, { recursive: true, force: true });
};
process.on("SIGINT", () => {
  cleanup();
  process.exit(130);
});
try {
  await main();
} finally {
  cleanup();
}
