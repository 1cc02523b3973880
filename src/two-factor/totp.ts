// TOTP (RFC 6238) on top of otpauth's HOTP: code generation, the otpauth:// URL and its QR code,
// and the matching rule this service applies (current step ±1, constant time, never a step at or
// before the last one accepted).

import { timingSafeEqual, randomBytes } from "node:crypto";
import { HOTP, Secret, TOTP } from "otpauth";

export type TotpAlgorithm = "SHA1" | "SHA256" | "SHA512";

export interface TotpParams {
  algorithm: TotpAlgorithm;
  digits: number;
  periodSeconds: number;
  /** Steps accepted on either side of the current one. */
  window: number;
}

/** What every authenticator app understands; the otpauth URL announces exactly these. */
export const standardTotp: TotpParams = { algorithm: "SHA1", digits: 6, periodSeconds: 30, window: 1 };

/** 160 bits, the size RFC 4226 recommends and NIST SP 800-63B's minimum for OTP keys. */
export const secretBytes = 20;

export function newSecret(): Uint8Array {
  return new Uint8Array(randomBytes(secretBytes));
}

export function base32(secret: Uint8Array): string {
  return new Secret({ buffer: copyBuffer(secret) }).base32;
}

/** Decodes a base32 secret; null if it is not valid base32 (case and padding are forgiven). */
export function fromBase32(text: string): Uint8Array | null {
  const cleaned = text.replace(/[\s=]/g, "").toUpperCase();
  if (!/^[A-Z2-7]+$/.test(cleaned)) return null;
  try {
    return Secret.fromBase32(cleaned).bytes;
  } catch {
    return null;
  }
}

export function stepAt(time: Date, params: TotpParams = standardTotp): number {
  return Math.floor(time.getTime() / 1000 / params.periodSeconds);
}

export function codeForStep(secret: Uint8Array, step: number, params: TotpParams = standardTotp): string {
  return HOTP.generate({
    secret: new Secret({ buffer: copyBuffer(secret) }),
    algorithm: params.algorithm,
    digits: params.digits,
    counter: step,
  });
}

/**
 * The step whose code equals `code`, among the current step and `window` steps either side,
 * excluding steps at or before `lastUsedStep` (a code is accepted once, and never one older than
 * the last accepted). Every candidate is computed and compared in constant time, whatever matches.
 */
export function matchStep(
  secret: Uint8Array,
  code: string,
  now: Date,
  lastUsedStep: number | null,
  params: TotpParams = standardTotp,
): number | null {
  const presented = Buffer.from(code.padEnd(params.digits, "\0").slice(0, params.digits));
  const current = stepAt(now, params);
  let matched: number | null = null;
  for (let step = current - params.window; step <= current + params.window; step++) {
    const equal = timingSafeEqual(presented, Buffer.from(codeForStep(secret, step, params)));
    const fresh = lastUsedStep === null || step > lastUsedStep;
    if (equal && fresh && matched === null && code.length === params.digits) matched = step;
  }
  return matched;
}

export function otpauthUrl(secret: Uint8Array, issuer: string, account: string): string {
  return new TOTP({
    issuer,
    label: account,
    algorithm: standardTotp.algorithm,
    digits: standardTotp.digits,
    period: standardTotp.periodSeconds,
    secret: new Secret({ buffer: copyBuffer(secret) }),
  }).toString();
}

/**
 * A PNG QR code of `text`, as a data:image/png;base64 URL. qrcode is loaded by the first enrolment
 * rather than at start: most processes never draw one (about 1 MiB of heap, 18 ms).
 */
export async function qrCodeDataUrl(text: string): Promise<string> {
  const { default: QRCode } = await import("qrcode");
  return QRCode.toDataURL(text, { errorCorrectionLevel: "M", margin: 2, width: 256 });
}

function copyBuffer(bytes: Uint8Array): ArrayBuffer {
  const out = new ArrayBuffer(bytes.length);
  new Uint8Array(out).set(bytes);
  return out;
}
