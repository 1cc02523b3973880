// The signing-key settings (JWT_PRIVATE_KEY, JWT_NEXT_PRIVATE_KEY, JWT_PREVIOUS_PUBLIC_KEYS, each
// also as _FILE, and JWKS_CACHE_MAX_AGE_SECONDS): checked at start-up, every mistake named by its
// variable, and today's single JWT_PRIVATE_KEY (or none) working as before.
import { createPublicKey, generateKeyPairSync, type KeyObject } from "node:crypto";
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../src/config.ts";
import { samePublicKey } from "../src/tokens/keys.ts";

const noFiles = (p: string): string => {
  throw new Error(`no such file ${p}`);
};
const files =
  (contents: Record<string, string>) =>
  (p: string): string => {
    const found = contents[p];
    if (found === undefined) throw new Error(`no such file ${p}`);
    return found;
  };

const privatePem = (k: KeyObject) => k.export({ type: "pkcs8", format: "pem" }).toString();
const publicPem = (k: KeyObject) => createPublicKey(k).export({ type: "spki", format: "pem" }).toString();
const [a, b, c] = [0, 1, 2].map(() => generateKeyPairSync("ed25519").privateKey) as [KeyObject, KeyObject, KeyObject];
const ec = generateKeyPairSync("ec", { namedCurve: "prime256v1" }).privateKey;
const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey;

const refusal = (env: Record<string, string>, readFile = noFiles): string => {
  try {
    loadConfig(env, readFile);
  } catch (err) {
    if (err instanceof ConfigError) return err.message;
    throw err;
  }
  return "accepted";
};

