// libuv's thread pool runs argon2id (every Login, Register and password change), and Node's
// asynchronous crypto (WebCrypto signatures) and file work besides. Its size is read once, from
// UV_THREADPOOL_SIZE, when the first piece of work is queued; the default, 4, leaves every core
// past the fourth idle while sign-ins wait for a thread. main.ts sizes it to the machine before
// it loads anything else. Each thread hashing holds ARGON2_MEMORY_KIB of memory, so the pool's size
// also bounds what concurrent sign-ins take: set UV_THREADPOOL_SIZE lower to trade speed for memory.

/** libuv's own bounds (it clamps anything outside them). */
const maxThreads = 1024;

/**
 * The pool size to set: max(4, the CPUs this process may run on), or undefined when the operator
 * set UV_THREADPOOL_SIZE (theirs is kept). An empty value counts as unset (libuv would read it as
 * 1 thread). Throws on a value libuv would misread, naming the variable.
 */
export function threadPoolSize(env: Record<string, string | undefined>, parallelism: number): number | undefined {
  const given = env.UV_THREADPOOL_SIZE?.trim();
  if (given === undefined || given === "") return Math.min(maxThreads, Math.max(4, parallelism));
  const n = Number(given);
  if (!/^\d+$/.test(given) || n < 1 || n > maxThreads) {
    throw new Error(`invalid configuration: UV_THREADPOOL_SIZE must be a whole number between 1 and ${maxThreads}, got "${given}"`);
  }
  return undefined;
}
