// How many mails the service may send, per hour, so that nobody can use it to flood an inbox (30
// reset requests in a second used to send 30 mails) or to send mail at scale from one client.
//
// Every mail is admitted here before anything is prepared for it (a code that will not be mailed
// must not replace the one already in the inbox). Over a limit the mail is silently not sent, with
// a log line: the requests that cause mail answer exactly as before, so a limit tells nothing about
// whether an address has an account. The counters live in the attempt store (one atomic write
// each, exact across replicas), under keys that are keyed hashes (HMAC) of the address or client
// IP, so storage holds no address or IP in plain text for them.
//
// Two budgets hold code mails (verification, reset): the client's counts every request that may
// cause one, before the address is even looked up, so it is spent the same whether or not the
// address has an account (counting only the mails sent would let a client learn that from its own
// budget); the address's counts the mails it is sent. Notifications count on an address budget of
// their own, one per kind of notification, and not per client: an attacker who used up their
// client's budget, the address's code budget, or the budget of one kind of notice (ten cheap
// recovery-code regenerations, say) must not thereby silence the notice of what they do next
// (the password change that follows). The client's budget is counted for its IPv6 aggregate too
// (client-network.ts): a /48 is 65,536 /64s, and each was a fresh budget of mails to anyone.
import { type ClientBudget, clientCounters, hourly } from "../attempt-limit.ts";
import type { Clock } from "../clock.ts";
import type { Logger } from "../log.ts";
import type { KeyedHasher } from "../secrets/server-secrets.ts";
import type { AttemptPolicy, AttemptStore } from "../store/port.ts";
import type { MailKind, NotificationKind } from "./mailer.ts";

/** Who asked for the mail, as far as the transport can tell (ClientInfo fits). */
export interface MailClient {
  ipAddress: string;
  userAgent: string;
  /** An administrator's change: the notification says so instead of an address and a browser. */
  byAdministrator?: true;
}

/** Hourly limits; 0 (a budget: undefined) means no limit. */
export interface MailLimitPolicy {
  /** Code mails (verification, reset) to one address. */
  perAddressPerHour: number;
  /** Requests for code mails from one client network (an IPv4 address, an IPv6 /64, and its aggregate). */
  perClient: ClientBudget | undefined;
  /** Security notifications of one kind to one address. */
  notificationsPerAddressPerHour: number;
}

export interface MailLimitsDeps {
  attempts: Pick<AttemptStore, "fail">;
  clock: Clock;
  /** Turns addresses and IPs into the counters' keys. */
  keys: KeyedHasher;
  log: Pick<Logger, "warn">;
  policy: MailLimitPolicy;
}

export interface MailLimits {
  /**
   * Counts one request that may cause a code mail against the client's budget, before anything
   * about the address is known. False: the budget is spent; send nothing (already logged).
   */
  admitClient(client: MailClient): Promise<boolean>;
  /** Counts one code mail of `kind` to `to` against the address's budget for code mails. */
  admitAddress(kind: Exclude<MailKind, "security_notification">, to: string): Promise<boolean>;
  /** Counts one notification of `kind` to `to` against the address's budget for that kind. */
  admitNotification(kind: NotificationKind, to: string): Promise<boolean>;
}

export function createMailLimits(deps: MailLimitsDeps): MailLimits {
  const { attempts, clock, keys, log, policy } = deps;

  /** One more on a counter; false (and a log line) when its budget for the hour is spent. */
  async function count(limit: string, key: string, budget: AttemptPolicy, kind: string): Promise<boolean> {
    // The attempt store's lock is the budget: the max-th mail locks the key for the rest of the
    // hour-long window, and a locked key counts nothing more.
    if ((await attempts.fail(key, clock.now(), budget)).counted) return true;
    log.warn({ mail: kind, limit }, "mail not sent: its hourly limit is reached");
    return false;
  }

  return {
    async admitClient(client) {
      if (policy.perClient === undefined) return true;
      // The network's first: one whose own budget is spent stops here, taking nothing of its aggregate.
      for (const { network, policy: budget, level } of clientCounters(client.ipAddress, policy.perClient)) {
        const limit = level === "network" ? "client" : "client_aggregate";
        if (!(await count(limit, `mail:client:${keys.keyedHash(network)}`, budget, "code"))) return false;
      }
      return true;
    },
    async admitAddress(kind, to) {
      if (policy.perAddressPerHour === 0) return true;
      return count("address", `mail:address:${keys.keyedHash(to)}`, hourly(policy.perAddressPerHour), kind);
    },
    async admitNotification(kind, to) {
      if (policy.notificationsPerAddressPerHour === 0) return true;
      return count("notification", `mail:notice:${kind}:${keys.keyedHash(to)}`, hourly(policy.notificationsPerAddressPerHour), kind);
    },
  };
}
