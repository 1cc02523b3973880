import { createContextKey, type HandlerContext } from "@connectrpc/connect";
import type { ClientInfo } from "../domain.ts";

/** Set per request by the HTTP layer (see server/http.ts) and read by the RPC handlers. */
export const clientIpKey = createContextKey<string>("", { description: "client IP address" });
export const requestIdKey = createContextKey<string>("", { description: "request id" });

const maxUserAgentLength = 512;

/** The User-Agent header as stored with a session (bounded). Shared with the REST layer. */
export function userAgentFrom(header: string | null | undefined): string {
  return (header ?? "").slice(0, maxUserAgentLength);
}

/** The token of an `Authorization: Bearer` header; a missing or non-Bearer header gives none. */
export function bearerFrom(header: string | null | undefined): string | undefined {
  if (header === null || header === undefined) return undefined;
  return /^Bearer[ ]+([^\s]+)\s*$/i.exec(header)?.[1];
}

export function clientInfo(ctx: HandlerContext): ClientInfo {
  return { ipAddress: ctx.values.get(clientIpKey), userAgent: userAgentFrom(ctx.requestHeader.get("user-agent")) };
}

/** The bearer token of the request, if any. A non-Bearer Authorization header counts as none. */
export function bearerToken(ctx: HandlerContext): string | undefined {
  return bearerFrom(ctx.requestHeader.get("authorization"));
}
