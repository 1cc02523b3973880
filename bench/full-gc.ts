// What a full collection's pause is made of (issue 11, item 6: where the slow calls at half load
// come from). Each target runs pinned to CPU 0 with the Node options `npm start` gives the server
// and V8's --trace-gc-nvp (scavenges left out), driven from CPU 1 by h2load as in `npm run bench`,
// RefreshToken by our generator. From the trace, for the full collections of the measured period:
// how many, their atomic pauses, and the three phases of a pause that tell where it went: the
// external strings finalized, Node's wrapped native objects (weak handles), the live objects moved.
//
// What it shows (README, Benchmark, "What a full collection's pause is made of"): over HTTP/2 the
// largest phase is the external strings. node:http2 hands each request header value to
// JavaScript as an external string over nghttp2's buffer, V8 allocates those in the old
// generation, and so every value of every request waits for a full collection to be finalized
// (docs/upstream-node.md; docs/repro/http2-external-headers.mjs shows it without this service).
//
// Run: npm run bench:full-gc   (BENCH_SECONDS, default 8; BENCH_ONLY, a pattern of the target ids:
// bare.h2c, bare.h2c.bearer, bare.h1.bearer, user.h2c, user.h1, user.grpc, refresh)
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { type FullCollection, grpcFrame, median, parseFullCollections, parseH2load } from "./lib/figures.ts";
import { runLoad } from "./lib/load.ts";
import { freePort, h2loadFromCpu1, requireTool, startPinned } from "./lib/processes.ts";
import { register, refresher, serverEnv } from "./lib/service.ts";
import { startFlags } from "./lib/start.ts";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const seconds = Number(process.env["BENCH_SECONDS"] ?? 8);
const only = process.env["BENCH_ONLY"] ? new RegExp(process.env["BENCH_ONLY"]) : undefined;
const warmUpSeconds = 1;

requireTool("h2load", "nghttp2-client");

interface Target {
  id: string;
  label: string;
  args: string[];
  env: Record<string, string>;
  /** h2load's protocol and request, or our generator's RefreshToken chains. */
  load: { protocol: "h2c" | "h1"; path: string; headers: Record<string, string>; body: Buffer; bearer: boolean } | "refresh";
}

const json = { "content-type": "application/json" };
const grpcHeaders = { "content-type": "application/grpc", te: "trailers" };
const bare = path.join(root, "bench", "bare.ts");
const main = path.join(root, "src", "main.ts");
const health = "/grpc.health.v1.Health/Check";
const getUser = "/auth.v1.AuthService/GetCurrentUser";
const emptyJson = Buffer.from("{}");
const targets: Target[] = [
  {
    id: "bare.h2c",
    label: "bare node:http2, h2c",
    args: [bare, "h2c"],
    env: {},
    load: { protocol: "h2c", path: health, headers: json, body: emptyJson, bearer: false },
  },
  {
    id: "bare.h2c.bearer",
    label: "bare node:http2, h2c, with the bearer header",
    args: [bare, "h2c"],
    env: {},
    load: { protocol: "h2c", path: health, headers: json, body: emptyJson, bearer: true },
  },
  {
    id: "bare.h1.bearer",
    label: "bare node:http, HTTP/1.1, with the bearer header",
    args: [bare, "h1"],
    env: {},
    load: { protocol: "h1", path: health, headers: json, body: emptyJson, bearer: true },
  },
  {
    id: "user.h2c",
    label: "GetCurrentUser, Connect JSON h2c",
    args: [main],
    env: serverEnv(),
    load: { protocol: "h2c", path: getUser, headers: json, body: emptyJson, bearer: true },
  },
  {
    id: "user.h1",
    label: "GetCurrentUser, Connect JSON HTTP/1.1",
    args: [main],
    env: serverEnv(),
    load: { protocol: "h1", path: getUser, headers: json, body: emptyJson, bearer: true },
  },
  {
    id: "user.grpc",
    label: "GetCurrentUser, gRPC",
    args: [main],
    env: serverEnv(),
    load: { protocol: "h2c", path: getUser, headers: grpcHeaders, body: grpcFrame(new Uint8Array(0)), bearer: true },
  },
  { id: "refresh", label: "RefreshToken, Connect JSON h2c, our generator", args: [main], env: serverEnv(), load: "refresh" },
];

const tmp = mkdtempSync(path.join(os.tmpdir(), "authd-full-gc-"));

/**
 * An access token of the benchmark's kind (as long as GetCurrentUser's), from a server started for
 * it, for the bare servers to carry the same header (they check nothing).
 */
