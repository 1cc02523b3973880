// Calls per second of an in-process function, for the benchmarks that time one operation alone.

/** Calls per second of `fn`, called back to back (awaited one by one) for about `ms`. */
export async function callRate(fn: () => Promise<unknown>, ms: number): Promise<number> {
  let calls = 0;
  const start = performance.now();
  let elapsed = 0;
  while (elapsed < ms) {
    for (let i = 0; i < 100; i++) await fn();
    calls += 100;
    elapsed = performance.now() - start;
  }
  return (calls / elapsed) * 1000;
}
