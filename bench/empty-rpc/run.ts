// The empty RPC against the machine's ceiling (issue 11, item 3): grpc.health.v1.Health/Check,
// the cheapest call the service has, over Connect JSON (h2c and HTTP/1.1) and gRPC (h2c), next to
// bare node:http2 and node:http servers answering a fixed JSON body, and the same bare handler
// behind our listener. Each server runs alone on core 0 (taskset), h2load on core 1; ROUNDS rounds
// (3) of REQUESTS requests (30,000, after 3,000 of warm-up) each, interleaved. Printed: the median
// requests per second, and the median CPU time the server spent per request, each with its ratio
// to the bare server of the same protocol. On a shared machine the CPU time per request is the
// steadier figure: another process taking the core lowers the rate, not the work per request.
// Needs h2load (Debian: nghttp2-client) and taskset. A benchmark, not a test.
// Run: npm run bench:empty-rpc   (LOG_LEVEL=warn to measure with the access log off)
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { controlServer } from "../abuse/common.ts";

const rounds = Number(process.env["ROUNDS"] ?? 3);
const requests = Number(process.env["REQUESTS"] ?? 30_000);
const serverCore = process.env["SERVER_CORE"] ?? "0";
const loadCore = process.env["LOAD_CORE"] ?? "1";
/** MODES=node-http2,authd runs only those servers' figures. */
const onlyModes = process.env["MODES"]?.split(",");

type Mode = "node-http2" | "node-http" | "listener" | "authd";
interface Scenario {
  name: string;
  mode: Mode;
  h1: boolean;
  path: string;
  contentType: string;
  body: Buffer;
  extraHeaders?: string[];
  /** The scenario whose figure this one is divided by. */
  reference?: string;
}

const json = Buffer.from("{}");
// One gRPC message frame: not compressed, length 0 (an empty HealthCheckRequest).
const grpcFrame = Buffer.from([0, 0, 0, 0, 0]);
const health = "/grpc.health.v1.Health/Check";
const scenarios: Scenario[] = [
  { name: "bare node:http2, h2c", mode: "node-http2", h1: false, path: "/", contentType: "application/json", body: json },
  { name: "bare node:http, HTTP/1.1", mode: "node-http", h1: true, path: "/", contentType: "application/json", body: json },
  {
    name: "bare handler behind our listener, h2c",
    mode: "listener",
    h1: false,
    path: "/",
    contentType: "application/json",
    body: json,
    reference: "bare node:http2, h2c",
  },
  {
    name: "bare handler behind our listener, HTTP/1.1",
    mode: "listener",
    h1: true,
    path: "/",
    contentType: "application/json",
    body: json,
    reference: "bare node:http, HTTP/1.1",
  },
  {
    name: "empty RPC, Connect JSON h2c",
    mode: "authd",
    h1: false,
    path: health,
    contentType: "application/json",
    body: json,
    reference: "bare node:http2, h2c",
  },
  {
    name: "empty RPC, Connect JSON HTTP/1.1",
    mode: "authd",
    h1: true,
    path: health,
    contentType: "application/json",
    body: json,
    reference: "bare node:http, HTTP/1.1",
  },
  {
    name: "empty RPC, gRPC h2c",
    mode: "authd",
    h1: false,
    path: health,
    contentType: "application/grpc",
    body: grpcFrame,
    extraHeaders: ["te: trailers"],
    reference: "bare node:http2, h2c",
  },
];

interface ServerStats {
  cpuMicros: number;
  maxRssMiB: number;
}

function startServer(mode: Mode) {
  const script = path.join(path.dirname(fileURLToPath(import.meta.url)), "server.ts");
  // The server's log lines (authd logs each request at the default level) go nowhere, as cheaply
  // as to a file.
  const child = spawn("taskset", ["-c", serverCore, process.execPath, ...process.execArgv, script, mode], {
    stdio: ["ignore", "ignore", "inherit", "ipc"],
  });
  return controlServer<ServerStats>(child);
}

