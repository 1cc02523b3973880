// The benchmark's reference: a bare node:http2 (h2c) or node:http (HTTP/1.1) server answering
// every request with the same small JSON, after reading the request body (the benchmark sends it
// the same POST as the empty RPC). What Node itself costs per request on this machine: the
// ceiling any server written on it can reach. Started by bench/run.ts: `PORT=n bare.ts h2c|h1`.
import http from "node:http";
import http2 from "node:http2";

const mode = process.argv[2];
const body = Buffer.from(JSON.stringify({ status: "SERVING" }));
const headers = { "content-type": "application/json", "content-length": String(body.length) };

// The same steps for both servers: drain the body, then answer.
function answer(req: http.IncomingMessage | http2.Http2ServerRequest, respond: () => void) {
  req.resume();
  req.on("end", respond);
}

const server =
  mode === "h1"
    ? http.createServer({ keepAliveTimeout: 60_000 }, (req, res) => answer(req, () => res.writeHead(200, headers).end(body)))
    : http2.createServer((req, res) => answer(req, () => res.writeHead(200, headers).end(body)));
server.listen(Number(process.env["PORT"]), "127.0.0.1");
process.on("SIGTERM", () => process.exit(0));
