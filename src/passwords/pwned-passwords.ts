// The optional breach check against Have I Been Pwned's Pwned Passwords range API (ASVS 6.2.12),
// by k-anonymity: only the first 5 hex digits of the password's SHA-1 leave the process, the
// answer lists every known suffix under that prefix (padded with fake zero-count ones, so its size
// does not tell which prefix was asked either), and the match is made here. The service must not
// depend on a third party to let people choose a password, so it fails open: unreachable, slow,
// refused or garbled, the check is skipped with a warning and the local rules alone decide.
import { hash } from "node:crypto";
import type { Logger } from "../log.ts";

/** Whether a (normalized) password is known from breaches; false too when that cannot be learnt. */
export type BreachedPasswordCheck = (password: string) => Promise<boolean>;

export interface PwnedPasswordsOptions {
  /** The range endpoint; the 5-digit prefix is appended (https://api.pwnedpasswords.com/range/). */
  url: string;
  timeoutMs: number;
  /** How many sightings make a password breached (1: any). */
  minCount: number;
  log: Pick<Logger, "warn">;
}

/** A real answer is about 30 KB (a few hundred to two thousand lines); anything far larger is not one. */
const maxResponseBytes = 1024 * 1024;
const rangeLine = /^([0-9A-F]{35}):(\d+)$/i;

class UnusableAnswer extends Error {}

async function readCapped(response: Response): Promise<string> {
  if (response.body === null) return "";
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of response.body) {
    size += chunk.length;
    if (size > maxResponseBytes) throw new UnusableAnswer(`the answer is over ${maxResponseBytes} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString("utf8");
}

/** The sightings of `suffix` in a range answer; throws UnusableAnswer when it is not one. */
function sightings(body: string, suffix: string): number {
  let found = 0;
  let lines = 0;
  for (const raw of body.split("\n")) {
    const line = raw.trim();
    if (line === "") continue;
    const match = rangeLine.exec(line);
    if (match === null) throw new UnusableAnswer("the answer is not a list of SHA-1 suffixes and counts");
    lines++;
    if ((match[1] as string).toUpperCase() === suffix) found = Number(match[2]);
  }
  if (lines === 0) throw new UnusableAnswer("the answer is empty");
  return found;
}

export function createPwnedPasswords(options: PwnedPasswordsOptions): BreachedPasswordCheck {
  const { log } = options;
  return async (password) => {
    const sha1 = hash("sha1", password, "hex").toUpperCase();
    const prefix = sha1.slice(0, 5);
    try {
      const response = await fetch(`${options.url}${prefix}`, {
        headers: { "Add-Padding": "true", "User-Agent": "authd" },
        redirect: "error",
        signal: AbortSignal.timeout(options.timeoutMs),
      });
      if (!response.ok) {
        await response.body?.cancel();
        throw new UnusableAnswer(`HTTP ${response.status}`);
      }
      return sightings(await readCapped(response), sha1.slice(5)) >= options.minCount;
    } catch (err) {
      // Neither the password nor its hash prefix goes into the log line.
      const reason =
        err instanceof UnusableAnswer
          ? err.message
          : err instanceof Error && (err.name === "TimeoutError" || err.name === "AbortError")
            ? `no answer within ${options.timeoutMs} ms`
            : "the range API could not be reached";
      log.warn({ reason }, "pwned passwords check skipped (the password was judged by the local rules only)");
      return false;
    }
  };
}
