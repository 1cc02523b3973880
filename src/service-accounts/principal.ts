// Who is calling an operation that needs a permission: a signed-in user (a live session, with the
// permissions of the user's roles now) or a service with its API key or, where TLS_CLIENT_CA_FILE
// is set, its TLS client certificate. One credential header serves users and keys; the key's
// prefix tells them apart before anything is verified. A credential header always wins over a
// certificate, so a service holding a certificate can still call on behalf of a user's token.
import type { Sessions } from "../sessions/sessions.ts";
import type { Caller } from "../sessions/caller.ts";
import type { AuditEventRecord } from "../store/port.ts";
import { looksLikeApiKey } from "./keys.ts";

/** A service account calling with its key. */
export interface ServiceCaller {
  kind: "service";
  accountId: string;
  name: string;
  permissions: readonly string[];
}

export type Principal = ({ kind: "user" } & Caller) | ServiceCaller;

/** How records and log lines name a principal: `user:<id>` or `service:<id>`. */
export function principalName(p: Principal): string {
  return p.kind === "user" ? `user:${p.userId}` : `service:${p.accountId}`;
}

/** Who the audit log names: a user and the session the call came from, or a service account. */
export function auditActorOf(p: Principal): AuditEventRecord["actor"] {
  return p.kind === "user" ? { kind: "user", id: p.userId, sessionId: p.sessionId } : { kind: "service", id: p.accountId, sessionId: "" };
}

export interface PrincipalsDeps {
  sessions: Pick<Sessions, "authenticate">;
  serviceAccounts: {
    authenticate(key: string): Promise<ServiceCaller>;
    authenticateCertificate(certifiedId: string): Promise<ServiceCaller>;
  };
}

export function createPrincipals(deps: PrincipalsDeps) {
  return {
    /**
     * The principal a bearer credential proves (an API key by its prefix, else an access token),
     * or without one the service account a verified client certificate names.
     */
    async authenticate(bearer: string | undefined, certifiedName?: string): Promise<Principal> {
      if (bearer !== undefined && looksLikeApiKey(bearer)) return deps.serviceAccounts.authenticate(bearer);
      if (bearer === undefined && certifiedName !== undefined) return deps.serviceAccounts.authenticateCertificate(certifiedName);
      return { kind: "user", ...(await deps.sessions.authenticate({ bearer })) };
    },
  };
}

export type Principals = ReturnType<typeof createPrincipals>;
