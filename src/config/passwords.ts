import { availableParallelism } from "node:os";
import { bool, ConfigError, type Env, int, url } from "./parse.ts";

/** The argon2id cost of hashing a password. */
export interface Argon2Settings {
  memoryKiB: number;
  timeCost: number;
  parallelism: number;
  /** Hashes computed at once; more wait their turn (src/passwords/hasher.ts). */
  maxConcurrent: number;
  /** Hashes that may wait for a place; more are refused at once (src/passwords/hasher.ts). */
  maxWaiting: number;
  /** Password checks one client network (or session) may have under way at once (src/passwords/check.ts). */
  maxPerClient: number;
}

/** ARGON2_MEMORY_KIB, ARGON2_TIME_COST, ARGON2_PARALLELISM, ARGON2_MAX_CONCURRENT, ARGON2_MAX_WAITING, ARGON2_MAX_PER_CLIENT. */
export function argon2(env: Env, cpus = availableParallelism()): Argon2Settings {
  const maxConcurrent = int(env, "ARGON2_MAX_CONCURRENT", cpus, 1, 1024);
  return {
    // OWASP Password Storage Cheat Sheet: argon2id, m=19 MiB, t=2, p=1 as the minimum.
    memoryKiB: int(env, "ARGON2_MEMORY_KIB", 19_456, 19_456, 4_194_304),
    timeCost: int(env, "ARGON2_TIME_COST", 2, 2, 100),
    parallelism: int(env, "ARGON2_PARALLELISM", 1, 1, 64),
    // The CPUs this process may run on (its affinity: 1 under `taskset -c 0`, as in npm run bench).
    maxConcurrent,
    // 128 a place: about 2.5 s of hashing (20 ms each) before the last one starts.
    maxWaiting: int(env, "ARGON2_MAX_WAITING", 128 * maxConcurrent, 1, 1_000_000),
    // 8 a place: a sixteenth of the queue, so that it takes sixteen networks to fill it.
    maxPerClient: int(env, "ARGON2_MAX_PER_CLIENT", 8 * maxConcurrent, 1, 1_000_000),
  };
}

/** The Have I Been Pwned range check of new passwords. */
export interface PwnedPasswordsSettings {
  url: string;
  timeoutMs: number;
  minCount: number;
  /** Range requests under way at once; a check beyond them is skipped (src/passwords/pwned-passwords.ts). */
  maxConcurrent: number;
}

/** PWNED_PASSWORDS_*: every setting is checked even while the check is off, so turning it on cannot fail. */
export function pwnedPasswords(env: Env): PwnedPasswordsSettings | undefined {
  const settings = {
    url: url(env, "PWNED_PASSWORDS_URL", ["https:", "http:"]) ?? "https://api.pwnedpasswords.com/range/",
    timeoutMs: int(env, "PWNED_PASSWORDS_TIMEOUT_MS", 2_000, 100, 60_000),
    minCount: int(env, "PWNED_PASSWORDS_MIN_COUNT", 1, 1, 1_000_000),
    // At the API's usual tens of milliseconds an answer, 16 at once are some hundreds of checks a
    // second: more than a few cores hash new passwords at.
    maxConcurrent: int(env, "PWNED_PASSWORDS_MAX_CONCURRENT", 16, 1, 1_000),
  };
  return bool(env, "PWNED_PASSWORDS_ENABLED", false) ? settings : undefined;
}

/** LOGIN_ACCOUNT_MAX_FAILURES_PER_HOUR: 0 (off) or 2 to 100, split in two halves. */
export function accountHourlyBound(env: Env): number {
  const value = int(env, "LOGIN_ACCOUNT_MAX_FAILURES_PER_HOUR", 100, 0, 100);
  if (value === 1) throw new ConfigError("LOGIN_ACCOUNT_MAX_FAILURES_PER_HOUR", "must be 0 (off) or at least 2");
  return value;
}
