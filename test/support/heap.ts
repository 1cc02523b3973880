// A full collection on demand, for tests that measure what the heap keeps: vitest's workers start
// without --expose-gc, so the flag is set at run time and gc taken from a fresh context.
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

/** Runs a full garbage collection. */
export function collectGarbage(): void {
  setFlagsFromString("--expose-gc");
  (runInNewContext("gc") as () => void)();
}

/** The heap in use after two full collections (the second takes what the first's finalizers freed). */
export function heapUsedAfterGc(): number {
  collectGarbage();
  collectGarbage();
  return process.memoryUsage().heapUsed;
}
