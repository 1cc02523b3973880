import { createContextKey, type HandlerContext } from "@connectrpc/connect";
import type { ClientInfo } from "../sessions/caller.ts";
import { bearerFrom, userAgentFrom } from "../transport/credentials.ts";
import type { Outcome } from "../transport/outcome.ts";

/** Set per request by the HTTP layer (see server/app.ts) and read by the RPC handlers. */
export const clientIpKey = createContextKey<string>("", { description: "client IP address" });
export const requestIdKey = createContextKey<string>("", { description: "request id" });
/** The subject CN of a client certificate the TLS client CA verified (transport/credentials.ts). */
export const clientCertificateKey = createContextKey<string | undefined>(undefined, { description: "verified client certificate name" });
/** The request's access-log record (see transport/outcome.ts); set by the RPC adapter. */
export const outcomeKey = createContextKey<Outcome | undefined>(undefined, { description: "request outcome" });

export function clientInfo(ctx: HandlerContext): ClientInfo {
  return { ipAddress: ctx.values.get(clientIpKey), userAgent: userAgentFrom(ctx.requestHeader.get("user-agent")) };
}

/** The bearer token of the request, if any. A non-Bearer Authorization header counts as none. */
export function bearerToken(ctx: HandlerContext): string | undefined {
  return bearerFrom(ctx.requestHeader.get("authorization"));
}
