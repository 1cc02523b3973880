// Pending secrets: what Setup and Reset hand out, and the Enable or AddDevice that confirms one
// with a code, turning it into a device in one atomic write of the TwoFactorRecord.

import { randomUUID, timingSafeEqual } from "node:crypto";
import { addSeconds, type Clock } from "../clock.ts";
import { AuthError, invalidArgument } from "../errors.ts";
import type { SecretSealer } from "../secrets/server-secrets.ts";
import type { PendingSecretRecord, TotpDeviceRecord, TwoFactorRecord, UserRecord } from "../store/port.ts";
import type { FactorProofs } from "./proof.ts";
import type { TwoFactorRecords } from "./record.ts";
import { isLive, livePending } from "./states.ts";
import { base32, matchStep, newSecret, otpauthUrl, qrCodeDataUrl } from "./totp.ts";

export interface Enrolment {
  secret: string;
  otpauthUrl: string;
  qrCodeDataUrl: string;
  /** Unset for the existing, active enrolment. */
  expiresAt: Date | undefined;
  existing: boolean;
}

export interface PendingSecretsDeps {
  clock: Clock;
  records: Pick<TwoFactorRecords, "mutate">;
  totpSecrets: SecretSealer;
  policy: {
    /** The otpauth issuer shown by authenticator apps. */
    totpIssuer: string;
    /** How long a secret from Setup or Reset stays confirmable. */
    setupTtlSeconds: number;
  };
  /** One second-factor guess under the account's lock (proof.ts). */
  attempt: FactorProofs["attempt"];
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

export function createPendingSecrets(deps: PendingSecretsDeps) {
  const { clock, policy, totpSecrets, attempt } = deps;
  const { mutate } = deps.records;

  async function newPending(user: UserRecord, purpose: PendingSecretRecord["purpose"]): Promise<Enrolment> {
    const secret = newSecret();
    // Drawn before anything is stored: a failure to draw it leaves no pending secret behind.
    const shown = await shownSecret(user, secret);
    const secretCiphertext = totpSecrets.seal(secret, user.id);
    const expiresAt = await mutate(user.id, (record, now) => {
      const expiresAt = addSeconds(now, policy.setupTtlSeconds);
      // The one it replaces goes; expired ones go with every write (record.ts).
      record.pending = record.pending.filter((p) => p.purpose !== purpose).concat({ purpose, secretCiphertext, createdAt: now, expiresAt });
      return { next: record, result: expiresAt };
    });
    return { ...shown, expiresAt, existing: false };
  }

  /** The secret as the user is shown it: base32, the otpauth URL and its QR code. */
  async function shownSecret(user: UserRecord, secret: Uint8Array): Promise<Pick<Enrolment, "secret" | "otpauthUrl" | "qrCodeDataUrl">> {
    const url = otpauthUrl(secret, policy.totpIssuer, user.email);
    return { secret: base32(secret), otpauthUrl: url, qrCodeDataUrl: await qrCodeDataUrl(url) };
  }

  async function enrolment(user: UserRecord, secret: Uint8Array, expiresAt: Date | undefined): Promise<Enrolment> {
    return { ...(await shownSecret(user, secret)), expiresAt, existing: expiresAt === undefined };
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

  /**
   * Confirms `pending` with a code and applies `apply` to the record, as one atomic write.
   * `beforeWrite` runs once the code is known to be right, before that write (Enable's first
   * write, which ends the other sessions: cutoff.ts; AddDevice's look at the user's cutoff).
   */
  function confirmPending<T>(
    userId: string,
    pending: PendingSecretRecord,
    code: string,
    apply: (record: TwoFactorRecord, device: TotpDeviceRecord, now: Date) => T,
    name: string,
    beforeWrite: () => Promise<void>,
  ): Promise<T> {
    return attempt(userId, async () => {
      // The code is checked once, against the secret as read: a wrong one writes nothing, and the
      // step it matched stays the step it matched, however long beforeWrite takes.
      const step = matchStep(totpSecrets.open(pending.secretCiphertext, userId), code, clock.now(), null);
      if (step === null) return null;
      await beforeWrite();
      return mutate(userId, (record, now) => {
        // The very pending secret that was checked: a concurrent Setup may have replaced it.
        const still = record.pending.find((p) => p.secretCiphertext === pending.secretCiphertext && isLive(p, now));
        if (still === undefined) {
          throw new AuthError("TWO_FACTOR_SETUP_REQUIRED", "the pending secret was replaced or has expired; call Setup again");
        }
        record.pending = record.pending.filter((p) => p !== still);
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
      });
    });
  }

  return { newPending, enrolment, pendingFor, confirmPending };
}

export type PendingSecrets = ReturnType<typeof createPendingSecrets>;
