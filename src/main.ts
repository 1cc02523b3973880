import { readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import type { Config } from "./config.ts";
import { mallocInUse } from "./malloc.ts";
import type { RunningServer } from "./server/app.ts";
import { threadPoolSize } from "./thread-pool.ts";
import { lowerV8Workers, v8WorkerNice } from "./v8-workers.ts";

// First, before any module that could queue work to libuv's thread pool is loaded: its size is
// read once, when it starts (thread-pool.ts).
let workerNice: number;
try {
  const size = threadPoolSize(process.env, availableParallelism());
  if (size !== undefined) process.env.UV_THREADPOOL_SIZE = String(size);
  workerNice = v8WorkerNice(process.env);
} catch (err) {
  console.error((err as Error).message);
  process.exit(78); // EX_CONFIG
}
const { ConfigError, loadConfig } = await import("./config.ts");
const { startServer } = await import("./server/app.ts");

let config: Config;
try {
  config = loadConfig(process.env, (path) => readFileSync(path, "utf8"));
} catch (err) {
  if (err instanceof ConfigError) {
    console.error(err.message);
    process.exit(78); // EX_CONFIG
  }
  throw err;
}

// V8's helpers below the main thread, when the operator asks (V8_WORKER_NICE; v8-workers.ts says
// why and what it costs), before the server listens; the outcome is logged once there is a log.
const lowered = lowerV8Workers(workerNice);

let server: RunningServer;
try {
  server = await startServer(config);
} catch (err) {
  // A problem no retry can fix (an index that conflicts with ours, an unreadable TLS file):
  // one clear line, no stack trace, and a non-zero exit.
  console.error(`authd could not start: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}
server.deps.log.info({ allocator: mallocInUse() }, "memory allocator");
switch (lowered.outcome) {
  case "lowered":
    if (lowered.failed.length > 0) {
      server.deps.log.warn(
        { nice: workerNice, threads: lowered.threads, failed: lowered.failed },
        "V8_WORKER_NICE: some V8 worker threads could not be lowered",
      );
    } else {
      server.deps.log.info({ nice: workerNice, threads: lowered.threads }, "V8's worker threads lowered in priority");
    }
    break;
  case "not-below":
    server.deps.log.warn(
      { nice: workerNice, mainNice: lowered.mainNice },
      "V8_WORKER_NICE not applied: the main thread already runs at that nice value or above it",
    );
    break;
  case "no-threads":
    server.deps.log.warn({ nice: workerNice }, "V8_WORKER_NICE not applied: no V8 worker threads found (Linux only)");
    break;
}
let stopping = false;
for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    server.deps.log.info({ signal }, "shutting down");
    server.close().then(
      () => process.exit(0),
      (err: unknown) => {
        server.deps.log.error({ err }, "shutdown failed");
        process.exit(1);
      },
    );
  });
}
