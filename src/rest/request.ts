// Reading a REST request: its JSON body (415 for another type, a charset other than UTF-8 or a
// compressed body, 413, bytes that are not UTF-8, malformed JSON or a duplicate key in it, a body
// the client never finished), its query string, and its fields under the document's name or the
// other case convention.

import type http from "node:http";
import type http2 from "node:http2";
import { AuthError } from "../errors.ts";
import { readRaw } from "../transport/body.ts";
import { contentTypeRepeated } from "../transport/node-http.ts";
import type { Fields } from "./declaration.ts";
import { hasDuplicateKey } from "./duplicate-keys.ts";

export { ClientClosed } from "../transport/body.ts";

export type Request = http.IncomingMessage | http2.Http2ServerRequest;

function snake(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

function camel(name: string): string {
  return name.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase());
}

/**
 * Reads fields by the document's name, or the same name in the other case convention. A field
 * given under both is refused, as a key given twice is: a layer in front that knows only one of the
 * names would see another request than the one authd runs.
 */
export function fieldsOf(source: Record<string, unknown>): Fields {
  const lookup = (name: string): unknown => {
    const given = [...new Set([name, snake(name), camel(name)])].filter((key) => Object.hasOwn(source, key));
    if (given.length > 1)
      throw new AuthError("INVALID_ARGUMENT", `${name} is given under two names (${given.join(", ")})`, { field: name });
    return given.length === 0 ? undefined : source[given[0] as string];
  };
  return {
    str(name) {
      const value = lookup(name);
      if (value === undefined || value === null) return "";
      if (typeof value !== "string") throw new AuthError("INVALID_ARGUMENT", `${name} must be a string`, { field: name });
      return value;
    },
    bool(name) {
      const value = lookup(name);
      if (value === undefined || value === null) return false;
      if (typeof value === "boolean") return value;
      if (value === "true" || value === "false") return value === "true";
      throw new AuthError("INVALID_ARGUMENT", `${name} must be true or false`, { field: name });
    },
  };
}

export function queryOf(search: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of new URLSearchParams(search)) {
    if (Object.hasOwn(out, key)) throw new AuthError("INVALID_ARGUMENT", `${key} is given more than once`, { field: key });
    out[key] = value;
  }
  return out;
}

/**
 * One parameter of a media type (RFC 9110 5.6.6): `;`, then nothing or `name=value`, the value a
 * token or a quoted string. Each match takes its `;`, and a quoted string's characters are read
 * one way only, so a run over the header stays linear.
 */
const mediaTypeParameter = /[ \t]*;[ \t]*(?:([!#$%&'*+.^_`|~0-9A-Za-z-]+)=([!#$%&'*+.^_`|~0-9A-Za-z-]+|"(?:[^"\\]|\\[\s\S])*"))?/y;

/**
 * The body must be `application/json`, in UTF-8: a `charset` parameter (any of them, when given
 * more than once) must name UTF-8, spelled `utf-8` or `utf8` in any case, as Connect takes it. A
 * layer in front that decodes the bytes in the charset declared would read other strings than
 * authd does, so another charset is refused rather than ignored; and so is a parameter list that
 * does not parse, since what charset it declares depends on who reads it.
 */
function checkJsonType(header: string): void {
  const semicolon = header.indexOf(";");
  const type = (semicolon === -1 ? header : header.slice(0, semicolon)).trim().toLowerCase();
  if (type !== "application/json") {
    throw new AuthError("UNSUPPORTED_MEDIA_TYPE", "the request body must be JSON (content-type: application/json)");
  }
  if (semicolon === -1) return;
  const notUtf8 = () => new AuthError("UNSUPPORTED_MEDIA_TYPE", "the request body must be JSON in UTF-8 (no charset, or charset=utf-8)");
  mediaTypeParameter.lastIndex = semicolon;
  let end = semicolon;
  for (let match = mediaTypeParameter.exec(header); match !== null; match = mediaTypeParameter.exec(header)) {
    end = mediaTypeParameter.lastIndex;
    const [, name, value] = match;
    // The extended form (RFC 8187, `charset*=utf-16''…`) declares a charset too, to a reader
    // that knows it; none is taken, as Connect takes none.
    if (name?.toLowerCase() === "charset*") throw notUtf8();
    if (name?.toLowerCase() !== "charset" || value === undefined) continue;
    const charset = (value.startsWith('"') ? value.slice(1, -1).replace(/\\([\s\S])/g, "$1") : value).toLowerCase();
    if (charset !== "utf-8" && charset !== "utf8") throw notUtf8();
  }
  if (!/^[ \t]*$/.test(header.slice(end))) throw notUtf8();
}

/**
 * A body that is not UTF-8 (a stray or missing continuation byte, an overlong form, a surrogate or
 * a code point past U+10FFFF encoded) is refused, not decoded with U+FFFD in place of each fault as
 * Buffer's toString does: a layer in front that decodes it otherwise would read other strings.
 * A byte-order mark is kept in the text, so that JSON.parse refuses it as it always did.
 */
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

export async function readBody(req: Request, limit: number): Promise<Record<string, unknown>> {
  // The legacy clients never compress, so no coding is taken on (RFC 9110 8.4.1 allows 415; the
  // handler names `identity` in Accept-Encoding). The body is then drained unread.
  const coding = String(req.headers["content-encoding"] ?? "identity")
    .trim()
    .toLowerCase();
  if (coding !== "identity" && coding !== "") {
    throw new AuthError("UNSUPPORTED_MEDIA_TYPE", "the request body must not be compressed (content-encoding: identity)");
  }
  const raw = await readRaw(req, limit);
  if (raw.length === 0) return {};
  // Node keeps the first of several Content-Type lines and drops the others; a layer in front that
  // keeps the last (text/plain: nothing to inspect) would take the body for something else.
  if (contentTypeRepeated(req)) {
    throw new AuthError("UNSUPPORTED_MEDIA_TYPE", "the request body's content type must be given once");
  }
  checkJsonType(String(req.headers["content-type"] ?? ""));
  let text: string;
  try {
    text = utf8.decode(raw);
  } catch {
    throw new AuthError("MALFORMED_REQUEST", "the request body is not valid UTF-8");
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new AuthError("MALFORMED_REQUEST", "the request body is not valid JSON");
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new AuthError("MALFORMED_REQUEST", "the request body must be a JSON object");
  }
  if (hasDuplicateKey(text)) {
    throw new AuthError("MALFORMED_REQUEST", "the request body has a duplicate key in a JSON object");
  }
  return parsed as Record<string, unknown>;
}
