// libuv's thread pool is sized to the machine at process start (src/thread-pool.ts, called first by
// src/main.ts): one thread per CPU for argon2id (the hashing gate lets no more hash at once) and
// one for the rest. The operator's UV_THREADPOOL_SIZE is kept.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { describe, expect, it } from "vitest";
import { threadPoolSize } from "../../src/thread-pool.ts";
import { startMain } from "../support/main-process.ts";

describe("the thread pool's size", () => {
  it("is one more than ARGON2_MAX_CONCURRENT (by default the CPUs available) when UV_THREADPOOL_SIZE is unset or empty", () => {
    expect(threadPoolSize({}, 1)).toBe(2);
    expect(threadPoolSize({}, 2)).toBe(3);
    expect(threadPoolSize({}, 16)).toBe(17);
    expect(threadPoolSize({ UV_THREADPOOL_SIZE: "" }, 8)).toBe(9);
    expect(threadPoolSize({ UV_THREADPOOL_SIZE: "  " }, 8)).toBe(9);
    expect(threadPoolSize({}, 4096)).toBe(1024); // libuv's maximum
    // One more than the hashes the gate lets run at once, when that is set: a thread stays free.
    expect(threadPoolSize({ ARGON2_MAX_CONCURRENT: "6" }, 2)).toBe(7);
    expect(threadPoolSize({ ARGON2_MAX_CONCURRENT: "1" }, 8)).toBe(2);
    expect(threadPoolSize({ ARGON2_MAX_CONCURRENT: "lots" }, 2)).toBe(3); // refused later, by the configuration
  });

  it("keeps the operator's UV_THREADPOOL_SIZE, and refuses one libuv would misread", () => {
    expect(threadPoolSize({ UV_THREADPOOL_SIZE: "2" }, 16)).toBeUndefined();
    expect(threadPoolSize({ UV_THREADPOOL_SIZE: "64" }, 2)).toBeUndefined();
    for (const bad of ["0", "-1", "1025", "four", "4.5", "0x10"]) {
      expect(() => threadPoolSize({ UV_THREADPOOL_SIZE: bad }, 2)).toThrow(/UV_THREADPOOL_SIZE/);
    }
  });

  /** The real server's libuv worker threads once a Login has queued argon2 work (Linux: /proc). */
  async function workerThreads(env: Record<string, string | undefined>): Promise<{ threads: number; exitCode: number | null }> {
    const server = await startMain({ UV_THREADPOOL_SIZE: undefined, ...env });
    if (!("pid" in server)) return { threads: 0, exitCode: server.exitCode };
    try {
      const res = await fetch(`http://127.0.0.1:${server.port}/auth.v1.AuthService/Login`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ email: "nobody@example.com", password: "not the password" }),
      });
      expect(res.status).toBe(401); // an argon2id verify ran (the decoy): the pool has started
      const tasks = readdirSync(`/proc/${server.pid}/task`);
      const names = tasks.map((t) => readFileSync(`/proc/${server.pid}/task/${t}/comm`, "utf8").trim());
      return { threads: names.filter((n) => n === "libuv-worker").length, exitCode: null };
    } finally {
      await server.stop();
    }
  }

  it.skipIf(!existsSync("/proc/self/task"))(
    "the real server starts its pool at that size, before anything queues work to it, and keeps the operator's",
    async () => {
      const expected = availableParallelism() + 1;
      // Empty: libuv alone would read it as 1 thread.
      expect((await workerThreads({ UV_THREADPOOL_SIZE: "" })).threads).toBe(expected);
      expect((await workerThreads({})).threads).toBe(expected);
      expect((await workerThreads({ UV_THREADPOOL_SIZE: "3" })).threads).toBe(3);
      expect(await workerThreads({ UV_THREADPOOL_SIZE: "lots" })).toEqual({ threads: 0, exitCode: 78 });
    },
    30_000,
  );
});
