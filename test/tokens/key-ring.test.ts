// The ring of signing keys (src/tokens/keys.ts) and how access tokens pick a key from it: the kid
// is the RFC 7638 thumbprint (checked against one computed here with node:crypto), the JWKS lists
// every key's public half, and a token is checked against the one key its kid names, or refused.
import { createHash, createPublicKey, generateKeyPairSync, type KeyObject } from "node:crypto";
import { createLocalJWKSet, jwtVerify, SignJWT } from "jose";
import { describe, expect, it } from "vitest";
import { AuthError } from "../../src/errors.ts";
import { createAccessTokens, type AccessTokens } from "../../src/tokens/access.ts";
import { loadKeyRing, parsePublicKeys, type ConfiguredKeys } from "../../src/tokens/keys.ts";
import { TestClock } from "../support/harness.ts";

const ed25519 = () => generateKeyPairSync("ed25519").privateKey;
const p256 = () => generateKeyPairSync("ec", { namedCurve: "prime256v1" }).privateKey;
/** The public half in the form JWT_PREVIOUS_PUBLIC_KEYS takes it (openssl pkey -pubout). */
const publicKey = (k: KeyObject): KeyObject =>
  parsePublicKeys(createPublicKey(k).export({ type: "spki", format: "pem" }).toString())[0] as KeyObject;

/** RFC 7638 section 3: SHA-256 of the required members, in lexicographic order, no whitespace. */
function thumbprint(key: KeyObject): string {
  const jwk = key.export({ format: "jwk" });
  const members = jwk.kty === "OKP" ? { crv: jwk.crv, kty: jwk.kty, x: jwk.x } : { crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y };
  return createHash("sha256").update(JSON.stringify(members)).digest("base64url");
}

const clock = new TestClock(Math.floor(Date.now() / 1000) * 1000);
async function tokensOf(keys: ConfiguredKeys): Promise<AccessTokens> {
  const { ring } = await loadKeyRing(keys);
  return createAccessTokens(ring, { issuer: "authd", audience: "authd", ttlSeconds: 900, cacheSize: 100 }, clock);
}
const reasonOf = (p: Promise<unknown>) =>
  p.then(
    () => "accepted",
    (e: unknown) => (e instanceof AuthError ? e.reason : String(e)),
  );
const claims = { userId: "usr_1", sessionId: "ses_1", roles: ["user"], permissions: [] };

describe("the key ring", () => {
  it("names each key by its RFC 7638 thumbprint and publishes current, next, then previous, public halves only", async () => {
    const [current, next, previousEd, previousEc] = [ed25519(), ed25519(), ed25519(), p256()];
    const { ring } = await loadKeyRing({ current, next, previous: [publicKey(previousEd), publicKey(previousEc)] });
    expect(ring.current.kid).toBe(thumbprint(current));
    expect(ring.next?.kid).toBe(thumbprint(next));
    expect(ring.previous.map((k) => k.kid)).toEqual([thumbprint(previousEd), thumbprint(previousEc)]);
    expect(ring.published.map((k) => [k.kid, k.alg, k.use])).toEqual([
      [thumbprint(current), "EdDSA", "sig"],
      [thumbprint(next), "EdDSA", "sig"],
      [thumbprint(previousEd), "EdDSA", "sig"],
      [thumbprint(previousEc), "ES256", "sig"],
    ]);
    for (const k of ring.published) expect(k.d).toBeUndefined();
  });

  it("generates an Ed25519 current key when none is configured, and says so", async () => {
    const { ring, generated } = await loadKeyRing({});
    expect([ring.current.alg, ring.next, ring.previous, generated]).toEqual(["EdDSA", undefined, [], true]);
    expect((await loadKeyRing({ current: ed25519() })).generated).toBe(false);
  });

  it("refuses a ring that lists one key twice", async () => {
    const current = ed25519();
    await expect(loadKeyRing({ current, previous: [publicKey(current)] })).rejects.toThrow(/listed twice/);
  });
});

describe("access tokens over a ring", () => {
  it("sign with the current key only, and verify with whichever listed key the kid names", async () => {
    const [a, b, c] = [ed25519(), ed25519(), p256()];
    // This instance: B signs, C is next, A is previous. Others sign with A (not rotated yet) and C (already promoted).
    const here = await tokensOf({ current: b, next: c, previous: [publicKey(a)] });
    const issued = await here.issue(claims);
    const jwks = createLocalJWKSet(here.jwks() as never);
    const { protectedHeader } = await jwtVerify(issued.token, jwks, { currentDate: clock.now() });
    expect(protectedHeader.kid).toBe(thumbprint(b));
    for (const other of [a, c]) {
      const { token } = await (await tokensOf({ current: other })).issue(claims);
      expect(await here.verify(token)).toEqual(claims);
      expect((await jwtVerify(token, jwks, { currentDate: clock.now() })).protectedHeader.kid).toBe(thumbprint(other));
    }
  });

  it("refuse a token whose kid is not listed (a removed key), even for claims it would accept", async () => {
    const [a, b] = [ed25519(), ed25519()];
    const { token } = await (await tokensOf({ current: a })).issue(claims);
    const afterRemoval = await tokensOf({ current: b });
    expect(await reasonOf(afterRemoval.verify(token))).toBe("INVALID_TOKEN");
    // Not a cache artefact: refused every time, and never remembered.
    expect(await reasonOf(afterRemoval.verify(token))).toBe("INVALID_TOKEN");
    expect(afterRemoval.cacheStats().entries).toBe(0);
  });

  it("check a token against the one key its kid names, never every key: another listed kid, no kid or an unknown kid is refused", async () => {
    const [a, b, c] = [ed25519(), ed25519(), p256()];
    const ring = await tokensOf({ current: b, previous: [publicKey(a), publicKey(c)] });
    // Tokens truly signed by A, a listed key, with the header each names: trying every listed key
    // (or falling back to one) would accept them all.
    const signedByA = (header: { alg: string; kid?: string }) =>
      new SignJWT({ sid: "ses_1", roles: ["user"], permissions: [] })
        .setProtectedHeader({ ...header, typ: "at+jwt" })
        .setSubject("usr_1")
        .setIssuer("authd")
        .setAudience("authd")
        .setIssuedAt(clock.now())
        .setExpirationTime(new Date(clock.now().getTime() + 60_000))
        .setJti("jti-1")
        .sign(a);
    const refused = {
      "under B's kid": await signedByA({ alg: "EdDSA", kid: thumbprint(b) }),
      "under C's kid": await signedByA({ alg: "EdDSA", kid: thumbprint(c) }),
      "with no kid": await signedByA({ alg: "EdDSA" }),
      "under an unknown kid": await signedByA({ alg: "EdDSA", kid: "not-a-listed-key" }),
    };
    for (const [what, t] of Object.entries(refused)) expect([what, await reasonOf(ring.verify(t))]).toEqual([what, "INVALID_TOKEN"]);
    expect(await ring.verify(await signedByA({ alg: "EdDSA", kid: thumbprint(a) }))).toEqual(claims);
  });
});
