import { defineConfig } from "vitest/config";

// Test files run in parallel, each in a process of its own ("forks"): most of a file's time is
// spent waiting on sockets (its own server on an ephemeral port), so more files than cores overlap
// well. Processes rather than threads because a test measures its own process's CPU time
// (test/support/fake-mongod.test.ts: no busy loop), which in a thread would count the other files
// too. Four workers on the 2-core machines: two were ~1.7× slower; six were ~12% faster but keep
// both cores saturated, leaving the timing-sensitive tests (graceful shutdown, the MongoDB
// stand-in's monitor) the least headroom when anything else runs on the machine.
export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 20000,
    hookTimeout: 90000,
    pool: "forks",
    maxWorkers: 4,
    fileParallelism: true,
  },
});
