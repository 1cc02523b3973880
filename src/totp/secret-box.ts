// The server's symmetric secret (TOTP_ENCRYPTION_KEY), with one HKDF-derived key per use.
// Encryption of TOTP secrets at rest: AES-256-GCM with a key from configuration, the user id as
// associated data (a ciphertext copied onto another user's record does not decrypt), and a
// version prefix so the format or key can be rotated later.

import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from "node:crypto";

const version = "v1";

export interface SecretBox {
  seal(plaintext: Uint8Array, userId: string): string;
  /** Throws if the ciphertext was altered, belongs to another user or another key. */
  open(sealed: string, userId: string): Uint8Array;
  /** A keyed hash (HMAC-SHA-256 under a key derived from the same secret), hex. */
  keyedHash(value: string): string;
  /** A MAC for values the server hands out and must recognise (the session cookie), base64url. */
  sign(value: string): string;
}

export function createSecretBox(key: Buffer): SecretBox {
  if (key.length !== 32) throw new RangeError("the TOTP encryption key must be 32 bytes");
  const encryptionKey = Buffer.from(hkdfSync("sha256", key, Buffer.alloc(0), "authd totp secret encryption", 32));
  const hashKey = Buffer.from(hkdfSync("sha256", key, Buffer.alloc(0), "authd recovery code hashing", 32));
  const signingKey = Buffer.from(hkdfSync("sha256", key, Buffer.alloc(0), "authd session cookie", 32));
  return {
    seal(plaintext, userId) {
      const iv = randomBytes(12);
      const cipher = createCipheriv("aes-256-gcm", encryptionKey, iv);
      cipher.setAAD(Buffer.from(userId, "utf8"));
      const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
      return [version, iv.toString("base64url"), cipher.getAuthTag().toString("base64url"), body.toString("base64url")].join(".");
    },
    open(sealed, userId) {
      const [v, iv, tag, body] = sealed.split(".");
      if (v !== version || iv === undefined || tag === undefined || body === undefined) {
        throw new Error("unrecognised sealed secret");
      }
      const authTag = Buffer.from(tag, "base64url");
      // Only full 16-byte tags: GCM would otherwise accept a truncated (weaker) one.
      if (authTag.length !== 16) throw new Error("unrecognised sealed secret");
      const decipher = createDecipheriv("aes-256-gcm", encryptionKey, Buffer.from(iv, "base64url"), { authTagLength: 16 });
      decipher.setAAD(Buffer.from(userId, "utf8"));
      decipher.setAuthTag(authTag);
      return new Uint8Array(Buffer.concat([decipher.update(Buffer.from(body, "base64url")), decipher.final()]));
    },
    keyedHash(value) {
      return createHmac("sha256", hashKey).update(value, "utf8").digest("hex");
    },
    sign(value) {
      return createHmac("sha256", signingKey).update(value, "utf8").digest("base64url");
    },
  };
}
