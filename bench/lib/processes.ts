// Process plumbing of the benchmark: servers pinned to a core, their memory read from /proc, and
// h2load runs. Linux only (taskset, /proc).
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import net from "node:net";
import { parseProcStatName, parseProcStatNice, parseProcStatTicks, parseProcStatus } from "./figures.ts";
import { startEnv } from "./start.ts";

/** Stops with a message naming the Debian package when a tool the benchmark drives is missing. */
export function requireTool(name: string, debianPackage: string): void {
  const found = spawnSync("sh", ["-c", `command -v ${name}`], { encoding: "utf8" });
  if (found.status !== 0) {
    console.error(`${name} is not installed: apt-get install ${debianPackage}`);
    process.exit(1);
  }
}

/** Pins this process (every thread of it) to `cpus`, e.g. "1". */
export function pinSelf(cpus: string): void {
  spawnSync("taskset", ["-a", "-pc", cpus, String(process.pid)], { stdio: "ignore" });
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

export interface Pinned {
  pid: number;
  port: number;
  /** What the process wrote on stderr and stdout so far (for a failure message). */
  output(): string;
  memory(): { rss: number; hwm: number };
  /** CPU time the process has used so far, every thread, in seconds. */
  cpuSeconds(): number;
  /**
   * The same by thread: the main thread (JavaScript, where the JIT's code runs), libuv's pool
   * (argon2, crypto), V8's workers (concurrent GC and compilation) and any other.
   */
  threadCpuSeconds(): ThreadCpu;
  /** Whether it was started with an IPC channel (then `ask` works). */
  ipc: boolean;
  /** Sends `message` over IPC (started with `ipc`) and resolves with the next message back. */
  ask(message: string): Promise<unknown>;
  stop(): Promise<void>;
}

export interface ThreadCpu {
  main: number;
  libuv: number;
  v8: number;
  other: number;
}

const ticksPerSecond = Number(spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).stdout.trim()) || 100;

/**
 * Starts `node args...` pinned to `cpus` with `env` (over the malloc `npm start` preloads, so that
 * every process under test runs on the same: lib/start.ts), and waits until `port` accepts connections.
 * With `ipc`, the child gets Node's IPC channel (it survives taskset's exec, being an inherited fd).
 * `onOutput` sees all it writes, for a trace longer than what `output()` keeps.
 */
