// With V8_WORKER_NICE, V8's worker threads (the collector's helpers) run below the main thread
// (src/v8-workers.ts, applied by src/main.ts), so that on a shared core the calls go first.
// Checked from the kernel's side: each thread's nice value as /proc reports it for the real
// server's process (bench/lib/processes.ts's threadNices, which the benchmark checks its rows with).
import { existsSync, readFileSync } from "node:fs";
import { getPriority } from "node:os";
import { describe, expect, it } from "vitest";
import { threadNices } from "../../bench/lib/processes.ts";
import { startFlags } from "../../bench/lib/start.ts";
import { lowerV8Workers, type ThreadSystem, v8WorkerNice } from "../../src/v8-workers.ts";
import { startMain } from "../support/main-process.ts";

describe("V8_WORKER_NICE", () => {
  it("is 0 (Node's threads left as they start) when unset or empty, and any whole number from 0 to 19", () => {
    expect(v8WorkerNice({})).toBe(0);
    expect(v8WorkerNice({ V8_WORKER_NICE: "" })).toBe(0);
    expect(v8WorkerNice({ V8_WORKER_NICE: " 0 " })).toBe(0);
    expect(v8WorkerNice({ V8_WORKER_NICE: "10" })).toBe(10);
    expect(v8WorkerNice({ V8_WORKER_NICE: "19" })).toBe(19);
  });

  it("refuses anything else, naming the variable (a negative value would need privileges)", () => {
    for (const bad of ["20", "-1", "-5", "low", "1.5", "0x10", "1e1"]) {
      expect(() => v8WorkerNice({ V8_WORKER_NICE: bad })).toThrow(/V8_WORKER_NICE must be a whole number between 0 and 19/);
    }
  });
});

describe("lowering V8's worker threads", () => {
  /** A system of these threads, the main one at `mainNice`, that refuses to set those in `refuse` as Node does. */
  function system(names: Record<string, string>, refuse: string[] = [], mainNice = 0): ThreadSystem & { set: Map<string, number> } {
    const set = new Map<string, number>();
    return {
      set,
      threads: () => Object.keys(names),
      name: (tid) => names[tid],
      ownNice: () => mainNice,
      setNice(tid, nice) {
        if (refuse.includes(tid)) {
          // The shape of os.setPriority's error: a SystemError whose errno is in `info`.
          throw Object.assign(new Error("A system error occurred: uv_os_setpriority returned EACCES"), {
            code: "ERR_SYSTEM_ERROR",
            info: { errno: -13, code: "EACCES", syscall: "uv_os_setpriority" },
          });
        }
        set.set(tid, nice);
      },
    };
  }
  const threads = { "100": "MainThread", "101": "DelayedTaskSche", "102": "V8Worker", "103": "V8Worker", "104": "libuv-worker" };

  it("sets the V8 workers and no other thread", () => {
    const s = system(threads);
    expect(lowerV8Workers(19, s)).toEqual({ outcome: "lowered", threads: 2, failed: [] });
    expect([...s.set]).toEqual([
      ["102", 19],
      ["103", 19],
    ]);
  });

  it("goes on past a thread it cannot set, and names it with the system's reason", () => {
    const s = system(threads, ["102"]);
    expect(lowerV8Workers(12, s)).toEqual({ outcome: "lowered", threads: 1, failed: ["102: EACCES"] });
    expect([...s.set]).toEqual([["103", 12]]);
  });

  it("sets nothing unless the value puts the workers below the main thread", () => {
    const s = system(threads, [], 10);
    expect(lowerV8Workers(10, s)).toEqual({ outcome: "not-below", mainNice: 10 });
    expect(lowerV8Workers(5, s)).toEqual({ outcome: "not-below", mainNice: 10 });
    expect(s.set.size).toBe(0);
    expect(lowerV8Workers(11, s)).toEqual({ outcome: "lowered", threads: 2, failed: [] });
  });

  it("does nothing at 0, and says so where there is no /proc or no V8 worker", () => {
    const s = system(threads);
    expect(lowerV8Workers(0, s)).toEqual({ outcome: "unset" });
    expect(lowerV8Workers(19, { ...s, threads: () => undefined })).toEqual({ outcome: "no-threads" });
    expect(lowerV8Workers(19, { ...s, name: () => undefined })).toEqual({ outcome: "no-threads" });
    expect(s.set.size).toBe(0);
  });
});

