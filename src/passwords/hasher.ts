import argon2 from "argon2";
import { AuthError } from "../errors.ts";

export interface Argon2Params {
  memoryKiB: number;
  timeCost: number;
  parallelism: number;
  /**
   * Hashes computed at once (ARGON2_MAX_CONCURRENT; by default the CPUs the process may use); the
   * rest wait their turn, first come first served. Each hash in flight holds `memoryKiB`, so this
   * bounds what a flood of sign-ins can take. More hashes than cores are no faster: they share
   * the cores and thrash each other's caches (one core: 21 ms a hash one at a time, 24 ms four at
   * a time; scratch measurement, bench:passwords measures it in place).
   */
  maxConcurrent: number;
  /**
   * Hashes that may wait for a place (ARGON2_MAX_WAITING); one more is refused at once, as
   * RATE_LIMITED (HashingBusyError). Unbounded, the queue held every waiting call's request (about
   * 14 kB each): a flood of sign-ups, whose clients need not even wait for the answer, grew it by
   * tens of MB a second while the hashes drained at 40-50 a second a core. Optional: unbounded.
   */
  maxWaiting?: number;
}

/**
 * The hashing queue is full: the server is busy, which says nothing about the password. Callers
 * that counted the guess before hashing give its place back (passwords/check.ts), so that a flood
 * of someone else's calls can never count against an account.
 */
export class HashingBusyError extends AuthError {
  constructor() {
    super("RATE_LIMITED", "the server is busy checking passwords; try again in a moment", { retryAfterSeconds: 1 });
  }
}

/**
 * At most `limit` tasks running; the others start in the order they arrived as running ones end.
 * What a task throws reaches its caller, and frees its place like a result does. With `maxWaiting`
 * tasks already waiting, one more is refused at once with what `full()` makes, without waiting.
 */
export function createGate(
  limit: number,
  maxWaiting = Number.POSITIVE_INFINITY,
  full: () => Error = () => new Error("the gate's queue is full"),
): <T>(task: () => Promise<T>) => Promise<T> {
  if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`the limit must be a whole number of at least 1, got ${limit}`);
  if (!(maxWaiting >= 0)) throw new RangeError(`maxWaiting must be at least 0, got ${maxWaiting}`);
  let running = 0;
  const waiting: (() => void)[] = [];
  const release = () => {
    const next = waiting.shift();
    if (next === undefined) running--;
    else next(); // the place passes straight on: `running` stays as it is
  };
  return async (task) => {
    if (running < limit) running++;
    else if (waiting.length >= maxWaiting) throw full();
    else await new Promise<void>((resolve) => waiting.push(resolve));
    try {
      return await task();
    } finally {
      release();
    }
  };
}

export interface PasswordHasher {
  hash(password: string): Promise<string>;
  /** Constant-time check (inside argon2). A malformed stored hash counts as a mismatch. */
  verify(hash: string, password: string): Promise<boolean>;
  /** Whether a stored hash was made with weaker or different parameters than the current ones. */
  needsRehash(hash: string): boolean;
  /**
   * Spends the same time as verify() against a real hash, for callers that have no user: unknown
   * email and wrong password must be indistinguishable by timing.
   */
  burn(password: string): Promise<void>;
}

export async function createPasswordHasher(params: Argon2Params): Promise<PasswordHasher> {
  const options = {
    type: argon2.argon2id,
    memoryCost: params.memoryKiB,
    timeCost: params.timeCost,
    parallelism: params.parallelism,
  } as const;
  const gate = createGate(params.maxConcurrent, params.maxWaiting, () => new HashingBusyError());
  const hash = (password: string) => gate(() => argon2.hash(password, options));
  // A malformed stored hash is a mismatch; a full queue is not (it reaches the caller).
  const verify = (stored: string, password: string) => gate(() => argon2.verify(stored, password).catch(() => false));
  const decoy = await hash("decoy password that no account has");
  return {
    hash,
    verify,
    needsRehash: (stored) => argon2.needsRehash(stored, options),
    burn: async (password) => {
      await verify(decoy, password);
    },
  };
}
