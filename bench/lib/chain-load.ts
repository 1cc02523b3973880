// bench/chain-load/chain-load.c from TypeScript: built on first use (gcc and Debian's
// libnghttp2-dev), then run as a child process on the benchmark's own core. It measures what our
// Node generator (load.ts) measures, without a garbage collector of its own in the timings.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { LoadResult } from "./load.ts";

const source = fileURLToPath(new URL("../chain-load/chain-load.c", import.meta.url));
const binary = fileURLToPath(new URL("../../.cache/bench/chain-load", import.meta.url));

/** Why chain-load cannot be built here (a missing compiler or header), or undefined once built. */
export function buildChainLoad(): string | undefined {
  if (existsSync(binary) && statSync(binary).mtimeMs >= statSync(source).mtimeMs) return undefined;
  mkdirSync(path.dirname(binary), { recursive: true });
  const built = spawnSync("gcc", ["-O2", "-Wall", "-o", binary, source, "-lnghttp2"], { encoding: "utf8" });
  if (built.error !== undefined) return `gcc is not installed (apt-get install gcc libnghttp2-dev): ${built.error.message}`;
  if (built.status !== 0) return `chain-load did not build (apt-get install libnghttp2-dev):\n${built.stderr}`;
  return undefined;
}

export interface ChainLoadOptions {
  /** h2c: users spread over `connections`; h1: a connection per user (`connections` unused). */
  protocol: "h2c" | "h1";
  port: number;
  path: string;
  /** Sent with every call besides content-type and connect-protocol-version (lower-case names). */
  headers?: Record<string, string>;
  /**
   * The JSON field that carries each user's credential in the request and the next one in the
   * answer ("refreshToken"); undefined: a fixed `{}` body, any 200 answer.
   */
  field?: string;
  /** One per virtual user: its current credential (replaced by the next one as calls succeed). */
  tokens: string[];
  connections: number;
  warmUpMs: number;
  measureMs: number;
  /** Calls per second to start; undefined: closed loop. */
  rate?: number;
}

/** What chain-load prints: the run as load.ts reports it, and each user's token at the end. */
type Output = Omit<LoadResult, "reqPerSec"> & { tokens: string[] };

/** One run. `opts.tokens` is updated in place with each user's token at the end. */
export function runChainLoad(opts: ChainLoadOptions): Promise<LoadResult> {
  // One line per user on its standard input: an empty token would be a user lost.
  if (opts.tokens.some((t) => t === "" || t.includes("\n"))) return Promise.reject(new Error("chain-load: an empty or multi-line token"));
  const args = [
    opts.protocol,
    String(opts.port),
    String(opts.connections),
    String(opts.warmUpMs),
    String(opts.measureMs),
    String(opts.rate ?? 0),
    opts.path,
    opts.field ?? "-",
    ...Object.entries(opts.headers ?? {}).flat(),
  ];
  return new Promise((resolve, reject) => {
    const child = spawn(binary, args, { stdio: ["pipe", "pipe", "pipe"] });
    const out: Buffer[] = [];
    let err = "";
    child.stdout.on("data", (chunk: Buffer) => out.push(chunk));
    child.stderr.on("data", (chunk: Buffer) => {
      err += chunk.toString();
    });
    child.once("error", reject);
    // "close", not "exit": stdout may still hold output when the process has exited.
    child.once("close", (code) => {
      if (code !== 0) {
        reject(new Error(`chain-load ${args.join(" ")} failed (${code}): ${err}`));
        return;
      }
      let result: Output;
      try {
        result = JSON.parse(Buffer.concat(out).toString()) as Output;
      } catch (parseError) {
        reject(new Error(`chain-load printed what is not its JSON: ${String(parseError)}`));
        return;
      }
      if (result.tokens.length !== opts.tokens.length) {
        reject(new Error(`chain-load returned ${result.tokens.length} tokens for ${opts.tokens.length} users`));
        return;
      }
      opts.tokens.splice(0, opts.tokens.length, ...result.tokens);
      const { tokens: _, ...load } = result;
      resolve({ ...load, reqPerSec: result.ok / (opts.measureMs / 1000) });
    });
    child.stdin.end(`${opts.tokens.join("\n")}\n`);
  });
}

/** How h2load drives a server at peak: HTTP/1.1 connections of one call, h2c connections of several streams. */
export interface PeakShape {
  h1Clients: number;
  h2Clients: number;
  h2Streams: number;
}

/** `npm run bench`'s defaults (BENCH_H1_CLIENTS, BENCH_H2_CLIENTS, BENCH_H2_STREAMS). */
export const defaultPeakShape: PeakShape = { h1Clients: 32, h2Clients: 8, h2Streams: 16 };

/**
 * chain-load's users for one fixed call at a fixed rate: as many at most in flight as h2load has
 * at peak in `shape`, so that only the schedule differs from a peak figure.
 */
export function fixedCallUsers(
  protocol: "h2c" | "h1",
  callPath: string,
  headers: Record<string, string> = {},
  shape: PeakShape = defaultPeakShape,
): Pick<ChainLoadOptions, "protocol" | "path" | "headers" | "tokens" | "connections"> {
  const connections = protocol === "h2c" ? shape.h2Clients : shape.h1Clients;
  const users = protocol === "h2c" ? shape.h2Clients * shape.h2Streams : shape.h1Clients;
  return { protocol, path: callPath, headers, tokens: Array.from({ length: users }, () => "-"), connections };
}