export async function startPinned(
  cpus: string,
  args: string[],
  env: Record<string, string>,
  port: number,
  ipc = false,
  onOutput?: (chunk: string) => void,
): Promise<Pinned> {
  // taskset execs node, so the child's pid is node's own (what /proc/<pid>/status must read).
  const merged = { ...process.env, ...env };
  const child: ChildProcess = spawn("taskset", ["-c", cpus, process.execPath, ...args], {
    env: { ...merged, ...startEnv(merged) },
    stdio: ["ignore", "pipe", "pipe", ...(ipc ? (["ipc"] as const) : [])],
  });
  // The last 64 KiB only: an hour of warnings must not grow this process.
  let output = "";
  const keep = (chunk: Buffer) => {
    const text = chunk.toString();
    onOutput?.(text);
    output = (output + text).slice(-65_536);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${args.join(" ")} exited at start:\n${output}`);
    if (await accepts(port)) break;
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`${args.join(" ")} did not listen on ${port} within 30 s:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const pid = child.pid as number;
  return {
    pid,
    port,
    output: () => output,
    memory: () => parseProcStatus(readFileSync(`/proc/${pid}/status`, "utf8")),
    cpuSeconds: () => parseProcStatTicks(readFileSync(`/proc/${pid}/stat`, "utf8")) / ticksPerSecond,
    threadCpuSeconds: () => threadCpu(pid),
    ipc,
    ask: (message) =>
      new Promise((resolve) => {
        child.once("message", resolve);
        child.send(message);
      }),
    stop: () => {
      child.kill("SIGTERM");
      const force = setTimeout(() => child.kill("SIGKILL"), 15_000);
      return exited.then(() => clearTimeout(force));
    },
  };
}

/** Each thread of `pid` now: its id and its /proc stat line. */
function threadStats(pid: number): { tid: string; stat: string }[] {
  const threads: { tid: string; stat: string }[] = [];
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      threads.push({ tid, stat: readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8") });
    } catch {
      // the thread ended meanwhile
    }
  }
  return threads;
}

/** CPU seconds of each thread of `pid` so far, by kind (Node names its threads; the main one's tid is the pid). */
function threadCpu(pid: number): ThreadCpu {
  const out: ThreadCpu = { main: 0, libuv: 0, v8: 0, other: 0 };
  for (const { tid, stat } of threadStats(pid)) {
    const name = parseProcStatName(stat);
    const kind = tid === String(pid) ? "main" : name === "libuv-worker" ? "libuv" : name === "V8Worker" ? "v8" : "other";
    out[kind] += parseProcStatTicks(stat) / ticksPerSecond;
  }
  return out;
}

/** Each thread of `pid` now: its name and its nice value, as the kernel reports them. */
export function threadNices(pid: number): { name: string; nice: number }[] {
  return threadStats(pid).map(({ stat }) => ({ name: parseProcStatName(stat), nice: parseProcStatNice(stat) }));
}

/**
 * Checks that every V8 worker thread of `pid` runs at nice `expected` (V8_WORKER_NICE), so that a
 * figure labelled with a nice value was measured at it; throws otherwise.
 */
export function assertV8WorkerNice(pid: number, expected: number): void {
  const nices = threadNices(pid)
    .filter((t) => t.name === "V8Worker")
    .map((t) => t.nice);
  if (nices.length === 0 || nices.some((n) => n !== expected)) {
    throw new Error(`process ${pid}: V8's worker threads run at nice ${nices.join(", ") || "(none found)"}, not ${expected}`);
  }
}

/** Whether something accepts a TCP connection on 127.0.0.1:`port` now. */
export function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: "127.0.0.1" });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

/** Samples the resident set of `target` every 100 ms until stopped; returns the largest seen. */
export function sampleRss(target: Pinned): { stop(): number } {
  let peak = target.memory().rss;
  const timer = setInterval(() => {
    try {
      peak = Math.max(peak, target.memory().rss);
    } catch {
      // the process is gone: keep what was seen
    }
  }, 100);
  return {
    stop() {
      clearInterval(timer);
      return peak;
    },
  };
}

/** Runs a command to its end; resolves with its stdout, rejects with its stderr on failure. */
export function run(command: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (c: Buffer) => {
      out += c.toString();
    });
    child.stderr.on("data", (c: Buffer) => {
      err += c.toString();
    });
    child.once("exit", (code) =>
      code === 0 ? resolve(out) : reject(new Error(`${command} ${args.join(" ")} failed (${code}):\n${err}${out}`)),
    );
  });
}

/**
 * h2load from CPU 1 against `port` for `seconds` after `warmUpSeconds`, as the GC scripts drive a
 * server (bench/promotion.ts, bench/full-gc.ts): over HTTP/2 8 clients of 16 streams, over
 * HTTP/1.1 32 clients of one; a POST of the file `bodyFile` with `headers`. Resolves with its stdout.
 */
export function h2loadFromCpu1(
  port: number,
  request: { protocol: "h2c" | "h1"; path: string; headers: Record<string, string>; bodyFile: string },
  seconds: number,
  warmUpSeconds: number,
): Promise<string> {
  const h1 = request.protocol === "h1";
  return run("taskset", [
    "-c",
    "1",
    "h2load",
    ...["-c", h1 ? "32" : "8", "-m", h1 ? "1" : "16"],
    ...["--warm-up-time", String(warmUpSeconds), "-D", String(seconds), "-d", request.bodyFile],
    ...Object.entries(request.headers).flatMap(([k, v]) => ["-H", `${k}: ${v}`]),
    ...(h1 ? ["--h1"] : []),
    `http://127.0.0.1:${port}${request.path}`,
  ]);
}
