import { createContextKey, type HandlerContext } from "@connectrpc/connect";
import type { ClientInfo } from "../domain.ts";

/** Set per request by the HTTP layer (see server/http.ts) and read by the RPC handlers. */
export const clientIpKey = createContextKey<string>("", { description: "client IP address" });
export const requestIdKey = createContextKey<string>("", { description: "request id" });

const maxUserAgentLength = 512;

export function clientInfo(ctx: HandlerContext): ClientInfo {
  const userAgent = (ctx.requestHeader.get("user-agent") ?? "").slice(0, maxUserAgentLength);
  return { ipAddress: ctx.values.get(clientIpKey), userAgent };
}

/** The bearer token of the request, if any. A non-Bearer Authorization header counts as none. */
export function bearerToken(ctx: HandlerContext): string | undefined {
  const header = ctx.requestHeader.get("authorization");
  if (header === null) return undefined;
  const match = /^Bearer[ ]+([^\s]+)\s*$/i.exec(header);
  return match?.[1];
}
