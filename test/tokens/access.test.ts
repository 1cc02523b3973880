// Access tokens as issued (src/tokens/access.ts signs them with node:crypto): checked by jose
// against the published key set, for both key types the service accepts, and signed without
// waiting for libuv's thread pool, where argon2id keeps every thread busy under sign-in load.
import { generateKeyPairSync, pbkdf2 } from "node:crypto";
import { createLocalJWKSet, jwtVerify } from "jose";
import { describe, expect, it } from "vitest";
import { createAccessTokens } from "../../src/tokens/access.ts";
import { loadKeyRing, parsePrivateKey } from "../../src/tokens/keys.ts";
import { TestClock } from "../support/harness.ts";

const pemOf = (type: "ed25519" | "p256") =>
  (type === "ed25519" ? generateKeyPairSync("ed25519") : generateKeyPairSync("ec", { namedCurve: "prime256v1" })).privateKey
    .export({ format: "pem", type: "pkcs8" })
    .toString();

describe.each([
  ["ed25519", "EdDSA"],
  ["p256", "ES256"],
] as const)("access tokens signed with %s", (type, alg) => {
  it("verify with jose against the published key set, with the documented header and claims, and with verify()", async () => {
    const { ring } = await loadKeyRing({ current: parsePrivateKey(pemOf(type)) });
    const key = ring.current;
    const clock = new TestClock();
    const tokens = createAccessTokens(ring, { issuer: "https://auth.example", audience: "api", ttlSeconds: 900, cacheSize: 0 }, clock);
    const issued = await tokens.issue({ userId: "usr_1", sessionId: "ses_1", roles: ["admin", "user"], permissions: ["users.read"] });
    const { payload, protectedHeader } = await jwtVerify(issued.token, createLocalJWKSet(tokens.jwks() as never), {
      issuer: "https://auth.example",
      audience: "api",
      typ: "at+jwt",
      algorithms: [alg],
      currentDate: clock.now(),
    });
    expect(protectedHeader).toEqual({ alg, kid: key.kid, typ: "at+jwt" });
    const iat = Math.floor(clock.now().getTime() / 1000);
    expect(payload).toEqual({
      sid: "ses_1",
      iss: "https://auth.example",
      aud: "api",
      sub: "usr_1",
      iat,
      exp: iat + 900,
      jti: expect.stringMatching(/^[0-9a-f-]{36}$/),
      roles: ["admin", "user"],
      permissions: ["users.read"],
    });
    expect(issued.expiresAt.getTime()).toBe((iat + 900) * 1000);
    const claims = { userId: "usr_1", sessionId: "ses_1", roles: ["admin", "user"], permissions: ["users.read"] };
    expect(await tokens.verify(issued.token)).toEqual(claims);
    // Verified afresh (another instance, no cache): the claims come back from the signed payload.
    const replica = createAccessTokens(ring, { issuer: "https://auth.example", audience: "api", ttlSeconds: 900, cacheSize: 0 }, clock);
    expect(await replica.verify(issued.token)).toEqual(claims);
    const second = await tokens.issue({ userId: "usr_1", sessionId: "ses_1", roles: ["user"], permissions: [] });
    expect(second.token).not.toBe(issued.token); // a fresh jti each time
  });

  it("has one spelling: the 15 others of its signature's last character, which jose accepts, are refused", async () => {
    const { ring } = await loadKeyRing({ current: parsePrivateKey(pemOf(type)) });
    const clock = new TestClock();
    const tokens = createAccessTokens(ring, { issuer: "https://auth.example", audience: "api", ttlSeconds: 900, cacheSize: 100 }, clock);
    const { token } = await tokens.issue({ userId: "usr_1", sessionId: "ses_1", roles: ["user"], permissions: [] });
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const last = alphabet.indexOf(token.slice(-1));
    // The other characters whose top 2 bits are the same: base64url decodes each to the same 64 bytes.
    const respellings = Array.from({ length: 16 }, (_, low) => alphabet.charAt((last & 0b110000) | low))
      .filter((c) => c !== token.slice(-1))
      .map((c) => token.slice(0, -1) + c);
    expect(respellings).toHaveLength(15);
    const keys = createLocalJWKSet(tokens.jwks() as never);
    for (const respelled of respellings) {
      // The oracle: jose verifies each (so the test is about a real second spelling).
      await expect(jwtVerify(respelled, keys, { currentDate: clock.now() })).resolves.toBeDefined();
      await expect(tokens.verify(respelled)).rejects.toMatchObject({ reason: "INVALID_TOKEN" });
    }
    await expect(tokens.verify(token)).resolves.toMatchObject({ userId: "usr_1" });
    expect(tokens.cacheStats().entries).toBe(1);
  });
});

it("signing does not wait for libuv's thread pool, however busy argon2id keeps it", async () => {
  const { ring } = await loadKeyRing({});
  const tokens = createAccessTokens(ring, { issuer: "authd", audience: "authd", ttlSeconds: 900, cacheSize: 0 }, new TestClock());
  // Twice as many slow jobs as the pool has threads: anything queued to the pool now waits.
  const poolSize = Number(process.env.UV_THREADPOOL_SIZE || 4);
  let finished = 0;
  const busy = Array.from(
    { length: 2 * poolSize },
    () => new Promise<void>((resolve) => pbkdf2("password", "salt", 200_000, 32, "sha256", () => resolve(void finished++))),
  );
  await tokens.issue({ userId: "usr_1", sessionId: "ses_1", roles: ["user"], permissions: [] });
  const finishedBeforeTheToken = finished;
  await Promise.all(busy);
  expect(finishedBeforeTheToken).toBe(0);
}, 30_000);
