// Shared by the abuse scripts: the attacked server in a child process, and figures.
import { type ChildProcess, fork } from "node:child_process";
import http from "node:http";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { ListenerStats } from "../../src/server/listener.ts";

/** The connection limits all off, for the "before" side of each comparison. */
export const limitsOff: Record<string, string> = {
  MAX_CONNECTIONS: "0",
  MAX_CONNECTIONS_PER_ADDRESS: "0",
  HTTP_HEADERS_TIMEOUT_MS: "0",
  HTTP_REQUEST_TIMEOUT_MS: "0",
  HTTP_MIN_BODY_BYTES_PER_SECOND: "0",
  HTTP2_MAX_RESETS_PER_CONNECTION: "0",
  HTTP2_MAX_RESETS_PER_ADDRESS: "0",
};

export interface BenchServer {
  port: number;
  /** The listener's counters, and the server's event-loop delay since the last call. */
  stats(): Promise<ListenerStats & { loopDelayP99Ms: number; loopDelayMaxMs: number }>;
  stop(): Promise<void>;
}

/** Starts bench/abuse/server.ts with these settings (the defaults for everything else). */
export function startBenchServer(env: Record<string, string>): Promise<BenchServer> {
  const script = path.join(path.dirname(fileURLToPath(import.meta.url)), "server.ts");
  return controlServer(fork(script, [], { env: { ...process.env, ...env }, execArgv: process.execArgv }));
}

/**
 * Drives a bench server in a child process over IPC: it sends `{ port }` once listening, answers
 * "stats" with `{ stats }`, and exits on "stop" (killed if it takes over 5 s).
 */
export function controlServer<Stats = ListenerStats & { loopDelayP99Ms: number; loopDelayMaxMs: number }>(
  child: ChildProcess,
): Promise<{ port: number; stats(): Promise<Stats>; stop(): Promise<void> }> {
  const next = <T>(key: string) =>
    new Promise<T>((resolve, reject) => {
      const on = (m: Record<string, T>) => {
        if (key in m) {
          child.off("message", on);
          child.off("exit", onExit);
          resolve(m[key] as T);
        }
      };
      const onExit = (code: number | null) => reject(new Error(`the bench server exited (${code})`));
      child.on("message", on);
      child.once("exit", onExit);
    });
  return next<number>("port").then((port) => ({
    port,
    stats() {
      const answer = next<Stats>("stats");
      child.send("stats");
      return answer;
    },
    stop() {
      const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
      child.send("stop");
      setTimeout(() => child.kill("SIGKILL"), 5000).unref();
      return exited;
    },
  }));
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function percentile(samples: number[], q: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
}

/**
 * An honest client from its own address: one GET /livez every `everyMs` on a fresh connection,
 * until stopped. Reports how many were answered and their latencies.
 */
export function honestClient(
  port: number,
  localAddress: string,
  everyMs: number,
): { stop(): { ok: number; failed: number; ms: number[] } } {
  let ok = 0;
  let failed = 0;
  const ms: number[] = [];
  let running = true;
  const one = () =>
    new Promise<void>((resolve) => {
      const started = performance.now();
      const req = http.get({ host: "127.0.0.1", port, path: "/livez", localAddress, agent: false, timeout: 10_000 }, (res) => {
        res.resume();
        res.on("end", () => {
          if (res.statusCode === 200) {
            ok++;
            ms.push(performance.now() - started);
          } else failed++;
          resolve();
        });
      });
      req.on("timeout", () => req.destroy(new Error("timeout")));
      req.on("error", () => {
        failed++;
        resolve();
      });
    });
  void (async () => {
    while (running) {
      await one();
      await sleep(everyMs);
    }
  })();
  return {
    stop() {
      running = false;
      return { ok, failed, ms };
    },
  };
}
