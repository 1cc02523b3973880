import { AuthError } from "../errors.ts";
import { tooLongToNormalize, wellFormed } from "../input.ts";
import { commonPasswordList, isCommonPassword } from "./common-passwords.ts";
import type { BreachedPasswordCheck } from "./pwned-passwords.ts";

export const minPasswordLength = 8;
export const maxPasswordLength = 128;

/**
 * Passwords are compared after Unicode NFKC normalization (NIST SP 800-63B 5.1.1.2), so the same
 * password typed on two keyboards that compose characters differently still matches.
 */
export function normalizePassword(password: string): string {
  return password.normalize("NFKC");
}

/** Length in Unicode code points, which is what users count. */
function codePoints(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

/** Who the new password is for: the words it must not be built from (NIST SP 800-63B 3.1.1.2). */
export interface PasswordContext {
  /** Normalized (lower-cased) email address. */
  email: string;
  displayName: string;
}

/** Context words shorter than this are too likely to occur by chance inside a good passphrase. */
const minContextWord = 3;

/**
 * The user's and the service's own words, longest first: the whole email, its local part and
 * domain, their pieces (the top-level domain aside), the display name and its words, the service
 * name. All lower-cased, so they can be cut out of a lower-cased password.
 */
function contextWords(context: PasswordContext, serviceName: string): string[] {
  const [local = "", domain = ""] = context.email.split("@");
  const name = context.displayName.normalize("NFKC").toLowerCase();
  const service = serviceName.normalize("NFKC").toLowerCase();
  const pieces = [local, ...domain.split(".").slice(0, -1), name, service].flatMap((s) => s.split(/[^\p{L}\p{N}]+/u));
  const words = new Set([context.email, local, domain, name, service, ...pieces].filter((w) => codePoints(w) >= minContextWord));
  return [...words].sort((a, b) => b.length - a.length);
}

/** What is left of a password once the context words are cut out of it. */
function withoutContext(lowered: string, words: string[]): string {
  let rest = lowered;
  for (const word of words) rest = rest.replaceAll(word, "");
  return rest;
}

/**
 * The rules that need nothing from outside: length, the common-password list (with one to four
 * digits or symbols appended), the user's own email and name and the service's name, one repeated
 * character. Returns the password normalized. Never truncates: a password over the limit is
 * refused, not shortened.
 */
export function checkNewPassword(field: string, password: string, context: PasswordContext, serviceName = ""): string {
  if (password.length === 0) throw new AuthError("INVALID_ARGUMENT", `${field} is required`, { field });
  const tooLong = () => new AuthError("INVALID_ARGUMENT", `password must be at most ${maxPasswordLength} characters`, { field });
  if (tooLongToNormalize(wellFormed(field, password), maxPasswordLength)) throw tooLong();
  const normalized = normalizePassword(password);
  const length = codePoints(normalized);
  if (length < minPasswordLength) {
    throw new AuthError("WEAK_PASSWORD", `password must be at least ${minPasswordLength} characters`, { field });
  }
  if (length > maxPasswordLength) throw tooLong();
  const lowered = normalized.toLowerCase();
  if (isCommonPassword(lowered)) {
    throw new AuthError("WEAK_PASSWORD", "this password is one of the most commonly used passwords; choose another", { field });
  }
  // Built from the user's own words when, with them cut out (and the separators around what is
  // left), the rest is short or common: "ada.lovelace", "Ada Lovelace 1815", "authd-password".
  const rest = withoutContext(lowered, contextWords(context, serviceName));
  const core = rest.replace(/^[^\p{L}\p{N}]+|[^\p{L}\p{N}]+$/gu, "");
  if (rest !== lowered && (codePoints(core) < minPasswordLength || isCommonPassword(core))) {
    throw new AuthError("WEAK_PASSWORD", "the password must not be built from your email address, your name or the service's name", {
      field,
    });
  }
  if (/^(.)\1*$/u.test(normalized)) {
    throw new AuthError("WEAK_PASSWORD", "the password must not repeat a single character", { field });
  }
  return normalized;
}

/** Checks a new password for a user and returns it normalized; refuses with WEAK_PASSWORD. */
export type NewPasswordPolicy = (field: string, password: string, context: PasswordContext) => Promise<string>;

export interface NewPasswordPolicyDeps {
  /** The service's name as users see it (TOTP_ISSUER): a password must not be built from it. */
  serviceName: string;
  /** Whether a password is known from breaches (Have I Been Pwned); undefined when not configured. */
  breached?: BreachedPasswordCheck | undefined;
}

/**
 * The whole policy: the local rules first (cheap, and a password they refuse never leaves the
 * process, not even as a hash prefix), then the breach corpus when configured.
 */
export function createNewPasswordPolicy(deps: NewPasswordPolicyDeps): NewPasswordPolicy {
  // Read the list now: a missing or damaged file stops the start, not a registration later.
  commonPasswordList();
  return async (field, password, context) => {
    const normalized = checkNewPassword(field, password, context, deps.serviceName);
    if (deps.breached !== undefined && (await deps.breached(normalized))) {
      throw new AuthError("WEAK_PASSWORD", "this password has appeared in a data breach; choose another", { field });
    }
    return normalized;
  };
}

/** Checks a presented (not new) password only for size, so oversized input is refused early. */
export function checkPresentedPassword(field: string, password: string): string {
  if (password.length === 0) throw new AuthError("INVALID_ARGUMENT", `${field} is required`, { field });
  const tooLong = () => new AuthError("INVALID_ARGUMENT", `${field} must be at most ${maxPasswordLength} characters`, { field });
  // Before normalizing: a sign-in with a 64 kB password must not cost the server a second (input.ts).
  if (tooLongToNormalize(wellFormed(field, password), maxPasswordLength)) throw tooLong();
  const normalized = normalizePassword(password);
  if (codePoints(normalized) > maxPasswordLength) throw tooLong();
  return normalized;
}
