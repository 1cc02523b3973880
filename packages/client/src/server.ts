// For a Connect service behind authd: an interceptor that verifies the caller's access token and
// puts the caller into the handler's context, so handlers read who called instead of parsing
// headers themselves.
import { createContextKey, type ContextValues, type Interceptor } from "@connectrpc/connect";
import { unauthenticated } from "./errors.ts";
import { createAccessTokenVerifier, type AccessTokenVerifier, type VerifiedCaller, type VerifyOptions } from "./verify.ts";

/** Where the interceptor leaves the verified caller: `ctx.values.get(callerKey)`. */
export const callerKey = createContextKey<VerifiedCaller | undefined>(undefined, { description: "the caller authd's token names" });

export interface AuthInterceptorOptions extends VerifyOptions {
  /**
   * Procedures (e.g. "/shop.v1.OrderService/ListProducts") that may be called without a token; a
   * token sent to one is still verified. Default: none.
   */
  isPublic?: (procedure: string) => boolean;
  /** A verifier to use instead of one built from these options (e.g. one shared with other code). */
  verifier?: AccessTokenVerifier;
}

const bearer = /^Bearer ([A-Za-z0-9._~+/=-]+)$/i;

/**
 * A Connect server interceptor: verifies `Authorization: Bearer <access token>` and sets
 * `callerKey` in the context values. A call without a valid token fails UNAUTHENTICATED with
 * authd's reason (UNAUTHENTICATED, INVALID_TOKEN, TOKEN_EXPIRED), which the token manager of
 * `@authd/client` answers by refreshing once.
 */
export function createAuthInterceptor(opts: AuthInterceptorOptions): Interceptor {
  const verify = opts.verifier ?? createAccessTokenVerifier(opts);
  return (next) => async (req) => {
    const header = req.header.get("authorization");
    if (header === null) {
      if (opts.isPublic?.(`/${req.service.typeName}/${req.method.name}`) === true) return next(req);
      throw unauthenticated("UNAUTHENTICATED", "no access token was presented");
    }
    const token = bearer.exec(header)?.[1];
    if (token === undefined) throw unauthenticated("INVALID_TOKEN", "the authorization header is not a Bearer token");
    req.contextValues.set(callerKey, await verify(token));
    return next(req);
  };
}

/** The verified caller of a call, from a handler's context; UNAUTHENTICATED when there is none. */
export function requireCaller(ctx: { values: ContextValues }): VerifiedCaller {
  const caller = ctx.values.get(callerKey);
  if (caller === undefined) throw unauthenticated("UNAUTHENTICATED", "no access token was presented");
  return caller;
}

/** Whether a caller holds a permission (from the token's `permissions` or `scope` claim). */
export function hasPermission(caller: VerifiedCaller, permission: string): boolean {
  return caller.permissions.includes(permission);
}
