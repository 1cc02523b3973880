// The benchmark's references: a server answering every request with the same small JSON, after
// reading the request body (the benchmark sends it the same POST as the empty RPC). `h2c`: bare
// node:http2; `h1`: bare node:http; what Node itself costs per request on this machine, the
// ceiling any server written on it can reach. `listener`: that same handler behind the service's
// own listener (src/server/listener.ts: protocol sniffing and connection limits, at their
// defaults), HTTP/1.1 and h2c on one port; what the listener adds to Node.
// With BARE_V8_WORKER_NICE set (not empty), V8's worker threads get that nice value as the
// service's do (src/v8-workers.ts, V8_WORKER_NICE, the one module of ours a bare server then
// loads); unset or empty, Node is left as it starts (the references of `npm run bench`).
// Started by bench/run.ts and bench/tail-floor.ts: `PORT=n bare.ts h2c|h1|listener`.
import http from "node:http";
import http2 from "node:http2";
import type { NodeHandler } from "../src/server/listener.ts";

const mode = process.argv[2];
const port = Number(process.env["PORT"]);
const body = Buffer.from(JSON.stringify({ status: "SERVING" }));
const headers = { "content-type": "application/json", "content-length": String(body.length) };

// The same steps for every server: drain the body, then answer.
const handler: NodeHandler = (req, res) => {
  req.resume();
  req.on("end", () => {
    res.statusCode = 200;
    for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
    res.end(body);
  });
};

const workerNice = process.env["BARE_V8_WORKER_NICE"];
if (workerNice !== undefined && workerNice !== "") {
  const { lowerV8Workers, v8WorkerNice } = await import("../src/v8-workers.ts");
  lowerV8Workers(v8WorkerNice({ V8_WORKER_NICE: workerNice }));
}

if (mode === "listener") {
  // Loaded for this mode only: the bare servers load nothing else of ours.
  const { loadConfig } = await import("../src/config.ts");
  const { createListener } = await import("../src/server/listener.ts");
  const { limits, maxBodyBytes } = loadConfig({ LOG_LEVEL: "silent" }, () => "");
  await createListener(handler, { limits, maxBodyBytes }).listen(port, "127.0.0.1");
} else {
  const server = mode === "h1" ? http.createServer({ keepAliveTimeout: 60_000 }, handler) : http2.createServer(handler);
  server.listen(port, "127.0.0.1");
}
process.on("SIGTERM", () => process.exit(0));
