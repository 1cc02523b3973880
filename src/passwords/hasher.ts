import argon2 from "argon2";

export interface Argon2Params {
  memoryKiB: number;
  timeCost: number;
  parallelism: number;
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
  const hash = (password: string) => argon2.hash(password, options);
  const verify = async (stored: string, password: string) => {
    try {
      return await argon2.verify(stored, password);
    } catch {
      return false;
    }
  };
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
