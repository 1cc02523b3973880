import { createHash, randomBytes } from "node:crypto";

/** A random, URL-safe opaque token of `bytes` bytes of entropy (32 = 256 bits). */
export function randomToken(bytes = 32): string {
  return randomBytes(bytes).toString("base64url");
}

/**
 * Storage key of a high-entropy token or code. A fast hash is enough because the input has at
 * least 128 bits of entropy; the database never holds the token itself, so a leaked copy of it
 * cannot be replayed.
 */
export function tokenHash(token: string): string {
  return createHash("sha256").update(token, "utf8").digest("hex");
}
