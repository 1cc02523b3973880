// What a call leaves to the old generation. Each target (the bare node:http2 and node:http servers
// of bench/bare.ts, then the server with the empty RPC, Health/Check in Connect JSON) runs pinned
// to CPU 0 with V8's --trace-gc and the Node options `npm start` gives the server, driven from CPU 1
// by h2load as in `npm run bench`. From the trace: how often the young generation is collected,
// its pauses, and by how much the heap that survives each scavenge grows over the one before: what
// the scavenges promote to the old generation, freed only by the next full collection. Divided by
// the calls answered meanwhile, that is the bytes each call leaves there. The figure that told
// (README, Benchmark, "What a call leaves to the old generation"): over HTTP/2 it does not depend
// on how long the young generation waits between collections (BENCH_SEMI_SPACES=4,16,64), so it is
// not calls that were still running, and over HTTP/1.1 it is next to nothing.
//
// Run: npm run bench:promotion   (BENCH_SECONDS, default 4; BENCH_SEMI_SPACES, default the
// server's own; BENCH_ONLY, a pattern of the target ids: bare.h2c, bare.h1, empty.h2c, empty.h1, empty.grpc)
import path from "node:path";
import { fileURLToPath } from "node:url";
import { grpcFrame, median, parseH2load, parseScavenges } from "./lib/figures.ts";
import { freePort, h2loadFromCpu1, requireTool, startPinned } from "./lib/processes.ts";
import { serverEnv } from "./lib/service.ts";
import { startFlags } from "./lib/start.ts";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const seconds = Number(process.env["BENCH_SECONDS"] ?? 4);
const only = process.env["BENCH_ONLY"] ? new RegExp(process.env["BENCH_ONLY"]) : undefined;
const flags = startFlags().filter((flag) => !flag.startsWith("--max-semi-space-size"));
const semiSpaces = (
  process.env["BENCH_SEMI_SPACES"] ??
  startFlags()
    .find((f) => f.startsWith("--max-semi-space-size"))
    ?.split("=")[1] ??
  ""
)
  .split(",")
  .filter((s) => s !== "");
// The trace of the first second (start-up, the warm-up run) is left out.
const warmUpSeconds = 1;

requireTool("h2load", "nghttp2-client");

interface Target {
  id: string;
  label: string;
  args: string[];
  env: Record<string, string>;
  protocol: "h2c" | "h1";
  path: string;
  headers: Record<string, string>;
  body: Buffer;
}

const health = "/grpc.health.v1.Health/Check";
const json = { "content-type": "application/json" };
const grpcHeaders = { "content-type": "application/grpc", te: "trailers" };
const bare = path.join(root, "bench", "bare.ts");
const main = path.join(root, "src", "main.ts");
const targets: Target[] = [
  {
    id: "bare.h2c",
    label: "bare node:http2, h2c",
    args: [bare, "h2c"],
    env: {},
    protocol: "h2c",
    path: health,
    headers: json,
    body: Buffer.from("{}"),
  },
  {
    id: "bare.h1",
    label: "bare node:http, HTTP/1.1",
    args: [bare, "h1"],
    env: {},
    protocol: "h1",
    path: health,
    headers: json,
    body: Buffer.from("{}"),
  },
  {
    id: "empty.h2c",
    label: "empty RPC, Connect JSON h2c",
    args: [main],
    env: serverEnv(),
    protocol: "h2c",
    path: health,
    headers: json,
    body: Buffer.from("{}"),
  },
  {
    id: "empty.h1",
    label: "empty RPC, Connect JSON HTTP/1.1",
    args: [main],
    env: serverEnv(),
    protocol: "h1",
    path: health,
    headers: json,
    body: Buffer.from("{}"),
  },
  {
    id: "empty.grpc",
    label: "empty RPC, gRPC",
    args: [main],
    env: serverEnv(),
    protocol: "h2c",
    path: health,
    headers: grpcHeaders,
    body: grpcFrame(new Uint8Array(0)),
  },
];

const tmp = mkdtempSync(path.join(os.tmpdir(), "authd-promotion-"));

async function measure(target: Target, semi: string | undefined) {
  const port = await freePort();
  const spawned = Date.now();
  const nodeArgs = [...flags, ...(semi === undefined ? [] : [`--max-semi-space-size=${semi}`]), "--trace-gc", ...target.args];
  const server = await startPinned("0", nodeArgs, { ...target.env, PORT: String(port) }, port);
  try {
    const bodyFile = path.join(tmp, "body");
    writeFileSync(bodyFile, target.body);
    // The trace's times count from the process's start: the measured period begins after the
    // start-up and h2load's warm-up.
    const measuredFrom = Date.now() - spawned + warmUpSeconds * 1000;
    const out = await h2loadFromCpu1(port, { ...target, bodyFile }, seconds, warmUpSeconds);
    const summary = parseH2load(out);
    const scavenges = parseScavenges(server.output(), measuredFrom);
    const calls = (summary.reqPerSec * scavenges.spanMs) / 1000;
    return {
      reqPerSec: summary.reqPerSec,
      perSecond: scavenges.spanMs === 0 ? 0 : (scavenges.count * 1000) / scavenges.spanMs,
      pauseMs: median(scavenges.pausesMs),
      promotedMiB: scavenges.count > 1 ? scavenges.promotedBytes / (scavenges.count - 1) / 1024 / 1024 : 0,
      perCall: calls > 0 ? scavenges.promotedBytes / calls : 0,
    };
  } finally {
    await server.stop();
  }
}

const rows: string[] = [];
for (const semi of semiSpaces.length > 0 ? semiSpaces : [undefined]) {
  for (const target of targets) {
    if (only !== undefined && !only.test(target.id)) continue;
    const m = await measure(target, semi);
    rows.push(
      `| ${target.label} | ${semi ?? "default"} | ${m.reqPerSec.toFixed(0)} | ${m.perSecond.toFixed(1)} | ${m.pauseMs.toFixed(2)} | ${m.promotedMiB.toFixed(2)} | ${m.perCall.toFixed(0)} |`,
    );
    console.error(rows.at(-1));
  }
}
rmSync(tmp, { recursive: true, force: true });
console.log(
  "| figure | semi-space MiB | req/s | scavenges/s | scavenge pause ms (median) | promoted per scavenge MiB | promoted per call, bytes |",
);
console.log("|---|--:|--:|--:|--:|--:|--:|");
for (const row of rows) console.log(row);
