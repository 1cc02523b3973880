import { hash, randomBytes } from "node:crypto";

/** A random, URL-safe opaque token of `bytes` bytes of entropy (32 = 256 bits). */
export function randomToken(bytes = 32): string {
  return randomBytes(bytes).toString("base64url");
}

/**
 * Storage key of a high-entropy token or code. A fast hash is enough because the input has at
 * least 128 bits of entropy; the database never holds the token itself, so a leaked copy of it
 * cannot be replayed. The one-shot `hash` (UTF-8 for a string, as `createHash(...).update(token,
 * "utf8")`): no native Hash object a call, which V8's full collection would have to clear, and
 * 0.7 µs where createHash took 1.9 (a scratch loop on Node 24).
 */
export function tokenHash(token: string): string {
  return hash("sha256", token, "hex");
}