async function accessToken(): Promise<string> {
  const port = await freePort();
  const server = await startPinned("0", [...startFlags(), main], { ...serverEnv(), PORT: String(port) }, port);
  try {
    return (await register(port, "full-gc@bench.example")).accessToken;
  } finally {
    await server.stop();
  }
}

async function measure(target: Target, bareToken: string): Promise<{ reqPerSec: number; full: FullCollection[] }> {
  const port = await freePort();
  const spawned = Date.now();
  let trace = "";
  const server = await startPinned(
    "0",
    [...startFlags(), "--trace-gc-nvp", "--trace-gc-ignore-scavenger", ...target.args],
    { ...target.env, PORT: String(port) },
    port,
    false,
    (chunk) => {
      trace += chunk;
    },
  );
  try {
    let reqPerSec: number;
    let measuredFrom: number;
    if (target.load === "refresh") {
      const users = await Promise.all(Array.from({ length: 32 }, (_, i) => register(port, `full-gc${i}@bench.example`)));
      // The trace's times count from the process's start: the measured period begins after the
      // start-up, the sign-ups and the warm-up.
      measuredFrom = Date.now() - spawned + warmUpSeconds * 1000;
      const result = await runLoad({
        url: `http://127.0.0.1:${port}`,
        users: users.map(refresher),
        connections: 4,
        warmUpMs: warmUpSeconds * 1000,
        measureMs: seconds * 1000,
      });
      reqPerSec = result.reqPerSec;
    } else {
      const { headers, body, bearer } = target.load;
      // The service checks the token: one of its own sessions. The bare servers take any.
      const token = bearer && target.args[0] === main ? (await register(port, "full-gc@bench.example")).accessToken : bareToken;
      const bodyFile = path.join(tmp, "body");
      writeFileSync(bodyFile, body);
      const all = { ...headers, ...(bearer ? { authorization: `Bearer ${token}` } : {}) };
      measuredFrom = Date.now() - spawned + warmUpSeconds * 1000;
      const out = await h2loadFromCpu1(port, { ...target.load, headers: all, bodyFile }, seconds, warmUpSeconds);
      const summary = parseH2load(out);
      if (summary.succeeded === 0) throw new Error(`${target.label}: no call succeeded\n${out}`);
      reqPerSec = summary.reqPerSec;
    }
    // The measured period's collections: those whose pause began in it (one that ends after it is
    // still paid for by it; the server's stop is not).
    const measuredTo = measuredFrom + seconds * 1000;
    return { reqPerSec, full: parseFullCollections(trace, measuredFrom).filter((f) => f.atMs - f.pauseMs <= measuredTo) };
  } finally {
    await server.stop();
  }
}

const wanted = targets.filter((t) => only === undefined || only.test(t.id));
const bareToken = wanted.some((t) => t.args[0] === bare && t.load !== "refresh" && t.load.bearer) ? await accessToken() : "";
const fmt = (values: number[]) => (values.length === 0 ? "-" : `${median(values).toFixed(1)} (${Math.max(...values).toFixed(1)})`);
const rows: string[] = [];
for (const target of wanted) {
  const { reqPerSec, full } = await measure(target, bareToken);
  const pauses = full.map((f) => f.pauseMs);
  const total = pauses.reduce((a, b) => a + b, 0);
  const external = full.reduce((a, f) => a + f.externalStringsMs, 0);
  rows.push(
    [
      target.label,
      reqPerSec.toFixed(0),
      String(full.length),
      full.length === 0 ? "-" : ((reqPerSec * seconds) / full.length).toFixed(0),
      fmt(pauses),
      fmt(full.map((f) => f.externalStringsMs)),
      fmt(full.map((f) => f.weakHandlesMs)),
      fmt(full.map((f) => f.evacuateMs)),
      total === 0 ? "-" : `${((external / total) * 100).toFixed(0)} %`,
    ].join(" | "),
  );
  console.error(`| ${rows.at(-1)} |`);
}
rmSync(tmp, { recursive: true, force: true });
console.log(`${seconds} s a target after ${warmUpSeconds} s of warm-up; ms: median (max) over the full collections of the measured period`);
console.log(
  "| figure | req/s | full GCs | calls per full GC | pause ms | external strings ms | weak handles ms | evacuation ms | external strings, share of all pause time |",
);
console.log("|---|--:|--:|--:|--:|--:|--:|--:|--:|");
for (const row of rows) console.log(`| ${row} |`);
