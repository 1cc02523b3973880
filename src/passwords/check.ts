// Password checks under the guessing limits (OWASP Authentication Cheat Sheet, NIST SP 800-63B
// 5.2.2). A single counter per account lets anyone who knows the address lock its owner out, so
// failures are counted per client and per account, and who is asking decides which counters apply:
//
//   a stranger (no known-device token for this account):
//     its address      LOGIN_ADDRESS_MAX_FAILURES per LOGIN_LOCK_SECONDS, across every account
//                      (an IPv6 address counts as its /64: client-network.ts)
//     the account      LOGIN_MAX_FAILURES per LOGIN_LOCK_SECONDS, shared by every stranger
//     the account      half of LOGIN_ACCOUNT_MAX_FAILURES_PER_HOUR, shared by every stranger
//   a known device (it holds a token from an earlier sign-in to this account; sign-in/devices.ts):
//     the device       LOGIN_DEVICE_MAX_FAILURES per LOGIN_LOCK_SECONDS
//     the account      the other half of LOGIN_ACCOUNT_MAX_FAILURES_PER_HOUR, shared by known devices
//
// So the account as a whole never gets more than LOGIN_ACCOUNT_MAX_FAILURES_PER_HOUR checks in an
// hour, and strangers, however many addresses they use, can exhaust only their own share: the
// owner's known devices still get in, and a completed password reset clears the account's
// counters (accounts.ts). Every counter is one atomic write taken before the check; a guess is
// checked only if all of its counters admitted it, so racing guesses cannot exceed any of them.
import { countGuess } from "../attempt-limit.ts";
import { clientNetwork } from "../client-network.ts";
import type { Clock } from "../clock.ts";
import { AuthError } from "../errors.ts";
import type { AttemptPolicy, AttemptStore, UserRecord } from "../store/port.ts";
import type { PasswordHasher } from "./hasher.ts";

/** The limits of password guessing; an undefined one is off. */
export interface PasswordLimits {
  /** Per account, for clients without a known-device token (LOGIN_MAX_FAILURES). */
  account: AttemptPolicy | undefined;
  /** Per client address, across accounts (LOGIN_ADDRESS_MAX_FAILURES). */
  address: AttemptPolicy | undefined;
  /** Per known device (LOGIN_DEVICE_MAX_FAILURES). */
  device: AttemptPolicy | undefined;
  /** The account's hourly bound (LOGIN_ACCOUNT_MAX_FAILURES_PER_HOUR), split between strangers and known devices. */
  hourly: { strangers: AttemptPolicy; knownDevices: AttemptPolicy } | undefined;
}

export interface PasswordCheckDeps {
  attempts: AttemptStore;
  clock: Clock;
  hasher: PasswordHasher;
  limits: PasswordLimits;
}

/** Where a guess comes from. Absent: an authenticated caller re-entering the password. */
export interface GuessSource {
  /** The client's address, as the transport saw it. */
  address: string;
  /** The device id of a valid known-device token for this very account, else null. */
  knownDeviceId: string | null;
}

/** The guessing-limit key of an address's password from strangers (an account's, or a would-be account's). */
export const passwordAttemptKey = (email: string): string => `password:${email}`;

/** Every counter that belongs to the account with this address: what a password reset clears. */
export const accountPasswordAttemptKeys = (email: string): string[] => [
  passwordAttemptKey(email),
  `password-hour:${email}`,
  `password-hour-known:${email}`,
];

/**
 * Checks a presented password for the account with that (normalized) email. `user` may be given
 * as a lookup, run only once every counter has admitted the guess: then a refusal happens before
 * anything about the account is read, so it takes the same time whether or not it exists.
 */
export type PasswordCheck = (
  email: string,
  user: UserRecord | null | (() => Promise<UserRecord | null>),
  password: string,
  from?: GuessSource,
) => Promise<boolean>;

type Counter = { key: string; policy: AttemptPolicy | undefined; clearedBySuccess: boolean };

/** The counters a guess takes, client's first: a refused client never touches the account's. */
function countersFor(limits: PasswordLimits, email: string, from: GuessSource | undefined): Counter[] {
  if (from?.knownDeviceId != null) {
    return [
      { key: `password-device:${from.knownDeviceId}`, policy: limits.device, clearedBySuccess: true },
      { key: `password-hour-known:${email}`, policy: limits.hourly?.knownDevices, clearedBySuccess: false },
    ];
  }
  const [strangers, hour] = accountPasswordAttemptKeys(email);
  return [
    ...(from === undefined
      ? []
      : [{ key: `password-address:${clientNetwork(from.address)}`, policy: limits.address, clearedBySuccess: false }]),
    { key: strangers as string, policy: limits.account, clearedBySuccess: true },
    { key: hour as string, policy: limits.hourly?.strangers, clearedBySuccess: false },
  ];
}

const rateLimited = (retryAfterSeconds: number) =>
  new AuthError("RATE_LIMITED", "too many failed attempts; try again later", { retryAfterSeconds });

/**
 * Password checks under the guessing limits. The keys are the email, whether or not an account
 * has it, and an unknown account costs the same argon2 work, so neither the answer, the time nor
 * a lock reveals whether the account exists.
 */
export function createPasswordCheck(deps: PasswordCheckDeps): PasswordCheck {
  const { hasher } = deps;
  return async (email, given, password, from) => {
    const counters = countersFor(deps.limits, email, from);
    for (const { key, policy } of counters) if (policy !== undefined) await countGuess(deps, key, policy, rateLimited);
    const user = typeof given === "function" ? await given() : given;
    let ok = false;
    if (user === null || user.passwordHash === null) await hasher.burn(password);
    else ok = await hasher.verify(user.passwordHash, password);
    if (!ok) return false;
    // A success forgives this client's failures (and strangers' per-account count, as before). The
    // address's count across accounts and the hourly bound only take back this guess's own count:
    // a right password is no failure, but it does not wipe the others' (only a reset does).
    const now = deps.clock.now();
    for (const { key, policy, clearedBySuccess } of counters) {
      if (policy === undefined) continue;
      if (clearedBySuccess) await deps.attempts.clear(key);
      else await deps.attempts.forgive(key, now, policy);
    }
    return true;
  };
}
