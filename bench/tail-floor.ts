// The floor under item 6's tail figures (p99 against p50 at half the peak rate): servers that do
// nothing but answer a fixed JSON, on the server's core, driven from the other core by chain-load
// on the even schedule the service's half-rate figures get, at the same fixed rates for all. nginx
// (Debian's, C, no garbage collector) says what the machine and the harness give; bare node:http
// and node:http2 (bench/bare.ts, with `npm start`'s Node options) what Node itself gives, as it
// starts and with V8's worker threads at nice 19 as the service runs them. The service cannot have
// a shorter tail than the runtime it runs on.
//
// Run: npm run bench:tail-floor   (BENCH_RATES, calls a second, default "5000,10000"; BENCH_RUNS
// of BENCH_SECONDS each, default 3 of 4 s, after a 2 s warm-up at the same rate)
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { buildChainLoad, fixedCallUsers, runChainLoad } from "./lib/chain-load.ts";
import { median, percentile } from "./lib/figures.ts";
import { accepts, assertV8WorkerNice, freePort, pinSelf, requireTool, startPinned } from "./lib/processes.ts";
import { startFlags } from "./lib/start.ts";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const rates = (process.env["BENCH_RATES"] ?? "5000,10000").split(",").map(Number);
const runs = Number(process.env["BENCH_RUNS"] ?? 3);
const seconds = Number(process.env["BENCH_SECONDS"] ?? 4);

requireTool("taskset", "util-linux");
const nginxBin = ["/usr/sbin/nginx", "/usr/bin/nginx"].find((file) => existsSync(file));
const missing = buildChainLoad();
if (missing !== undefined) {
  console.error(missing);
  process.exit(1);
}
pinSelf("1");

interface Server {
  label: string;
  ports: { h1?: number; h2c?: number };
  stop(): Promise<void>;
}

async function nginx(): Promise<Server> {
  const dir = mkdtempSync(path.join(os.tmpdir(), "tail-floor-"));
  const [h1, h2c] = [await freePort(), await freePort()];
  const conf = `worker_processes 1; daemon off; error_log ${dir}/error.log; pid ${dir}/nginx.pid;
events { worker_connections 1024; }
http {
  access_log off; keepalive_requests 1000000; keepalive_timeout 60s;
  client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy; fastcgi_temp_path ${dir}/fcgi;
  uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;
  server {
    listen 127.0.0.1:${h1}; listen 127.0.0.1:${h2c} http2;
    location / { default_type application/json; return 200 '{"status":"SERVING"}'; }
  }
}
`;
  writeFileSync(path.join(dir, "nginx.conf"), conf);
  const child: ChildProcess = spawn("taskset", ["-c", "0", nginxBin as string, "-c", path.join(dir, "nginx.conf")], { stdio: "inherit" });
  const deadline = Date.now() + 10_000;
  while (!(await accepts(h2c))) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error("nginx did not start");
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    label: "nginx (C, no collector)",
    ports: { h1, h2c },
    stop: async () => {
      child.kill("SIGTERM");
      await new Promise((r) => child.once("exit", r));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** bench/bare.ts; with `workerNice`, its V8 worker threads at that nice value, as the service runs its own. */
async function bareNode(mode: "h1" | "h2c", workerNice?: number): Promise<Server> {
  const port = await freePort();
  // Empty, not absent: the benchmark's own environment must not set it for the reference rows.
  const env = { PORT: String(port), BARE_V8_WORKER_NICE: workerNice === undefined ? "" : String(workerNice) };
  const target = await startPinned("0", [...startFlags(), path.join(root, "bench", "bare.ts"), mode], env, port);
  if (workerNice !== undefined) assertV8WorkerNice(target.pid, workerNice);
  const name = mode === "h1" ? "bare node:http" : "bare node:http2";
  return {
    label: workerNice === undefined ? name : `${name}, V8 workers at nice ${workerNice}`,
    ports: { [mode]: port },
    stop: () => target.stop(),
  };
}

const rows: string[] = [];
async function measure(server: Server): Promise<void> {
  for (const protocol of ["h1", "h2c"] as const) {
    const port = server.ports[protocol];
    if (port === undefined) continue;
    // As many users as h2load has streams at peak in `npm run bench` (its default knobs).
    const load = { ...fixedCallUsers(protocol, "/"), port };
    for (const rate of rates) {
      await runChainLoad({ ...load, rate, warmUpMs: 0, measureMs: 2000 });
      const p50: number[] = [];
      const p99: number[] = [];
      const max: number[] = [];
      let errors = 0;
      for (let i = 0; i < runs; i++) {
        const run = await runChainLoad({ ...load, rate, warmUpMs: 0, measureMs: seconds * 1000 });
        errors += run.errors;
        p50.push(percentile(run.latencies, 0.5));
        p99.push(percentile(run.latencies, 0.99));
        max.push(Math.max(...run.latencies));
      }
      const ratios = p99.map((p, i) => (p / (p50[i] as number)).toFixed(1)).join(", ");
      const row = `| ${server.label} | ${protocol} | ${rate} | ${median(p50).toFixed(3)} | ${median(p99).toFixed(3)} | ${ratios} | ${Math.max(...max).toFixed(1)} | ${errors} |`;
      console.error(row);
      rows.push(row);
    }
  }
}

if (nginxBin === undefined) console.error("nginx is not installed (apt-get install nginx): its rows are left out");
else {
  const server = await nginx();
  await measure(server).finally(() => server.stop());
}
// Each bare server as Node starts it, then with V8's workers below its main thread as the service
// runs (src/v8-workers.ts): how much of Node's tail is its collector's helpers taking the core.
for (const mode of ["h1", "h2c"] as const) {
  for (const workerNice of [undefined, 19]) {
    const server = await bareNode(mode, workerNice);
    await measure(server).finally(() => server.stop());
  }
}
console.log(`\n${runs} runs of ${seconds} s per row after 2 s at the same rate; servers on CPU 0, chain-load on CPU 1`);
console.log("| server | protocol | calls/s | p50 ms (median) | p99 ms (median) | p99/p50 by run | max ms | errors |");
console.log("|---|---|--:|--:|--:|---|--:|--:|");
for (const row of rows) console.log(row);
