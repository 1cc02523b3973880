import { AuthError } from "../errors.ts";
import { wellFormed } from "../input.ts";
import { commonPasswords } from "./common-passwords.ts";

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

/**
 * Checks a new password against the policy and returns it normalized. Never truncates: a password
 * over the limit is refused, not shortened.
 */
export function checkNewPassword(field: string, password: string, email: string): string {
  if (password.length === 0) throw new AuthError("INVALID_ARGUMENT", `${field} is required`, { field });
  const normalized = normalizePassword(wellFormed(field, password));
  const length = codePoints(normalized);
  if (length < minPasswordLength) {
    throw new AuthError("WEAK_PASSWORD", `password must be at least ${minPasswordLength} characters`, { field });
  }
  if (length > maxPasswordLength) {
    throw new AuthError("INVALID_ARGUMENT", `password must be at most ${maxPasswordLength} characters`, { field });
  }
  const lowered = normalized.toLowerCase();
  if (commonPasswords.has(lowered)) {
    throw new AuthError("WEAK_PASSWORD", "this password is too common; choose another", { field });
  }
  if (lowered === email || lowered === email.split("@")[0]) {
    throw new AuthError("WEAK_PASSWORD", "the password must not be your email address", { field });
  }
  if (/^(.)\1*$/u.test(normalized)) {
    throw new AuthError("WEAK_PASSWORD", "the password must not repeat a single character", { field });
  }
  return normalized;
}

/** Checks a presented (not new) password only for size, so oversized input is refused early. */
export function checkPresentedPassword(field: string, password: string): string {
  if (password.length === 0) throw new AuthError("INVALID_ARGUMENT", `${field} is required`, { field });
  const normalized = normalizePassword(wellFormed(field, password));
  if (codePoints(normalized) > maxPasswordLength) {
    throw new AuthError("INVALID_ARGUMENT", `${field} must be at most ${maxPasswordLength} characters`, { field });
  }
  return normalized;
}
