import { randomUUID } from "node:crypto";
import { errors, jwtVerify, SignJWT } from "jose";
import type { Clock } from "../clock.ts";
import { AuthError } from "../errors.ts";
import type { SigningKey } from "./keys.ts";
import { VerifiedTokenCache } from "./verified-cache.ts";

export interface AccessClaims {
  userId: string;
  sessionId: string;
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
  jwks(): { keys: object[] };
  /** The verified-token cache's counts (entries, hits, misses), for metrics and tests. */
  cacheStats(): { entries: number; hits: number; misses: number };
}

// A JWT is three base64url parts; anything else is refused before any parsing.
const jwtShape = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
const maxTokenLength = 4096;

export function createAccessTokens(
  key: SigningKey,
  opts: { issuer: string; audience: string; ttlSeconds: number; cacheSize: number },
  clock: Clock,
): AccessTokens {
  const verified = new VerifiedTokenCache<AccessClaims>(opts.cacheSize);
  return {
    async issue({ userId, sessionId }) {
      const now = clock.now();
      const iat = Math.floor(now.getTime() / 1000);
      const exp = iat + opts.ttlSeconds;
      const token = await new SignJWT({ sid: sessionId })
        .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: "at+jwt" })
        .setIssuer(opts.issuer)
        .setAudience(opts.audience)
        .setSubject(userId)
        .setIssuedAt(iat)
        .setExpirationTime(exp)
        .setJti(randomUUID())
        .sign(key.privateKey);
      return { token, expiresAt: new Date(exp * 1000), expiresIn: opts.ttlSeconds };
    },

    async verify(token) {
      if (token.length > maxTokenLength) throw new AuthError("INVALID_TOKEN", "the access token is malformed");
      const now = clock.now();
      const cacheKey = VerifiedTokenCache.keyOf(token);
      const cached = verified.get(cacheKey, now.getTime());
      if (cached !== undefined) return cached;
      if (!jwtShape.test(token)) throw new AuthError("INVALID_TOKEN", "the access token is malformed");
      try {
        const { payload } = await jwtVerify(token, key.publicKey, {
          algorithms: [key.alg],
          issuer: opts.issuer,
          audience: opts.audience,
          typ: "at+jwt",
          currentDate: now,
          requiredClaims: ["sub", "sid", "exp", "iat", "jti"],
        });
        const { sub, sid, exp } = payload;
        if (typeof sub !== "string" || typeof sid !== "string" || exp === undefined) {
          throw new AuthError("INVALID_TOKEN", "the access token is malformed");
        }
        // Frozen: the same object answers every later call with this token.
        const claims: AccessClaims = Object.freeze({ userId: sub, sessionId: sid });
        verified.set(cacheKey, claims, exp * 1000, now.getTime());
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
      return { keys: [key.publicJwk] };
    },

    cacheStats: () => verified.stats(),
  };
}
