// AIP-158 page tokens: opaque to clients, and tamper-proof. A token is the cursor (where the
// previous page ended) and the filter it was issued for, with an HMAC under a key derived from the
// server secret: a client can neither forge a cursor nor carry a token over to another filter or
// another list. Tokens do not expire; a cursor names a position, not a snapshot.
import { timingSafeEqual } from "node:crypto";
import { invalidArgument } from "../errors.ts";
import type { Signer } from "../secrets/server-secrets.ts";

const maxTokenLength = 2048;

export interface PageTokens {
  /** A token for the page after `cursor`, in the list `kind` filtered by `filter`. */
  issue(kind: string, filter: string, cursor: unknown): string;
  /**
   * The cursor of a token this server issued for the same list and filter; null for an empty
   * token (the first page). INVALID_ARGUMENT on `page_token` otherwise.
   */
  open(kind: string, filter: string, token: string): unknown;
}

export function createPageTokens(signer: Signer): PageTokens {
  const mac = (kind: string, filter: string, body: string) => signer.sign(`${kind}\n${filter}\n${body}`);
  const invalid = () => invalidArgument("page_token", "page_token is not a token this list issued for this filter");
  return {
    issue(kind, filter, cursor) {
      const body = Buffer.from(JSON.stringify(cursor), "utf8").toString("base64url");
      return `${body}.${mac(kind, filter, body)}`;
    },
    open(kind, filter, token) {
      if (token === "") return null;
      const [body, given, extra] = token.split(".");
      if (token.length > maxTokenLength || body === undefined || given === undefined || extra !== undefined) throw invalid();
      const expected = Buffer.from(mac(kind, filter, body));
      const presented = Buffer.from(given);
      if (presented.length !== expected.length || !timingSafeEqual(presented, expected)) throw invalid();
      try {
        return JSON.parse(Buffer.from(body, "base64url").toString("utf8")) as unknown;
      } catch {
        throw invalid();
      }
    },
  };
}

const defaultPageSize = 50;
const maxPageSize = 100;

/** AIP-158 page_size: 0 means the default (50), more than the maximum (100) means the maximum, below 0 is an error. */
export function pageSizeOf(raw: number): number {
  if (!Number.isInteger(raw) || raw < 0) throw invalidArgument("page_size", "page_size must not be negative");
  return raw === 0 ? defaultPageSize : Math.min(raw, maxPageSize);
}
