// API keys of service accounts: `authd_sk_<id>_<secret>`.
//
// - The fixed prefix lets secret scanners (GitHub's, gitleaks, trufflehog) recognise a leaked
//   key, and tells a key apart from a JWT access token in the same Authorization header.
// - The account id inside it names the one record to compare against: no scan, no index on the
//   hash, and an unknown id costs one read like a known one.
// - The secret is 256 random bits. Only SHA-256 of the whole key is stored, as for refresh tokens
//   (tokens/opaque.ts): a slow password hash (argon2) exists to make guessing low-entropy
//   passwords expensive, and there is nothing to guess in 2^256; a plain hash, unlike an HMAC
//   under SERVER_SECRET, also keeps every key working when the server secret is rotated. The
//   hash covers the id too, so a hash copied onto another record matches nothing.
// - The comparison is constant-time (timingSafeEqual on the two digests).
import { hash, randomBytes, timingSafeEqual } from "node:crypto";

export const apiKeyPrefix = "authd_sk_";

const idBytes = 12;
const secretBytes = 32;
/** 24 lower-case hex digits. */
const idShape = /^[0-9a-f]{24}$/;
/** The whole key: prefix, id, underscore, 43 base64url characters (256 bits). */
const keyShape = /^authd_sk_([0-9a-f]{24})_[A-Za-z0-9_-]{43}$/;

/** Whether a bearer credential is meant as an API key (by its prefix), well-formed or not. */
export function looksLikeApiKey(credential: string): boolean {
  return credential.startsWith(apiKeyPrefix);
}

export function isAccountId(id: string): boolean {
  return idShape.test(id);
}

export function newAccountId(): string {
  return randomBytes(idBytes).toString("hex");
}

/** A fresh key for the account: shown once, never stored. */
export function newApiKey(accountId: string): string {
  return `${apiKeyPrefix}${accountId}_${randomBytes(secretBytes).toString("base64url")}`;
}

/** The public start of an account's keys, for people and scanners. */
export function keyPrefixOf(accountId: string): string {
  return `${apiKeyPrefix}${accountId}_`;
}

/** The account id a well-formed key names; null for anything else. */
export function accountIdOf(key: string): string | null {
  return keyShape.exec(key)?.[1] ?? null;
}

/** What is stored of a key. */
export function apiKeyHash(key: string): string {
  return hash("sha256", key, "hex");
}

/** Whether `key` is the one whose hash is `storedHash`, in time that does not depend on where they differ. */
export function matchesHash(key: string, storedHash: string): boolean {
  const given = Buffer.from(apiKeyHash(key), "hex");
  const stored = Buffer.from(storedHash, "hex");
  return given.length === stored.length && timingSafeEqual(given, stored);
}
