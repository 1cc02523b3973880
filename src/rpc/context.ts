import type { IncomingHttpHeaders } from "node:http";
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

/**
 * A context that can read one request header from Node's parsed headers, so that reading it does
 * not build fetch Headers of all of them (the unary fast path's, rpc/unary.ts). It answers
 * undefined once its Headers exist: an interceptor may have changed them, and they are then what
 * the call's headers are.
 */
export interface NodeHeaderReader {
  nodeRequestHeader(name: string): string | null | undefined;
}

export function clientInfo(ctx: HandlerContext): ClientInfo {
  return {
    ipAddress: ctx.values.get(clientIpKey),
    userAgent: userAgentFrom(requestHeader(ctx, "user-agent")),
    requestId: ctx.values.get(requestIdKey),
  };
}

/** The bearer token of the request, if any. A non-Bearer Authorization header counts as none. */
export function bearerToken(ctx: HandlerContext): string | undefined {
  return bearerFrom(requestHeader(ctx, "authorization"));
}

/**
 * The bearer credential of a call that a client certificate may also authenticate (principals):
 * undefined only when the request has no Authorization header at all, since only then does the
 * certificate count. A header that is not a well-formed Bearer one gives "" (no token: refused),
 * never the certificate: a service with a certificate that passes its users' headers on would
 * otherwise lend its own permissions to any user who sends a malformed one.
 */
export function principalBearer(ctx: HandlerContext): string | undefined {
  const header = requestHeader(ctx, "authorization");
  return header === null ? undefined : (bearerFrom(header) ?? "");
}

/**
 * One request header (`name` in lower case) as `ctx.requestHeader.get(name)` gives it: repeated
 * values joined with ", ", each without leading or trailing HTTP whitespace; null when absent.
 */
export function requestHeader(ctx: HandlerContext, name: string): string | null {
  const direct = (ctx as HandlerContext & Partial<NodeHeaderReader>).nodeRequestHeader?.(name);
  return direct === undefined ? ctx.requestHeader.get(name) : direct;
}

/** One of Node's parsed request headers (`name` in lower case) as fetch's Headers.get gives it. */
export function nodeHeaderValue(headers: IncomingHttpHeaders, name: string): string | null {
  const value = headers[name];
  if (value === undefined) return null;
  return typeof value === "string" ? withoutHttpWhitespace(value) : value.map(withoutHttpWhitespace).join(", ");
}

/** As fetch normalizes a header value: without leading and trailing tabs, spaces, CR and LF. */
function withoutHttpWhitespace(value: string): string {
  const isSpace = (c: number) => c === 32 || c === 9 || c === 10 || c === 13;
  if (value.length === 0 || (!isSpace(value.charCodeAt(0)) && !isSpace(value.charCodeAt(value.length - 1)))) return value;
  let start = 0;
  let end = value.length;
  while (start < end && isSpace(value.charCodeAt(start))) start++;
  while (end > start && isSpace(value.charCodeAt(end - 1))) end--;
  return value.slice(start, end);
}
