import { randomUUID } from "node:crypto";
import { errors, jwtVerify, SignJWT } from "jose";
import type { Clock } from "../clock.ts";
import { AuthError } from "../errors.ts";
import type { SigningKey } from "./keys.ts";

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
  /** Verifies signature, algorithm, issuer, audience and expiry; throws AuthError otherwise. */
  verify(token: string): Promise<AccessClaims>;
  jwks(): { keys: object[] };
}

// A JWT is three base64url parts; anything else is refused before any parsing.
const jwtShape = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
const maxTokenLength = 4096;

export function createAccessTokens(
  key: SigningKey,
  opts: { issuer: string; audience: string; ttlSeconds: number },
  clock: Clock,
): AccessTokens {
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
      if (token.length > maxTokenLength || !jwtShape.test(token)) {
        throw new AuthError("INVALID_TOKEN", "the access token is malformed");
      }
      try {
        const { payload } = await jwtVerify(token, key.publicKey, {
          algorithms: [key.alg],
          issuer: opts.issuer,
          audience: opts.audience,
          typ: "at+jwt",
          currentDate: clock.now(),
          requiredClaims: ["sub", "sid", "exp", "iat", "jti"],
        });
        const sid = payload.sid;
        if (typeof payload.sub !== "string" || typeof sid !== "string") {
          throw new AuthError("INVALID_TOKEN", "the access token is malformed");
        }
        return { userId: payload.sub, sessionId: sid };
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
  };
}
