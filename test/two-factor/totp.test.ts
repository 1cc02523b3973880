// The project's TOTP verification against RFC 6238 Appendix B, and against an independent HOTP
// written in the test on node:crypto; the secret box and recovery codes.
import { createDecipheriv, createHmac, hkdfSync, randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { findHash, newRecoveryCodes, normalizeRecoveryCode } from "../../src/two-factor/recovery-codes.ts";
import { deriveServerSecrets } from "../../src/secrets/server-secrets.ts";
import { base32, codeForStep, fromBase32, matchStep, otpauthUrl, stepAt, type TotpParams } from "../../src/two-factor/totp.ts";
import { base32Decode, hotp, totp } from "../support/totp.ts";

// RFC 6238 Appendix B: the seeds are the ASCII digits repeated to the hash's block of key length.
const seeds = {
  SHA1: Buffer.from("12345678901234567890", "ascii"),
  SHA256: Buffer.from("12345678901234567890123456789012", "ascii"),
  SHA512: Buffer.from("1234567890123456789012345678901234567890123456789012345678901234", "ascii"),
} as const;

const vectors: Array<[number, keyof typeof seeds, string]> = [
  [59, "SHA1", "94287082"],
  [59, "SHA256", "46119246"],
  [59, "SHA512", "90693936"],
  [1111111109, "SHA1", "07081804"],
  [1111111109, "SHA256", "68084774"],
  [1111111109, "SHA512", "25091201"],
  [1111111111, "SHA1", "14050471"],
  [1111111111, "SHA256", "67062674"],
  [1111111111, "SHA512", "99943326"],
  [1234567890, "SHA1", "89005924"],
  [1234567890, "SHA256", "91819424"],
  [1234567890, "SHA512", "93441116"],
  [2000000000, "SHA1", "69279037"],
  [2000000000, "SHA256", "90698825"],
  [2000000000, "SHA512", "38618901"],
  [20000000000, "SHA1", "65353130"],
  [20000000000, "SHA256", "77737706"],
  [20000000000, "SHA512", "47863826"],
];

describe("RFC 6238 Appendix B", () => {
  it.each(vectors)("T=%i %s → %s", (seconds, algorithm, expected) => {
    const params: TotpParams = { algorithm, digits: 8, periodSeconds: 30, window: 1 };
    const time = new Date(seconds * 1000);
    const step = stepAt(time, params);
    expect(codeForStep(seeds[algorithm], step, params)).toBe(expected);
    // The verifier accepts the code at its own time and one step either side, and says which step.
    expect(matchStep(seeds[algorithm], expected, time, null, params)).toBe(step);
    expect(matchStep(seeds[algorithm], expected, new Date((seconds + 30) * 1000), null, params)).toBe(step);
    expect(matchStep(seeds[algorithm], expected, new Date((seconds - 30) * 1000), null, params)).toBe(step);
    // Two steps away it is refused.
    expect(matchStep(seeds[algorithm], expected, new Date((seconds + 60) * 1000), null, params)).toBeNull();
    expect(matchStep(seeds[algorithm], expected, new Date((seconds - 60) * 1000), null, params)).toBeNull();
  });
});

describe("matchStep (6 digits, SHA-1, 30 s)", () => {
  const secret = new Uint8Array(randomBytes(20));
  const b32 = base32(secret);
  const now = new Date("2026-11-21T12:00:10Z");
  const step = stepAt(now);

  it("agrees with an HOTP written on node:crypto for 200 random secrets and steps", () => {
    for (let i = 0; i < 200; i++) {
      const key = randomBytes(20);
      const counter = Math.floor(Math.random() * 2 ** 40);
      expect(codeForStep(new Uint8Array(key), counter)).toBe(hotp(key, counter));
    }
  });

  it("accepts the current, previous and next step's codes and reports the step", () => {
    expect(matchStep(secret, totp(b32, now), now, null)).toBe(step);
    expect(matchStep(secret, totp(b32, now, -1), now, null)).toBe(step - 1);
    expect(matchStep(secret, totp(b32, now, 1), now, null)).toBe(step + 1);
    expect(matchStep(secret, totp(b32, now, 2), now, null)).toBeNull();
    expect(matchStep(secret, totp(b32, now, -2), now, null)).toBeNull();
  });

  it("refuses a code of a step at or before the last one accepted (replay)", () => {
    expect(matchStep(secret, totp(b32, now), now, step)).toBeNull();
    expect(matchStep(secret, totp(b32, now, -1), now, step)).toBeNull();
    expect(matchStep(secret, totp(b32, now, 1), now, step)).toBe(step + 1);
    expect(matchStep(secret, totp(b32, now), now, step - 1)).toBe(step);
  });

  it("refuses codes of the wrong length or shape", () => {
    const code = totp(b32, now);
    for (const bad of [code.slice(0, 5), `${code}0`, `0${code}`, "", "abcdef", `${code.slice(0, 5)}\0`]) {
      expect(matchStep(secret, bad, now, null)).toBeNull();
    }
  });

  it("builds the otpauth URL every authenticator app reads", () => {
    const url = new URL(otpauthUrl(secret, "Example Co", "ann@example.com"));
    expect(url.protocol).toBe("otpauth:");
    expect(url.host).toBe("totp");
    expect(decodeURIComponent(url.pathname)).toBe("/Example Co:ann@example.com");
    expect(Object.fromEntries(url.searchParams)).toEqual({
      issuer: "Example Co",
      secret: b32,
      algorithm: "SHA1",
      digits: "6",
      period: "30",
    });
    expect(base32Decode(b32)).toEqual(Buffer.from(secret));
    expect(b32).toMatch(/^[A-Z2-7]{32}$/);
  });

  it("decodes base32 leniently (case, spaces, padding) and refuses anything else", () => {
    expect(fromBase32(b32.toLowerCase())).toEqual(secret);
    expect(fromBase32(`${b32.slice(0, 4)} ${b32.slice(4)}`)).toEqual(secret);
    expect(fromBase32("not base32!")).toBeNull();
    expect(fromBase32("ABC1")).toBeNull();
  });
});

/** The old single-object view of the derived secrets, as these tests were written against. */
function createSecretBox(master: Buffer) {
  const s = deriveServerSecrets(master);
  return { ...s.totpSecrets, ...s.recoveryCodes, ...s.sessionCookie };
}

describe("server secrets: one key per use, derived with fixed labels", () => {
  it("the labels are pinned: stored enrolments, recovery codes and cookies stay readable across versions", () => {
    const master = Buffer.alloc(32, 7);
    const secrets = deriveServerSecrets(master);
    const key = (label: string) => Buffer.from(hkdfSync("sha256", master, Buffer.alloc(0), label, 32));
    expect(secrets.recoveryCodes.keyedHash("abc")).toBe(
      createHmac("sha256", key("authd recovery code hashing")).update("abc").digest("hex"),
    );
    expect(secrets.sessionCookie.sign("session:x")).toBe(
      createHmac("sha256", key("authd session cookie")).update("session:x").digest("base64url"),
    );
    const sealed = secrets.totpSecrets.seal(new Uint8Array([1, 2, 3]), "u");
    const [, iv, tag, body] = sealed.split(".");
    const decipher = createDecipheriv("aes-256-gcm", key("authd totp secret encryption"), Buffer.from(iv ?? "", "base64url"));
    decipher.setAAD(Buffer.from("u"));
    decipher.setAuthTag(Buffer.from(tag ?? "", "base64url"));
    expect([...Buffer.concat([decipher.update(Buffer.from(body ?? "", "base64url")), decipher.final()])]).toEqual([1, 2, 3]);
  });

  it("no two uses share a key", () => {
    const secrets = deriveServerSecrets(randomBytes(32));
    const asHex = Buffer.from(secrets.sessionCookie.sign("v"), "base64url").toString("hex");
    expect(asHex).not.toBe(secrets.recoveryCodes.keyedHash("v"));
    // TOTP secrets and the refresh successor pairs are both AES-256-GCM, under keys of their own.
    const sealed = secrets.refreshSuccessors.seal(new Uint8Array([1, 2, 3]), "h");
    expect(() => secrets.totpSecrets.open(sealed, "h")).toThrow();
    expect([...secrets.refreshSuccessors.open(sealed, "h")]).toEqual([1, 2, 3]);
  });

  it("the refresh successor key is pinned to its label, and derived from the token it is bound to", () => {
    const master = Buffer.alloc(32, 9);
    const secrets = deriveServerSecrets(master);
    const sealed = secrets.refreshSuccessors.seal(new Uint8Array([4, 5]), "raw-token");
    // Another binding is another key: without the token itself, nothing opens it.
    expect(() => secrets.refreshSuccessors.open(sealed, "raw-tokem")).toThrow();
    const [, iv, tag, body] = sealed.split(".");
    const label = Buffer.from(hkdfSync("sha256", master, Buffer.alloc(0), "authd refresh successor encryption", 32));
    const key = Buffer.from(hkdfSync("sha256", label, Buffer.from("raw-token"), "authd refresh successor", 32));
    const decipher = createDecipheriv("aes-256-gcm", key, Buffer.from(iv ?? "", "base64url"));
    decipher.setAAD(Buffer.from("raw-token"));
    decipher.setAuthTag(Buffer.from(tag ?? "", "base64url"));
    expect([...Buffer.concat([decipher.update(Buffer.from(body ?? "", "base64url")), decipher.final()])]).toEqual([4, 5]);
  });
});

describe("secret box (AES-256-GCM)", () => {
  const box = createSecretBox(randomBytes(32));
  const secret = new Uint8Array(randomBytes(20));

  it("round-trips, with a fresh nonce each time, and the ciphertext does not contain the secret", () => {
    const a = box.seal(secret, "user-1");
    const b = box.seal(secret, "user-1");
    expect(a).not.toBe(b);
    expect(box.open(a, "user-1")).toEqual(secret);
    expect(a).not.toContain(Buffer.from(secret).toString("base64url"));
    expect(a).not.toContain(base32(secret));
  });

  it("refuses another user's ciphertext, a flipped byte, and another key", () => {
    const sealed = box.seal(secret, "user-1");
    expect(() => box.open(sealed, "user-2")).toThrow();
    const parts = sealed.split(".");
    const body = Buffer.from(parts[3] ?? "", "base64url");
    body[0] = (body[0] ?? 0) ^ 1;
    expect(() => box.open([parts[0], parts[1], parts[2], body.toString("base64url")].join("."), "user-1")).toThrow();
    expect(() => createSecretBox(randomBytes(32)).open(sealed, "user-1")).toThrow();
    expect(() => box.open("garbage", "user-1")).toThrow();
    // A tag cut to 4 bytes is refused outright (GCM would otherwise check only those 4 bytes).
    expect(() =>
      box.open(
        [
          parts[0],
          parts[1],
          Buffer.from(parts[2] ?? "", "base64url")
            .subarray(0, 4)
            .toString("base64url"),
          parts[3],
        ].join("."),
        "user-1",
      ),
    ).toThrow();
  });

  it("keyed hashes depend on the key", () => {
    expect(box.keyedHash("abc")).toBe(box.keyedHash("abc"));
    expect(createSecretBox(randomBytes(32)).keyedHash("abc")).not.toBe(box.keyedHash("abc"));
  });
});

describe("recovery codes", () => {
  it("are 10 distinct codes of 12 base32 characters (60 bits) in groups of four", () => {
    const codes = newRecoveryCodes();
    expect(codes).toHaveLength(10); // README: Enable "returns 10 recovery codes"
    expect(new Set(codes).size).toBe(10);
    for (const c of codes) expect(c).toMatch(/^[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}$/);
    expect(12 * Math.log2(32)).toBeGreaterThanOrEqual(50);
  });

  it("use every character of the alphabet about equally (no modulo bias)", () => {
    const counts = new Map<string, number>();
    for (let i = 0; i < 400; i++) for (const c of newRecoveryCodes().join("").replace(/-/g, "")) counts.set(c, (counts.get(c) ?? 0) + 1);
    expect(counts.size).toBe(32);
    const expected = (400 * 10 * 12) / 32;
    for (const n of counts.values()) expect(Math.abs(n - expected) / expected).toBeLessThan(0.15);
  });

  it("normalize case, dashes and spaces, and refuse other shapes", () => {
    expect(normalizeRecoveryCode(" ABCD-efgh-2345 ")).toBe("abcdefgh2345");
    expect(normalizeRecoveryCode("abcd efgh 2345")).toBe("abcdefgh2345");
    expect(normalizeRecoveryCode("abcd-efgh-234")).toBeNull();
    expect(normalizeRecoveryCode("abcd-efgh-2341")).toBeNull();
    expect(normalizeRecoveryCode("x".repeat(65))).toBeNull();
  });

  it("are found among hashes by value", () => {
    const box = createSecretBox(randomBytes(32));
    const hashes = ["aaaabbbbcccc", "ddddeeeeffff"].map((c) => box.keyedHash(c));
    expect(findHash(hashes, box.keyedHash("ddddeeeeffff"))).toBe(1);
    expect(findHash(hashes, box.keyedHash("zzzzzzzzzzzz"))).toBe(-1);
  });
});
