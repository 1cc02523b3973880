// What tracing costs a call: GetCurrentUser (Connect JSON over h2c) with tracing off, on with every
// call sampled and sent by OTLP/HTTP to a collector stand-in, and on with 10 % of root calls
// sampled. The server (src/main.ts) is pinned to CPU 0, h2load and the stand-in to CPU 1; the
// modes alternate within each round, and each figure is the median of BENCH_RUNS rounds. Beside
// req/s, the server's CPU time per call (user + system, every thread, so the background export
// too), which other load on the machine disturbs far less than the rate.
// Run: npm run bench:tracing     A benchmark, not a test: it asserts nothing about speed.
import { writeFileSync, mkdtempSync, rmSync } from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { median, parseH2load } from "./lib/figures.ts";
import { freePort, pinSelf, requireTool, run, startPinned } from "./lib/processes.ts";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const seconds = Number(process.env["BENCH_SECONDS"] ?? 4);
const rounds = Number(process.env["BENCH_RUNS"] ?? 3);
requireTool("h2load", "nghttp2-client");
requireTool("taskset", "util-linux");
pinSelf("1");

// The collector stand-in: takes every OTLP export and answers with an empty (valid) response.
let exports = 0;
let exportedBytes = 0;
const collector = http.createServer((req, res) => {
  req.on("data", (chunk: Buffer) => {
    exportedBytes += chunk.length;
  });
  req.on("end", () => {
    exports++;
    res.writeHead(200, { "content-type": "application/x-protobuf" }).end();
  });
});
const collectorPort = await freePort();
await new Promise<void>((resolve) => collector.listen(collectorPort, "127.0.0.1", resolve));

const endpoint = { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${collectorPort}` };
const modes: Array<{ label: string; env: Record<string, string> }> = [
  { label: "tracing off (default)", env: {} },
  { label: "tracing on, every call sampled (OTLP)", env: { ...endpoint, OTEL_TRACES_EXPORTER: "otlp" } },
  {
    label: "tracing on, 10 % sampled (OTLP)",
    env: { ...endpoint, OTEL_TRACES_EXPORTER: "otlp", OTEL_TRACES_SAMPLER: "parentbased_traceidratio", OTEL_TRACES_SAMPLER_ARG: "0.1" },
  },
];

const tmp = mkdtempSync(path.join(os.tmpdir(), "authd-bench-tracing-"));
const bodyFile = path.join(tmp, "body");
writeFileSync(bodyFile, "{}");

/** One round of one mode: a fresh server, a user, a 1 s warm-up, then the measured run. */
async function once(env: Record<string, string>): Promise<{ rate: number; cpuMicros: number }> {
  const port = await freePort();
  const base = { HOST: "127.0.0.1", LOG_LEVEL: "warn", EMAIL_VERIFICATION_REQUIRED: "false" };
  const server = await startPinned("0", [path.join(root, "src/main.ts")], { ...base, ...env, PORT: String(port) }, port);
  try {
    const registered = await fetch(`http://127.0.0.1:${port}/auth.v1.AuthService/Register`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ email: "bench-tracing@example.com", password: "benchmark password 7c1e, long enough" }),
    });
    const { tokens } = (await registered.json()) as { tokens: { accessToken: string } };
    const load = (duration: number) =>
      run("taskset", [
        ...["-c", "1", "h2load", "-c", "8", "-m", "16", "-D", String(duration), "-d", bodyFile],
        ...["-H", "content-type: application/json", "-H", "connect-protocol-version: 1"],
        ...["-H", `authorization: Bearer ${tokens.accessToken}`],
        `http://127.0.0.1:${port}/auth.v1.AuthService/GetCurrentUser`,
      ]).then(parseH2load);
    await load(1);
    const cpuBefore = server.cpuSeconds();
    const summary = await load(seconds);
    const cpuMicros = ((server.cpuSeconds() - cpuBefore) / summary.done) * 1e6;
    const refused = summary.status["4xx"] + summary.status["5xx"] + summary.errored;
    if (refused > 0) throw new Error(`${refused} of ${summary.done} calls failed`);
    return { rate: summary.reqPerSec, cpuMicros };
  } finally {
    await server.stop();
  }
}

console.error(
  `bench:tracing: ${rounds} rounds of ${seconds} s per mode; load average ${os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(" ")}`,
);
const results = modes.map(() => [] as Array<{ rate: number; cpuMicros: number }>);
for (let round = 0; round < rounds; round++) {
  for (const [i, mode] of modes.entries()) {
    const figure = await once(mode.env);
    results[i]?.push(figure);
    console.error(`  round ${round + 1}, ${mode.label}: ${figure.rate.toFixed(0)} req/s, ${figure.cpuMicros.toFixed(0)} µs CPU per call`);
  }
}
collector.close();
rmSync(tmp, { recursive: true });

const rates = (i: number) => (results[i] ?? []).map((r) => r.rate);
const cpu = (i: number) => median((results[i] ?? []).map((r) => r.cpuMicros));
console.log("\nGetCurrentUser, Connect JSON over h2c (server on CPU 0, h2load on CPU 1)\n");
console.log("| mode | req/s (median) | runs | ratio to off | CPU µs per call (median) | ratio to off |");
console.log("| --- | --- | --- | --- | --- | --- |");
for (const [i, mode] of modes.entries()) {
  const ratio = (median(rates(i)) / median(rates(0))).toFixed(2);
  const runs = rates(i)
    .map((r) => r.toFixed(0))
    .join(", ");
  console.log(
    `| ${mode.label} | ${median(rates(i)).toFixed(0)} | ${runs} | ${ratio} | ${cpu(i).toFixed(0)} | ${(cpu(i) / cpu(0)).toFixed(2)} |`,
  );
}
console.log(`\nOTLP exports received by the stand-in: ${exports} requests, ${(exportedBytes / 1048576).toFixed(1)} MiB`);
