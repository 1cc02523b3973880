// What a forward-auth check costs the server, next to the calls it is most like: the server pinned
// to one core, our h2c generator on the other, closed loop. Each case reports answers per second
// and the server's CPU time per answer; the reference is GetCurrentUser (the same live check plus a
// user read and a Protobuf-JSON answer), the floor the gRPC health check (no authentication).
// A benchmark, not a test: it prints numbers for a person to read.
// Run: npm run bench:forward-auth   (BENCH_SECONDS=3 BENCH_RUNS=3 by default; medians of the runs)
import { compareCases, startBench } from "./lib/compare.ts";
import type { VirtualUser } from "./lib/load.ts";
import { healthUser, JSON_HEADERS, register } from "./lib/service.ts";

const bench = await startBench();
const { server, port, users } = bench;
try {
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
  await compareCases(bench, { cases, reference: "GetCurrentUser, Connect JSON (reference)" });
} finally {
  await server.stop();
}
