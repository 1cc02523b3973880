// The server under benchmark or soak: src/main.ts as is (or PROBED_SERVER_ENTRY, another
// checkout's), plus two answers over IPC that no outside reading of /proc can give: "gc" (the
// collections since the last ask: count, total and longest pause) and "memory" (the heap after a
// full collection; needs --expose-gc). Started by bench/run.ts and bench/soak.ts; loads nothing
// before main.ts that queues work to libuv's thread pool, which main.ts sizes first.
import { PerformanceObserver } from "node:perf_hooks";

let collections = { count: 0, totalMs: 0, maxMs: 0 };
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    collections.count++;
    collections.totalMs += entry.duration;
    collections.maxMs = Math.max(collections.maxMs, entry.duration);
  }
}).observe({ entryTypes: ["gc"] });

process.on("message", (message) => {
  if (message === "gc") {
    process.send?.({ gc: collections });
    collections = { count: 0, totalMs: 0, maxMs: 0 };
  }
  if (message === "memory") {
    globalThis.gc?.();
    process.send?.({ memory: process.memoryUsage() });
  }
});
await import(process.env["PROBED_SERVER_ENTRY"] ?? "../src/main.ts");
