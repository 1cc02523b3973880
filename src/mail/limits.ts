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
// Codes (verification, reset) count per client and per address; notifications count on an
// address budget of their own and not per client: an attacker who used up their client's budget,
// or the address's code budget, with requests of their own must not thereby silence the notice of
// what they do next.
import type { Clock } from "../clock.ts";
import type { Logger } from "../log.ts";
import type { KeyedHasher } from "../secrets/server-secrets.ts";
import type { AttemptPolicy, AttemptStore } from "../store/port.ts";
import type { MailKind } from "./mailer.ts";

/** Who asked for the mail, as far as the transport can tell (ClientInfo fits). */
export interface MailClient {
  ipAddress: string;
  userAgent: string;
}

/** Hourly limits; 0 means no limit. */
export interface MailLimitPolicy {
  /** Code mails (verification, reset) to one address. */
  perAddressPerHour: number;
  /** Code mails caused by one client IP address. */
  perClientPerHour: number;
  /** Security notifications to one address. */
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
   * Counts one mail of `kind` to `to`, caused by `client`, against the limits. False: a limit is
   * reached and the mail must not be sent (already logged).
   */
  admit(kind: MailKind, to: string, client: MailClient | undefined): Promise<boolean>;
}

const hour = 3_600;

export function createMailLimits(deps: MailLimitsDeps): MailLimits {
  const { attempts, clock, keys, log, policy } = deps;

  /** One more mail on a counter; false when its budget for the hour is spent. */
  async function count(key: string, max: number): Promise<boolean> {
    if (max === 0) return true;
    // The attempt store's lock is the budget: the max-th mail locks the key for the rest of the
    // hour-long window, and a locked key counts nothing more.
    const budget: AttemptPolicy = { maxFailures: max, windowSeconds: hour, lockSeconds: hour };
    return (await attempts.fail(key, clock.now(), budget)).counted;
  }

  return {
    async admit(kind, to, client) {
      const notification = kind === "security_notification";
      // The client first: a flood from one client stops there, without spending the budgets of
      // the addresses it targets.
      const checks: Array<[string, string, number]> = notification
        ? [["address", `mail:notice:${keys.keyedHash(to)}`, policy.notificationsPerAddressPerHour]]
        : [
            ["client", `mail:client:${keys.keyedHash(client?.ipAddress ?? "")}`, client === undefined ? 0 : policy.perClientPerHour],
            ["address", `mail:address:${keys.keyedHash(to)}`, policy.perAddressPerHour],
          ];
      for (const [limit, key, max] of checks) {
        if (!(await count(key, max))) {
          log.warn({ mail: kind, limit }, "mail not sent: its hourly limit is reached");
          return false;
        }
      }
      return true;
    },
  };
}
