// The TwoFactorService operations, and proving a second factor (for sign-in and Disable).
//
// A user's two-factor state is one TwoFactorRecord changed only through record.ts's
// compare-and-set; what an operation may do depends on the enrolment's state (states.ts). Every
// code check runs under the account's second-factor guessing limit (`attempt`), kept in the
// attempt store under its own key, separate from the password limit.

import { randomUUID, timingSafeEqual } from "node:crypto";
import { countGuess, limitedAttempt, refuseIfLocked } from "../attempt-limit.ts";
import { addSeconds, type Clock } from "../clock.ts";
import { AuthError, invalidArgument } from "../errors.ts";
import type { SecurityEvents } from "../events.ts";
import { checkId, wellFormed } from "../input.ts";
import type { Logger } from "../log.ts";
import type { Notifier } from "../mail/notifications.ts";
import type { PasswordCheck } from "../passwords/check.ts";
import { checkPresentedPassword } from "../passwords/policy.ts";
import type { KeyedHasher, SecretSealer } from "../secrets/server-secrets.ts";
import { requireUser as requireUserOf, type Caller, type ClientInfo } from "../sessions/caller.ts";
import { passesCutoff, type Sessions } from "../sessions/sessions.ts";
import type { AttemptPolicy, PendingSecretRecord, Store, TotpDeviceRecord, TwoFactorRecord, UserRecord } from "../store/port.ts";
import { emptyRecord, twoFactorRecords } from "./record.ts";
import { isGiven, signedInRecently, type Reauthentication } from "./reauthentication.ts";
import { findHash, newRecoveryCodes, normalizeRecoveryCode } from "./recovery-codes.ts";
import { checkCode, checkDeviceName, checkSecret } from "./inputs.ts";
import { enrolmentState, livePending } from "./states.ts";
import { base32, matchStep, newSecret, otpauthUrl, qrCodeDataUrl } from "./totp.ts";

export interface Enrolment {
  secret: string;
  otpauthUrl: string;
  qrCodeDataUrl: string;
  /** Unset for the existing, active enrolment. */
  expiresAt: Date | undefined;
  existing: boolean;
}

export interface Device {
  id: string;
  name: string;
  createdAt: Date;
  lastUsedAt: Date | null;
}

export interface TwoFactorStatus {
  enabled: boolean;
  enabledAt: Date | null;
  deviceCount: number;
  recoveryCodesRemaining: number;
}

/** A second factor presented at sign-in or to disable: exactly one of the two. */
export interface FactorProof {
  code?: string | undefined;
  recoveryCode?: string | undefined;
}

export interface TwoFactorPolicy {
  /** Wrong second-factor codes before the second factor locks (always on). */
  attempts: AttemptPolicy;
  /** The otpauth issuer shown by authenticator apps. */
  totpIssuer: string;
  /** How long a secret from Setup or Reset stays confirmable. */
  setupTtlSeconds: number;
  /** How long after signing in high-value changes need no fresh proof (see reauthentication.ts). */
  reauthMaxAgeSeconds: number;
}

export interface TwoFactorDeps {
  store: Pick<Store, "twoFactor" | "users" | "attempts">;
  clock: Clock;
  secrets: { totpSecrets: SecretSealer; recoveryCodes: KeyedHasher };
  log: Pick<Logger, "info">;
  /** Security notifications: every change of the second factor is mailed to the owner. */
  notifier: Notifier;
  policy: TwoFactorPolicy;
  /** Hears of the locks a wrong code sets. */
  events: Pick<SecurityEvents, "locked">;
}

const maxDevices = 10;

/** The guessing-limit key of an account's second factor, apart from its password's. */
export const twoFactorAttemptKey = (userId: string): string => `2fa:${userId}`;

/**
 * Ends every session of the record's user but the caller's, in the same write as the change:
 * a crash or failover before the session records are cleaned up cannot leave them usable.
 */
