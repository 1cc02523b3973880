// The server under benchmark or soak: src/main.ts as is (or PROBED_SERVER_ENTRY, another
// checkout's), plus two answers over IPC that no outside reading of /proc can give: "gc" (the
// collections since the last ask: count, total and longest pause, the pauses) and "memory" (the heap after a
// full collection; needs --expose-gc). Started by bench/run.ts and bench/soak.ts; loads nothing
// before main.ts that queues work to libuv's thread pool, which main.ts sizes first.
import { PerformanceObserver, performance } from "node:perf_hooks";

// Pauses of a millisecond or more are listed too ([start, ms since the epoch; duration, ms]), up to
// a bound, so that the benchmark can line them up with its slowest calls.
const fresh = () => ({ count: 0, totalMs: 0, maxMs: 0, pauses: [] as [number, number][] });
let collections = fresh();
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    collections.count++;
    collections.totalMs += entry.duration;
    collections.maxMs = Math.max(collections.maxMs, entry.duration);
    if (entry.duration >= 1 && collections.pauses.length < 100_000) {
      collections.pauses.push([performance.timeOrigin + entry.startTime, entry.duration]);
    }
  }
}).observe({ entryTypes: ["gc"] });

process.on("message", (message) => {
  if (message === "gc") {
    process.send?.({ gc: collections });
    collections = fresh();
  }
  if (message === "memory") {
    globalThis.gc?.();
    process.send?.({ memory: process.memoryUsage() });
  }
});
// The benchmark that started this server has gone (killed, or died) when its IPC channel closes: go
// too, rather than stay pinned to the server's core under nobody's control and spoil the next run.
process.once("disconnect", () => process.kill(process.pid, "SIGTERM"));
await import(process.env["PROBED_SERVER_ENTRY"] ?? "../src/main.ts");
