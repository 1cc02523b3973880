// The second-factor challenge: a single-use token, stored only as a hash, that carries a sign-in
// from "second factor pending" to "signed in". It remembers what the first step decided (the
// user, remember_me, and the account's credential generation when the password was checked, so
// that a password change or reset in between voids it).
import { addSeconds, type Clock } from "../clock.ts";
import { AuthError } from "../errors.ts";
import { checkOpaque } from "../input.ts";
import { type CodeRecord, type CodeStore, credentialGeneration, type UserRecord } from "../store/port.ts";
import { randomToken, tokenHash } from "../tokens/opaque.ts";

export interface Challenge {
  token: string;
  expiresAt: Date;
}

export interface ChallengeDeps {
  codes: CodeStore;
  clock: Clock;
  /** How long a challenge lives (LOGIN_CHALLENGE_TTL_SECONDS). */
  ttlSeconds: number;
}

/** The one answer for a challenge that is unknown, expired, spent or void. */
export const invalidChallenge = () => new AuthError("INVALID_CHALLENGE", "the sign-in challenge is invalid or has expired; sign in again");

export function createChallenges(deps: ChallengeDeps) {
  const { codes, clock } = deps;
  return {
    /** A new challenge; `checked` is the user as read before the password was checked. */
    async issue(checked: UserRecord, rememberMe: boolean): Promise<Challenge> {
      const token = randomToken(32);
      const now = clock.now();
      const expiresAt = addSeconds(now, deps.ttlSeconds);
      await codes.replace({
        codeHash: tokenHash(token),
        purpose: "login_challenge",
        userId: checked.id,
        createdAt: now,
        expiresAt,
        rememberMe,
        userGeneration: credentialGeneration(checked),
      });
      return { token, expiresAt };
    },

    /** The live challenge a token names, without spending it. */
    async find(raw: string): Promise<CodeRecord & { token: string }> {
      const token = checkOpaque("challenge_token", raw, "INVALID_CHALLENGE");
      const record = await codes.find(tokenHash(token), "login_challenge", clock.now());
      if (record === null) throw invalidChallenge();
      return { ...record, token };
    },

    /** Spends the challenge; exactly one of any number of concurrent completions gets it. */
    async consume(token: string): Promise<void> {
      if ((await codes.consume(tokenHash(token), "login_challenge", clock.now())) === null) throw invalidChallenge();
    },
  };
}

export type Challenges = ReturnType<typeof createChallenges>;
