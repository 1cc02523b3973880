import { ownCopy } from "../input.ts";

/** How many of a token's last characters find its entry (see VerifiedTokenCache). */
const keyLength = 32;
const keyOf = (token: string) => (token.length <= keyLength ? token : token.slice(-keyLength));

/**
 * Access tokens whose signature and claims have been checked, so that the same token presented
 * again is not checked again: the Ed25519 check is most of what an authenticated call costs. It
 * holds only what a verification proved once and for good (the token was signed by one of our keys
 * for this user and session); what can change (the session revoked, a cutoff raised, the user gone)
 * is never cached and is read on every call by sessions.authenticate. The keys a token may be signed
 * by are fixed for the life of the process (src/tokens/keys.ts): removing one is a restart, which
 * starts with an empty cache, so no entry outlives the key that signed its token.
 *
 * - Answers only for the very token it verified: an entry holds the whole token, and a lookup that
 *   finds an entry hits only when the token given equals it in full, so a token that differs
 *   anywhere (another signature, another payload, a prefix) misses and is verified. Not a digest
 *   of it: the SHA-256 was 2 µs of every call's 60, and it kept nothing safer, since the heap that
 *   holds these tokens also holds the private key that signs them (a heap dump gives away every
 *   future token either way). About 790 bytes per entry (npm run bench:authenticate).
 * - Found by the token's last `keyLength` characters (of a JWS, its signature's), not the whole
 *   token: every request brings its token as a new string, whose hash V8 computes over every
 *   character before a Map lookup, 0.6 µs for a 300-character token against 0.1 for 32. Two
 *   tokens of ours share those characters only if two Ed25519 signatures share 192 bits; a token
 *   made to share them with a cached one (a forged payload under a genuine signature) finds the
 *   entry, fails the comparison in full, and is verified like any other; it can replace an
 *   entry only by verifying.
 * - An entry lasts until the token's expiry and not one millisecond longer: at `exp` the token is
 *   refused exactly as jose would refuse it, since a lookup at or after it misses and the caller
 *   verifies again.
 * - At most `maxEntries`, least recently used dropped first (expired ones before them as met);
 *   0 turns the cache off. "Recently" to within a factor of two: a hit moves its entry to the
 *   back only when it is in the older half. Moving it on every hit (a Map delete and set) was
 *   1.7 µs of each call with a token-length key, and an entry in the newer half is at least half
 *   the cache's size of insertions away from being dropped anyway.
 * - Failed verifications are never cached: a forged token costs a full check every time.
 */
export class VerifiedTokenCache<T> {
  readonly #maxEntries: number;
  // A Map iterates in insertion order, and a hit in the older half re-inserts its entry, so the
  // first is the least recently used (to within the factor of two above).
  readonly #entries = new Map<string, { token: string; value: T; expiresAtMs: number; placed: number }>();
  /** Counts placements at the back: an entry's `placed` says how far from the back it is. */
  #placements = 0;
  #hits = 0;
  #misses = 0;

  constructor(maxEntries: number) {
    if (!Number.isInteger(maxEntries) || maxEntries < 0) throw new RangeError(`maxEntries must be a whole number, got ${maxEntries}`);
    this.#maxEntries = maxEntries;
  }

  /** What the token verified to, if it did and has not expired at `nowMs`. */
  get(token: string, nowMs: number): T | undefined {
    if (this.#maxEntries === 0) return undefined;
    const key = keyOf(token);
    const entry = this.#entries.get(key);
    if (entry === undefined || entry.token !== token) {
      this.#misses++;
      return undefined;
    }
    if (entry.expiresAtMs <= nowMs) {
      this.#entries.delete(key);
      this.#misses++;
      return undefined;
    }
    if (this.#placements - entry.placed >= this.#entries.size / 2) {
      this.#entries.delete(key);
      entry.placed = ++this.#placements;
      // Keyed by the entry's own copy: `key` is cut from the request's header.
      this.#entries.set(keyOf(entry.token), entry);
    }
    this.#hits++;
    return entry.value;
  }

  /** Remembers a verified token until `expiresAtMs`. */
  set(token: string, value: T, expiresAtMs: number, nowMs: number): void {
    if (this.#maxEntries === 0 || expiresAtMs <= nowMs) return;
    // A copy: the token given may be cut from a client's Authorization header, padded to the limit.
    const owned = ownCopy(token);
    const key = keyOf(owned);
    // An entry under the same key goes, whatever its token: the one just verified replaces it.
    this.#entries.delete(key);
    for (const [oldest, entry] of this.#entries) {
      if (this.#entries.size < this.#maxEntries && entry.expiresAtMs > nowMs) break;
      this.#entries.delete(oldest);
    }
    this.#entries.set(key, { token: owned, value, expiresAtMs, placed: ++this.#placements });
  }

  /** Counts for metrics and tests: entries held, lookups answered and not. */
  stats(): { entries: number; hits: number; misses: number } {
    return { entries: this.#entries.size, hits: this.#hits, misses: this.#misses };
  }
}
