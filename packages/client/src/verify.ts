// Access-token verification for the services behind authd: the signature against authd's JSON Web
// Key Set, then the algorithm, type, issuer, audience and expiry, with the caller read from the
// claims. No call to authd per request: the key set is fetched once and cached (see keySets).
import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  errors,
  type JSONWebKeySet,
  type JWTPayload,
  type JWTVerifyGetKey,
  jwtVerify,
  type RemoteJWKSetOptions,
} from "jose";
import { unauthenticated } from "./errors.ts";
import { TokenService } from "./gen/auth/v1/token_service_pb.js";

/** Who called, as the access token says. */
export interface VerifiedCaller {
  /** The user id (the `sub` claim). */
  userId: string;
  /** The session id (the `sid` claim). */
  sessionId: string;
  /** The `roles` claim; empty when the token has none. */
  roles: readonly string[];
  /** The `permissions` claim, or the words of a `scope` claim; empty when the token has neither. */
  permissions: readonly string[];
  /** When the token stops being accepted (the `exp` claim). */
  expiresAt: Date;
  /** Every claim, for anything else a service needs. */
  claims: Readonly<JWTPayload>;
  /** Whether authd confirmed the session live for this call (the `live` option); roles and permissions are then authd's now. */
  checkedLive: boolean;
}

/** authd's IntrospectToken, asked on every verification: revocation counts at once. */
export interface LiveCheckOptions {
  /** A transport to authd (e.g. this package's createAuthdTransport), any protocol. */
  transport: Transport;
  /** A service account's API key holding `tokens.introspect`. */
  apiKey: string;
}

export interface VerifyOptions {
  /** authd's key set, e.g. `https://auth.example.com/.well-known/jwks.json`. */
  jwksUrl?: string | URL;
  /** Or the keys themselves (a JWKS document) or any jose key resolver. */
  jwks?: JSONWebKeySet | JWTVerifyGetKey;
  /** authd's JWT_ISSUER. */
  issuer: string;
  /** authd's JWT_AUDIENCE. */
  audience: string;
  /** Accepted signature algorithms; authd signs with EdDSA or ES256. */
  algorithms?: string[];
  /** Leeway for clock skew, in seconds; default 0. */
  clockToleranceSeconds?: number;
  /** The clock expiry is judged by; default the system clock. */
  now?: () => Date;
  /**
   * How the remote key set is fetched and cached (jose's options): by default it is kept 10
   * minutes, and a token with a `kid` not in the cached set fetches it again at most every 30 s.
   */
  remote?: RemoteJWKSetOptions;
  /**
   * Also ask authd, after the signature and claims check, whether the session is still live
   * (TokenService.IntrospectToken): one call to authd per verification, for services where a
   * sign-out, a revoked session or a disabled user must count before the token expires.
   */
  live?: LiveCheckOptions;
}

/** Verifies one token; throws AuthdError (UNAUTHENTICATED) for a token that is not valid. */
export type AccessTokenVerifier = (token: string) => Promise<VerifiedCaller>;

const defaultAlgorithms = ["EdDSA", "ES256"];

// One remote key set per URL and options, shared by every verifier of the process: jose's remote
// set caches the keys and refetches when a token names a kid it lacks (a rotation), so sharing it
// means one fetch for all of them.
const keySets = new Map<string, JWTVerifyGetKey>();

function keyResolver(opts: VerifyOptions): JWTVerifyGetKey {
  if (opts.jwks !== undefined) {
    return typeof opts.jwks === "function" ? opts.jwks : createLocalJWKSet(opts.jwks);
  }
  if (opts.jwksUrl === undefined) throw new TypeError("verifyAccessToken needs jwksUrl or jwks");
  const url = new URL(opts.jwksUrl);
  const cacheKey = `${url.href} ${JSON.stringify(opts.remote ?? {})}`;
  let set = keySets.get(cacheKey);
  if (set === undefined) {
    set = keysOrUnavailable(createRemoteJWKSet(url, opts.remote));
    keySets.set(cacheKey, set);
  }
  return set;
}

/** The remote key set could not be had: authd's (or the network's) fault, never the token's. */
class KeysUnavailable extends Error {}

// jose reports a key set address that answers anything but 200 (a proxy's 503, a redirect, which
// it does not follow, a wrong path) or a body that is not JSON as a plain JOSEError, the class of a
// forged token's errors too: told apart here, where only the fetch can fail for those reasons. A
// token's own fault, as the key set judges it: no key for its kid and algorithm, several, or an
// algorithm no key set serves (HS256, where a service's `algorithms` lists it by mistake).
function keysOrUnavailable(remote: JWTVerifyGetKey): JWTVerifyGetKey {
  return async (header, token) => {
    try {
      return await remote(header, token);
    } catch (err) {
      if (
        err instanceof errors.JWKSNoMatchingKey ||
        err instanceof errors.JWKSMultipleMatchingKeys ||
        err instanceof errors.JOSENotSupported
      ) {
        throw err;
      }
      throw new KeysUnavailable("the signing keys could not be fetched", { cause: err });
    }
  };
}

