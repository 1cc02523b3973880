// What a forward-auth check costs the server, next to the calls it is most like: the server pinned
// to one core, our h2c generator on the other, closed loop. Each case reports answers per second
// and the server's CPU time per answer; the reference is GetCurrentUser (the same live check plus a
// user read and a Protobuf-JSON answer), the floor the gRPC health check (no authentication).
// A benchmark, not a test: it prints numbers for a person to read.
// Run: npm run bench:forward-auth   (BENCH_SECONDS=3 BENCH_RUNS=3 by default; medians of the runs)
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { median } from "./lib/figures.ts";
import { runLoad, type VirtualUser } from "./lib/load.ts";
import { freePort, pinSelf, requireTool, startPinned } from "./lib/processes.ts";
import { healthUser, JSON_HEADERS, register, serverEnv } from "./lib/service.ts";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const seconds = Number(process.env["BENCH_SECONDS"] ?? 3);
const runs = Number(process.env["BENCH_RUNS"] ?? 3);
const users = 32;

requireTool("taskset", "util-linux");
if (os.availableParallelism() < 2) console.warn("warning: fewer than 2 CPUs: server and load share a core, figures mean little");
pinSelf("1");

const port = await freePort();
const server = await startPinned("0", [path.join(root, "src", "main.ts")], { ...serverEnv(), PORT: String(port) }, port);
try {
  const url = `http://127.0.0.1:${port}`;
  const tokens = await Promise.all(Array.from({ length: users }, (_, i) => register(port, `forward-bench-${i}@example.com`)));
  const bearer = (i: number) => ({ authorization: `Bearer ${tokens[i]?.accessToken}` });
  const cases: Record<string, (i: number) => VirtualUser> = {
    "grpc.health.v1 Check (no authentication)": () => healthUser,
    "GetCurrentUser, Connect JSON (reference)": (i) => ({
      next: () => ({ path: "/auth.v1.AuthService/GetCurrentUser", headers: { ...JSON_HEADERS, ...bearer(i) }, body: "{}" }),
      answered: (status) => status === 200,
    }),
    "forward auth /auth/forward": (i) => ({
      next: () => ({ path: "/auth/forward", headers: bearer(i), body: "" }),
      answered: (status) => status === 200,
    }),
    "forward auth, a permission required and refused (403)": (i) => ({
      next: () => ({ path: "/auth/forward?permission=users.write", headers: bearer(i), body: "" }),
      answered: (status) => status === 403,
    }),
  };
  const results = new Map<string, { rate: number[]; cpuUs: number[] }>(Object.keys(cases).map((k) => [k, { rate: [], cpuUs: [] }]));
  // Rounds interleave the cases, so drift on a shared machine hits each alike.
  for (let r = 0; r < runs; r++) {
    for (const [name, make] of Object.entries(cases)) {
      const cpuBefore = server.cpuSeconds();
      const result = await runLoad({
        url,
        users: Array.from({ length: users }, (_, i) => make(i)),
        connections: 4,
        warmUpMs: 500,
        measureMs: seconds * 1000,
      });
      const cpu = server.cpuSeconds() - cpuBefore;
      if (result.errors > 0) throw new Error(`${name}: ${result.errors} unexpected answers`);
      const entry = results.get(name);
      entry?.rate.push(result.reqPerSec);
      entry?.cpuUs.push((cpu / result.answered) * 1e6);
    }
  }
  const reference = results.get("GetCurrentUser, Connect JSON (reference)");
  const refRate = median(reference?.rate ?? []);
  const refCpu = median(reference?.cpuUs ?? []);
  console.log(
    `server on CPU 0, load on CPU 1, ${users} users over 4 h2c connections, medians of ${runs} runs of ${seconds} s (Node ${process.version})`,
  );
  console.log(
    `${"case".padEnd(56)} ${"answers/s".padStart(10)} ${"x ref".padStart(6)} ${"CPU µs/answer".padStart(14)} ${"x ref".padStart(6)}`,
  );
  for (const [name, { rate, cpuUs }] of results) {
    const r = median(rate);
    const c = median(cpuUs);
    console.log(
      `${name.padEnd(56)} ${r.toFixed(0).padStart(10)} ${(r / refRate).toFixed(2).padStart(6)} ${c.toFixed(0).padStart(14)} ${(c / refCpu).toFixed(2).padStart(6)}`,
    );
  }
} finally {
  await server.stop();
}