/** Runs h2load on the load core; returns requests per second, or throws if any request failed. */
function h2load(s: Scenario, port: number, dir: string, count: number): number {
  const bodyFile = path.join(dir, `${s.mode}-${s.contentType.replace("/", "-")}.bin`);
  writeFileSync(bodyFile, s.body);
  const args = ["-c", loadCore, "h2load", "-n", String(count), "-d", bodyFile];
  args.push("-H", `content-type: ${s.contentType}`);
  for (const h of s.extraHeaders ?? []) args.push("-H", h);
  // HTTP/2: 8 connections of 16 concurrent streams. HTTP/1.1: 32 connections, no pipelining.
  args.push(...(s.h1 ? ["--h1", "-c", "32", "-m", "1"] : ["-c", "8", "-m", "16"]));
  args.push(`http://127.0.0.1:${port}${s.path}`);
  const run = spawnSync("taskset", args, { encoding: "utf8" });
  const out = run.stdout ?? "";
  const rate = /finished in [\d.]+m?s, ([\d.]+) req\/s/.exec(out)?.[1];
  const done = /requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored/.exec(out);
  const codes = /status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(out);
  if (
    rate === undefined ||
    done === null ||
    codes === null ||
    done[3] !== "0" ||
    done[4] !== "0" ||
    codes.slice(2).some((n) => n !== "0")
  ) {
    throw new Error(`h2load failed for ${s.name}:\n${out}\n${run.stderr ?? ""}`);
  }
  return Number(rate);
}

const median = (xs: number[]) => {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
};

if (spawnSync("h2load", ["--version"]).status !== 0) {
  console.error("h2load is missing: apt-get install nghttp2-client");
  process.exit(1);
}

const dir = mkdtempSync(path.join(os.tmpdir(), "empty-rpc-"));
const rates = new Map<string, number[]>();
/** Server CPU microseconds per request. */
const costs = new Map<string, number[]>();
const rss = new Map<Mode, number>();
try {
  const modes = [...new Set(scenarios.map((s) => s.mode))].filter((m) => onlyModes === undefined || onlyModes.includes(m));
  for (let round = 0; round < rounds; round++) {
    for (const mode of modes) {
      const server = await startServer(mode);
      try {
        for (const s of scenarios.filter((x) => x.mode === mode)) {
          h2load(s, server.port, dir, Math.ceil(requests / 10));
          const before = await server.stats();
          const rate = h2load(s, server.port, dir, requests);
          const cost = ((await server.stats()).cpuMicros - before.cpuMicros) / requests;
          rates.set(s.name, [...(rates.get(s.name) ?? []), rate]);
          costs.set(s.name, [...(costs.get(s.name) ?? []), cost]);
          process.stderr.write(`round ${round + 1}: ${s.name}: ${rate.toFixed(0)} req/s, ${cost.toFixed(1)} µs CPU per request\n`);
        }
        rss.set(mode, Math.max(rss.get(mode) ?? 0, (await server.stats()).maxRssMiB));
      } finally {
        await server.stop();
      }
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

console.log(
  `\nmedians of ${rounds} runs of ${requests} requests; server on core ${serverCore}, h2load on core ${loadCore}; LOG_LEVEL=${process.env["LOG_LEVEL"] ?? "info"}`,
);
console.log("| figure | req/s | ratio | CPU µs/request | ratio (CPU) | to |");
console.log("|---|---:|---:|---:|---:|---|");
for (const s of scenarios.filter((x) => rates.has(x.name))) {
  const rate = median(rates.get(s.name) ?? []);
  const cost = median(costs.get(s.name) ?? []);
  const refRate = s.reference === undefined ? undefined : median(rates.get(s.reference) ?? []);
  const refCost = s.reference === undefined ? undefined : median(costs.get(s.reference) ?? []);
  const ratio = refRate === undefined ? "" : (rate / refRate).toFixed(2);
  const ratioCpu = refCost === undefined ? "" : (refCost / cost).toFixed(2);
  console.log(`| ${s.name} | ${rate.toFixed(0)} | ${ratio} | ${cost.toFixed(1)} | ${ratioCpu} | ${s.reference ?? ""} |`);
}
console.log(`\npeak RSS (MiB): ${[...rss].map(([mode, mib]) => `${mode} ${mib.toFixed(0)}`).join(", ")}`);
