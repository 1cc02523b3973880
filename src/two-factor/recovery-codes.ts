// Recovery codes: 10 per enrolment, 60 random bits each (NIST SP 800-63B look-up secrets need
// 20 bits with rate limiting; ASVS asks 50+ here), written as xxxx-xxxx-xxxx in lower-case RFC 4648
// base32 so they are easy to type. Stored only as keyed hashes.

import { randomBytes, timingSafeEqual } from "node:crypto";

export const recoveryCodeCount = 10;
const alphabet = "abcdefghijklmnopqrstuvwxyz234567";
const length = 12;

export function newRecoveryCodes(): string[] {
  return Array.from({ length: recoveryCodeCount }, () => {
    const bytes = randomBytes(length);
    // 256 is a multiple of 32, so `byte % 32` is uniform.
    const chars = [...bytes].map((b) => alphabet[b % 32]).join("");
    return `${chars.slice(0, 4)}-${chars.slice(4, 8)}-${chars.slice(8)}`;
  });
}

/** The canonical form (lower case, no dashes or spaces), or null when it cannot be a recovery code. */
export function normalizeRecoveryCode(text: string): string | null {
  if (text.length > 64) return null;
  const cleaned = text.replace(/[\s-]/g, "").toLowerCase();
  return cleaned.length === length && [...cleaned].every((c) => alphabet.includes(c)) ? cleaned : null;
}

/** Index of the hash equal to `hash` (every entry is compared, in constant time), or -1. */
export function findHash(hashes: readonly string[], hash: string): number {
  const wanted = Buffer.from(hash, "hex");
  let found = -1;
  hashes.forEach((candidate, i) => {
    const other = Buffer.from(candidate, "hex");
    if (other.length === wanted.length && timingSafeEqual(other, wanted) && found === -1) found = i;
  });
  return found;
}
