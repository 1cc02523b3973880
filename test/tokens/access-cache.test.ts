// The verified-token cache (src/tokens/verified-cache.ts) behind accessTokens.verify: a token
// verified once is not verified again, but the cache never answers for a token it has not
// verified itself (any other signature, payload or prefix), nor after the token's expiry.
import { beforeEach, describe, expect, it } from "vitest";
import { bearerFrom } from "../../src/transport/credentials.ts";
import { AuthError } from "../../src/errors.ts";
import { createAccessTokens, type AccessTokens } from "../../src/tokens/access.ts";
import { loadKeyRing, type KeyRing } from "../../src/tokens/keys.ts";
import { VerifiedTokenCache } from "../../src/tokens/verified-cache.ts";
import { TestClock } from "../support/harness.ts";
import { heapUsedAfterGc } from "../support/heap.ts";

const ttlSeconds = 900;
let ring: KeyRing;
let clock: TestClock;

const tokensWith = (cacheSize: number, keys = ring): AccessTokens =>
  createAccessTokens(keys, { issuer: "authd", audience: "authd", ttlSeconds, cacheSize }, clock);

/** Another instance with the same key (another replica): its tokens are new to the instance under test. */
const replica = () => tokensWith(0);

const reasonOf = (p: Promise<unknown>) =>
  p.then(
    () => "accepted",
    (e: unknown) => (e instanceof AuthError ? e.reason : String(e)),
  );

beforeEach(async () => {
  ring ??= (await loadKeyRing({})).ring;
  // On a whole second, so that `exp` (seconds) falls exactly ttlSeconds after it.
  clock = new TestClock(Math.floor(Date.now() / 1000) * 1000);
});

