import { type ClientAggregate, clientNetworks } from "./client-network.ts";
import type { Clock } from "./clock.ts";
import type { AuthError } from "./errors.ts";
import type { AttemptPolicy, AttemptStore } from "./store/port.ts";

type LockedError = (retryAfterSeconds: number) => AuthError;

function secondsUntil(until: Date | null, now: Date): number {
  return Math.max(1, Math.ceil(((until ?? now).getTime() - now.getTime()) / 1000));
}

/**
 * Counts one guess against a key atomically, or throws `locked` when the key is locked. Whatever
 * number of guesses race, at most `maxFailures` of them get through before the lock. Returns
 * whether this guess's count set the lock (it stands unless the guess turns out right).
 */
export async function countGuess(
  deps: { attempts: AttemptStore; clock: Clock },
  key: string,
  policy: AttemptPolicy,
  locked: LockedError,
): Promise<boolean> {
  const now = deps.clock.now();
  const { counted, state } = await deps.attempts.fail(key, now, policy);
  if (!counted) throw locked(secondsUntil(state.lockedUntil, now));
  return state.lockedUntil !== null;
}

/** Throws `locked` while the key is locked, without counting anything. */
export async function refuseIfLocked(deps: { attempts: AttemptStore; clock: Clock }, key: string, locked: LockedError): Promise<void> {
  const now = deps.clock.now();
  const { lockedUntil } = await deps.attempts.get(key, now);
  if (lockedUntil !== null) throw locked(secondsUntil(lockedUntil, now));
}

/**
 * Runs one guess (a password, a second-factor code) under a guessing limit. The attempt is counted
 * in storage before the check and forgiven after a success, so any number of parallel guesses
 * cannot get more than `maxFailures` checks before the key locks; a locked key fails at once with
 * the error `locked` builds from the seconds left. `onLocked` hears of a lock this guess set and
 * left standing (it was wrong, or its check failed).
 */
export async function limitedAttempt<T>(
  deps: { attempts: AttemptStore; clock: Clock; onLocked?: () => void },
  key: string,
  policy: AttemptPolicy | undefined,
  locked: LockedError,
  check: () => Promise<T | null>,
): Promise<T | null> {
  const lockedNow = policy !== undefined && (await countGuess(deps, key, policy, locked));
  let result: T | null = null;
  try {
    result = await check();
  } finally {
    if (lockedNow && result === null) deps.onLocked?.();
  }
  if (result !== null && policy !== undefined) await deps.attempts.clear(key);
  return result;
}

/**
 * A per-client budget: what one client network may spend, and what all the IPv6 client networks
 * of one aggregate may spend together (client-network.ts says which limits count it, and why).
 */
export interface ClientBudget {
  /** One client network's: an IPv4 address, an IPv6 /64. */
  network: AttemptPolicy;
  /** Undefined: the aggregate is not counted (CLIENT_IPV6_AGGREGATE_MULTIPLE 0). */
  aggregate: ClientAggregate | undefined;
}

/** `maxFailures` an hour: counted over the hour, and refused for an hour once spent. */
export function hourly(maxFailures: number): AttemptPolicy {
  return { maxFailures, windowSeconds: 3_600, lockSeconds: 3_600 };
}

/** An hourly budget of `perHour` per client network; undefined when `perHour` is 0 (no limit). */
export function hourlyClientBudget(perHour: number, aggregate: ClientAggregate | undefined): ClientBudget | undefined {
  if (perHour <= 0) return undefined;
  return { network: hourly(perHour), aggregate };
}

/** One counter of a client's budget: the network it is kept for (the key's last part) and its policy. */
interface ClientCounter {
  network: string;
  policy: AttemptPolicy;
  level: "network" | "aggregate";
}

/**
 * The counters a request from `address` takes of a per-client budget, in the order they are to be
 * taken: its client network's first, so that a network refused by its own budget spends nothing
 * of the aggregate its neighbours share; then, for an IPv6 client, its aggregate's, on the same
 * window at `multiple` times the failures. An IPv4 client takes one counter, as before: the extra
 * store write is paid only where the addresses are plentiful.
 */
export function clientCounters(address: string, budget: ClientBudget): ClientCounter[] {
  const { aggregate } = budget;
  const networks = clientNetworks(address, aggregate?.prefixLength);
  const counters: ClientCounter[] = [{ network: networks.network, policy: budget.network, level: "network" }];
  if (aggregate !== undefined && networks.aggregate !== undefined) {
    const policy = { ...budget.network, maxFailures: budget.network.maxFailures * aggregate.multiple };
    counters.push({ network: networks.aggregate, policy, level: "aggregate" });
  }
  return counters;
}

/** Counts one against each of the client's counters of `kind` (`kind:network`), or throws `refused` at the first one spent. */
export async function countClient(
  deps: { attempts: AttemptStore; clock: Clock },
  kind: string,
  address: string,
  budget: ClientBudget,
  refused: LockedError,
): Promise<void> {
  for (const { network, policy } of clientCounters(address, budget)) await countGuess(deps, `${kind}:${network}`, policy, refused);
}

/** Takes back the count `countClient` took of each counter (a guess that turned out right is no failure). */
export async function forgiveClient(
  deps: { attempts: AttemptStore; clock: Clock },
  kind: string,
  address: string,
  budget: ClientBudget,
): Promise<void> {
  const now = deps.clock.now();
  for (const { network, policy } of clientCounters(address, budget)) await deps.attempts.forgive(`${kind}:${network}`, now, policy);
}

/**
 * Counts one start of an unauthenticated ceremony that stores something until it expires (a
 * provider flow, a passkey challenge) or of a sign-up (an account, kept for good) against the
 * client's hourly budget, or throws `refused` once it is spent: anyone may start one, so without
 * this one client could fill the store. An undefined budget is no limit.
 */
export async function countClientStart(
  deps: { attempts: AttemptStore; clock: Clock },
  kind: string,
  address: string,
  budget: ClientBudget | undefined,
  refused: LockedError,
): Promise<void> {
  if (budget !== undefined) await countClient(deps, kind, address, budget, refused);
}
