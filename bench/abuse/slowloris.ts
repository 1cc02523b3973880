// Slowloris, bounded (issue 10, item 1): many connections that dribble their request headers (or
// a body) a byte at a time, against a server with the connection limits at their defaults and
// with them all off. Prints how many connections the server took, refused, and still holds after
// the header timeout, and how an honest client from another address fared meanwhile.
// A load script, not a test. Run: npm run bench:abuse  (CONNECTIONS=300 HOLD_MS=12000 by default)
import net from "node:net";
import { honestClient, limitsOff, percentile, sleep, startBenchServer } from "./common.ts";

const connections = Number(process.env["CONNECTIONS"] ?? 300);
// A little longer than the default header timeout (10 s).
const holdMs = Number(process.env["HOLD_MS"] ?? 12_000);

interface Slow {
  socket: net.Socket;
  open: boolean;
}

/** One slow client: headers (or, with `body`, a declared body) one byte every second. */
function slowClient(port: number, localAddress: string, body: boolean): Slow {
  const slow: Slow = { socket: net.connect({ port, host: "127.0.0.1", localAddress }), open: true };
  const { socket } = slow;
  socket.on("error", () => undefined);
  socket.on("close", () => (slow.open = false));
  socket.on("data", () => undefined);
  socket.on("connect", () => {
    socket.write("POST /auth.v1.AuthService/Login HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n");
    if (body) socket.write("Content-Length: 60000\r\n\r\n{");
    const timer = setInterval(() => (socket.destroyed ? clearInterval(timer) : socket.write(body ? " " : "X")), 1000);
    socket.once("close", () => clearInterval(timer));
  });
  return slow;
}

async function run(label: string, env: Record<string, string>, addresses: number, bodies: boolean): Promise<void> {
  const server = await startBenchServer(env);
  const honest = honestClient(server.port, "127.0.0.250", 250);
  const slow: Slow[] = [];
  for (let i = 0; i < connections; i++) {
    slow.push(slowClient(server.port, `127.0.0.${1 + (i % addresses)}`, bodies && i % 2 === 1));
    if (i % 50 === 49) await sleep(20);
  }
  await sleep(1000);
  const openAt1s = slow.filter((s) => s.open).length;
  await sleep(holdMs - 1000);
  const openAtEnd = slow.filter((s) => s.open).length;
  const stats = await server.stats();
  const h = honest.stop();
  for (const s of slow) s.socket.destroy();
  await server.stop();
  console.log(
    `${label}: ${connections} slow connections from ${addresses} address(es)${bodies ? ", half of them dribbling a body" : ""}: ` +
      `refused at once ${stats.refused}; ` +
      `still open after 1 s: ${openAt1s}, after ${(holdMs / 1000).toFixed(0)} s: ${openAtEnd}; ` +
      `honest client (another address): ${h.ok} ok, ${h.failed} failed, p50 ${percentile(h.ms, 0.5).toFixed(1)} ms, p99 ${percentile(h.ms, 0.99).toFixed(1)} ms`,
  );
}

for (const [addresses, bodies] of [
  [1, false],
  [10, true],
] as const) {
  await run("limits on (defaults)", {}, addresses, bodies);
  await run("limits off           ", limitsOff, addresses, bodies);
}
