// What a request says about who sends it, read the same way by the RPC and the REST transports.

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
