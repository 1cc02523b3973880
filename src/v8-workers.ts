// V8's worker threads (named "V8Worker" by Node) run the garbage collector's helpers: concurrent
// marking, parallel scavenging, sweeping, and background compilation. Where the process has fewer
// cores than runnable threads (a container limited to one CPU, a busy host), the scheduler shares
// the core between them and the main thread alike, and the main thread is what answers calls: a
// full collection's concurrent marking, 100-450 ms of work on this service's heap, then runs
// beside the calls for as long, and four helpers to one main thread leave it a fifth of the core.
// At nice 19 the helpers take the core when the main thread leaves it idle, and V8 makes up what
// they did not do by marking in steps on the main thread. Linux keeps a nice value per thread
// (setpriority(2), "Bugs"), which Node's os.setPriority sets when given a thread id; lowering it
// needs no privilege, and raising it back does, so it is set once, at start.
//
// It is a trade, so it is the operator's choice (V8_WORKER_NICE, unset: 0, Node as it starts).
// Measured on one core (README, Benchmark, "The collector's helpers and the main thread"): at
// half the peak rate, RefreshToken and GetCurrentUser over HTTP/1.1 had p99 83-230 times their
// median with the helpers at the main thread's priority and 7-10 times at nice 19. But on a core
// the main thread keeps busy, the helpers hardly run: the server's peak RSS rose by half (marking
// falls behind, the heap grows) and its just-compiled code waited for the optimizing compiler
// (the first 15 s of full load at half the throughput).
import { readdirSync, readFileSync } from "node:fs";
import { setPriority } from "node:os";

/** The nice value V8_WORKER_NICE gives V8's worker threads, 0 to 19 (the lowest priority); 0, the default, leaves them be. */
export function v8WorkerNice(env: Record<string, string | undefined>): number {
  const given = env.V8_WORKER_NICE?.trim();
  if (given === undefined || given === "") return 0;
  if (!/^\d+$/.test(given) || Number(given) > 19) {
    throw new Error(`invalid configuration: V8_WORKER_NICE must be a whole number between 0 and 19, got "${given}"`);
  }
  return Number(given);
}

/** What lowering did: the threads set, and those that could not be (each with the system's reason). */
export interface Lowered {
  threads: number;
  failed: string[];
}

/** The system calls it needs, passed in so that a test can play a system without /proc. */
export interface ThreadSystem {
  /** The process's thread ids, or undefined where there is no /proc (not Linux). */
  threads(): string[] | undefined;
  /** A thread's name (/proc/self/task/<tid>/comm), or undefined if it has exited meanwhile. */
  name(tid: string): string | undefined;
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
  setNice(tid, nice) {
    setPriority(Number(tid), nice);
  },
};

/** Gives every V8 worker thread of this process the nice value `nice`; 0 changes nothing. */
export function lowerV8Workers(nice: number, system: ThreadSystem = linux): Lowered {
  const result: Lowered = { threads: 0, failed: [] };
  if (nice === 0) return result;
  for (const tid of system.threads() ?? []) {
    if (system.name(tid) !== "V8Worker") continue;
    try {
      system.setNice(tid, nice);
      result.threads += 1;
    } catch (err) {
      result.failed.push(`${tid}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }
  return result;
}
