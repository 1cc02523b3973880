// Password checks under the guessing limits (OWASP Authentication Cheat Sheet, NIST SP 800-63B
// 5.2.2). A single counter per account lets anyone who knows the address lock its owner out, so
// failures are counted per client and per account, and who is asking decides which counters apply:
//
//   a stranger (no known-device token for this account):
//     its address      LOGIN_ADDRESS_MAX_FAILURES per LOGIN_LOCK_SECONDS, across every account
//                      (an IPv6 address counts as its /64: client-network.ts)
//     its aggregate    an IPv6 client's /48 (CLIENT_IPV6_AGGREGATE_PREFIX), shared by all its /64s:
//                      CLIENT_IPV6_AGGREGATE_MULTIPLE times LOGIN_ADDRESS_MAX_FAILURES
//     the account      LOGIN_MAX_FAILURES per LOGIN_LOCK_SECONDS, shared by every stranger
//     the account      half of LOGIN_ACCOUNT_MAX_FAILURES_PER_HOUR, shared by every stranger
//   a known device (it holds a current token from an earlier sign-in to this account; tokens/devices.ts):
//     the device       LOGIN_DEVICE_MAX_FAILURES per LOGIN_LOCK_SECONDS
//     the account      the other half of LOGIN_ACCOUNT_MAX_FAILURES_PER_HOUR, shared by known devices
//   a signed-in caller re-entering the password (ChangePassword, step-up proofs):
//     the session      LOGIN_DEVICE_MAX_FAILURES per LOGIN_LOCK_SECONDS
//     the account      the known devices' half of LOGIN_ACCOUNT_MAX_FAILURES_PER_HOUR
//
// So the account as a whole never gets more than LOGIN_ACCOUNT_MAX_FAILURES_PER_HOUR checks in an
// hour, and strangers, however many addresses they use, can exhaust only their own share: the
// owner's known devices and sessions still get in, and a completed password reset clears the
// account's counters (accounts.ts). Every counter is one atomic write taken before the check; a
// guess is checked only if all of its counters admitted it, so racing guesses cannot exceed any.
// The counters whose keys need no account (the client's, and a stranger's per-account ones, keyed
// by the email) come before the account is read, so such a refusal reads nothing about it.
import { type ClientBudget, clientCounters, countGuess } from "../attempt-limit.ts";
import { clientNetwork } from "../client-network.ts";
import type { Clock } from "../clock.ts";
import { AuthError } from "../errors.ts";
import type { PasswordLockScope, SecurityEvents } from "../events.ts";
import type { Logger } from "../log.ts";
import type { AttemptPolicy, AttemptStore, UserRecord } from "../store/port.ts";
import { HashingBusyError, type PasswordHasher } from "./hasher.ts";

/** The limits of password guessing; an undefined one is off. */
export interface PasswordLimits {
  /** Per account, for clients without a known-device token (LOGIN_MAX_FAILURES). */
  account: AttemptPolicy | undefined;
  /** Per client address and its IPv6 aggregate, across accounts (LOGIN_ADDRESS_MAX_FAILURES). */
  address: ClientBudget | undefined;
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
  /** Hears of the locks a wrong guess sets. */
  events: Pick<SecurityEvents, "locked">;
  /**
   * Where a lock a wrong guess sets is written, with whom and where from: the metrics count locks
   * without either, and are off by default, while an owner locked out or an account under attack
   * is investigated from the log.
   */
  log: Pick<Logger, "warn">;
  /** Checks one client network may have under way at once (ARGON2_MAX_PER_CLIENT). */
  maxPerClient: number;
}

/**
 * Where a guess comes from, which decides the counters it takes:
 * - a stranger: a client with no current known-device token for this account;
 * - a device: a client whose token is genuine for this email (tokens/devices.ts). Whether it is
 *   still current (not voided by a reset or a sign-out everywhere) needs the account, so
 *   `isCurrentFor` is asked after the lookup; a voided token's holder is then a stranger too;
 * - a session: a signed-in caller re-entering the password (ChangePassword, step-up proofs);
 *   `address` is the request's, for the client's share of the hashing queue only.
 */