function stringList(value: unknown): string[] | undefined {
  return Array.isArray(value) && value.every((v) => typeof v === "string") ? value : undefined;
}

function callerOf(payload: JWTPayload): VerifiedCaller {
  const { sub, sid, exp } = payload;
  if (typeof sub !== "string" || typeof sid !== "string" || typeof exp !== "number") {
    throw unauthenticated("INVALID_TOKEN", "the access token lacks sub, sid or exp");
  }
  const scope = typeof payload.scope === "string" ? payload.scope.split(" ").filter((s) => s !== "") : undefined;
  return {
    userId: sub,
    sessionId: sid,
    roles: stringList(payload.roles) ?? [],
    permissions: stringList(payload.permissions) ?? scope ?? [],
    expiresAt: new Date(exp * 1000),
    claims: payload,
    checkedLive: false,
  };
}

function verificationError(err: unknown): ConnectError {
  if (err instanceof errors.JWTExpired) return unauthenticated("TOKEN_EXPIRED", "the access token has expired", err);
  // The key set could not be had: not the caller's fault, and retrying later may succeed.
  if (
    err instanceof KeysUnavailable ||
    err instanceof errors.JWKSTimeout ||
    err instanceof errors.JWKSInvalid ||
    !(err instanceof errors.JOSEError)
  ) {
    return new ConnectError(
      "the signing keys could not be fetched",
      Code.Unavailable,
      undefined,
      undefined,
      err instanceof KeysUnavailable ? err.cause : err,
    );
  }
  return unauthenticated("INVALID_TOKEN", "the access token is not valid", err);
}

function liveCheck(opts: LiveCheckOptions): (token: string, caller: VerifiedCaller) => Promise<VerifiedCaller> {
  const tokens = createClient(TokenService, opts.transport);
  const headers = { authorization: `Bearer ${opts.apiKey}` };
  return async (token, caller) => {
    let answer: Awaited<ReturnType<typeof tokens.introspectToken>>;
    try {
      answer = await tokens.introspectToken({ token, tokenTypeHint: "access_token" }, { headers });
    } catch (err) {
      // authd unreachable, or this service's key refused: neither is the caller's fault.
      throw new ConnectError("the session could not be checked", Code.Unavailable, undefined, undefined, err);
    }
    if (!answer.active || answer.sid !== caller.sessionId || answer.sub !== caller.userId) {
      throw unauthenticated("SESSION_REVOKED", "the session behind the access token has ended");
    }
    return { ...caller, roles: answer.roles, permissions: answer.permissions, checkedLive: true };
  };
}

/** A verifier bound to one key set and one set of expectations (build it once per service). */
export function createAccessTokenVerifier(opts: VerifyOptions): AccessTokenVerifier {
  // jose checks only the expectations it is given: one left out (from JavaScript, or an unset
  // variable cast through) would accept tokens minted for any audience or by any issuer.
  for (const name of ["issuer", "audience"] as const) {
    const value: unknown = opts[name];
    if (typeof value !== "string" || value.trim() === "") throw new TypeError(`verifyAccessToken needs a non-empty ${name}`);
  }
  const keys = keyResolver(opts);
  const algorithms = opts.algorithms ?? defaultAlgorithms;
  const live = opts.live === undefined ? undefined : liveCheck(opts.live);
  return async (token) => {
    if (token === "") throw unauthenticated("UNAUTHENTICATED", "no access token was presented");
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, keys, {
        algorithms,
        issuer: opts.issuer,
        audience: opts.audience,
        typ: "at+jwt",
        clockTolerance: opts.clockToleranceSeconds ?? 0,
        currentDate: opts.now?.(),
        requiredClaims: ["sub", "exp"],
      }));
    } catch (err) {
      throw verificationError(err);
    }
    const caller = callerOf(payload);
    return live === undefined ? caller : live(token, caller);
  };
}

/**
 * Verifies an access token issued by authd and returns its caller. With `jwksUrl`, the key set is
 * fetched once per URL and process and cached (rotation-aware: a token signed with a key the cache
 * lacks fetches the set again). Throws AuthdError: TOKEN_EXPIRED, INVALID_TOKEN or
 * UNAUTHENTICATED (empty token), and with `live` SESSION_REVOKED for a session that has ended; a
 * ConnectError UNAVAILABLE when the keys cannot be fetched or authd cannot be asked.
 */
export async function verifyAccessToken(token: string, opts: VerifyOptions): Promise<VerifiedCaller> {
  return createAccessTokenVerifier(opts)(token);
}
