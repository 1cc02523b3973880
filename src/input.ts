// The checks every string from outside passes before anything else looks at it, shared by every
// capability (emails, names, codes and tokens the service issued, identifiers).
import { AuthError, invalidArgument } from "./errors.ts";

/**
 * A string that holds its own characters, for a value cut from client input that is kept. A part
 * cut from a longer string (by `slice`, `split`, `trim` or a regex capture, 13 characters or more)
 * is a view that keeps the whole source alive, so a value cut from a client's header and kept (a session's user agent, an address from
 * X-Forwarded-For, a token in a cache) would keep the whole header, up to 64 KiB over HTTP/2, for
 * as long as it is kept. Latin-1 when that copies it exactly (header values always are), which
 * keeps one byte a character; UTF-16 otherwise.
 */
export function ownCopy(value: string): string {
  const latin1 = Buffer.from(value, "latin1").toString("latin1");
  return latin1 === value ? latin1 : Buffer.from(value, "utf16le").toString("utf16le");
}

// In a `u` regular expression a surrogate pair is one code point, so \p{Cs} matches only a lone
// (unpaired) surrogate: text JSON can carry ("\ud800") but UTF-8 cannot encode. MongoDB stores
// strings as UTF-8 and replaces such halves with U+FFFD, which would make two different inputs
// (two emails, two names) collide in storage; so they are refused at the door.
const loneSurrogate = /\p{Cs}/u;

/** The value, if it is well-formed UTF-16; INVALID_ARGUMENT naming the field otherwise. */
export function wellFormed(field: string, value: string): string {
  if (loneSurrogate.test(value)) {
    throw invalidArgument(field, `${field} is not valid Unicode text (it contains an unpaired surrogate)`);
  }
  return value;
}

/**
 * Whether `raw` is too long to be at most `maxCodePoints` code points once NFC or NFKC normalized,
 * told from its length alone, before it is normalized. Normalizing puts combining marks in
 * canonical order by an insertion sort (ICU's), so marks whose classes come in descending order
 * cost the square of their number: 32,000 of them, 64 kB of UTF-8 in one request field, took
 * 0.6-0.9 s of the event loop (test/input.test.ts). Normalizing shortens text by at most 4 code
 * points to 1: each code point of the input is one or more of its full decomposition, which is the
 * output's, and no character decomposes to more than 4 (U+1F82 and its kin). A code point is at
 * most 2 UTF-16 units, so a string of more than 8 units for each code point allowed cannot fit,
 * and one within that costs a millisecond or two at most.
 */
export function tooLongToNormalize(raw: string, maxCodePoints: number): boolean {
  return raw.length > 8 * maxCodePoints;
}

const maxEmailLength = 254;
// A plain address (an RFC 5322 dot-atom, then a host name; letters of any script, as SMTPUTF8 allows),
// and nothing a mail library would read as more than one address: no display name, group, comment,
// list separator, quoted local part or address literal. `x<victim@example.com>`,
// `a,victim@example.com` and `victim@example.com;x` would each be a separate account, with a
// separate mail budget, while the mail goes to the victim's one inbox. Deliverability is proven by
// the verification mail, not by a regular expression.
const atom = "[\\p{L}\\p{M}\\p{N}!#$%&'*+/=?^_`{|}~-]+";
const label = "[\\p{L}\\p{M}\\p{N}](?:[\\p{L}\\p{M}\\p{N}-]*[\\p{L}\\p{M}\\p{N}])?";
const emailShape = new RegExp(`^${atom}(?:\\.${atom})*@${label}(?:\\.${label})+$`, "u");

/** Trims and lower-cases an email address and checks its shape. */
export function normalizeEmail(field: string, raw: string): string {
  const email = wellFormed(field, raw).trim().toLowerCase();
  if (email.length === 0) throw invalidArgument(field, `${field} is required`);
  if (email.length > maxEmailLength) throw invalidArgument(field, `${field} must be at most ${maxEmailLength} characters`);
  if (!emailShape.test(email)) throw invalidArgument(field, `${field} is not a valid email address`);
  // A copy: what trim cut can be a view of the whole request field, padding and all (ownCopy).
  return ownCopy(email);
}

const maxDisplayNameLength = 100;

export function checkDisplayName(field: string, raw: string): string {
  const trimmed = wellFormed(field, raw).trim();
  const tooLong = () => invalidArgument(field, `${field} must be at most ${maxDisplayNameLength} characters`);
  if (tooLongToNormalize(trimmed, maxDisplayNameLength)) throw tooLong();
  const name = trimmed.normalize("NFC");
  if ([...name].length > maxDisplayNameLength) throw tooLong();
  if (/[\p{Cc}\p{Cf}]/u.test(name)) throw invalidArgument(field, `${field} must not contain control characters`);
  // Kept with the user: a copy, not a view of the padded field it was trimmed from (ownCopy).
  return ownCopy(name);
}

const maxOpaqueLength = 256;
const opaqueShape = /^[A-Za-z0-9_-]+$/;

const wrongOpaque = {
  INVALID_CODE: "the code is invalid or has expired",
  INVALID_REFRESH: "the refresh token is invalid",
  INVALID_CHALLENGE: "the sign-in challenge is invalid or has expired; sign in again",
  PROVIDER_SIGN_IN_FAILED: "the sign-in with the provider failed or has expired; start again",
} as const;

/**
 * Checks a code or opaque token the service itself issued (base64url). A value that cannot be one
 * of ours is refused with `reasonIfWrong` (e.g. INVALID_CODE), never looked up.
 */
export function checkOpaque(field: string, raw: string, reasonIfWrong: keyof typeof wrongOpaque): string {
  const value = wellFormed(field, raw).trim();
  if (value.length === 0) throw invalidArgument(field, `${field} is required`);
  if (value.length > maxOpaqueLength) throw invalidArgument(field, `${field} must be at most ${maxOpaqueLength} characters`);
  if (!opaqueShape.test(value)) {
    throw new AuthError(reasonIfWrong, wrongOpaque[reasonIfWrong], { field });
  }
  return value;
}

/** Checks an identifier the service issued (a UUID or similar). */
export function checkId(field: string, raw: string): string {
  const id = wellFormed(field, raw).trim();
  if (id.length === 0) throw invalidArgument(field, `${field} is required`);
  if (id.length > 128 || !/^[A-Za-z0-9_-]+$/.test(id)) throw invalidArgument(field, `${field} is malformed`);
  return id;
}
