// What a request says about who sends it, read the same way by the RPC and the REST transports.
import type http from "node:http";
import type http2 from "node:http2";
import { TLSSocket } from "node:tls";

const maxUserAgentLength = 512;

/** The User-Agent header as stored with a session (bounded). */
export function userAgentFrom(header: string | null | undefined): string {
  return (header ?? "").slice(0, maxUserAgentLength);
}

/** The token of an `Authorization: Bearer` header; a missing or non-Bearer header gives none. */
export function bearerFrom(header: string | null | undefined): string | undefined {
  if (header === null || header === undefined) return undefined;
  return /^Bearer[ ]+([^\s]+)\s*$/i.exec(header)?.[1];
}

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
