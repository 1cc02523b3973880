// The tests' password hasher: still argon2id doing real work on every register, login and password
// check (so an unknown email and a wrong password still cost the same), but with small parameters
// instead of the production 19456 KiB × 2 passes, which would make hashing most of the suite's CPU
// time. argon2 itself refuses less than 8 KiB of memory per lane and fewer than 1 pass; only config
// parsing enforces the OWASP minimums, and these parameters never go through config.
import { createPasswordHasher, type Argon2Params, type PasswordHasher } from "../../src/passwords/hasher.ts";

export const cheapArgon2: Argon2Params = { memoryKiB: 256, timeCost: 1, parallelism: 1, maxConcurrent: 4 };

export function createCheapHasher(): Promise<PasswordHasher> {
  return createPasswordHasher(cheapArgon2);
}
