// The forward-auth endpoint's HTTP side: reads the credential and the required permissions from
// the proxy's request, calls forward-auth/forward-auth.ts, and writes the answer the proxies
// understand: 200 with the identity in X-Auth-* headers, 401 with WWW-Authenticate, 403. nginx
// auth_request sends a GET subrequest, Caddy forward_auth a GET, Traefik ForwardAuth the client's
// method, Envoy ext_authz the client's method and path under a prefix: every method and every path under the prefix
// takes the same check. Headers and bodies of the client's request are never copied into the
// answer, so a forged X-Auth-User-Id cannot come back as an identity.
import { parseCookie } from "cookie";
import type { ForwardAuth, ForwardIdentity } from "../forward-auth/forward-auth.ts";
import type { Logger } from "../log.ts";
import { httpStatus } from "../rest/envelopes.ts";
import { sessionCookieName } from "../rest/handler.ts";
import { bearerFrom, cookieCount, repeatedCookie } from "../transport/credentials.ts";
import { clientGone, type NodeHandler, setBrowserSafetyHeaders } from "../transport/node-http.ts";
import { outcomeOf } from "../transport/outcome.ts";
import { toSafeError } from "../transport/safe-error.ts";

type NodeRequest = Parameters<NodeHandler>[0];
type NodeResponse = Parameters<NodeHandler>[1];

export const forwardAuthPath = "/auth/forward";

/** The headers of a 200 answer; a proxy copies them onto the request it passes on. */
export const identityHeaders = {
  userId: "x-auth-user-id",
  sessionId: "x-auth-session-id",
  roles: "x-auth-roles",
  permissions: "x-auth-permissions",
} as const;

/** Where a proxy that cannot add a query parameter (Envoy, or nginx by choice) names a requirement. */
export const requiredPermissionHeader = "x-auth-required-permission";

/** Whether a path is the endpoint's: itself, or under it (Envoy appends the client's path). */
export function isForwardAuthPath(path: string): boolean {
  return path === forwardAuthPath || path.startsWith(`${forwardAuthPath}/`);
}

/** Comma-separated lists, from every `permission` query parameter and every requirement header. */
function requiredPermissions(req: NodeRequest, search: string): string[] {
  const header = req.headers[requiredPermissionHeader];
  const values = [...new URLSearchParams(search).getAll("permission"), ...(Array.isArray(header) ? header : [header ?? ""])];
  return values.flatMap((v) => v.split(","));
}

// RFC 6750 section 3: a request without credentials gets the bare challenge; a bad or ended one
// says invalid_token; a missing permission says insufficient_scope.
function challenge(reason: string, status: number): string | undefined {
  if (reason === "PERMISSION_DENIED") return 'Bearer error="insufficient_scope"';
  if (status !== 401) return undefined;
  return reason === "UNAUTHENTICATED" ? "Bearer" : 'Bearer error="invalid_token"';
}

export function forwardAuthHandler(forwardAuth: ForwardAuth, log: Logger) {
  return async (req: NodeRequest, res: NodeResponse): Promise<void> => {
    const outcome = outcomeOf(req);
    outcome.route = forwardAuthPath;
    // On every answer, as on the server's others: Traefik hands a refusal, headers and body, to the browser.
    setBrowserSafetyHeaders(res);
    // Whatever body a proxy forwarded is not ours to read; drained, so the connection stays usable.
    req.resume();
    const search = (req.url ?? "").split(/\?(.*)/s, 2)[1] ?? "";
    const authorization = req.headers.authorization;
    // As on the REST routes: an Authorization header decides alone; the cookie counts without one.
    const credential =
      authorization === undefined
        ? { cookie: parseCookie(String(req.headers.cookie ?? ""))[sessionCookieName] }
        : { bearer: bearerFrom(authorization) ?? "" };
    let identity: ForwardIdentity;
    try {
      if (authorization === undefined && cookieCount(req.headers.cookie, sessionCookieName) > 1) throw repeatedCookie();
      identity = await forwardAuth.check({ credential, requiredPermissions: requiredPermissions(req, search) });
    } catch (err) {
      if (clientGone(res)) return;
      const safe = toSafeError(err, log.child({ route: forwardAuthPath }));
      outcome.reason = safe.reason;
      const status = httpStatus(safe);
      res.statusCode = status;
      res.setHeader("cache-control", "no-store");
      const www = challenge(safe.reason, status);
      if (www !== undefined) res.setHeader("www-authenticate", www);
      // Traefik shows a refusal's body to the client: the reason and a message, nothing else.
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ code: safe.reason, message: safe.message }));
      return;
    }
    res.statusCode = 200;
    res.setHeader("cache-control", "no-store");
    res.setHeader(identityHeaders.userId, identity.userId);
    res.setHeader(identityHeaders.sessionId, identity.sessionId);
    res.setHeader(identityHeaders.roles, identity.roles.join(","));
    res.setHeader(identityHeaders.permissions, identity.permissions.join(","));
    res.setHeader("content-length", "0");
    res.end();
  };
}
