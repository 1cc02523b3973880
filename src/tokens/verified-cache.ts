/**
 * Access tokens whose signature and claims have been checked, so that the same token presented
 * again is not checked again: the Ed25519 check is most of what an authenticated call costs. It
 * holds only what a verification proved once and for good (the token was signed by one of our keys
 * for this user and session); what can change (the session revoked, a cutoff raised, the user gone)
 * is never cached and is read on every call by sessions.authenticate. The keys a token may be signed
 * by are fixed for the life of the process (src/tokens/keys.ts): removing one is a restart, which
 * starts with an empty cache, so no entry outlives the key that signed its token.
 *
 * - Keyed by the whole token: a token that differs anywhere (another signature, another payload, a
 *   prefix) has another key. Not by a digest of it: the SHA-256 was 2 µs of every call's 60, and
 *   it kept nothing safer, since the heap that holds these tokens also holds the private key that
 *   signs them (a heap dump gives away every future token either way). 940 bytes per entry
 *   instead of 390 (npm run bench:authenticate): 9.4 MB at the default size instead of 3.9.
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
  readonly #entries = new Map<string, { value: T; expiresAtMs: number; placed: number }>();
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
    const entry = this.#entries.get(token);
    if (entry === undefined) {
      this.#misses++;
      return undefined;
    }
    if (entry.expiresAtMs <= nowMs) {
      this.#entries.delete(token);
      this.#misses++;
      return undefined;
    }
    if (this.#placements - entry.placed >= this.#entries.size / 2) {
      this.#entries.delete(token);
      entry.placed = ++this.#placements;
      this.#entries.set(token, entry);
    }
    this.#hits++;
    return entry.value;
  }

  /** Remembers a verified token until `expiresAtMs`. */
  set(token: string, value: T, expiresAtMs: number, nowMs: number): void {
    if (this.#maxEntries === 0 || expiresAtMs <= nowMs) return;
    this.#entries.delete(token);
    for (const [oldest, entry] of this.#entries) {
      if (this.#entries.size < this.#maxEntries && entry.expiresAtMs > nowMs) break;
      this.#entries.delete(oldest);
    }
    // A copy of the token, not the string given: that is often a slice of a request's whole
    // Authorization header (a regex capture), which V8 keeps alive behind the slice, so that a
    // client padding its header to the limit (64 KiB over HTTP/2) would make each entry cost that.
    // Tokens are ASCII (verify checks their shape first), so latin1 copies them exactly.
    this.#entries.set(Buffer.from(token, "latin1").toString("latin1"), { value, expiresAtMs, placed: ++this.#placements });
  }

  /** Counts for metrics and tests: entries held, lookups answered and not. */
  stats(): { entries: number; hits: number; misses: number } {
    return { entries: this.#entries.size, hits: this.#hits, misses: this.#misses };
  }
}
