// Token introspection (RFC 7662): whether a token is live now, and whose it is, for services and
// gateways that need a revocation to count at once rather than when the token expires.
//
// The answer comes from the same live check as every authenticated call (sessions.authenticate:
// signature, expiry, the session not revoked or cut off, the user existing and allowed in), so
// it can never say active for a token the service itself would refuse. Anything wrong with the
// token is `{ active: false }` and nothing else: the asker learns nothing about why, so
// introspection is no oracle for forging or probing tokens. Only failures of the service itself
// (storage unavailable) are errors.
import { decodeJwt } from "jose";
import { AuthError, invalidArgument } from "../errors.ts";
import { permissions, requirePermission } from "../permissions/permissions.ts";
import type { ServiceAccounts } from "../service-accounts/service-accounts.ts";
import { looksLikeApiKey } from "../service-accounts/keys.ts";
import type { Principal } from "../service-accounts/principal.ts";
import type { Sessions } from "../sessions/sessions.ts";

export interface IntrospectionDeps {
  sessions: Pick<Sessions, "authenticate">;
  serviceAccounts: Pick<ServiceAccounts, "inspect">;
}

export interface ActiveToken {
  active: true;
  /** The user id, or the service account id of an API key. */
  sub: string;
  /** The session of an access token; empty for an API key. */
  sid: string;
  roles: readonly string[];
  permissions: readonly string[];
  /** Null for an API key, which does not expire. */
  expiresAt: Date | null;
  issuedAt: Date;
  /** The access token's audience, or the service account id of an API key. */
  clientId: string;
  tokenType: "Bearer" | "api_key";
  /** The access token's issuer; empty for an API key. */
  issuer: string;
}

export type Introspection = ActiveToken | { active: false };

const inactive: Introspection = Object.freeze({ active: false });
// Longer than any token this service issues (access tokens are refused past 4096 characters):
// inactive, without reading it.
const maxTokenLength = 8192;

function stringClaim(value: unknown): string {
  if (typeof value === "string") return value;
  if (Array.isArray(value) && typeof value[0] === "string") return value[0];
  return "";
}

export function createIntrospection(deps: IntrospectionDeps) {
  async function accessToken(token: string): Promise<Introspection> {
    let caller: Awaited<ReturnType<IntrospectionDeps["sessions"]["authenticate"]>>;
    try {
      caller = await deps.sessions.authenticate({ bearer: token });
    } catch (err) {
      // Every refusal of the token itself (malformed, forged, expired, session ended, user gone or
      // disabled) looks the same; an outage is not a verdict on the token, and stays an error.
      if (err instanceof AuthError) return inactive;
      throw err;
    }
    // The signature was checked by authenticate; these are the claims of that same token.
    const claims = decodeJwt(token);
    return {
      active: true,
      sub: caller.userId,
      sid: caller.sessionId,
      roles: [...caller.roles],
      permissions: [...caller.permissions],
      expiresAt: typeof claims.exp === "number" ? new Date(claims.exp * 1000) : null,
      issuedAt: new Date((claims.iat ?? 0) * 1000),
      clientId: stringClaim(claims.aud),
      tokenType: "Bearer",
      issuer: stringClaim(claims.iss),
    };
  }

  async function apiKey(key: string): Promise<Introspection> {
    const account = await deps.serviceAccounts.inspect(key);
    if (account === null) return inactive;
    return {
      active: true,
      sub: account.id,
      sid: "",
      roles: [],
      permissions: account.permissions,
      expiresAt: null,
      issuedAt: account.keyCreatedAt,
      clientId: account.id,
      tokenType: "api_key",
      issuer: "",
    };
  }

  return {
    /**
     * Introspects `token` for a principal holding `tokens.introspect`. The hint is accepted as RFC
     * 7662 allows and does not change the answer: the token's own shape says what it is.
     */
    async introspect(asker: Principal, input: { token: string; tokenTypeHint?: string }): Promise<Introspection> {
      requirePermission(asker, permissions.tokensIntrospect);
      const token = input.token.trim();
      if (token.length === 0) throw invalidArgument("token", "token is required");
      if (token.length > maxTokenLength) return inactive;
      return looksLikeApiKey(token) ? apiKey(token) : accessToken(token);
    },
  };
}

export type TokenIntrospection = ReturnType<typeof createIntrospection>;
