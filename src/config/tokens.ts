import type { KeyObject } from "node:crypto";
import { parsePrivateKey, parsePublicKeys, samePublicKey } from "../tokens/keys.ts";
import { ConfigError, type Env, int, parsedSecret, str } from "./parse.ts";

/** The access tokens (JWT): the keys that sign and verify them, and their claims and lifetime. */
export interface JwtSettings {
  /**
   * The signing keys, Ed25519 or P-256: `current` signs (undefined: generate one, development),
   * `next` is published ahead of signing, `previous` still verify; see "Rotating the signing key".
   */
  keys: { current: KeyObject | undefined; next: KeyObject | undefined; previous: KeyObject[] };
  /** The JWKS's Cache-Control max-age: how long verifiers may go without seeing a newly published key. */
  jwksMaxAgeSeconds: number;
  issuer: string;
  audience: string;
  accessTokenTtlSeconds: number;
  /**
   * Access tokens whose signature check is remembered until they expire (0: none), so that a
   * token is checked once, not on every call; the session is still checked on every call.
   */
  accessTokenCacheSize: number;
}

/** A PEM given inline (with `\n` escapes allowed, for one-line variables) or as a file. */
function pem<T>(env: Env, name: string, readFile: (path: string) => string, parse: (pem: string) => T): T | undefined {
  return parsedSecret(env, name, readFile, (text) => parse(text.replace(/\\n/g, "\n")));
}

/**
 * JWT_PRIVATE_KEY (current), JWT_NEXT_PRIVATE_KEY, JWT_PREVIOUS_PUBLIC_KEYS, each also as _FILE.
 * A key listed twice is a mistake made while rotating (a promoted key left in its old place), so
 * it stops the server instead of being quietly merged.
 */
function signingKeys(env: Env, readFile: (path: string) => string): JwtSettings["keys"] {
  const current = pem(env, "JWT_PRIVATE_KEY", readFile, parsePrivateKey);
  const next = pem(env, "JWT_NEXT_PRIVATE_KEY", readFile, parsePrivateKey);
  const previous = pem(env, "JWT_PREVIOUS_PUBLIC_KEYS", readFile, parsePublicKeys) ?? [];
  if (current === undefined && (next !== undefined || previous.length > 0)) {
    const given = next !== undefined ? "JWT_NEXT_PRIVATE_KEY" : "JWT_PREVIOUS_PUBLIC_KEYS";
    throw new ConfigError("JWT_PRIVATE_KEY", `must be set (or JWT_PRIVATE_KEY_FILE) when ${given} is`);
  }
  if (current !== undefined && next !== undefined && samePublicKey(current, next)) {
    throw new ConfigError("JWT_NEXT_PRIVATE_KEY", "is the same key as JWT_PRIVATE_KEY (remove it once it is promoted)");
  }
  const listed = [current, next].filter((k): k is KeyObject => k !== undefined);
  for (const key of previous) {
    if (listed.some((other) => samePublicKey(key, other))) {
      throw new ConfigError("JWT_PREVIOUS_PUBLIC_KEYS", "lists a key that is also JWT_PRIVATE_KEY or JWT_NEXT_PRIVATE_KEY, or one twice");
    }
    listed.push(key);
  }
  return { current, next, previous };
}

/** JWT_*, JWKS_CACHE_MAX_AGE_SECONDS and the access tokens' lifetime and cache. */
export function jwt(env: Env, readFile: (path: string) => string): JwtSettings {
  const day = 86_400;
  return {
    keys: signingKeys(env, readFile),
    // Short enough that publishing a next key and promoting it can be minutes apart, long enough
    // that verifiers do not fetch the key set on every token.
    jwksMaxAgeSeconds: int(env, "JWKS_CACHE_MAX_AGE_SECONDS", 300, 0, 86_400),
    issuer: str(env, "JWT_ISSUER") ?? "authd",
    audience: str(env, "JWT_AUDIENCE") ?? "authd",
    accessTokenTtlSeconds: int(env, "ACCESS_TOKEN_TTL_SECONDS", 900, 30, day),
    // About 940 bytes each, the token itself being the key (npm run bench:authenticate): the
    // default holds 9.4 MB at most.
    accessTokenCacheSize: int(env, "ACCESS_TOKEN_CACHE_SIZE", 10_000, 0, 10_000_000),
  };
}