export type GuessSource =
  | { kind: "stranger"; address: string }
  | { kind: "device"; address: string; deviceId: string; isCurrentFor: (user: UserRecord | null) => boolean }
  | { kind: "session"; sessionId: string; address: string };

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
 * as a lookup, run only once the counters that need no account have admitted the guess: then a
 * refusal happens before anything about the account is read, so it takes the same time whether or
 * not it exists.
 */
export type PasswordCheck = (
  email: string,
  user: UserRecord | null | (() => Promise<UserRecord | null>),
  password: string,
  from: GuessSource,
) => Promise<boolean>;

type Counter = { key: string; scope: PasswordLockScope; policy: AttemptPolicy | undefined; clearedBySuccess: boolean };

/**
 * A stranger's counters, the client's first (its network's, then its aggregate's): a refused client
 * never touches the account's. A right password takes back its count of both, as of the address.
 */
function strangerCounters(limits: PasswordLimits, email: string, address: string): Counter[] {
  const [strangers, hour] = accountPasswordAttemptKeys(email);
  const client = limits.address === undefined ? [] : clientCounters(address, limits.address);
  return [
    ...client.map(({ network, policy, level }): Counter => {
      const scope = level === "network" ? "address" : "address_aggregate";
      return { key: `password-address:${network}`, scope, policy, clearedBySuccess: false };
    }),
    { key: strangers as string, scope: "account", policy: limits.account, clearedBySuccess: true },
    { key: hour as string, scope: "account_hour", policy: limits.hourly?.strangers, clearedBySuccess: false },
  ];
}

const knownShare = (limits: PasswordLimits, email: string): Counter => ({
  key: `password-hour-known:${email}`,
  scope: "account_hour_known",
  policy: limits.hourly?.knownDevices,
  clearedBySuccess: false,
});

/** The counters a guess takes before the account is read (all of them but a device's account share). */
function countersBeforeLookup(limits: PasswordLimits, email: string, from: GuessSource): Counter[] {
  switch (from.kind) {
    case "stranger":
      return strangerCounters(limits, email, from.address);
    case "device":
      // The device's own count needs no account; the account's shares wait for the token's check.
      return [{ key: `password-device:${from.deviceId}`, scope: "device", policy: limits.device, clearedBySuccess: true }];
    case "session":
      // The owner's own session: its wrong passwords are its own (strangers' guessing cannot make
      // ChangePassword or a step-up refuse the owner) and spend the known devices' share of the
      // hour, so the account's hourly bound still holds.
      return [
        { key: `password-session:${from.sessionId}`, scope: "session", policy: limits.device, clearedBySuccess: true },
        knownShare(limits, email),
      ];
  }
}

/** A device's account shares, once the account is read: a token the account no longer honours is a stranger's. */
function countersAfterLookup(limits: PasswordLimits, email: string, from: GuessSource, user: UserRecord | null): Counter[] {
  if (from.kind !== "device") return [];
  return from.isCurrentFor(user) ? [knownShare(limits, email)] : strangerCounters(limits, email, from.address);
}

// Not "failed": a guess takes its place in every counter before its password is checked (so
// parallel guesses cannot overrun a limit), and a right one gives the place back only after, so
// many right sign-ins to one account at the same moment can be refused too.
const rateLimited = (retryAfterSeconds: number) =>
  new AuthError("RATE_LIMITED", "too many password attempts; try again later", { retryAfterSeconds });

/**
 * Password checks under the guessing limits. The keys are the email, whether or not an account
 * has it, and an unknown account costs the same argon2 work, so neither the answer, the time nor
 * a lock reveals whether the account exists.
 */
