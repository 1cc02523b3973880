// Forward auth: the decision a reverse proxy (nginx auth_request, Traefik ForwardAuth, Envoy
// ext_authz) asks for before it passes a request on. The same live check as every authenticated
// call (sessions.authenticate: a revoked session or a cut-off user fails at once), then the
// permissions the proxy's configuration requires for the location. The HTTP side
// (server/forward-auth.ts) only reads the request and writes the answer.
import { invalidArgument } from "../errors.ts";
import { requirePermission } from "../permissions/permissions.ts";
import type { Credential, Sessions } from "../sessions/sessions.ts";

export interface ForwardAuthDeps {
  sessions: Pick<Sessions, "authenticate">;
}

/** What a proxy asks: the client's credential and the permissions its location requires. */
export interface ForwardAuthRequest {
  credential: Credential;
  /** Every one of them must be held (from the proxy's configuration; see the README). */
  requiredPermissions: readonly string[];
}

/** Who the request is from, for the proxy to pass on to the protected service. */
export interface ForwardIdentity {
  userId: string;
  sessionId: string;
  roles: readonly string[];
  permissions: readonly string[];
}

/** A bound on what one check may require: a location needs a few permissions, never a list. */
export const maxRequiredPermissions = 16;
// A permission name as the role map spells one ("users.read"): no comma, which separates the
// names of a header list, and nothing that needs escaping.
const permissionShape = /^[a-z][a-z0-9_.:-]{0,127}$/;

/** The required permissions, checked; a malformed one is the proxy configuration's fault. */
export function checkRequiredPermissions(raw: readonly string[]): string[] {
  const names = [...new Set(raw.map((p) => p.trim()).filter((p) => p.length > 0))];
  if (names.length > maxRequiredPermissions) {
    throw invalidArgument("permission", `at most ${maxRequiredPermissions} permissions may be required`);
  }
  for (const name of names) {
    if (!permissionShape.test(name)) throw invalidArgument("permission", "a required permission is malformed");
  }
  return names;
}

export function createForwardAuth(deps: ForwardAuthDeps) {
  return {
    /**
     * The identity behind a live session that holds every required permission. No credential, a
     * bad one or an ended session: UNAUTHENTICATED, INVALID_TOKEN, TOKEN_EXPIRED or
     * SESSION_REVOKED (ACCOUNT_DISABLED or whatever else the live check refuses); a permission
     * missing: PERMISSION_DENIED.
     */
    async check(request: ForwardAuthRequest): Promise<ForwardIdentity> {
      // The requirement is checked first: a proxy misconfigured with a malformed name fails
      // closed for everyone, not only for the callers who happen to be signed in.
      const required = checkRequiredPermissions(request.requiredPermissions);
      const caller = await deps.sessions.authenticate(request.credential);
      // The caller's roles and permissions were read from the user record by that same live
      // check, so a change of roles counts on the next request, whatever the token says.
      for (const permission of required) requirePermission(caller, permission);
      return { userId: caller.userId, sessionId: caller.sessionId, roles: caller.roles, permissions: caller.permissions };
    },
  };
}

export type ForwardAuth = ReturnType<typeof createForwardAuth>;
