// The shapes of what a client sends to the two-factor operations, checked before anything is
// looked up.
import { invalidArgument } from "../errors.ts";
import { ownCopy, tooLongToNormalize, wellFormed } from "../input.ts";
import { fromBase32, standardTotp } from "./totp.ts";

const defaultDeviceName = "Authenticator";
const maxDeviceNameLength = 64;
const maxSecretLength = 128;

/** A 6-digit code, spaces forgiven (apps display "123 456"). */
export function checkCode(field: string, raw: string): string {
  const code = wellFormed(field, raw).replace(/\s/g, "");
  if (code.length === 0) throw invalidArgument(field, `${field} is required`);
  if (!/^\d+$/.test(code) || code.length !== standardTotp.digits) {
    throw invalidArgument(field, `${field} must be a ${standardTotp.digits}-digit code`);
  }
  return code;
}

/** A name the user gives a device or a passkey; empty gives `fallback`. */
export function checkDeviceName(field: string, raw: string, fallback = defaultDeviceName): string {
  const trimmed = wellFormed(field, raw).trim();
  const tooLong = () => invalidArgument(field, `${field} must be at most ${maxDeviceNameLength} characters`);
  // Trimmed before and after: normalizing neither makes nor unmakes white space at either end.
  if (tooLongToNormalize(trimmed, maxDeviceNameLength)) throw tooLong();
  const name = trimmed.normalize("NFC").trim();
  if (name.length === 0) return fallback;
  if ([...name].length > maxDeviceNameLength) throw tooLong();
  if (/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u.test(name)) throw invalidArgument(field, `${field} must not contain control characters`);
  // Kept with the device: a copy, not a view of the padded field it was trimmed from (ownCopy).
  return ownCopy(name);
}

export function checkSecret(field: string, raw: string): Uint8Array {
  if (wellFormed(field, raw).length === 0) throw invalidArgument(field, `${field} is required`);
  const secret = raw.length > maxSecretLength ? null : fromBase32(raw);
  if (secret === null) throw invalidArgument(field, `${field} must be the base32 secret returned by Setup`);
  return secret;
}
