import { randomUUID, sign } from "node:crypto";
import { errors, jwtVerify } from "jose";
import type { Clock } from "../clock.ts";
import { AuthError } from "../errors.ts";
import type { KeyRing } from "./keys.ts";
import { VerifiedTokenCache } from "./verified-cache.ts";

export interface AccessClaims {
  userId: string;
  sessionId: string;
  /**
   * The user's roles and the permissions they grant, as when the token was issued (the `roles`
   * and `permissions` claims). For services that trust the token alone; a change of roles reaches
   * them at the next refresh. This service itself reads them from the user on every call.
   */
  roles: readonly string[];
  permissions: readonly string[];
}

export interface IssuedAccessToken {
  token: string;
  expiresAt: Date;
  expiresIn: number;
}

export interface AccessTokens {
  issue(claims: AccessClaims): Promise<IssuedAccessToken>;
  /**
   * Verifies signature, algorithm, issuer, audience and expiry; throws AuthError otherwise. A token
   * verified before is answered from the cache (see verified-cache.ts) until it expires.
   */
  verify(token: string): Promise<Readonly<AccessClaims>>;
  /** The public keys of the ring (current, next, previous), for /.well-known/jwks.json. */
  jwks(): { keys: object[] };
  /** The verified-token cache's counts (entries, hits, misses), for metrics and tests. */
  cacheStats(): { entries: number; hits: number; misses: number };
}

const base64url = (json: string) => Buffer.from(json, "utf8").toString("base64url");

// A JWT is three base64url parts, the last one a signature of 64 bytes (Ed25519's, and ES256's r
// and s) spelled the one way base64url spells it: 86 characters, the last of which carries 2 bits
// and 4 zero bits. A decoder ignores those 4 bits, so without the last test every token would have
// 16 spellings that verify (a 'B' for an 'A'): one token could take 16 places in the verified-token
// cache, and the same token would not always be the same string. Anything else is refused before
// any parsing.
const jwtShape = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{85}[AQgw]$/;
const maxTokenLength = 4096;

/**
 * A roles or permissions claim: a list of strings. Absent (a token issued before the claims
 * existed, alive for at most one access-token lifetime after an upgrade) reads as empty; anything
 * else is malformed (null).
 */
function stringList(value: unknown): readonly string[] | null {
  if (value === undefined) return Object.freeze([]);
  if (!Array.isArray(value) || !value.every((v) => typeof v === "string")) return null;
  return Object.freeze([...value]);
}

export function createAccessTokens(
  ring: KeyRing,
  opts: { issuer: string; audience: string; ttlSeconds: number; cacheSize: number },
  clock: Clock,
): AccessTokens {
  const verified = new VerifiedTokenCache<AccessClaims>(opts.cacheSize);
  const key = ring.current;
  const algorithms = [...new Set([...ring.byKid.values()].map((k) => k.alg))];
  // The key is the one the token's kid names, and only if its alg is that key's: an unknown kid
  // (a removed key, a forgery) is refused outright, never tried against every key we hold.
  const keyFor = (header: { kid?: string; alg?: string }) => {
    const named = header.kid === undefined ? undefined : ring.byKid.get(header.kid);
    if (named === undefined || named.alg !== header.alg) throw new AuthError("INVALID_TOKEN", "the access token is invalid");
    return named.publicKey;
  };
  // Signed with node:crypto's one-shot sign rather than jose's SignJWT: jose signs through
  // WebCrypto, whose jobs run on libuv's thread pool, where every sign-in's argon2id runs too, so
  // under sign-in load each token waited for a thread (and cost 2.4 times the CPU). A compact JWS
  // (RFC 7515) is the base64url header and payload, a dot, and the signature of both; jose, which
  // still verifies every token, and the tests' JWKS checks are its oracle.
  const header = base64url(JSON.stringify({ alg: key.alg, kid: key.kid, typ: "at+jwt" }));
  const signing =
    key.alg === "EdDSA"
      ? { digest: null, key: key.privateKey }
      : { digest: "sha256", key: { key: key.privateKey, dsaEncoding: "ieee-p1363" as const } };
  return {
    async issue({ userId, sessionId, roles, permissions }) {
      const now = clock.now();
      const iat = Math.floor(now.getTime() / 1000);
      const exp = iat + opts.ttlSeconds;
      const claims = { sid: sessionId, iss: opts.issuer, aud: opts.audience, sub: userId, iat, exp, jti: randomUUID(), roles, permissions };
      const input = `${header}.${base64url(JSON.stringify(claims))}`;
      const token = `${input}.${sign(signing.digest, Buffer.from(input), signing.key).toString("base64url")}`;
      // What verify would prove of it is known here: its first use (the call right after a Login or
      // a refresh) is a cache hit instead of a signature check. Other instances check it once.
      verified.set(
        token,
        Object.freeze({ userId, sessionId, roles: Object.freeze([...roles]), permissions: Object.freeze([...permissions]) }),
        exp * 1000,
        now.getTime(),
      );
      return { token, expiresAt: new Date(exp * 1000), expiresIn: opts.ttlSeconds };
    },

    async verify(token) {
      if (token.length > maxTokenLength) throw new AuthError("INVALID_TOKEN", "the access token is malformed");
      const now = clock.now();
      const cached = verified.get(token, now.getTime());
      if (cached !== undefined) return cached;
      if (!jwtShape.test(token)) throw new AuthError("INVALID_TOKEN", "the access token is malformed");
      try {
        const { payload } = await jwtVerify(token, keyFor, {
          algorithms,
          issuer: opts.issuer,
          audience: opts.audience,
          typ: "at+jwt",
          currentDate: now,
          requiredClaims: ["sub", "sid", "exp", "iat", "jti"],
        });
        const { sub, sid, exp } = payload;
        const roles = stringList(payload["roles"]);
        const permissions = stringList(payload["permissions"]);
        if (typeof sub !== "string" || typeof sid !== "string" || exp === undefined || roles === null || permissions === null) {
          throw new AuthError("INVALID_TOKEN", "the access token is malformed");
        }
        // Frozen: the same object answers every later call with this token.
        const claims: AccessClaims = Object.freeze({ userId: sub, sessionId: sid, roles, permissions });
        verified.set(token, claims, exp * 1000, now.getTime());
        return claims;
      } catch (err) {
        if (err instanceof AuthError) throw err;
        if (err instanceof errors.JWTExpired) {
          throw new AuthError("TOKEN_EXPIRED", "the access token has expired");
        }
        throw new AuthError("INVALID_TOKEN", "the access token is invalid");
      }
    },

    jwks() {
      return { keys: [...ring.published] };
    },

    cacheStats: () => verified.stats(),
  };
}
