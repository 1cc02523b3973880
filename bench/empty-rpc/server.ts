// The servers bench/empty-rpc/run.ts measures, one per process (pinned to a core by the runner):
//   node-http2  bare node:http2 (h2c), reads the body and sends a fixed JSON answer: the stack's ceiling over HTTP/2
//   node-http   bare node:http, the same answer: the ceiling over HTTP/1.1
//   listener    the same bare handler behind our listener (src/server/listener.ts), limits at
//               their defaults: what the protocol sniffing and the limits cost
//   authd       the service itself (src/server/app.ts), configured from the environment like
//               src/main.ts (embedded store; LOG_LEVEL as given, info by default)
// Reports its port over IPC, answers "stats" with its CPU time so far and peak RSS, stops on "stop".
import http from "node:http";
import http2 from "node:http2";
import type net from "node:net";
import { loadConfig } from "../../src/config.ts";
import { createListener } from "../../src/server/listener.ts";
import { startServer } from "../../src/server/app.ts";

const mode = process.argv[2] ?? "";
const body = JSON.stringify({ status: "SERVING" });
// Reads the request body to its end (as every real handler of a POST does), then answers.
const bare = (req: http.IncomingMessage | http2.Http2ServerRequest, res: http.ServerResponse | http2.Http2ServerResponse) => {
  req.resume();
  req.once("end", () => {
    res.statusCode = 200;
    res.setHeader("content-type", "application/json");
    res.setHeader("content-length", String(Buffer.byteLength(body)));
    res.end(body);
  });
};

async function listen(server: net.Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  return typeof address === "object" && address !== null ? address.port : 0;
}

let port: number;
let stop: () => Promise<unknown>;
if (mode === "node-http2" || mode === "node-http") {
  const server = mode === "node-http2" ? http2.createServer(bare) : http.createServer(bare);
  port = await listen(server);
  stop = () => new Promise((resolve) => server.close(resolve));
} else if (mode === "listener" || mode === "authd") {
  const config = loadConfig({ ...process.env, PORT: "0", HOST: "127.0.0.1" }, () => "");
  if (mode === "listener") {
    const listener = createListener(bare, { limits: config.limits, maxBodyBytes: config.maxBodyBytes });
    port = await listener.listen(0, "127.0.0.1");
    stop = () => listener.close(100);
  } else {
    const server = await startServer(config);
    port = server.port;
    stop = () => server.close();
  }
} else {
  throw new Error(`unknown mode ${mode}: node-http2, node-http, listener or authd`);
}

process.on("message", (message) => {
  if (message === "stats") {
    const cpu = process.cpuUsage();
    process.send?.({ stats: { cpuMicros: cpu.user + cpu.system, maxRssMiB: process.resourceUsage().maxRSS / 1024 } });
  }
  if (message === "stop") void stop().then(() => process.exit(0));
});
process.send?.({ port });
