// The TwoFactorService operations, and proving a second factor (for sign-in and Disable).
//
// A user's two-factor state is one TwoFactorRecord changed only through record.ts's
// compare-and-set; what an operation may do depends on the enrolment's state (states.ts). Every
// code check runs under the account's second-factor guessing limit (`attempt`, proof.ts), kept in
// the attempt store under its own key, separate from the password limit. Here: turning the second
// factor on, off and over (Setup, Enable, Reset, Disable) and its status; the pending secrets they
// confirm are in pending.ts, devices in devices.ts, the password and step-up checks in step-up.ts.

import { countGuess, hourly, refuseIfLocked } from "../attempt-limit.ts";
import type { Clock } from "../clock.ts";
import { AuthError, invalidArgument } from "../errors.ts";
import type { SecurityEvents } from "../events.ts";
import type { Logger } from "../log.ts";
import type { Notifier } from "../mail/notifications.ts";
import type { PasswordCheck } from "../passwords/check.ts";
import type { KeyedHasher, SecretSealer } from "../secrets/server-secrets.ts";
import { requireUser as requireUserOf, type Caller, type ClientInfo, sessionEnded, unknownClient } from "../sessions/caller.ts";
import { passesCutoff } from "../sessions/cutoffs.ts";
import type { Sessions } from "../sessions/sessions.ts";
import type { AttemptPolicy, Store, TwoFactorRecord, UserRecord } from "../store/port.ts";
import { cutOffOtherSessions, endOthersFirst, requireCallerPasses, requireUserCutoffPasses } from "./cutoff.ts";
import { createDevices, deviceView } from "./devices.ts";
import { checkCode, checkDeviceName, checkSecret } from "./inputs.ts";
import { createPendingSecrets, type Enrolment } from "./pending.ts";
import { createFactorProof, type FactorProof, type ProvingUser, twoFactorAttemptKeys } from "./proof.ts";
import { emptyRecord, twoFactorRecords } from "./record.ts";
import { newRecoveryCodes } from "./recovery-codes.ts";
import { enrolmentState, isLive } from "./states.ts";
import { noReauthentication } from "./reauthentication.ts";
import { createStepUp } from "./step-up.ts";

export type { Device } from "./devices.ts";
export type { Enrolment } from "./pending.ts";
export type { FactorProof } from "./proof.ts";
export { twoFactorAttemptKey, twoFactorAttemptKeys } from "./proof.ts";

export interface TwoFactorStatus {
  enabled: boolean;
  enabledAt: Date | null;
  deviceCount: number;
  recoveryCodesRemaining: number;
}

export interface TwoFactorPolicy {
  /** Wrong second-factor codes before the second factor locks (always on). */
  attempts: AttemptPolicy;
  /** Wrong TOTP codes in a row, across locks, before TOTP codes are refused (see proof.ts). */
  maxConsecutiveFailures: number;
  /** The otpauth issuer shown by authenticator apps. */
  totpIssuer: string;
  /** How long a secret from Setup or Reset stays confirmable. */
  setupTtlSeconds: number;
  /** Setups and Resets one account may make in an hour; 0: no limit (see countSetup). */
  maxSetupsPerHour: number;
  /** How long after signing in high-value changes need no fresh proof (see reauthentication.ts). */
  reauthMaxAgeSeconds: number;
}

export interface TwoFactorDeps {
  store: Pick<Store, "twoFactor" | "users" | "attempts">;
  clock: Clock;
  secrets: { totpSecrets: SecretSealer; recoveryCodes: KeyedHasher };
  log: Pick<Logger, "info" | "warn">;
  /** Security notifications: every change of the second factor is mailed to the owner. */
  notifier: Notifier;
  policy: TwoFactorPolicy;
  /** Hears of the locks a wrong code sets. */
  events: Pick<SecurityEvents, "locked">;
}

