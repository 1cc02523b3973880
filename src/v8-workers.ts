// V8's worker threads (named "V8Worker" by Node) run the garbage collector's helpers: concurrent
// marking, parallel scavenging, sweeping, and background compilation. Where they share one core
// with the main thread (a process pinned to a core, or every core of the host busy), the
// scheduler shares it between them alike, and the main thread is what answers calls: a full
// collection's concurrent marking, 100-450 ms of work on this service's heap, then runs beside
// the calls for as long, and four helpers to one main thread leave it a fifth of the core. At nice
// 19 each helper gets about 1.5 % of the core while the main thread is runnable (Linux weighs nice
// 19 at 15 against 1024), so they run mostly when it is idle, and V8 makes up what they did not
// do by marking in steps on the main thread. Linux keeps a nice value per thread (setpriority(2),
// "Bugs"), which Node's os.setPriority sets when given a thread id; lowering it needs no
// privilege, and raising it back does, so it is set once, at start.
//
// It is a trade, so it is the operator's choice (V8_WORKER_NICE, unset: 0, Node as it starts).
// Measured on one core (README, Benchmark, "The collector's helpers and the main thread"): at
// half the peak rate, in the runs where a full collection's marking stretched the tail,
// RefreshToken over HTTP/1.1 had p99 67-259 times its median with the helpers at the main
// thread's priority and 9-28 times at nice 19 (7-10 in 30-s scratch runs); in others the two
// were alike, and over HTTP/2 it went both ways. But on a
// core the main thread keeps busy the helpers hardly run: the server's peak RSS rose by half
// (marking falls behind, the heap grows) and its code waited for the optimizing compiler (the
// first 15 s of full load at half the throughput).
import { readdirSync, readFileSync } from "node:fs";
import { getPriority, setPriority } from "node:os";

/** The nice value V8_WORKER_NICE gives V8's worker threads, 0 to 19 (the lowest priority); 0, the default, leaves them be. */
export function v8WorkerNice(env: Record<string, string | undefined>): number {
  const given = env.V8_WORKER_NICE?.trim();
  if (given === undefined || given === "") return 0;
  if (!/^\d+$/.test(given) || Number(given) > 19) {
    throw new Error(`invalid configuration: V8_WORKER_NICE must be a whole number between 0 and 19, got "${given}"`);
  }
  return Number(given);
}

/** What lowering did. */
export type Lowered =
  /** V8_WORKER_NICE is 0: nothing asked. */
  | { outcome: "unset" }
  /** The main thread already runs at that nice value or a lower priority: the workers would not be below it. */
  | { outcome: "not-below"; mainNice: number }
  /** No V8 worker thread found (no /proc: not Linux; or a Node that names them otherwise). */
  | { outcome: "no-threads" }
  /** The workers set, and those that could not be (each with the system's reason). */
  | { outcome: "lowered"; threads: number; failed: string[] };

/** The system calls it needs, passed in so that a test can play a system without /proc. */
export interface ThreadSystem {
  /** The process's thread ids, or undefined where there is no /proc (not Linux). */
  threads(): string[] | undefined;
  /** A thread's name (/proc/self/task/<tid>/comm), or undefined if it has exited meanwhile. */
  name(tid: string): string | undefined;
  /** The calling (main) thread's nice value. */
  ownNice(): number;
  setNice(tid: string, nice: number): void;
}

const linux: ThreadSystem = {
  threads() {
    try {
      return readdirSync("/proc/self/task");
    } catch {
      return undefined;
    }
  },
  name(tid) {
    try {
      return readFileSync(`/proc/self/task/${tid}/comm`, "utf8").trim();
    } catch {
      return undefined;
    }
  },
  ownNice: () => getPriority(),
  setNice(tid, nice) {
    setPriority(Number(tid), nice);
  },
};

/** Node's os functions throw a SystemError whose own code is ERR_SYSTEM_ERROR; the errno is in `info`. */
function reason(err: unknown): string {
  const e = err as { info?: { code?: string }; code?: string; message?: string };
  return e.info?.code ?? e.code ?? e.message ?? String(err);
}

/**
 * Gives every V8 worker thread of this process the nice value `nice`, if that puts them below the
 * main thread (a value at or under the main thread's would put them level with it or, with the
 * privilege to raise a priority, above it).
 */
export function lowerV8Workers(nice: number, system: ThreadSystem = linux): Lowered {
  if (nice === 0) return { outcome: "unset" };
  const mainNice = system.ownNice();
  if (nice <= mainNice) return { outcome: "not-below", mainNice };
  let threads = 0;
  const failed: string[] = [];
  for (const tid of system.threads() ?? []) {
    if (system.name(tid) !== "V8Worker") continue;
    try {
      system.setNice(tid, nice);
      threads += 1;
    } catch (err) {
      failed.push(`${tid}: ${reason(err)}`);
    }
  }
  if (threads === 0 && failed.length === 0) return { outcome: "no-threads" };
  return { outcome: "lowered", threads, failed };
}
