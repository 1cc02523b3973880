// What a request says about who sends it, read the same way by the RPC and the REST transports.
import type http from "node:http";
import type http2 from "node:http2";
import { isIP } from "node:net";
import { TLSSocket } from "node:tls";
import { AuthError } from "../errors.ts";
import { ownCopy } from "../input.ts";

const maxUserAgentLength = 512;

/** The User-Agent header as stored with a session: bounded, and a copy (not a view of the header: input.ts). */
export function userAgentFrom(header: string | null | undefined): string {
  return ownCopy((header ?? "").slice(0, maxUserAgentLength));
}

// `y`: matched at lastIndex (0) only. Module-level, so each call resets lastIndex before using it.
const bearerScheme = /^Bearer +/iy;
const whitespace = /\s/;
const tokenThenWhitespace = /^(\S+)\s*$/;

/**
 * The token of an `Authorization: Bearer` header; a missing or non-Bearer header gives none. The
 * header is `Bearer` in any case, one or more spaces, the token (no whitespace), and nothing after
 * it but whitespace: /^Bearer[ ]+([^\s]+)\s*$/i, in steps, because every authenticated call
 * reads a header of 300 characters or more and that one expression took 0.29 µs of it where a
 * search for whitespace in the rest takes 0.06 (test/transport/credentials.test.ts holds the
 * steps to the expression's answers).
 */
export function bearerFrom(header: string | null | undefined): string | undefined {
  // Strings only: anything else could run code between the reset of lastIndex and its use.
  if (typeof header !== "string") return undefined;
  bearerScheme.lastIndex = 0;
  if (!bearerScheme.test(header)) return undefined;
  const rest = header.slice(bearerScheme.lastIndex);
  if (!whitespace.test(rest)) return rest.length > 0 ? rest : undefined;
  return tokenThenWhitespace.exec(rest)?.[1];
}

/**
 * How many cookies named `name` a Cookie header carries. A browser sends every cookie that matches
 * the request, and a host's own cookie can be joined by one of the same name that a sibling
 * subdomain set for the parent domain (cookie tossing): a page on evil.example.com can plant
 * `session=<its own session>; Domain=example.com; Path=/auth`, which browsers send first. Taking
 * the first would have the victim's browser act in the attacker's session, so a caller that
 * authenticates by this cookie refuses a request that carries more than one (repeatedCookie).
 */
export function cookieCount(header: string | undefined, name: string): number {
  if (header === undefined || !header.includes(name)) return 0;
  let count = 0;
  for (const pair of header.split(";")) {
    const eq = pair.indexOf("=");
    if (eq !== -1 && pair.slice(0, eq).trim() === name) count++;
  }
  return count;
}

/** The refusal of a request whose session cookie is repeated (cookieCount). */
export const repeatedCookie = () =>
  new AuthError("INVALID_TOKEN", "the request carries more than one session cookie, and which is this browser's own cannot be told");

/**
 * The client id and secret of an `Authorization: Basic` header (RFC 7617), each form-urldecoded
 * as OAuth 2.0 asks clients to encode them (RFC 6749 section 2.3.1); none for any other header.
 */
export function basicFrom(header: string | null | undefined): { id: string; secret: string } | undefined {
  if (header === null || header === undefined) return undefined;
  const encoded = /^Basic[ ]+([A-Za-z0-9+/]+={0,2})\s*$/i.exec(header)?.[1];
  if (encoded === undefined) return undefined;
  const decoded = Buffer.from(encoded, "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  if (colon < 0) return undefined;
  const formDecode = (s: string) => {
    try {
      return decodeURIComponent(s.replaceAll("+", " "));
    } catch {
      return s;
    }
  };
  return { id: formDecode(decoded.slice(0, colon)), secret: formDecode(decoded.slice(colon + 1)) };
}

/**
 * The subject common name of the client certificate on the request's TLS connection, if the
 * server's client CA (TLS_CLIENT_CA_FILE) verified it; none otherwise (no TLS, no certificate, or
 * one the CA did not sign).
 */
export function verifiedClientName(req: http.IncomingMessage | http2.Http2ServerRequest): string | undefined {
  // HTTP/2 requests share their session's socket; HTTP/1.1 requests have their own.
  const socket = "stream" in req ? req.stream.session?.socket : req.socket;
  if (!(socket instanceof TLSSocket) || !socket.authorized) return undefined;
  const cn = socket.getPeerCertificate().subject?.CN;
  return typeof cn === "string" && cn.length > 0 ? cn : undefined;
}

/** The client address: the socket's, or the one `hops` proxies back in X-Forwarded-For. */
export function clientIp(req: http.IncomingMessage | http2.Http2ServerRequest, socketIp: string, trustProxyHops: number): string {
  if (trustProxyHops === 0) return socketIp;
  const header = req.headers["x-forwarded-for"];
  const chain = (Array.isArray(header) ? header.join(",") : (header ?? ""))
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  // Each trusted proxy appends the address it saw; the client is the one the outermost trusted
  // proxy saw. Entries further left were written by the client and prove nothing.
  const candidate = chain[chain.length - trustProxyHops];
  const address = candidate === undefined ? undefined : forwardedAddress(candidate);
  // A copy: the address is kept (sessions, attempt counts), and a part of the header keeps it whole.
  return address !== undefined ? ownCopy(address) : socketIp;
}

const portSuffix = /^:\d{1,5}$/;

/**
 * The address in one X-Forwarded-For entry, without the port some proxies write with it
 * (`203.0.113.9:50123`, `[2001:db8::9]:50123`, `[2001:db8::9]`); undefined when it is not an IP
 * address. Kept with its port, one client would count as a new one at every connection, and every
 * per-client limit would start afresh for it.
 */
function forwardedAddress(entry: string): string | undefined {
  let address = entry;
  if (address.startsWith("[")) {
    const close = address.indexOf("]");
    if (close === -1 || (close + 1 < address.length && !portSuffix.test(address.slice(close + 1)))) return undefined;
    address = address.slice(1, close);
  } else {
    const colon = address.indexOf(":");
    // One colon: IPv4 and a port. More: IPv6, which carries a port only in brackets.
    if (colon !== -1 && colon === address.lastIndexOf(":")) {
      if (!portSuffix.test(address.slice(colon))) return undefined;
      address = address.slice(0, colon);
    }
  }
  return address.length <= 45 && !address.includes("%") && isIP(address) !== 0 ? address : undefined;
}