describe("signing keys", () => {
  it("none configured: a generated key, a JWKS max-age of 300 s", () => {
    const { keys, jwksMaxAgeSeconds } = loadConfig({}, noFiles).jwt;
    expect(keys).toEqual({ current: undefined, next: undefined, previous: [] });
    expect(jwksMaxAgeSeconds).toBe(300);
  });

  it("JWT_PRIVATE_KEY alone works as before, inline (with \\n escapes) or from a file", () => {
    const inline = loadConfig({ JWT_PRIVATE_KEY: privatePem(a).replaceAll("\n", "\\n") }, noFiles).jwt.keys;
    expect(samePublicKey(inline.current as KeyObject, a)).toBe(true);
    expect([inline.next, inline.previous]).toEqual([undefined, []]);
    const fromFile = loadConfig({ JWT_PRIVATE_KEY_FILE: "/k/a.pem" }, files({ "/k/a.pem": privatePem(a) })).jwt.keys;
    expect(samePublicKey(fromFile.current as KeyObject, a)).toBe(true);
  });

  it("reads a next key and several previous public keys, of either type, inline or from files", () => {
    const env = {
      JWT_PRIVATE_KEY_FILE: "/k/b.pem",
      JWT_NEXT_PRIVATE_KEY_FILE: "/k/c.pem",
      JWT_PREVIOUS_PUBLIC_KEYS_FILE: "/k/previous.pem",
      JWKS_CACHE_MAX_AGE_SECONDS: "60",
    };
    const readFile = files({ "/k/b.pem": privatePem(b), "/k/c.pem": privatePem(c), "/k/previous.pem": publicPem(a) + publicPem(ec) });
    const { keys, jwksMaxAgeSeconds } = loadConfig(env, readFile).jwt;
    expect(samePublicKey(keys.current as KeyObject, b)).toBe(true);
    expect(samePublicKey(keys.next as KeyObject, c)).toBe(true);
    expect(keys.previous.map((k, i) => samePublicKey(k, [a, ec][i] as KeyObject))).toEqual([true, true]);
    expect(jwksMaxAgeSeconds).toBe(60);
    const inline = loadConfig({ JWT_PRIVATE_KEY: privatePem(b), JWT_PREVIOUS_PUBLIC_KEYS: `${publicPem(a)}\n${publicPem(c)}` }, noFiles).jwt
      .keys;
    expect(inline.previous).toHaveLength(2);
  });

  const cur = { JWT_PRIVATE_KEY: privatePem(a) };
  it.each([
    ["a key that is not PEM", { JWT_PRIVATE_KEY: "not a key" }, "JWT_PRIVATE_KEY is not a valid PEM private key"],
    ["an RSA key", { JWT_PRIVATE_KEY: privatePem(rsa) }, "JWT_PRIVATE_KEY must be an Ed25519 (EdDSA) or P-256 (ES256) key"],
    ["an RSA next key", { ...cur, JWT_NEXT_PRIVATE_KEY: privatePem(rsa) }, "JWT_NEXT_PRIVATE_KEY must be an Ed25519"],
    ["a public key as the next key", { ...cur, JWT_NEXT_PRIVATE_KEY: publicPem(b) }, "JWT_NEXT_PRIVATE_KEY is not a valid PEM private key"],
    [
      "a next key alone",
      { JWT_NEXT_PRIVATE_KEY: privatePem(b) },
      "JWT_PRIVATE_KEY must be set (or JWT_PRIVATE_KEY_FILE) when JWT_NEXT_PRIVATE_KEY is",
    ],
    [
      "previous keys alone",
      { JWT_PREVIOUS_PUBLIC_KEYS: publicPem(a) },
      "JWT_PRIVATE_KEY must be set (or JWT_PRIVATE_KEY_FILE) when JWT_PREVIOUS_PUBLIC_KEYS is",
    ],
    [
      "the current key as next too",
      { ...cur, JWT_NEXT_PRIVATE_KEY: privatePem(a) },
      "JWT_NEXT_PRIVATE_KEY is the same key as JWT_PRIVATE_KEY",
    ],
    [
      "the current key as previous too",
      { ...cur, JWT_PREVIOUS_PUBLIC_KEYS: publicPem(a) },
      "JWT_PREVIOUS_PUBLIC_KEYS lists a key that is also",
    ],
    [
      "the next key as previous too",
      { ...cur, JWT_NEXT_PRIVATE_KEY: privatePem(b), JWT_PREVIOUS_PUBLIC_KEYS: publicPem(b) },
      "JWT_PREVIOUS_PUBLIC_KEYS lists",
    ],
    ["a previous key twice", { ...cur, JWT_PREVIOUS_PUBLIC_KEYS: publicPem(b) + publicPem(b) }, "JWT_PREVIOUS_PUBLIC_KEYS lists"],
    [
      "a private key as previous",
      { ...cur, JWT_PREVIOUS_PUBLIC_KEYS: privatePem(b) },
      'JWT_PREVIOUS_PUBLIC_KEYS must hold public keys only, found "PRIVATE KEY"',
    ],
    [
      "text around previous keys",
      { ...cur, JWT_PREVIOUS_PUBLIC_KEYS: `${publicPem(b)}oops` },
      "JWT_PREVIOUS_PUBLIC_KEYS must be PEM public keys",
    ],
    [
      "a damaged previous key",
      { ...cur, JWT_PREVIOUS_PUBLIC_KEYS: publicPem(b).replace(/[A-Za-z]{8}/, "AAAA") },
      "JWT_PREVIOUS_PUBLIC_KEYS holds a PEM block that is not a valid public key",
    ],
    ["an RSA previous key", { ...cur, JWT_PREVIOUS_PUBLIC_KEYS: publicPem(rsa) }, "JWT_PREVIOUS_PUBLIC_KEYS must be an Ed25519"],
    [
      "both forms of the next key",
      { ...cur, JWT_NEXT_PRIVATE_KEY: privatePem(b), JWT_NEXT_PRIVATE_KEY_FILE: "/b.pem" },
      "JWT_NEXT_PRIVATE_KEY_FILE cannot be combined with JWT_NEXT_PRIVATE_KEY",
    ],
    ["an unreadable next key file", { ...cur, JWT_NEXT_PRIVATE_KEY_FILE: "/nope.pem" }, "JWT_NEXT_PRIVATE_KEY_FILE cannot be read"],
    ["a JWKS max-age above a day", { JWKS_CACHE_MAX_AGE_SECONDS: "86401" }, "JWKS_CACHE_MAX_AGE_SECONDS must be between 0 and 86400"],
  ])("refuses %s, naming the variable", (_what, env, message) => {
    expect(refusal(env)).toContain(`invalid configuration: ${message}`);
  });

  it("names the _FILE variable when the problem is in the file", () => {
    expect(refusal({ JWT_PRIVATE_KEY_FILE: "/k/a.pem" }, files({ "/k/a.pem": "garbage" }))).toContain(
      "JWT_PRIVATE_KEY_FILE is not a valid PEM",
    );
    const previous = { JWT_PRIVATE_KEY: privatePem(a), JWT_PREVIOUS_PUBLIC_KEYS_FILE: "/k/p.pem" };
    expect(refusal(previous, files({ "/k/p.pem": privatePem(b) }))).toContain("JWT_PREVIOUS_PUBLIC_KEYS_FILE must hold public keys only");
  });
});