describe("access tokens: the verified-token cache", () => {
  it("a token verified once is answered from the cache after that, with the same claims", async () => {
    const tokens = tokensWith(100);
    const { token } = await replica().issue({ userId: "usr_1", sessionId: "ses_1", roles: ["user"], permissions: [] });
    expect(await tokens.verify(token)).toMatchObject({ userId: "usr_1", sessionId: "ses_1" });
    expect(tokens.cacheStats()).toEqual({ entries: 1, hits: 0, misses: 1 });
    for (let i = 0; i < 3; i++) expect(await tokens.verify(token)).toMatchObject({ userId: "usr_1", sessionId: "ses_1" });
    expect(tokens.cacheStats()).toEqual({ entries: 1, hits: 3, misses: 1 });
  });

  it("a token this instance issued is in the cache from the start: its first use checks no signature", async () => {
    const tokens = tokensWith(100);
    const { token } = await tokens.issue({ userId: "usr_1", sessionId: "ses_1", roles: ["user"], permissions: [] });
    expect(tokens.cacheStats()).toEqual({ entries: 1, hits: 0, misses: 0 });
    expect(await tokens.verify(token)).toMatchObject({ userId: "usr_1", sessionId: "ses_1" });
    expect(tokens.cacheStats()).toEqual({ entries: 1, hits: 1, misses: 0 });
    // And it leaves at its expiry like any other.
    clock.advance(ttlSeconds * 1000);
    expect(await reasonOf(tokens.verify(token))).toBe("TOKEN_EXPIRED");
  });

  it("the cached claims cannot be changed by a caller", async () => {
    const tokens = tokensWith(100);
    const { token } = await tokens.issue({ userId: "usr_1", sessionId: "ses_1", roles: ["user"], permissions: [] });
    const first = await tokens.verify(token);
    expect(() => Object.assign(first, { userId: "usr_2" })).toThrow(TypeError);
    expect(await tokens.verify(token)).toMatchObject({ userId: "usr_1", sessionId: "ses_1" });
  });

  it("an expired token is refused from a warm cache, to the millisecond, and its entry is dropped", async () => {
    const tokens = tokensWith(100);
    const { token, expiresAt } = await replica().issue({ userId: "usr_1", sessionId: "ses_1", roles: ["user"], permissions: [] });
    await tokens.verify(token);
    clock.advance(ttlSeconds * 1000 - 1);
    expect(await reasonOf(tokens.verify(token))).toBe("accepted");
    expect(tokens.cacheStats().hits).toBe(1);
    clock.advance(1);
    expect(clock.now().getTime()).toBe(expiresAt.getTime());
    expect(await reasonOf(tokens.verify(token))).toBe("TOKEN_EXPIRED");
    expect(tokens.cacheStats()).toEqual({ entries: 0, hits: 1, misses: 2 });
    clock.advance(3_600_000);
    expect(await reasonOf(tokens.verify(token))).toBe("TOKEN_EXPIRED");
  });

  it("forged tokens are never served from the cache: another signature, another payload, a prefix, a suffix", async () => {
    const tokens = tokensWith(100);
    const genuine = (await replica().issue({ userId: "usr_1", sessionId: "ses_1", roles: ["user"], permissions: [] })).token;
    const other = (await replica().issue({ userId: "usr_2", sessionId: "ses_2", roles: ["user"], permissions: [] })).token;
    // A token signed with a key that is not ours, for the very same claims.
    const foreignKey = (await loadKeyRing({})).ring;
    const foreign = (await tokensWith(0, foreignKey).issue({ userId: "usr_1", sessionId: "ses_1", roles: ["user"], permissions: [] }))
      .token;
    await tokens.verify(genuine);
    await tokens.verify(other);
    const [header, payload, signature] = genuine.split(".") as [string, string, string];
    const [, otherPayload, otherSignature] = other.split(".") as [string, string, string];
    // A character in the middle of the signature (the last one may only carry padding bits).
    const flipped = signature.slice(0, 20) + (signature[20] === "A" ? "B" : "A") + signature.slice(21);
    const forgeries = {
      "same payload, another token's signature": `${header}.${payload}.${otherSignature}`,
      "same payload, a signature changed in one character": `${header}.${payload}.${flipped}`,
      "another payload, the genuine signature": `${header}.${otherPayload}.${signature}`,
      "the same claims signed by another key": foreign,
      "the genuine token cut short": genuine.slice(0, -10),
      "the genuine token with more after it": `${genuine}AAAA`,
    };
    for (const [what, forged] of Object.entries(forgeries)) {
      expect([what, await reasonOf(tokens.verify(forged))]).toEqual([what, "INVALID_TOKEN"]);
    }
    // None of them was answered from the cache, and none was remembered.
    expect(tokens.cacheStats()).toEqual({ entries: 2, hits: 0, misses: 2 + Object.keys(forgeries).length });
    expect(await tokens.verify(genuine)).toMatchObject({ userId: "usr_1", sessionId: "ses_1" });
  });

  it("is bounded: the least recently used token is dropped first, and is verified again when it comes back", async () => {
    const tokens = tokensWith(2);
    const issuer = replica();
    const [a, b, c] = await Promise.all(
      ["1", "2", "3"].map((n) => issuer.issue({ userId: `usr_${n}`, sessionId: `ses_${n}`, roles: ["user"], permissions: [] })),
    );
    if (a === undefined || b === undefined || c === undefined) throw new Error("unreachable");
    await tokens.verify(a.token);
    await tokens.verify(b.token);
    await tokens.verify(a.token); // a is now the most recently used
    await tokens.verify(c.token); // b goes
    expect(tokens.cacheStats()).toEqual({ entries: 2, hits: 1, misses: 3 });
    await tokens.verify(a.token);
    await tokens.verify(c.token);
    expect(tokens.cacheStats()).toEqual({ entries: 2, hits: 3, misses: 3 });
    expect(await tokens.verify(b.token)).toMatchObject({ userId: "usr_2", sessionId: "ses_2" });
    expect(tokens.cacheStats()).toEqual({ entries: 2, hits: 3, misses: 4 });
  });

  it("a hit moves its entry back only from the older half, and an entry used lately is never the one dropped", () => {
    const cache = new VerifiedTokenCache<string>(4);
    for (const k of ["a", "b", "c", "d"]) cache.set(k, k, 10_000, 0);
    expect(cache.get("c", 0)).toBe("c"); // in the newer half: stays where it is
    cache.set("e", "e", 10_000, 0); // drops a
    cache.set("f", "f", 10_000, 0); // drops b: c is now first
    expect(cache.get("c", 0)).toBe("c"); // in the older half: moved to the back
    cache.set("g", "g", 10_000, 0); // drops d, not c
    expect(["a", "b", "c", "d", "e", "f", "g"].map((k) => cache.get(k, 0))).toEqual([undefined, undefined, "c", undefined, "e", "f", "g"]);
  });

  it("tokens that end alike are told apart by the whole token, and the one verified last keeps the entry", () => {
    // Entries are found by a token's last characters (its signature's); a hit needs the whole token.
    const tail = "s".repeat(40);
    const cache = new VerifiedTokenCache<string>(10);
    cache.set(`a.${tail}`, "a", 10_000, 0);
    expect(cache.get(`b.${tail}`, 0)).toBeUndefined();
    expect(cache.get(`a.${tail}`, 0)).toBe("a");
    cache.set(`b.${tail}`, "b", 10_000, 0);
    expect([cache.get(`a.${tail}`, 0), cache.get(`b.${tail}`, 0)]).toEqual([undefined, "b"]);
    expect(cache.stats()).toEqual({ entries: 1, hits: 2, misses: 2 });
  });

  it("keeps a token with a character above U+00FF exactly: it answers for that token, not for a Latin-1 look-alike", () => {
    // Callers give only ASCII tokens (verify checks their shape first). Were one not to, a copy
    // through Latin-1 alone would store another, ASCII, string (U+0141 becomes "A"), which would then hit.
    const cache = new VerifiedTokenCache<string>(10);
    const wide = "\u0141".padEnd(40, "z");
    cache.set(wide, "verified", 10_000, 0);
    expect([cache.get("A".padEnd(40, "z"), 0), cache.get(wide, 0), cache.stats().entries]).toEqual([undefined, "verified", 1]);
  });

  it("expired entries at the least recently used end are dropped as new ones come in, even with room to spare", async () => {
    const cache = new VerifiedTokenCache<string>(10);
    cache.set("old1", "old1", 1_000, 0);
    cache.set("old2", "old2", 1_500, 0);
    cache.set("live", "live", 10_000, 0);
    expect(cache.stats().entries).toBe(3);
    cache.set("new", "new", 10_000, 2_000);
    expect(cache.stats().entries).toBe(2);
    expect(["old1", "old2", "live", "new"].map((k) => cache.get(k, 2_000))).toEqual([undefined, undefined, "live", "new"]);
  });

  it("an entry holds a copy of its token, not the padded header the token was cut from", async () => {
    // A regex capture is a slice that keeps its whole source string alive: were the slice the key,
    // each entry would hold its request's Authorization header, 64 KiB if the client padded it.
    const heap = heapUsedAfterGc;
    const entries = 150;
    const tokens = tokensWith(entries);
    const issuer = replica();
    const issued = await Promise.all(
      Array.from({ length: entries }, (_, i) =>
        issuer.issue({ userId: `usr_${i}`, sessionId: `ses_${i}`, roles: ["user"], permissions: [] }),
      ),
    );
    const before = heap();
    // Twice: the second time every lookup hits, and hits move entries in the older half back.
    for (let round = 0; round < 2; round++) {
      for (const { token } of issued) {
        const header = `Bearer${" ".repeat(60_000)}${token}`;
        await tokens.verify(bearerFrom(header) ?? "");
      }
    }
    expect(tokens.cacheStats()).toEqual({ entries, hits: entries, misses: entries });
    // 150 headers of 60 kB would be 9 MB; 150 entries of about a kilobyte are well under 2.
    expect(heap() - before).toBeLessThan(2_000_000);
  });

  it("size 0 turns it off: every call verifies the signature", async () => {
    const tokens = tokensWith(0);
    const { token } = await tokens.issue({ userId: "usr_1", sessionId: "ses_1", roles: ["user"], permissions: [] });
    for (let i = 0; i < 3; i++) await tokens.verify(token);
    expect(tokens.cacheStats()).toEqual({ entries: 0, hits: 0, misses: 0 });
  });
});
