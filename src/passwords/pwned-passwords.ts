// The optional breach check against Have I Been Pwned's Pwned Passwords range API (ASVS 6.2.12),
// by k-anonymity: only the first 5 hex digits of the password's SHA-1 leave the process, the
// answer lists every known suffix under that prefix (padded with fake zero-count ones, so its size
// does not tell which prefix was asked either), and the match is made here. The service must not
// depend on a third party to let people choose a password, so it fails open: unreachable, slow,
// refused or garbled, the check is skipped with a warning and the local rules alone decide.
//
// A flood of registrations or password changes must not become as many requests to the API at
// once: answers are kept a while by prefix (a password chosen again and again is asked once),
// checks of a prefix already being asked wait for that one answer, and at most `maxConcurrent`
// prefixes are asked at once; a check beyond that is skipped as an outage is, with a warning.
import { hash } from "node:crypto";
import { type Clock, systemClock } from "../clock.ts";
import type { Logger } from "../log.ts";
import { VerifiedTokenCache } from "../tokens/verified-cache.ts";

/** Whether a (normalized) password is known from breaches; false too when that cannot be learnt. */
export type BreachedPasswordCheck = (password: string) => Promise<boolean>;

export interface PwnedPasswordsOptions {
  /** The range endpoint; the 5-digit prefix is appended (https://api.pwnedpasswords.com/range/). */
  url: string;
  timeoutMs: number;
  /** How many sightings make a password breached (1: any). */
  minCount: number;
  /** Range requests under way at once; a check that would start one more is skipped. */
  maxConcurrent: number;
  log: Pick<Logger, "warn">;
  /** Where the answers' age is read; the system clock unless a test moves its own. */
  clock?: Clock;
  /** Range answers kept (cacheDefaults). */
  cacheEntries?: number;
  /** How long a range answer is kept (cacheDefaults). */
  cacheTtlMs?: number;
}

/**
 * 256 prefixes of 1,048,576: enough for the passwords a flood repeats, in about 4 MB (a range
 * lists 800 to 1,000 suffixes, kept in 18 bytes each; 18 MB at most, maxKeptBytes). An hour: the
 * corpus grows by a breach now and then, not by the hour.
 */
const cacheDefaults = { entries: 256, ttlMs: 3_600_000 };

/** A real answer is about 30 KB (a few hundred to two thousand lines); anything far larger is not one. */
const maxResponseBytes = 1024 * 1024;
const rangeLine = /^([0-9A-F]{35}):(\d+)$/i;
/** A 35-digit suffix as bytes: a 0 digit appended, so that it fills whole bytes. */
const suffixBytes = 18;
/** Four times a real range: an answer with more breached suffixes is used but not kept. */
const maxKeptBytes = 4 * 1_000 * suffixBytes;

/** Why a check was skipped, as its warning says. */
class CheckSkipped extends Error {}

async function readCapped(response: Response): Promise<string> {
  if (response.body === null) return "";
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of response.body) {
    size += chunk.length;
    if (size > maxResponseBytes) throw new CheckSkipped(`the answer is over ${maxResponseBytes} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString("utf8");
}

/**
 * The suffixes of a range answer seen at least `minCount` times (the padding's zero counts never
 * are), end to end in `suffixBytes` each; throws CheckSkipped when the answer is not a range list.
 */
function breachedSuffixes(body: string, minCount: number): Buffer {
  const breached: string[] = [];
  let lines = 0;
  for (const raw of body.split("\n")) {
    const line = raw.trim();
    if (line === "") continue;
    const match = rangeLine.exec(line);
    if (match === null) throw new CheckSkipped("the answer is not a list of SHA-1 suffixes and counts");
    lines++;
    if (Number(match[2]) >= minCount) breached.push(match[1] as string);
  }
  if (lines === 0) throw new CheckSkipped("the answer is empty");
  // Buffer.alloc, never a slice of Node's shared pool, which a kept answer would keep whole.
  const bytes = Buffer.alloc(breached.length * suffixBytes);
  for (const [i, suffix] of breached.entries()) bytes.write(`${suffix}0`, i * suffixBytes, "hex");
  return bytes;
}

/** Whether `suffix` is one of `breached` (breachedSuffixes): a match counts only at an entry's start. */
function listed(breached: Buffer, suffix: string): boolean {
  const wanted = Buffer.from(`${suffix}0`, "hex");
  for (let at = breached.indexOf(wanted); at !== -1; at = breached.indexOf(wanted, at + 1)) {
    if (at % suffixBytes === 0) return true;
  }
  return false;
}

export function createPwnedPasswords(options: PwnedPasswordsOptions): BreachedPasswordCheck {
  const { log, maxConcurrent, clock = systemClock } = options;
  const ttlMs = options.cacheTtlMs ?? cacheDefaults.ttlMs;
  // The token cache's bounded, least-recently-used map with a deadline per entry; a 5-digit
  // prefix is short enough to be its own key there.
  const answers = new VerifiedTokenCache<Buffer>(options.cacheEntries ?? cacheDefaults.entries);
  const underWay = new Map<string, Promise<Buffer>>();

  async function requestRange(prefix: string): Promise<Buffer> {
    const response = await fetch(`${options.url}${prefix}`, {
      headers: { "Add-Padding": "true", "User-Agent": "authd" },
      redirect: "error",
      signal: AbortSignal.timeout(options.timeoutMs),
    });
    if (!response.ok) {
      await response.body?.cancel();
      throw new CheckSkipped(`HTTP ${response.status}`);
    }
    const breached = breachedSuffixes(await readCapped(response), options.minCount);
    // Whatever the endpoint sends, the cache stays within its entries times maxKeptBytes.
    if (breached.length <= maxKeptBytes) {
      const nowMs = clock.now().getTime();
      answers.set(prefix, breached, nowMs + ttlMs, nowMs);
    }
    return breached;
  }

  /** The breached suffixes of a prefix: kept, being asked, or asked now if there is room. */
  function range(prefix: string): Promise<Buffer> {
    const kept = answers.get(prefix, clock.now().getTime());
    if (kept !== undefined) return Promise.resolve(kept);
    const asked = underWay.get(prefix);
    if (asked !== undefined) return asked;
    if (underWay.size >= maxConcurrent) {
      return Promise.reject(new CheckSkipped(`too many range requests under way (PWNED_PASSWORDS_MAX_CONCURRENT is ${maxConcurrent})`));
    }
    const asking = requestRange(prefix).finally(() => underWay.delete(prefix));
    underWay.set(prefix, asking);
    return asking;
  }

  return async (password) => {
    const sha1 = hash("sha1", password, "hex").toUpperCase();
    try {
      return listed(await range(sha1.slice(0, 5)), sha1.slice(5));
    } catch (err) {
      // Neither the password nor its hash prefix goes into the log line.
      const reason =
        err instanceof CheckSkipped
          ? err.message
          : err instanceof Error && (err.name === "TimeoutError" || err.name === "AbortError")
            ? `no answer within ${options.timeoutMs} ms`
            : "the range API could not be reached";
      log.warn({ reason }, "pwned passwords check skipped (the password was judged by the local rules only)");
      return false;
    }
  };
}
