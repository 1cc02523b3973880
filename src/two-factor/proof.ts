// Proving a second factor: spending a TOTP code or a recovery code, each under the account's
// second-factor guessing limit (`attempt`), kept in the attempt store under its own key, separate
// from the password limit.

import { countGuess, limitedAttempt, refuseIfLocked } from "../attempt-limit.ts";
import type { Clock } from "../clock.ts";
import { AuthError, invalidArgument } from "../errors.ts";
import { wellFormed } from "../input.ts";
import type { KeyedHasher, SecretSealer } from "../secrets/server-secrets.ts";
import type { ClientInfo } from "../sessions/caller.ts";
import type { AttemptPolicy, AttemptStore, TotpDeviceRecord, TwoFactorRecord } from "../store/port.ts";
import { checkCode } from "./inputs.ts";
import type { TwoFactorRecords } from "./record.ts";
import { findHash, normalizeRecoveryCode } from "./recovery-codes.ts";
import { matchStep } from "./totp.ts";

/** A second factor presented at sign-in or to disable: exactly one of the two. */
export interface FactorProof {
  code?: string | undefined;
  recoveryCode?: string | undefined;
}

/** The account a second factor is proven for: whose codes, and where its notices go. */
export interface ProvingUser {
  id: string;
  email: string;
}

/** The guessing-limit key of an account's second factor, apart from its password's. */
export const twoFactorAttemptKey = (userId: string): string => `2fa:${userId}`;
/** Wrong TOTP codes in a row for the account, across its locks (see `spendOnce`). */
const twoFactorInARowKey = (userId: string): string => `2fa-in-a-row:${userId}`;
/** How long wrong codes in a row are remembered, and how long their limit refuses codes: 30 days. */
const inARowWindowSeconds = 30 * 24 * 3_600;
/** Every guessing count of an account's second factor: what a reset, a deletion or an administrator lifts. */
export const twoFactorAttemptKeys = (userId: string): string[] => [twoFactorAttemptKey(userId), twoFactorInARowKey(userId)];

export interface FactorProofDeps {
  attempts: AttemptStore;
  clock: Clock;
  records: Pick<TwoFactorRecords, "mutate">;
  secrets: { totpSecrets: SecretSealer; recoveryCodes: KeyedHasher };
  /** Wrong second-factor codes before the second factor locks (always on). */
  policy: AttemptPolicy;
  /** Wrong TOTP codes in a row, across locks, before TOTP codes are refused (see spendOnce). */
  maxConsecutiveFailures: number;
  /** Hears of a lock a wrong code sets on the account's second factor. */
  onLocked: (userId: string) => void;
  /**
   * Hears of a lock wrong codes set once the first step was passed (a sign-in's password, provider
   * or emailed code; a step-up's password): one factor of two proven and the other guessed at,
   * which the owner is told of (ASVS 5.0 6.3.5).
   */
  onGuessedAfterFirstStep: (user: ProvingUser, client: ClientInfo) => void;
  /** Hears of a recovery code spent (its owner is told: one fewer, and maybe not their doing). */
  onRecoveryCodeUsed: (user: ProvingUser, client: ClientInfo) => void;
}