export function createTwoFactor(deps: TwoFactorDeps, checkPassword: PasswordCheck, sessions: Sessions) {
  const { store, clock, policy } = deps;
  const { totpSecrets } = deps.secrets;
  const records = twoFactorRecords(store.twoFactor, clock);
  const { load, mutate } = records;

  const requireUser = (caller: Caller) => requireUserOf(store.users, caller);

  /**
   * Setup and Reset draw a QR code, 6-10 ms of the main thread each, where a signed-in call
   * otherwise costs tens of microseconds: any account, which anyone may register, repeating Setup
   * a hundred times a second held the event loop for every other client. Each account has
   * TOTP_SETUP_MAX_PER_HOUR of them; one more is RATE_LIMITED. A budget, not a guess: a success
   * gives nothing back. Once spent, a call is refused before anything else is done
   * (refuseSpentSetups); a call is counted only once it has proven what it must and will draw a
   * code (countSetup), so that one refused before (no password, a wrong one, no recent sign-in)
   * spends nothing: a stolen access token alone cannot spend the owner's budget and keep the
   * owner from replacing an authenticator.
   */
  const setupsPerHour = policy.maxSetupsPerHour;
  const setupBudget = hourly(setupsPerHour);
  const tooManySetups = (retryAfterSeconds: number) =>
    new AuthError("RATE_LIMITED", "too many two-factor setups for this account; try again later", { retryAfterSeconds });
  const setupKey = (userId: string) => `2fa-setup:${userId}`;
  async function refuseSpentSetups(userId: string): Promise<void> {
    if (setupsPerHour > 0) await refuseIfLocked({ attempts: store.attempts, clock }, setupKey(userId), tooManySetups);
  }
  async function countSetup(userId: string): Promise<void> {
    if (setupsPerHour > 0) await countGuess({ attempts: store.attempts, clock }, setupKey(userId), setupBudget, tooManySetups);
  }

  async function requireEnabled(userId: string): Promise<TwoFactorRecord> {
    const record = await load(userId);
    if (record.enabledAt === null) {
      throw new AuthError("TWO_FACTOR_NOT_ENABLED", "two-factor authentication is not enabled for this account");
    }
    return record;
  }

  const onLocked = (userId: string) => {
    deps.events.locked("second_factor", "account");
    // The metrics count locks without whose they are, and are off by default: an owner locked out
    // or an account under attack is investigated from the log.
    deps.log.warn({ factor: "second_factor", userId }, "guessing limit reached: a lock starts");
  };
  const onRecoveryCodeUsed = (user: ProvingUser, client: ClientInfo) => deps.notifier.notify(user, "recovery_code_used", client);
  const onGuessedAfterFirstStep = (user: ProvingUser, client: ClientInfo) => deps.notifier.notify(user, "second_factor_guessed", client);
  const proofs = createFactorProof({
    attempts: store.attempts,
    clock,
    records,
    secrets: deps.secrets,
    policy: policy.attempts,
    maxConsecutiveFailures: policy.maxConsecutiveFailures,
    onLocked,
    onRecoveryCodeUsed,
    onGuessedAfterFirstStep,
  });
  const { spendCode, recoveryCodeHashes, checkProof, prove } = proofs;
  const pending = createPendingSecrets({ clock, records, totpSecrets, policy, attempt: proofs.attempt });
  const { newPending, enrolment, pendingFor, confirmPending } = pending;
  const { passwordProof, confirmIdentity } = createStepUp({
    clock,
    records,
    checkPassword,
    reauthMaxAgeSeconds: policy.reauthMaxAgeSeconds,
    proofs,
  });

  /** Marks the records of sessions a cutoff has already ended as revoked, and counts them. */
  function revokeOthers(caller: Caller): Promise<number> {
    return sessions.revokeAllOf(caller.userId, caller.sessionId);
  }

  /** The first of the two writes of a change that keeps the caller's session (cutoff.ts). */
  const endOthers = (caller: Caller) => endOthersFirst(store, clock, caller);

  const devices = createDevices({
    records,
    log: deps.log,
    notifier: deps.notifier,
    pending,
    requireUser,
    requireEnabled,
    confirmIdentity,
    revokeOthers,
    endOthers,
    requireUserPasses: (caller) => requireUserCutoffPasses(store, caller),
  });

  return {
    async isEnabled(userId: string): Promise<boolean> {
      return (await load(userId)).enabledAt !== null;
    },

    /** Whether sign-in needs a second factor, and the session cutoff generation to open under. */
    async stateOf(userId: string): Promise<{ enabled: boolean; generation: number }> {
      const record = await load(userId);
      return { enabled: record.enabledAt !== null, generation: record.sessionCutoff.generation };
    },

    async setup(
      caller: Caller,
      input: { password: string; additionalDevice: boolean; passwordRequired?: boolean },
      client: ClientInfo = unknownClient,
    ): Promise<Enrolment> {
      const user = await requireUser(caller);
      await refuseSpentSetups(user.id);
      const record = await load(user.id);
      const state = enrolmentState(record, clock.now());
      const enabled = state.name !== "off" && state.name !== "enrolling";
      // With 2FA on, an access token alone must not reveal the secret nor start adding a device:
      // either would hand the second factor to whoever stole the token. Some clients ask for the
      // password every time (api-auth-2fa.md's generate).
      if ((enabled || input.passwordRequired === true) && input.password.length === 0) {
        throw invalidArgument(
          "password",
          enabled ? "password is required while two-factor authentication is enabled" : "password is required",
        );
      }
      if (input.password.length > 0) await passwordProof(caller, user, input.password, client);
      // Turning it on, without the password: only from a recent sign-in. A thief with an access
      // token alone would otherwise enrol their own authenticator, which outlives a password reset
      // (the mailbox does not prove the second factor) and locks the owner out for good.
      else if (!enabled) await confirmIdentity(caller, user, noReauthentication, client);
      await countSetup(user.id);
      if (!enabled) return newPending(user, "enrol");
      if (input.additionalDevice) return newPending(user, "device");
      const primary = record.devices[0];
      if (primary === undefined) throw new Error("two-factor is enabled without a device");
      return enrolment(user, totpSecrets.open(primary.secretCiphertext, user.id), undefined);
    },

    async enable(caller: Caller, input: { code: string; deviceName: string; secret: string }, client: ClientInfo) {
      const code = checkCode("code", input.code);
      const name = checkDeviceName("device_name", input.deviceName);
      const given = input.secret.length > 0 ? checkSecret("secret", input.secret) : undefined;
      const user = await requireUser(caller);
      const record = await load(user.id);
      // Enable confirms an enrolment (turning 2FA on) or a Reset (replacing everything).
      const state = enrolmentState(record, clock.now());
      if (state.name === "on" || state.name === "adding_device") {
        throw new AuthError("TWO_FACTOR_ALREADY_ENABLED", "two-factor authentication is already enabled; use Reset or AddDevice");
      }
      const enabled = state.name === "replacing";
      const pending = pendingFor(record, enabled ? "replace" : "enrol", given);
      const recoveryCodes = newRecoveryCodes();
      const result = await confirmPending(
        user.id,
        pending,
        code,
        (next, device, now) => {
          // Enrol turns 2FA on; a confirmed Reset replaces every device and recovery code.
          next.devices = [device];
          next.recoveryCodeHashes = recoveryCodeHashes(recoveryCodes);
          next.spentRecoveryCodeHashes = [];
          next.pending = [];
          next.enabledAt ??= now;
          cutOffOtherSessions(next, caller);
          return { device: deviceView(device), enabledAt: next.enabledAt };
        },
        name,
        () => endOthers(caller),
      );
      // A new set of devices, its first code just proven: wrong codes of the devices it replaced
      // no longer count in a row (proof.ts), or the owner who answered guessing by replacing the
      // authenticator would find its codes refused for the rest of the 30 days.
      for (const key of twoFactorAttemptKeys(user.id)) await store.attempts.clear(key);
      const revokedSessionCount = await revokeOthers(caller);
      deps.log.info({ userId: user.id, reset: enabled }, "two-factor authentication enabled");
      deps.notifier.notify(user, enabled ? "two_factor_reset" : "two_factor_enabled", client);
      return { ...result, recoveryCodes, revokedSessionCount };
    },

    async verify(caller: Caller, rawCode: string): Promise<string> {
      const code = checkCode("code", rawCode);
      await requireEnabled(caller.userId);
      return spendCode(caller.userId, code);
    },

    async disable(caller: Caller, input: { code: string; recoveryCode: string; password: string }, client: ClientInfo): Promise<number> {
      const given = [input.code, input.recoveryCode, input.password].filter((v) => v.length > 0).length;
      if (given !== 1) {
        throw invalidArgument("code", "give exactly one of code, recovery_code or password");
      }
      const user = await requireUser(caller);
      await requireEnabled(user.id);
      if (input.password.length > 0) await passwordProof(caller, user, input.password, client);
      else await prove(user, checkProof({ code: input.code, recoveryCode: input.recoveryCode }, "code", "recovery_code"), client);
      await endOthers(caller);
      await mutate(user.id, (record) => {
        const next = { ...emptyRecord(user.id), version: record.version, sessionCutoff: record.sessionCutoff };
        cutOffOtherSessions(next, caller);
        return { next, result: undefined };
      });
      deps.log.info({ userId: user.id }, "two-factor authentication disabled");
      deps.notifier.notify(user, "two_factor_disabled", client);
      return revokeOthers(caller);
    },

    async status(caller: Caller): Promise<TwoFactorStatus> {
      return this.statusOf(caller.userId);
    },

    /** Any user's second-factor state (AdminService.GetUser; the caller's permission is checked there). */
    async statusOf(userId: string): Promise<TwoFactorStatus> {
      const record = await load(userId);
      return {
        enabled: record.enabledAt !== null,
        enabledAt: record.enabledAt,
        deviceCount: record.devices.length,
        recoveryCodesRemaining: record.recoveryCodeHashes.length,
      };
    },

    /**
     * Clears the user's second factor (and any enrolment): an administrator's ResetSecondFactor (the
     * permission is checked there), or `why` another cause (the log line says which). Devices,
     * recovery codes and pending secrets go, the lock is lifted, and every session ends in the same
     * write (a lost authenticator may mean a stolen one). Returns whether there was anything to reset.
     *
     * `first`, when given, runs once there is something to reset, before the reset is written, and
     * may throw to reset nothing: AdminService's write to the user record that decides the reset
     * may happen (see admin.ts). A reset that finds nothing left to reset by then (the owner turned
     * it off meanwhile) is still nothing.
     */
    async resetBy(user: UserRecord, client: ClientInfo, why = "by an administrator", first?: () => Promise<unknown>): Promise<boolean> {
      // An expired enrolment is nothing to reset: it can never be confirmed, and resetting it
      // would end every session and tell the owner their second factor was turned off.
      const nothingToReset = (record: TwoFactorRecord, now: Date) =>
        record.enabledAt === null && !record.pending.some((p) => isLive(p, now));
      if (first !== undefined) {
        if (nothingToReset(await load(user.id), clock.now())) return false;
        await first();
      }
      // One write: it keeps no session, so no change racing it can be left keeping the wrong one
      // (the other sessions' "keep me" writes read this cutoff first: passesTwoFactorCutoff).
      const changed = await mutate(user.id, (record, now) => {
        if (nothingToReset(record, now)) return { next: null, result: false };
        const sessionCutoff = { generation: record.sessionCutoff.generation + 1, keptSessionId: null };
        return { next: { ...emptyRecord(user.id), version: record.version, sessionCutoff }, result: true };
      });
      if (!changed) return false;
      for (const key of twoFactorAttemptKeys(user.id)) await store.attempts.clear(key);
      await sessions.revokeAllOf(user.id);
      deps.log.info({ userId: user.id }, `two-factor authentication reset ${why}`);
      deps.notifier.notify(user, "two_factor_disabled", client);
      return true;
    },

    async reset(caller: Caller, rawPassword: string, client: ClientInfo = unknownClient): Promise<Enrolment> {
      const user = await requireUser(caller);
      await requireEnabled(user.id);
      await refuseSpentSetups(user.id);
      await passwordProof(caller, user, rawPassword, client);
      await countSetup(user.id);
      return newPending(user, "replace");
    },

    // ---- authenticator devices (devices.ts) ----
    ...devices,

    async regenerateRecoveryCodes(caller: Caller, rawCode: string, client: ClientInfo): Promise<string[]> {
      const code = checkCode("code", rawCode);
      const user = await requireUser(caller);
      await requireEnabled(caller.userId);
      // Not from a session a security change has ended since the call was authenticated: new
      // codes would outlast the change that was to shut its holder out. The user record's cutoff,
      // as just read, is checked before the code is spent (a refusal spends nothing); the record's
      // own is checked in the write.
      if (!passesCutoff(user.sessionCutoff, caller.sessionId, caller.generations.user)) throw sessionEnded();
      await spendCode(caller.userId, code);
      const codes = newRecoveryCodes();
      const hashes = recoveryCodeHashes(codes);
      await mutate(caller.userId, (record) => {
        if (record.enabledAt === null) {
          throw new AuthError("TWO_FACTOR_NOT_ENABLED", "two-factor authentication is not enabled for this account");
        }
        requireCallerPasses(record, caller);
        record.recoveryCodeHashes = hashes;
        record.spentRecoveryCodeHashes = [];
        return { next: record, result: undefined };
      });
      deps.notifier.notify(user, "recovery_codes_regenerated", client);
      return codes;
    },

    // ---- proving a second factor, for sign-in ----

    /** Validates the shape of a login's second factor before anything is checked. */
    checkLoginProof(proof: FactorProof, codeField: string, recoveryField: string): FactorProof | undefined {
      if ((proof.code ?? "").length === 0 && (proof.recoveryCode ?? "").length === 0) return undefined;
      return checkProof(proof, codeField, recoveryField);
    },

    /** Spends the proof for the user, under the second-factor lock. */
    prove,

    /** The step-up check of high-value changes (see confirmIdentity). */
    confirmIdentity,
  };
}

export type TwoFactor = ReturnType<typeof createTwoFactor>;
