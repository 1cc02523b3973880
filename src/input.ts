// Checks every string from outside passes before anything else looks at it.
import { invalidArgument } from "./errors.ts";

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
