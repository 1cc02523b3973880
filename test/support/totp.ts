// An independent TOTP (RFC 6238 / RFC 4226) written on node:crypto's HMAC, so the tests never use
// the library under test to produce the codes they check it with; and a QR decoder for data URLs.
import { createHmac } from "node:crypto";
import jsQRModule from "jsqr";
import { PNG } from "pngjs";

const base32Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

export function base32Decode(text: string): Buffer {
  const clean = text.replace(/=+$/, "").toUpperCase();
  let bits = 0;
  let value = 0;
  const out: number[] = [];
  for (const c of clean) {
    const i = base32Alphabet.indexOf(c);
    if (i === -1) throw new Error(`not base32: ${c}`);
    value = (value << 5) | i;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

/** HOTP (RFC 4226 §5.3) for one counter value. */
export function hotp(key: Buffer, counter: number, digits = 6, algorithm: "sha1" | "sha256" | "sha512" = "sha1"): string {
  const msg = Buffer.alloc(8);
  msg.writeBigUInt64BE(BigInt(counter));
  const mac = createHmac(algorithm, key).update(msg).digest();
  const offset = (mac[mac.length - 1] ?? 0) & 0x0f;
  const binary = mac.readUInt32BE(offset) & 0x7fffffff;
  return String(binary % 10 ** digits).padStart(digits, "0");
}

/** The 6-digit SHA-1 TOTP of a base32 secret at `time`, `stepOffset` 30-second steps away. */
export function totp(secretBase32: string, time: Date, stepOffset = 0): string {
  return hotp(base32Decode(secretBase32), Math.floor(time.getTime() / 30_000) + stepOffset);
}

/** A 6-digit code that is not the secret's code for any step within ±3 of `time`. */
export function wrongCode(secretBase32: string, time: Date): string {
  const near = new Set([-3, -2, -1, 0, 1, 2, 3].map((o) => totp(secretBase32, time, o)));
  for (let n = 0; ; n++) {
    const candidate = String((123_456 + n * 7_919) % 1_000_000).padStart(6, "0");
    if (!near.has(candidate)) return candidate;
  }
}

// jsqr is CommonJS whose module.exports is the function with a `default` copy; TypeScript under
// nodenext sees only the latter.
const jsQR = jsQRModule as unknown as typeof jsQRModule.default;

/** Decodes the QR code in a data:image/png;base64 URL to its text. */
export function decodeQrDataUrl(dataUrl: string): string {
  const prefix = "data:image/png;base64,";
  if (!dataUrl.startsWith(prefix)) throw new Error("not a PNG data URL");
  const png = PNG.sync.read(Buffer.from(dataUrl.slice(prefix.length), "base64"));
  const result = jsQR(new Uint8ClampedArray(png.data.buffer, png.data.byteOffset, png.data.length), png.width, png.height);
  if (result === null) throw new Error("no QR code found in the image");
  return result.data;
}
