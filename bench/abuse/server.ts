// The server the abuse scripts attack, in its own process so that the attacking clients do not
// share its event loop: started by common.ts with the limits to try in its environment, it
// reports its port, answers "stats" with its connection counters, and stops on "stop".
import { monitorEventLoopDelay } from "node:perf_hooks";
import { loadConfig } from "../../src/config.ts";
import { createLogger } from "../../src/log.ts";
import { createOutbox } from "../../src/mail/mailer.ts";
import { startServer } from "../../src/server/app.ts";
import { createCheapHasher } from "../../test/support/cheap-hasher.ts";

const config = loadConfig({ ...process.env, PORT: "0", HOST: "127.0.0.1", LOG_LEVEL: "silent", SHUTDOWN_GRACE_MS: "1000" }, () => "");
const server = await startServer(config, { mailer: createOutbox(), log: createLogger("silent"), hasher: await createCheapHasher() });
// How long the server's event loop was blocked: what every client waits on top of its own call.
const loopDelay = monitorEventLoopDelay({ resolution: 10 });
loopDelay.enable();
process.on("message", (message) => {
  if (message === "stats") {
    process.send?.({
      stats: { ...server.connectionStats(), loopDelayP99Ms: loopDelay.percentile(99) / 1e6, loopDelayMaxMs: loopDelay.max / 1e6 },
    });
    loopDelay.reset();
  }
  if (message === "stop") void server.close().then(() => process.exit(0));
});
process.send?.({ port: server.port });
