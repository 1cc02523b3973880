// What state a user's enrolment is in. Setup, Enable, AddDevice and Reset decide by it.
//
//                Setup                Enable(code)
//      off ─────────────▶ enrolling ─────────────▶ on ◀──────────────────┐
//       ▲                                          │  │ Reset(password)   │ Enable(code): every
//       │ Disable                                  │  └──────────▶ replacing ─ device and code replaced
//       └──────────────────────────────────────────┤
//                                                  │ Setup(additional)   AddDevice(secret, code)
//                                                  └──────────▶ adding_device ──────────▶ on
//
// A pending secret expires (TOTP_SETUP_TTL_SECONDS); an expired one counts as absent.
import type { PendingSecretRecord, TwoFactorRecord } from "../store/port.ts";

export type EnrolmentState =
  | { name: "off" }
  | { name: "enrolling"; pending: PendingSecretRecord }
  | { name: "on" }
  /** On, with a replacement secret from Reset waiting for its confirming code. */
  | { name: "replacing"; pending: PendingSecretRecord }
  /** On, with a secret for one more device waiting for AddDevice. */
  | { name: "adding_device"; pending: PendingSecretRecord };

/** Whether a pending secret may still be confirmed at `now`: not at its expiry or after. */
export function isLive(pending: PendingSecretRecord, now: Date): boolean {
  return pending.expiresAt > now;
}

/** The live (unexpired) pending secret of a purpose, if any. */
export function livePending(record: TwoFactorRecord, purpose: PendingSecretRecord["purpose"], now: Date): PendingSecretRecord | undefined {
  return record.pending.find((p) => p.purpose === purpose && isLive(p, now));
}

/**
 * The enrolment's state at `now`. While on, a pending replacement outranks a pending device: a
 * Reset under way is what Enable confirms.
 */
export function enrolmentState(record: TwoFactorRecord, now: Date): EnrolmentState {
  if (record.enabledAt === null) {
    const pending = livePending(record, "enrol", now);
    return pending === undefined ? { name: "off" } : { name: "enrolling", pending };
  }
  const replacing = livePending(record, "replace", now);
  if (replacing !== undefined) return { name: "replacing", pending: replacing };
  const adding = livePending(record, "device", now);
  if (adding !== undefined) return { name: "adding_device", pending: adding };
  return { name: "on" };
}