export function createPasswordCheck(deps: PasswordCheckDeps): PasswordCheck {
  const { hasher } = deps;
  /**
   * The checks under way for each client network, to give each its share of the hashing queue. A
   * right password takes back its place in every guessing counter, so one client with one account
   * could repeat Login without end, each a 20 ms argon2id hash: a few hundred at once (one HTTP/2
   * connection) filled the queue, and every other client's sign-in was refused as busy. At
   * ARGON2_MAX_PER_CLIENT under way, its next is refused the same way (RATE_LIMITED, retry in a
   * second, no guess counted) before anything is counted or read. A signed-in caller's checks are
   * its network's too, not its session's: one client may hold up to MAX_SESSIONS_PER_USER sessions
   * of one account (a sign-in each), and a share per session was that many shares. Per process, as
   * the queue is; an entry lives while its checks do. Per /64, not per IPv6 aggregate
   * (client-network.ts): the queue's own bound (ARGON2_MAX_WAITING) is reached by sixteen networks
   * by default, which any /56 holds, so a share per aggregate would only shrink its neighbours'.
   */
  const underWay = new Map<string, number>();
  return async (email, given, password, from) => {
    const client = clientNetwork(from.address);
    const running = underWay.get(client) ?? 0;
    if (running >= deps.maxPerClient) throw new HashingBusyError();
    underWay.set(client, running + 1);
    try {
      return await checkUnderLimits(email, given, password, from);
    } finally {
      const left = (underWay.get(client) ?? 1) - 1;
      if (left === 0) underWay.delete(client);
      else underWay.set(client, left);
    }
  };

  async function checkUnderLimits(...[email, given, password, from]: Parameters<PasswordCheck>): Promise<boolean> {
    const taken: Counter[] = [];
    /** The counters this guess locked: the locks stand unless the guess is forgiven below. */
    const locked: PasswordLockScope[] = [];
    const take = async (counters: Counter[]) => {
      for (const counter of counters) {
        if (counter.policy !== undefined && (await countGuess(deps, counter.key, counter.policy, rateLimited))) locked.push(counter.scope);
        taken.push(counter);
      }
    };
    let forgiven = false;
    /** The account, once read (a lock before the lookup has none to name). */
    let user: UserRecord | null | undefined;
    try {
      await take(countersBeforeLookup(deps.limits, email, from));
      user = typeof given === "function" ? await given() : given;
      await take(countersAfterLookup(deps.limits, email, from, user));
      let ok = false;
      try {
        if (user === null || user.passwordHash === null) await hasher.burn(password);
        else ok = await hasher.verify(user.passwordHash, password);
      } catch (err) {
        // The server was too busy to check it: no guess was made, so its places are given back
        // (and any lock it set lifted), or a flood of others' calls would count against the account.
        if (err instanceof HashingBusyError) {
          const now = deps.clock.now();
          for (const { key, policy } of taken) if (policy !== undefined) await deps.attempts.forgive(key, now, policy);
          forgiven = true;
        }
        throw err;
      }
      if (!ok) return false;
      // A success forgives this client's failures (and strangers' per-account count, as before). The
      // address's count across accounts and the hourly bound only take back this guess's own count:
      // a right password is no failure, but it does not wipe the others' (only a reset does).
      const now = deps.clock.now();
      for (const { key, policy, clearedBySuccess } of taken) {
        if (policy === undefined) continue;
        if (clearedBySuccess) await deps.attempts.clear(key);
        else await deps.attempts.forgive(key, now, policy);
      }
      forgiven = true;
      return true;
    } finally {
      if (!forgiven && locked.length > 0) {
        for (const scope of locked) deps.events.locked("password", scope);
        // The account by its id, never by the email guessed at: what strangers type there may be
        // someone else's address, or a password typed in the wrong field.
        deps.log.warn(
          { factor: "password", scopes: locked, userId: user?.id, clientIp: from.address },
          "guessing limit reached: a lock starts",
        );
      }
    }
  }
}
