import { readFileSync } from "node:fs";
import { ConfigError, loadConfig } from "./config.ts";
import { startServer } from "./server/app.ts";

let config;
try {
  config = loadConfig(process.env, (path) => readFileSync(path, "utf8"));
} catch (err) {
  if (err instanceof ConfigError) {
    console.error(err.message);
    process.exit(78); // EX_CONFIG
  }
  throw err;
}

const server = await startServer(config);
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