function cutOffOtherSessions(record: TwoFactorRecord, caller: Caller): void {
  // Only a session this record still lets through may be the one kept: a change that lands after
  // a concurrent one ended the caller's session must not revive it (and end the other's).
  if (!passesCutoff(record.sessionCutoff, caller.sessionId, caller.generations.twoFactor)) {
    throw new AuthError("SESSION_REVOKED", "the session has ended; sign in again");
  }
  record.sessionCutoff = { generation: record.sessionCutoff.generation + 1, keptSessionId: caller.sessionId };
}

function deviceView(d: TotpDeviceRecord): Device {
  return { id: d.id, name: d.name, createdAt: d.createdAt, lastUsedAt: d.lastUsedAt };
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

export function createTwoFactor(deps: TwoFactorDeps, checkPassword: PasswordCheck, sessions: Sessions) {
  const { store, clock, policy } = deps;
  const { totpSecrets, recoveryCodes } = deps.secrets;
  const { load, mutate } = twoFactorRecords(store.twoFactor, clock);

  const requireUser = (caller: Caller) => requireUserOf(store.users, caller);

  async function requireEnabled(userId: string): Promise<TwoFactorRecord> {
    const record = await load(userId);
    if (record.enabledAt === null) {
      throw new AuthError("TWO_FACTOR_NOT_ENABLED", "two-factor authentication is not enabled for this account");
    }
    return record;
  }

  const onLocked = () => deps.events.locked("second_factor", "account");
  const limits = { attempts: store.attempts, clock, onLocked };
  const lockedError = (retryAfterSeconds: number) =>
    new AuthError("TWO_FACTOR_LOCKED", `too many wrong codes; the second factor is locked, try again in ${retryAfterSeconds} seconds`, {
      retryAfterSeconds,
    });
  const wrongCode = () => new AuthError("INVALID_TWO_FACTOR_CODE", "the code is wrong or was already used");

  /** One second-factor guess under the account's lock; a null outcome is a wrong code. */
  async function attempt<T>(userId: string, check: () => Promise<T | null>): Promise<T> {
    const result = await limitedAttempt(limits, twoFactorAttemptKey(userId), policy.attempts, lockedError, check);
    if (result === null) throw wrongCode();
    return result;
  }

  /**
   * Spends a TOTP code of any of the user's devices; returns the device's id.
   *
   * Unlike other guesses, a code is looked at before it is counted, because a code some device
   * already spent (a double-submitted form, a retried request, the losers of a race on one valid
   * code) is no guess at all: it is refused without counting, so it can never lock the owner out.
   * A fresh right code first claims its step (exactly one of any number of racing copies does),
   * then takes its slot under the limit like a wrong one: every answer other than "locked" still
   * costs one counted slot, so parallel guessing stays capped at the limit. A right code refused
   * because the limit filled meanwhile stays spent; the lock refuses everything anyway.
   */
  async function spendCode(userId: string, code: string): Promise<string> {
    const key = twoFactorAttemptKey(userId);
    await refuseIfLocked(limits, key, lockedError);
    const outcome = await mutate<"spent" | "wrong" | { deviceId: string }>(userId, (record, now) => {
      let claimed: { device: TotpDeviceRecord; step: number } | null = null;
      let spent = false;
      for (const device of record.devices) {
        const step = matchStep(totpSecrets.open(device.secretCiphertext, userId), code, now, null);
        if (step === null) continue;
        if (device.lastUsedStep !== null && step <= device.lastUsedStep) spent = true;
        else if (claimed === null) claimed = { device, step };
      }
      if (claimed === null) return { next: null, result: spent ? ("spent" as const) : ("wrong" as const) };
      claimed.device.lastUsedStep = claimed.step;
      claimed.device.lastUsedAt = now;
      return { next: record, result: { deviceId: claimed.device.id } };
    });
    if (outcome === "spent") throw wrongCode();
    const lockedNow = await countGuess(limits, key, policy.attempts, lockedError);
    if (outcome === "wrong") {
      if (lockedNow) onLocked();
      throw wrongCode();
    }
    await store.attempts.clear(key);
    return outcome.deviceId;
  }

  /** What is stored of recovery codes: keyed hashes of their canonical form. */
  function recoveryCodeHashes(codes: string[]): string[] {
    return codes.map((c) => recoveryCodes.keyedHash(normalizeRecoveryCode(c) ?? c));
  }

  /** Spends one of the user's recovery codes. A malformed one is a wrong guess like any other. */
  function spendRecoveryCode(userId: string, raw: string): Promise<true> {
    const normalized = normalizeRecoveryCode(raw);
    const hash = normalized === null ? null : recoveryCodes.keyedHash(normalized);
    return attempt(userId, () =>
      mutate(userId, (record) => {
        const index = hash === null ? -1 : findHash(record.recoveryCodeHashes, hash);
        if (index === -1) return { next: null, result: null };
        record.recoveryCodeHashes.splice(index, 1);
        return { next: record, result: true as const };
      }),
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

  async function prove(userId: string, proof: FactorProof): Promise<void> {
    if (proof.recoveryCode !== undefined) await spendRecoveryCode(userId, proof.recoveryCode);
    else await spendCode(userId, proof.code ?? "");
  }

  async function newPending(user: UserRecord, purpose: PendingSecretRecord["purpose"]): Promise<Enrolment> {
    const secret = newSecret();
    const secretCiphertext = totpSecrets.seal(secret, user.id);
    const expiresAt = await mutate(user.id, (record, now) => {
      const expiresAt = addSeconds(now, policy.setupTtlSeconds);
      record.pending = record.pending
        .filter((p) => p.purpose !== purpose && p.expiresAt > now)
        .concat({ purpose, secretCiphertext, createdAt: now, expiresAt });
      return { next: record, result: expiresAt };
    });
    return enrolment(user, secret, expiresAt);
  }

  async function enrolment(user: UserRecord, secret: Uint8Array, expiresAt: Date | undefined): Promise<Enrolment> {
    const url = otpauthUrl(secret, policy.totpIssuer, user.email);
    return {
      secret: base32(secret),
      otpauthUrl: url,
      qrCodeDataUrl: await qrCodeDataUrl(url),
      expiresAt,
      existing: expiresAt === undefined,
    };
  }

  /**
   * Finds the pending secret an Enable or AddDevice confirms, checking a secret passed back by the
   * client against it (only a secret this server issued to this user is accepted).
   */
  function pendingFor(record: TwoFactorRecord, purpose: PendingSecretRecord["purpose"], given: Uint8Array | undefined) {
    const pending = livePending(record, purpose, clock.now());
    if (pending === undefined) {
      throw new AuthError("TWO_FACTOR_SETUP_REQUIRED", "there is no pending secret to confirm; call Setup first");
    }
    if (given !== undefined && !sameBytes(given, totpSecrets.open(pending.secretCiphertext, record.userId))) {
      throw invalidArgument("secret", "secret was not issued to this account by Setup");
    }
    return pending;
  }

  /** Confirms `pending` with a code and applies `apply` to the record, as one atomic write. */
  function confirmPending<T>(
    userId: string,
    pending: PendingSecretRecord,
    code: string,
    apply: (record: TwoFactorRecord, device: TotpDeviceRecord, now: Date) => T,
    name: string,
  ): Promise<T> {
    return attempt(userId, () =>
      mutate(userId, (record, now) => {
        // The very pending secret that was checked: a concurrent Setup may have replaced it.
        const still = record.pending.find((p) => p.secretCiphertext === pending.secretCiphertext && p.expiresAt > now);
        if (still === undefined) {
          throw new AuthError("TWO_FACTOR_SETUP_REQUIRED", "the pending secret was replaced or has expired; call Setup again");
        }
        const step = matchStep(totpSecrets.open(still.secretCiphertext, userId), code, now, null);
        if (step === null) return { next: null, result: null };
        record.pending = record.pending.filter((p) => p !== still && p.expiresAt > now);
        const device: TotpDeviceRecord = {
          id: randomUUID(),
          name,
          secretCiphertext: still.secretCiphertext,
          createdAt: now,
          lastUsedAt: now,
          // The confirming code is spent: it cannot also sign in.
          lastUsedStep: step,
        };
        return { next: record, result: apply(record, device, now) };
      }),
    );
  }

  /** Marks the records of sessions a cutoff has already ended as revoked, and counts them. */
  function revokeOthers(caller: Caller): Promise<number> {
    return sessions.revokeAllOf(caller.userId, caller.sessionId);
  }

  /** The signed-in caller's password, counted under their session (passwords/check.ts), not strangers' limits. */
  async function passwordProof(caller: Caller, user: UserRecord, raw: string, field = "password"): Promise<void> {
    const password = checkPresentedPassword(field, raw);
    if (!(await checkPassword(user.email, user, password, { kind: "session", sessionId: caller.sessionId }))) {
      throw new AuthError("INVALID_CREDENTIALS", "the password is wrong", { field });
    }
  }

  /**
   * Lets a high-value change through when the session signed in recently, or when the request
   * proves the password (if the account has one) and, with 2FA on, a second factor. Every part is
   * checked for shape before any is checked for truth, and the password before the second factor,
   * so a wrong password never spends a code. Both run under their usual guessing limits.
   */
  async function confirmIdentity(caller: Caller, user: UserRecord, proof: Reauthentication): Promise<void> {
    if (!isGiven(proof)) {
      if (signedInRecently(caller.signedInAt, clock.now(), policy.reauthMaxAgeSeconds)) return;
      throw new AuthError(
        "REAUTHENTICATION_REQUIRED",
        "this change needs a recent sign-in: sign in again, or send the password (and a second-factor code) with it",
      );
    }
    const hasPassword = user.passwordHash !== null;
    if (hasPassword && proof.password.length === 0) {
      throw invalidArgument("reauthentication.password", "reauthentication.password is required");
    }
    const record = await load(user.id);
    const factor =
      record.enabledAt === null
        ? undefined
        : checkProof({ code: proof.code, recoveryCode: proof.recoveryCode }, "reauthentication.code", "reauthentication.recovery_code");
    if (!hasPassword && factor === undefined) {
      // Nothing this account can prove here (no password, no second factor): only a new sign-in.
      throw new AuthError("REAUTHENTICATION_REQUIRED", "this change needs a recent sign-in: sign in again");
    }
    if (hasPassword) await passwordProof(caller, user, proof.password, "reauthentication.password");
    if (factor !== undefined) await prove(user.id, factor);
  }

  return {
    async isEnabled(userId: string): Promise<boolean> {
      return (await load(userId)).enabledAt !== null;
    },

    /** Whether sign-in needs a second factor, and the session cutoff generation to open under. */
    async stateOf(userId: string): Promise<{ enabled: boolean; generation: number }> {
      const record = await load(userId);
      return { enabled: record.enabledAt !== null, generation: record.sessionCutoff.generation };
    },

    async setup(caller: Caller, input: { password: string; additionalDevice: boolean; passwordRequired?: boolean }): Promise<Enrolment> {
      const user = await requireUser(caller);
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
      if (input.password.length > 0) await passwordProof(caller, user, input.password);
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
          next.pending = [];
          next.enabledAt ??= now;
          cutOffOtherSessions(next, caller);
          return { device: deviceView(device), enabledAt: next.enabledAt };
        },
        name,
      );
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
      if (input.password.length > 0) await passwordProof(caller, user, input.password);
      else await prove(user.id, checkProof({ code: input.code, recoveryCode: input.recoveryCode }, "code", "recovery_code"));
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
     * An administrator's reset (AdminService.ResetSecondFactor; the permission is checked there):
     * the second factor off, devices, recovery codes and pending secrets gone, its lock lifted, and
     * every session ended in the same write (a lost authenticator may mean a stolen one). Returns
     * whether there was anything to reset.
     */
    async resetBy(user: UserRecord, client: ClientInfo): Promise<boolean> {
      const changed = await mutate(user.id, (record) => {
        if (record.enabledAt === null && record.pending.length === 0) return { next: null, result: false };
        const sessionCutoff = { generation: record.sessionCutoff.generation + 1, keptSessionId: null };
        return { next: { ...emptyRecord(user.id), version: record.version, sessionCutoff }, result: true };
      });
      if (!changed) return false;
      await store.attempts.clear(twoFactorAttemptKey(user.id));
      await sessions.revokeAllOf(user.id);
      deps.log.info({ userId: user.id }, "two-factor authentication reset by an administrator");
      deps.notifier.notify(user, "two_factor_disabled", client);
      return true;
    },

    async reset(caller: Caller, rawPassword: string): Promise<Enrolment> {
      const user = await requireUser(caller);
      await requireEnabled(user.id);
      await passwordProof(caller, user, rawPassword);
      return newPending(user, "replace");
    },

    async listDevices(caller: Caller): Promise<Device[]> {
      return (await load(caller.userId)).devices.map(deviceView);
    },

    async addDevice(caller: Caller, input: { secret: string; code: string; deviceName: string }, client: ClientInfo): Promise<Device> {
      const secret = checkSecret("secret", input.secret);
      const code = checkCode("code", input.code);
      const name = checkDeviceName("device_name", input.deviceName);
      const user = await requireUser(caller);
      const record = await requireEnabled(user.id);
      if (record.devices.length >= maxDevices) {
        throw new AuthError("DEVICE_LIMIT_REACHED", `an account can have at most ${maxDevices} devices`);
      }
      const pending = pendingFor(record, "device", secret);
      const device = await confirmPending(
        user.id,
        pending,
        code,
        (next, created) => {
          if (next.enabledAt === null) {
            throw new AuthError("TWO_FACTOR_NOT_ENABLED", "two-factor authentication is not enabled for this account");
          }
          if (next.devices.length >= maxDevices) {
            throw new AuthError("DEVICE_LIMIT_REACHED", `an account can have at most ${maxDevices} devices`);
          }
          next.devices.push(created);
          return deviceView(created);
        },
        name,
      );
      deps.log.info({ userId: user.id, deviceId: device.id }, "authenticator device added");
      deps.notifier.notify(user, "authenticator_added", client);
      return device;
    },

    async removeDevice(caller: Caller, rawId: string, proof: Reauthentication, client: ClientInfo): Promise<number> {
      const id = checkId("device_id", rawId);
      const user = await requireUser(caller);
      const removable = (record: TwoFactorRecord): number => {
        const index = record.devices.findIndex((d) => d.id === id);
        if (index === -1) throw new AuthError("NOT_FOUND", "no such device", { field: "device_id" });
        if (record.devices.length === 1) {
          throw new AuthError("LAST_DEVICE", "the last device cannot be removed; disable two-factor authentication instead");
        }
        return index;
      };
      // Refusals that need no proof come first, so a proof is never spent on a removal that fails.
      removable(await requireEnabled(caller.userId));
      await confirmIdentity(caller, user, proof);
      await mutate(caller.userId, (record) => {
        record.devices.splice(removable(record), 1);
        cutOffOtherSessions(record, caller);
        return { next: record, result: undefined };
      });
      deps.log.info({ userId: caller.userId, deviceId: id }, "authenticator device removed");
      deps.notifier.notify(user, "authenticator_removed", client);
      return revokeOthers(caller);
    },

    async regenerateRecoveryCodes(caller: Caller, rawCode: string, client: ClientInfo): Promise<string[]> {
      const code = checkCode("code", rawCode);
      const user = await requireUser(caller);
      await requireEnabled(caller.userId);
      await spendCode(caller.userId, code);
      const codes = newRecoveryCodes();
      const hashes = recoveryCodeHashes(codes);
      await mutate(caller.userId, (record) => {
        if (record.enabledAt === null) {
          throw new AuthError("TWO_FACTOR_NOT_ENABLED", "two-factor authentication is not enabled for this account");
        }
        record.recoveryCodeHashes = hashes;
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