export function createFactorProof(deps: FactorProofDeps) {
  const { clock, policy, onLocked } = deps;
  const inARow = { maxFailures: deps.maxConsecutiveFailures, windowSeconds: inARowWindowSeconds, lockSeconds: inARowWindowSeconds };
  const { mutate } = deps.records;
  const { totpSecrets, recoveryCodes } = deps.secrets;
  const limits = { attempts: deps.attempts, clock };
  const lockedError = (retryAfterSeconds: number) =>
    new AuthError("TWO_FACTOR_LOCKED", `too many wrong codes; the second factor is locked, try again in ${retryAfterSeconds} seconds`, {
      retryAfterSeconds,
    });
  const lockedInARow = (retryAfterSeconds: number) =>
    new AuthError(
      "TWO_FACTOR_LOCKED",
      "too many wrong authenticator codes in a row; they are refused for now: use a recovery code or a passkey",
      { retryAfterSeconds },
    );
  const wrongCode = () => new AuthError("INVALID_TWO_FACTOR_CODE", "the code is wrong or was already used");

  /** One second-factor guess under the account's lock; a null outcome is a wrong code. */
  async function attempt<T>(userId: string, check: () => Promise<T | null>): Promise<T> {
    const result = await limitedAttempt(
      { ...limits, onLocked: () => onLocked(userId) },
      twoFactorAttemptKey(userId),
      policy,
      lockedError,
      check,
    );
    if (result === null) throw wrongCode();
    return result;
  }
  /**
   * Spends a code under the account's limit. `claim` looks at the freshest record: it marks the
   * code used in it and returns what the caller gets, or says the code was "spent" or "wrong".
   *
   * Unlike other guesses, a code is looked at before it is counted, because a code already spent
   * (a double-submitted form, a retried request, the losers of a race on one valid code) is no
   * guess at all: it is refused without counting, so it can never lock the owner out. A fresh
   * right code first claims its place (exactly one of any number of racing copies does), then
   * takes its slot under the limit like a wrong one: every answer other than "locked" still costs
   * one counted slot, so parallel guessing stays capped at the limit. A right code refused because
   * the limit filled meanwhile stays spent; the lock refuses everything anyway.
   *
   * The lock lifts after its window, and without more, wrong TOTP codes could go on for ever at
   * its pace (5 per 15 minutes: 480 a day, a 4 % chance a month against a 6-digit code). A second
   * count takes wrong TOTP codes in a row across locks, up to `maxConsecutiveFailures` (NIST SP
   * 800-63B 5.2.2: at most 100 consecutive failures per account); then TOTP codes are refused for
   * its window, 30 days. It cannot lock the owner out: recovery codes (60 random bits each, beyond
   * guessing at any pace) and passkeys still prove the second factor. A right code (a recovery
   * code among them) lifts it, as do a new authenticator confirmed with Enable and an
   * administrator's reset of the second factor; a passkey does not (sign-in/passkey.ts clears only
   * the window's count), nor does a password reset: the mailbox does not prove the second factor.
   * `onLock` hears of a lock this guess set.
   */
  async function spendOnce<T>(
    userId: string,
    kind: "totp" | "recovery",
    claim: (record: TwoFactorRecord, now: Date) => { claimed: T } | "spent" | "wrong",
    onLock?: () => void,
  ): Promise<T> {
    const key = twoFactorAttemptKey(userId);
    const inARowKey = twoFactorInARowKey(userId);
    await refuseIfLocked(limits, key, lockedError);
    if (kind === "totp") await refuseIfLocked(limits, inARowKey, lockedInARow);
    const outcome = await mutate(userId, (record, now) => {
      const claimed = claim(record, now);
      return { next: typeof claimed === "string" ? null : record, result: claimed };
    });
    if (outcome === "spent") throw wrongCode();
    const lockedNow = await countGuess(limits, key, policy, lockedError);
    if (outcome === "wrong") {
      const lockedInARowNow = kind === "totp" && (await countGuess(limits, inARowKey, inARow, lockedInARow));
      if (lockedNow || lockedInARowNow) {
        onLocked(userId);
        onLock?.();
      }
      throw wrongCode();
    }
    await deps.attempts.clear(key);
    await deps.attempts.clear(inARowKey);
    return outcome.claimed;
  }

  /** Spends a TOTP code of any of the user's devices; returns the device's id. */
  function spendCode(userId: string, code: string, onLock?: () => void): Promise<string> {
    return spendOnce(
      userId,
      "totp",
      (record, now) => {
        let claimed: { device: TotpDeviceRecord; step: number } | null = null;
        let spent = false;
        for (const device of record.devices) {
          const step = matchStep(totpSecrets.open(device.secretCiphertext, userId), code, now, null);
          if (step === null) continue;
          if (device.lastUsedStep !== null && step <= device.lastUsedStep) spent = true;
          else if (claimed === null) claimed = { device, step };
        }
        if (claimed === null) return spent ? "spent" : "wrong";
        claimed.device.lastUsedStep = claimed.step;
        claimed.device.lastUsedAt = now;
        return { claimed: claimed.device.id };
      },
      onLock,
    );
  }

  /** What is stored of recovery codes: keyed hashes of their canonical form. */
  function recoveryCodeHashes(codes: string[]): string[] {
    return codes.map((c) => recoveryCodes.keyedHash(normalizeRecoveryCode(c) ?? c));
  }

  /**
   * Spends one of the user's recovery codes; returns how many are left. A malformed one is a wrong
   * guess like any other; one of this set already used is refused without counting, as a spent
   * TOTP code is (its hash is kept until the set is replaced).
   */
  function spendRecoveryCode(userId: string, raw: string, onLock?: () => void): Promise<number> {
    const normalized = normalizeRecoveryCode(raw);
    const hash = normalized === null ? null : recoveryCodes.keyedHash(normalized);
    return spendOnce(
      userId,
      "recovery",
      (record) => {
        if (hash === null) return "wrong";
        const index = findHash(record.recoveryCodeHashes, hash);
        if (index === -1) return findHash(record.spentRecoveryCodeHashes, hash) === -1 ? "wrong" : "spent";
        record.recoveryCodeHashes.splice(index, 1);
        record.spentRecoveryCodeHashes.push(hash);
        return { claimed: record.recoveryCodeHashes.length };
      },
      onLock,
    );
  }

  function checkProof(proof: FactorProof, codeField: string, recoveryField: string): FactorProof {
    const code = proof.code ?? "";
    const recoveryCode = proof.recoveryCode ?? "";
    if (code.length > 0 && recoveryCode.length > 0) {
      throw invalidArgument(codeField, `give either ${codeField} or ${recoveryField}, not both`);
    }
    if (recoveryCode.length > 0) {
      wellFormed(recoveryField, recoveryCode);
      if (recoveryCode.length > 64) throw invalidArgument(recoveryField, `${recoveryField} is too long`);
      return { recoveryCode };
    }
    return { code: checkCode(codeField, code) };
  }

  /** Spends the proof for the user, under the second-factor lock. */
  async function prove(user: ProvingUser, proof: FactorProof, client: ClientInfo): Promise<void> {
    const onLock = () => deps.onGuessedAfterFirstStep(user, client);
    if (proof.recoveryCode === undefined) {
      await spendCode(user.id, proof.code ?? "", onLock);
      return;
    }
    await spendRecoveryCode(user.id, proof.recoveryCode, onLock);
    deps.onRecoveryCodeUsed(user, client);
  }

  return { attempt, spendCode, recoveryCodeHashes, checkProof, prove };
}

export type FactorProofs = ReturnType<typeof createFactorProof>;