describe.skipIf(!existsSync("/proc/self/task"))("the real server", () => {
  // What the server's threads start with: this process's own nice value, inherited (0 unless the
  // tests themselves run under nice).
  const inherited = getPriority();

  /** The threads once the server has said how it set them (or that it left them be). */
  async function threadsOf(env: Record<string, string | undefined>, logged?: string, nice?: number) {
    const server = await startMain(env, nice === undefined ? {} : { nice });
    if (!("pid" in server)) return server;
    try {
      if (logged !== undefined) await server.waitFor(logged);
      return { threads: threadNices(server.pid), log: server.output() };
    } finally {
      await server.stop();
    }
  }

  // (Skipped only where the tests themselves run at nice 19: no value can go below that.)
  it.skipIf(inherited >= 19)(
    "runs its V8 workers at nice 19 when asked, and the main thread and libuv's pool as it was started",
    async () => {
      const started = await threadsOf({ V8_WORKER_NICE: "19" }, "lowered in priority");
      if (!("threads" in started)) throw new Error(`the server did not start: ${started.output}`);
      const workers = started.threads.filter((t) => t.name === "V8Worker");
      expect(workers.length).toBeGreaterThan(0);
      expect(workers.every((t) => t.nice === 19)).toBe(true);
      const others = started.threads.filter((t) => t.name !== "V8Worker");
      expect(others.map((t) => t.name)).toContain("MainThread");
      expect(others.every((t) => t.nice === inherited)).toBe(true);
      expect(started.log).toContain(`"threads":${workers.length}`);
    },
    30_000,
  );

  it("leaves every thread as Node starts it by default and at 0, takes any value to 19, and refuses a bad one before it listens", async () => {
    for (const env of [{ V8_WORKER_NICE: undefined }, { V8_WORKER_NICE: "0" }]) {
      const left = await threadsOf(env);
      if (!("threads" in left)) throw new Error(`the server did not start: ${left.output}`);
      expect(left.threads.every((t) => t.nice === inherited)).toBe(true);
      expect(left.log).not.toContain("lowered in priority");
    }

    // (Raising a thread's priority back needs a privilege: only a value above the inherited one.)
    const value = Math.min(19, Math.max(7, inherited + 1));
    const set = await threadsOf({ V8_WORKER_NICE: String(value) }, "lowered in priority");
    if (!("threads" in set)) throw new Error(`the server did not start: ${set.output}`);
    expect(set.threads.filter((t) => t.name === "V8Worker").length).toBeGreaterThan(0);
    expect(set.threads.filter((t) => t.name === "V8Worker").every((t) => t.nice === value)).toBe(true);

    // Started at a lower priority than the value: the workers are left level with the main
    // thread, and the log says why.
    if (inherited <= 15) {
      const level = await threadsOf({ V8_WORKER_NICE: String(inherited + 2) }, "V8_WORKER_NICE not applied", 4);
      if (!("threads" in level)) throw new Error(`the server did not start: ${level.output}`);
      expect(level.threads.every((t) => t.nice === inherited + 4)).toBe(true);
      expect(level.log).toContain(`"mainNice":${inherited + 4}`);
    }

    const refused = await threadsOf({ V8_WORKER_NICE: "-5" });
    expect(refused).toEqual({ exitCode: 78, output: expect.stringContaining("V8_WORKER_NICE must be a whole number between 0 and 19") });
  }, 30_000);
});

// npm start gives Node --v8-pool-size=0: V8's pool sized to the CPUs the process may run on, not
// Node's fixed four. On a server pinned to one core, four helpers runnable beside the main thread
// during a full collection's concurrent marking leave it a fifth of the core; one leaves it half
// (README, "One helper per spare CPU").
describe("npm start's Node options", () => {
  /** The first CPU this process may run on (taskset must name one it is allowed). */
  const firstCpu = () => {
    const allowed = /^Cpus_allowed_list:\s*(\d+)/m.exec(readFileSync("/proc/self/status", "utf8"));
    return allowed?.[1] ?? "0";
  };

  async function v8Workers(nodeFlags: string[]): Promise<number> {
    const server = await startMain({}, { cpus: firstCpu(), nodeFlags });
    if (!("pid" in server)) throw new Error(`the server did not start: ${server.output}`);
    try {
      return threadNices(server.pid).filter((t) => t.name === "V8Worker").length;
    } finally {
      await server.stop();
    }
  }

  it.skipIf(!existsSync("/proc/self/task") || !["/usr/bin/taskset", "/bin/taskset"].some((p) => existsSync(p)))(
    "size V8's pool to the CPUs: one worker on one core, where Node alone starts four",
    async () => {
      expect(startFlags()).toContain("--v8-pool-size=0");
      expect(await v8Workers(startFlags())).toBe(1);
      expect(await v8Workers([])).toBe(4);
    },
    30_000,
  );
});
