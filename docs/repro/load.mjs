// The load the repros drive their bare server with, from the parent process: over HTTP/2, 8
// sessions of 16 concurrent streams; over HTTP/1.1, 32 keep-alive sockets; each a POST of "{}"
// with `headers`, its answer read to the end, and the next sent at once.
import { spawn } from "node:child_process";
import { once } from "node:events";
import http from "node:http";
import http2 from "node:http2";

/**
 * The bare server's request handler, as source for a child process's `-e`: it drains the body,
 * then answers a fixed 20-byte JSON (defines `handler`).
 */
export const bareHandler = `
const body = Buffer.from('{"status":"SERVING"}');
const handler = (req, res) => {
  req.resume();
  req.on("end", () => {
    res.setHeader("content-type", "application/json");
    res.setHeader("content-length", String(body.length));
    res.end(body);
  });
};
`;

export function startLoad(overHttp2, port, headers) {
  const payload = Buffer.from("{}");
  let stop = false;
  let answered = 0;
  const loop = async (send) => {
    while (!stop) {
      await send();
      answered++;
    }
  };
  const senders = [];
  const closers = [];
  if (overHttp2) {
    for (let s = 0; s < 8; s++) {
      const session = http2.connect(`http://127.0.0.1:${port}`);
      closers.push(() => session.close());
      const send = () =>
        new Promise((resolve, reject) => {
          const req = session.request({ ":method": "POST", ":path": "/x", ...headers });
          req.on("error", reject);
          req.resume();
          req.on("end", resolve);
          req.end(payload);
        });
      for (let i = 0; i < 16; i++) senders.push(loop(send));
    }
  } else {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });
    closers.push(() => agent.destroy());
    const send = () =>
      new Promise((resolve, reject) => {
        const req = http.request({ host: "127.0.0.1", port, method: "POST", path: "/x", agent, headers }, (res) => {
          res.resume();
          res.on("end", resolve);
        });
        req.on("error", reject);
        req.end(payload);
      });
    for (let i = 0; i < 32; i++) senders.push(loop(send));
  }
  return {
    /** Stops sending, waits for the calls in flight, closes the connections: how many were answered. */
    async stop() {
      stop = true;
      await Promise.allSettled(senders);
      for (const close of closers) close();
      return answered;
    },
  };
}

/**
 * Starts `node nodeFlags -e serverCode mode` with an IPC channel, its stdout kept; resolves once it
 * prints "PORT n".
 */
export async function startServer(nodeFlags, serverCode, mode) {
  const child = spawn(process.execPath, [...nodeFlags, "-e", serverCode, mode], { stdio: ["ignore", "pipe", "inherit", "ipc"] });
  let out = "";
  child.stdout.on("data", (c) => {
    out += c;
  });
  while (!/PORT (\d+)/.test(out)) await once(child.stdout, "data");
  return { child, port: Number(/PORT (\d+)/.exec(out)[1]), output: () => out };
}
