// libuv's thread pool runs argon2id (every Login, Register and password change), and Node's
// asynchronous crypto (WebCrypto signature checks of tokens not yet verified), zlib and file work
// besides. Its size is read once, from UV_THREADPOOL_SIZE, when the first piece of work is queued;
// main.ts sets it before it loads anything else.
//
// The size is one thread per CPU this process may use, plus one. The hashing gate
// (ARGON2_MAX_CONCURRENT, src/passwords/hasher.ts) keeps argon2id to one hash per CPU, so the extra
// thread is always there for the rest: a token check or a compressed answer never waits behind a
// queue of sign-ins. Not more: every thread that has hashed keeps ARGON2_MEMORY_KIB in its glibc
// arena for the life of the process (19 MiB each, since hashes go to whichever thread is free), so
// libuv's default of 4 kept 76 MiB on a one-core server where 38 do the same work.
/** libuv's own bounds (it clamps anything outside them). */
const maxThreads = 1024;

/**
 * The pool size to set: one more than the hashes the gate lets run at once (ARGON2_MAX_CONCURRENT,
 * by default the CPUs this process may run on), so that one thread is always free for the rest; or
 * undefined when the operator set UV_THREADPOOL_SIZE (theirs is kept). An empty value counts as
 * unset (libuv would read it as 1 thread). Throws on a value libuv would misread, naming the
 * variable. ARGON2_MAX_CONCURRENT is read raw here, before the configuration: a value the
 * configuration will refuse is left to it and sizes nothing.
 */
export function threadPoolSize(env: Record<string, string | undefined>, parallelism: number): number | undefined {
  const given = env.UV_THREADPOOL_SIZE?.trim();
  if (given === undefined || given === "") {
    const gate = env.ARGON2_MAX_CONCURRENT?.trim() ?? "";
    const hashes = /^\d+$/.test(gate) && Number(gate) >= 1 ? Number(gate) : parallelism;
    return Math.min(maxThreads, Math.max(1, hashes) + 1);
  }
  const n = Number(given);
  if (!/^\d+$/.test(given) || n < 1 || n > maxThreads) {
    throw new Error(`invalid configuration: UV_THREADPOOL_SIZE must be a whole number between 1 and ${maxThreads}, got "${given}"`);
  }
  return undefined;
}
