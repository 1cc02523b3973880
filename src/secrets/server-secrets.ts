// The server's one symmetric secret (SERVER_SECRET; TOTP_ENCRYPTION_KEY is its older name), from
// which every use derives a key of its own with HKDF, so no two uses ever share a key:
// - TOTP secrets at rest: AES-256-GCM, the user id as associated data (a ciphertext copied onto
//   another user's record does not decrypt), a version prefix so the format or key can rotate;
// - recovery codes: stored as HMAC-SHA-256 keyed hashes;
// - the REST session cookie: an HMAC over the session id;
// - the token pair a refresh handed out, kept with the spent refresh token for the grace window:
//   AES-256-GCM under a key that is derived from this one AND the spent token itself, which is
//   never stored; so only someone presenting that token can open the pair (a copy of the database
//   and of the server secret together still cannot);
// - the keys of the hourly mail counters: HMACs of addresses and client IPs, so the counters name
//   neither in plain text;
// - known-device tokens: an HMAC over the device id, the user id and the expiry;
// - AdminService page tokens: an HMAC over the cursor and the filter it belongs to;
// - email sign-in codes: stored as HMACs over the user id and the short code, so that a copy of
//   the database cannot be searched for them without this secret;
// - a provider sign-in's nonce and PKCE verifier: HMACs of its state, so neither is stored.
// The HKDF labels are part of the stored data's format: changing one makes existing enrolments,
// recovery codes or cookies unusable.

import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from "node:crypto";

const version = "v1";

/**
 * Encrypts and decrypts secrets bound to what they belong to (a user id, a token hash): the
 * binding is authenticated, so a ciphertext copied onto another record does not open.
 */
export interface SecretSealer {
  seal(plaintext: Uint8Array, boundTo: string): string;
  /** Throws if the ciphertext was altered, is bound to something else or sealed under another key. */
  open(sealed: string, boundTo: string): Uint8Array;
}

/** A keyed hash (HMAC-SHA-256), hex: for values stored only to be recognised again. */
export interface KeyedHasher {
  keyedHash(value: string): string;
}

/** A MAC for values the server hands out and must recognise, base64url. */
export interface Signer {
  sign(value: string): string;
}

export interface ServerSecrets {
  totpSecrets: SecretSealer;
  recoveryCodes: KeyedHasher;
  sessionCookie: Signer;
  /** Bound to a raw refresh token, which goes into the key: see the header. */
  refreshSuccessors: SecretSealer;
  mailLimitKeys: KeyedHasher;
  deviceTokens: Signer;
  pageTokens: Signer;
  /** Email sign-in codes: HMACs over the user id and the code (src/sign-in/email.ts). */
  emailSignInCodes: KeyedHasher;
  /** Derives a provider flow's nonce and PKCE code verifier from its state (src/federation/). */
  providerFlows: KeyedHasher;
}

function derive(master: Buffer, label: string): Buffer {
  return Buffer.from(hkdfSync("sha256", master, Buffer.alloc(0), label, 32));
}

/**
 * AES-256-GCM with a fresh 96-bit IV per seal, the binding as associated data, a version prefix;
 * the key may depend on the binding.
 */
function aesGcmSealer(keyFor: (boundTo: string) => Buffer): SecretSealer {
  return {
    seal(plaintext, boundTo) {
      const iv = randomBytes(12);
      const cipher = createCipheriv("aes-256-gcm", keyFor(boundTo), iv);
      cipher.setAAD(Buffer.from(boundTo, "utf8"));
      const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
      return [version, iv.toString("base64url"), cipher.getAuthTag().toString("base64url"), body.toString("base64url")].join(".");
    },
    open(sealed, boundTo) {
      const [v, iv, tag, body] = sealed.split(".");
      if (v !== version || iv === undefined || tag === undefined || body === undefined) {
        throw new Error("unrecognised sealed secret");
      }
      const authTag = Buffer.from(tag, "base64url");
      // Only full 16-byte tags: GCM would otherwise accept a truncated (weaker) one.
      if (authTag.length !== 16) throw new Error("unrecognised sealed secret");
      const decipher = createDecipheriv("aes-256-gcm", keyFor(boundTo), Buffer.from(iv, "base64url"), { authTagLength: 16 });
      decipher.setAAD(Buffer.from(boundTo, "utf8"));
      decipher.setAuthTag(authTag);
      return new Uint8Array(Buffer.concat([decipher.update(Buffer.from(body, "base64url")), decipher.final()]));
    },
  };
}

const constant = (key: Buffer) => () => key;

/**
 * A key per token: HKDF with the token as salt, so the extraction is an HMAC keyed by the token,
 * unpredictable without it even to someone who holds `key`.
 */
function tokenBound(key: Buffer): (token: string) => Buffer {
  return (token) => Buffer.from(hkdfSync("sha256", key, Buffer.from(token, "utf8"), "authd refresh successor", 32));
}

function keyedHasher(key: Buffer): KeyedHasher {
  return { keyedHash: (value) => createHmac("sha256", key).update(value, "utf8").digest("hex") };
}

function hmacSigner(key: Buffer): Signer {
  return { sign: (value) => createHmac("sha256", key).update(value, "utf8").digest("base64url") };
}

export function deriveServerSecrets(master: Buffer): ServerSecrets {
  if (master.length !== 32) throw new RangeError("the server secret must be 32 bytes");
  const hashKey = derive(master, "authd recovery code hashing");
  const signingKey = derive(master, "authd session cookie");
  return {
    totpSecrets: aesGcmSealer(constant(derive(master, "authd totp secret encryption"))),
    recoveryCodes: {
      keyedHash(value) {
        return createHmac("sha256", hashKey).update(value, "utf8").digest("hex");
      },
    },
    sessionCookie: {
      sign(value) {
        return createHmac("sha256", signingKey).update(value, "utf8").digest("base64url");
      },
    },
    refreshSuccessors: aesGcmSealer(tokenBound(derive(master, "authd refresh successor encryption"))),
    mailLimitKeys: keyedHasher(derive(master, "authd mail limit keys")),
    deviceTokens: hmacSigner(derive(master, "authd device token")),
    pageTokens: hmacSigner(derive(master, "authd page token")),
    emailSignInCodes: keyedHasher(derive(master, "authd email sign-in codes")),
    providerFlows: keyedHasher(derive(master, "authd provider flow")),
  };
}
