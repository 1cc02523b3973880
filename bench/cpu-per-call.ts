// CPU time the server spends per call: the empty RPC (Health/Check) against GetCurrentUser (token
// check, live-session check, one user read), over Connect JSON HTTP/1.1 and h2c and gRPC. A fixed
// number of calls is sent with h2load (Debian's nghttp2-client) and the server's own CPU time
// (utime + stime from /proc) is divided by it, so the figure holds on a machine shared with other
// work, where requests per second do not: on a saturated core, calls per second are the inverse of
// CPU per call, and the ratio empty / GetCurrentUser is the one `npm run bench` reports.
// A benchmark, not a test. Linux only. Run: npm run bench:cpu-per-call   (CALLS=20000 ROUNDS=3)
import { spawnSync } from "node:child_process";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import http2 from "node:http2";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { grpcFrame, median } from "./lib/figures.ts";
import { freePort, requireTool, run, startPinned } from "./lib/processes.ts";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const calls = Number(process.env.CALLS ?? 20_000);
const rounds = Number(process.env.ROUNDS ?? 3);
requireTool("h2load", "nghttp2-client");
const ticksPerSecond = Number(spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).stdout.trim() || 100);

const port = await freePort();
const cpus = Array.from({ length: os.availableParallelism() }, (_, i) => i).join(",");
const server = await startPinned(
  cpus,
  [path.join(root, "src", "main.ts")],
  { PORT: String(port), HOST: "127.0.0.1", LOG_LEVEL: "warn", EMAIL_VERIFICATION_REQUIRED: "false", ...process.env },
  port,
);
const cpuSeconds = () => {
  // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
  const stat = readFileSync(`/proc/${server.pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond;
};

try {
  const base = `http://127.0.0.1:${port}`;
  const registered = await fetch(`${base}/auth.v1.AuthService/Register`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ email: "cpu@bench.example", password: "correct horse battery staple" }),
  });
  const { tokens } = (await registered.json()) as { tokens: { accessToken: string } };
  const bearer = `Bearer ${tokens.accessToken}`;
  const json = { "content-type": "application/json", "connect-protocol-version": "1" };
  const grpc = { "content-type": "application/grpc", te: "trailers" };
  const HEALTH = "/grpc.health.v1.Health/Check";
  const GET_USER = "/auth.v1.AuthService/GetCurrentUser";
  const cases = [
    { name: "empty RPC, Connect JSON HTTP/1.1", h1: true, path: HEALTH, headers: json, body: "{}" },
    { name: "GetCurrentUser, Connect JSON HTTP/1.1", h1: true, path: GET_USER, headers: { ...json, authorization: bearer }, body: "{}" },
    { name: "empty RPC, Connect JSON h2c", h1: false, path: HEALTH, headers: json, body: "{}" },
    { name: "GetCurrentUser, Connect JSON h2c", h1: false, path: GET_USER, headers: { ...json, authorization: bearer }, body: "{}" },
    { name: "empty RPC, gRPC", h1: false, path: HEALTH, headers: grpc, body: grpcFrame(new Uint8Array()) },
    {
      name: "GetCurrentUser, gRPC",
      h1: false,
      path: GET_USER,
      headers: { ...grpc, authorization: bearer },
      body: grpcFrame(new Uint8Array()),
    },
  ];
  // Each case must succeed once (a gRPC failure is still HTTP 200, so its grpc-status is read).
  for (const c of cases) {
    const session = http2.connect(base);
    const status = await new Promise<string>((resolve, reject) => {
      const req = session.request({ ":method": "POST", ":path": c.path, ...c.headers });
      let answer = "";
      req.on("response", (h) => {
        answer = String(h["grpc-status"] ?? h[":status"]);
      });
      req.on("trailers", (t) => {
        answer = String(t["grpc-status"] ?? answer);
      });
      req.on("end", () => resolve(answer));
      req.on("error", reject);
      req.resume();
      req.end(c.body);
    });
    session.close();
    if (status !== "200" && status !== "0") throw new Error(`${c.name}: the probe call failed (${status})`);
  }

  const perCall = new Map<string, number[]>(cases.map((c) => [c.name, []]));
  for (let r = -1; r < rounds; r++) {
    for (const c of cases) {
      const bodyFile = path.join(os.tmpdir(), `cpu-per-call-${process.pid}`);
      writeFileSync(bodyFile, c.body);
      const n = r < 0 ? Math.ceil(calls / 10) : calls; // round -1 warms the JIT up
      const before = cpuSeconds();
      const out = await run("h2load", [
        ...["-n", String(n), "-c", "8", "-m", c.h1 ? "1" : "16", "-d", bodyFile],
        ...Object.entries(c.headers).flatMap(([k, v]) => ["-H", `${k}: ${v}`]),
        ...(c.h1 ? ["--h1"] : []),
        `${base}${c.path}`,
      ]);
      const spent = cpuSeconds() - before;
      rmSync(bodyFile);
      const ok = Number(/status codes: (\d+) 2xx/.exec(out)?.[1] ?? 0);
      if (ok !== n) throw new Error(`${c.name}: ${ok} of ${n} calls answered 2xx`);
      if (r >= 0) perCall.get(c.name)?.push((spent / n) * 1e6);
    }
  }
  console.log(
    `server CPU per call, median of ${rounds} rounds of ${calls} calls (Node ${process.version}, ${os.availableParallelism()} CPUs)`,
  );
  console.log(`${"case".padEnd(40)} ${"µs CPU/call".padStart(12)} ${"ratio to empty".padStart(15)}`);
  for (let i = 0; i < cases.length; i += 2) {
    const [empty, user] = [cases[i], cases[i + 1]].map((c) => median(perCall.get(c?.name ?? "") ?? []));
    console.log(`${(cases[i]?.name ?? "").padEnd(40)} ${(empty ?? 0).toFixed(0).padStart(12)}`);
    console.log(
      `${(cases[i + 1]?.name ?? "").padEnd(40)} ${(user ?? 0).toFixed(0).padStart(12)} ${((empty ?? 0) / (user ?? 1)).toFixed(2).padStart(15)}`,
    );
  }
} finally {
  await server.stop();
}
