import { readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import type { Config } from "./config.ts";
import type { RunningServer } from "./server/app.ts";
import { threadPoolSize } from "./thread-pool.ts";

// First, before any module that could queue work to libuv's thread pool is loaded: its size is
// read once, when it starts (thread-pool.ts).
try {
  const size = threadPoolSize(process.env, availableParallelism());
  if (size !== undefined) process.env.UV_THREADPOOL_SIZE = String(size);
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

let server: RunningServer;
try {
  server = await startServer(config);
} catch (err) {
  // A problem no retry can fix (an index that conflicts with ours, an unreadable TLS file):
  // one clear line, no stack trace, and a non-zero exit.
  console.error(`authd could not start: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
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
