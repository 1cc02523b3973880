// Who is calling an operation that needs a permission: a signed-in user (a live session, with the
// permissions of the user's roles now) or a service with its API key. One credential header serves
// both; the key's prefix tells them apart before anything is verified.
import type { Sessions } from "../sessions/sessions.ts";
import type { Caller } from "../sessions/caller.ts";
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

export interface PrincipalsDeps {
  sessions: Pick<Sessions, "authenticate">;
  serviceAccounts: { authenticate(key: string): Promise<ServiceCaller> };
}

export function createPrincipals(deps: PrincipalsDeps) {
  return {
    /** The principal a bearer credential proves: an API key by its prefix, else an access token. */
    async authenticate(bearer: string | undefined): Promise<Principal> {
      if (bearer !== undefined && looksLikeApiKey(bearer)) return deps.serviceAccounts.authenticate(bearer);
      return { kind: "user", ...(await deps.sessions.authenticate({ bearer })) };
    },
  };
}

export type Principals = ReturnType<typeof createPrincipals>;
