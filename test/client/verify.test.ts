// verifyAccessToken against a key set served by the test: claims read, the key set cached, a token
// signed with a key the cache lacks (a rotation) fetching it again, and each failure's reason.
// Tokens are signed here with jose's SignJWT, independently of authd's signer.
import http from "node:http";
import type { AddressInfo } from "node:net";
import { Code, createClient, createRouterTransport } from "@connectrpc/connect";
import { exportJWK, generateKeyPair, type JWK, SignJWT, UnsecuredJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  AuthService,
  authdErrors,
  callerKey,
  createAuthInterceptor,
  isAuthdError,
  verifyAccessToken,
  type VerifyOptions,
} from "../../packages/client/src/index.ts";

type Key = Awaited<ReturnType<typeof generateKeyPair>>;

let server: http.Server;
let url: string;
let fetches = 0;
let published: JWK[] = [];
const keys: Record<string, Key> = {};

beforeAll(async () => {
  for (const kid of ["a", "b", "c"]) keys[kid] = await generateKeyPair("EdDSA", { extractable: true });
  published = [await publicJwk("a")];
  server = http.createServer((_req, res) => {
    fetches++;
    res.setHeader("content-type", "application/json");
    res.end(JSON.stringify({ keys: published }));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`;
});

afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

async function publicJwk(kid: string): Promise<JWK> {
  return { ...(await exportJWK(keys[kid]!.publicKey)), kid, alg: "EdDSA", use: "sig" };
}

async function token(kid: string, claims: Record<string, unknown> = {}, opts: { typ?: string; exp?: number; aud?: string } = {}) {
  return new SignJWT({ sid: "session-1", ...claims })
    .setProtectedHeader({ alg: "EdDSA", kid, typ: opts.typ ?? "at+jwt" })
    .setSubject("user-1")
    .setIssuer("authd")
    .setAudience(opts.aud ?? "authd")
    .setIssuedAt()
    .setExpirationTime(opts.exp ?? Math.floor(Date.now() / 1000) + 60)
    .sign(keys[kid]!.privateKey);
}

// No cooldown between fetches: the test decides when a refetch is due, not the wall clock.
const options = (): VerifyOptions => ({ jwksUrl: url, issuer: "authd", audience: "authd", remote: { cooldownDuration: 0 } });

describe("verifyAccessToken", () => {
  it("reads the caller, its roles and permissions, fetching the key set once for many calls", async () => {
    const before = fetches;
    const t = await token("a", { roles: ["user", "admin"], permissions: ["orders.read"] });
    for (let i = 0; i < 3; i++) {
      const caller = await verifyAccessToken(t, options());
      expect(caller).toMatchObject({ userId: "user-1", sessionId: "session-1", roles: ["user", "admin"], permissions: ["orders.read"] });
    }
    expect(fetches - before).toBeLessThanOrEqual(1);
  });

  it("reads permissions from a scope claim, and none when the token has neither", async () => {
    await expect(verifyAccessToken(await token("a", { scope: "orders.read orders.write" }), options())).resolves.toMatchObject({
      roles: [],
      permissions: ["orders.read", "orders.write"],
    });
    await expect(verifyAccessToken(await token("a"), options())).resolves.toMatchObject({ roles: [], permissions: [] });
  });

  it("fetches the key set again for a token signed with a key it has not seen (rotation)", async () => {
    await verifyAccessToken(await token("a"), options());
    const before = fetches;
    published = [await publicJwk("b"), await publicJwk("a")];
    await expect(verifyAccessToken(await token("b"), options())).resolves.toMatchObject({ userId: "user-1" });
    expect(fetches - before).toBe(1);
    // Tokens of the previous key still verify, from the cache.
    await expect(verifyAccessToken(await token("a"), options())).resolves.toMatchObject({ userId: "user-1" });
    expect(fetches - before).toBe(1);
  });

  it.each([
    ["an unknown key", () => token("c"), "INVALID_TOKEN"],
    ["an expired token", () => token("a", {}, { exp: Math.floor(Date.now() / 1000) - 5 }), "TOKEN_EXPIRED"],
    ["another audience", () => token("a", {}, { aud: "someone-else" }), "INVALID_TOKEN"],
    ["another type (an ID token)", () => token("a", {}, { typ: "JWT" }), "INVALID_TOKEN"],
    ["no sid", () => token("a", { sid: undefined }), "INVALID_TOKEN"],
    ["garbage", async () => "not.a.jwt", "INVALID_TOKEN"],
    ["nothing", async () => "", "UNAUTHENTICATED"],
  ])("refuses %s with %s", async (_name, make, reason) => {
    const err = await verifyAccessToken(await make(), options()).catch((e: unknown) => e);
    expect(isAuthdError(err)).toBe(true);
    expect(err).toMatchObject({ code: Code.Unauthenticated, reason });
  });

  it("refuses algorithm confusion: alg none, and HS256 keyed with the public key, even where HS256 is allowed", async () => {
    const jwk = await publicJwk("a");
    const claims = (t: SignJWT) => t.setSubject("user-1").setIssuer("authd").setAudience("authd").setExpirationTime("1m");
    const none = new UnsecuredJWT({ sid: "session-1" }).setSubject("user-1").setIssuer("authd").setAudience("authd").encode();
    const hmacs = await Promise.all(
      [new TextEncoder().encode(JSON.stringify(jwk)), Buffer.from(jwk.x as string, "base64url")].map((secret) =>
        claims(new SignJWT({ sid: "session-1" }).setProtectedHeader({ alg: "HS256", kid: "a", typ: "at+jwt" })).sign(secret),
      ),
    );
    for (const t of [none, ...hmacs]) {
      await expect(verifyAccessToken(t, options())).rejects.toMatchObject({ code: Code.Unauthenticated, reason: "INVALID_TOKEN" });
      // A service that lists HS256 by mistake: a key set holds no secret keys, and the token is still the one refused.
      await expect(verifyAccessToken(t, { ...options(), algorithms: ["EdDSA", "HS256"] })).rejects.toMatchObject({
        code: Code.Unauthenticated,
        reason: "INVALID_TOKEN",
      });
    }
  });

  it("judges expiry by the clock it is given", async () => {
    const t = await token("a", {}, { exp: Math.floor(Date.now() / 1000) + 60 });
    await expect(verifyAccessToken(t, { ...options(), now: () => new Date(Date.now() + 120_000) })).rejects.toMatchObject({
      reason: "TOKEN_EXPIRED",
    });
  });

  it("says UNAVAILABLE, not the caller's fault, when the key set cannot be fetched", async () => {
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const err = await verifyAccessToken(await token("a"), { ...options(), jwksUrl: `http://127.0.0.1:${port}/jwks` }).catch(
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ code: Code.Unavailable });
    expect(isAuthdError(err)).toBe(false);
  });

  it("says UNAVAILABLE, not INVALID_TOKEN, when the key set's address answers but gives no key set", async () => {
    // jose reports a non-200 answer (a proxy's 503, a redirect it does not follow, a wrong path)
    // and a body that is not JSON as a plain JOSEError, the same class as a forged token's: read as
    // the caller's fault, every caller's valid token would be refused as INVALID_TOKEN.
    const answers: Array<[number, string, string]> = [
      [503, "application/json", '{"error":"unavailable"}'],
      [302, "text/plain", ""],
      [404, "text/html", "<h1>not found</h1>"],
      [200, "text/html", "<html>a sign-in page</html>"],
    ];
    const broken = http.createServer((_req, res) => {
      const [status, type, body] = answers[0]!;
      res.statusCode = status;
      res.setHeader("content-type", type);
      if (status === 302) res.setHeader("location", "/elsewhere");
      res.end(body);
    });
    await new Promise<void>((resolve) => broken.listen(0, "127.0.0.1", resolve));
    try {
      const jwksUrl = `http://127.0.0.1:${(broken.address() as AddressInfo).port}/jwks`;
      const t = await token("a");
      for (; answers.length > 0; answers.shift()) {
        const err = await verifyAccessToken(t, { ...options(), jwksUrl, remote: { cooldownDuration: 0, cacheMaxAge: 0 } }).catch(
          (e: unknown) => e,
        );
        expect(err, `HTTP ${answers[0]![0]} ${answers[0]![1]}`).toMatchObject({ code: Code.Unavailable });
        expect(isAuthdError(err)).toBe(false);
      }
    } finally {
      await new Promise<void>((resolve) => broken.close(() => resolve()));
    }
  });

  it("refuses to verify without an issuer and an audience to hold tokens to", async () => {
    // jose skips the check of an expectation left out: a JavaScript caller (or one whose types
    // were bypassed) that forgot one would take a token minted for any audience or by any issuer.
    const elsewhere = await token("a", {}, { aud: "another-service" });
    for (const blank of [{ audience: undefined }, { issuer: undefined }, { audience: "" }]) {
      const err = await verifyAccessToken(elsewhere, { ...options(), ...blank } as unknown as VerifyOptions).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TypeError);
    }
  });

  it("verifies against keys given directly", async () => {
    const caller = await verifyAccessToken(await token("c"), {
      jwks: { keys: [await publicJwk("c")] },
      issuer: "authd",
      audience: "authd",
    });
    expect(caller.userId).toBe("user-1");
  });
});

describe("createAuthInterceptor", () => {
  // A service behind the interceptor whose GetCurrentUser answers who the context says called
  // ("anonymous" for nobody), and whose Login is public.
  const service = (headers: Record<string, string> = {}) => {
    const transport = createRouterTransport(
      (router) =>
        router.service(AuthService, {
          getCurrentUser: (_req, ctx) => ({ user: { id: ctx.values.get(callerKey)?.userId ?? "anonymous" } }),
          login: (_req, ctx) => ({ user: { id: ctx.values.get(callerKey)?.userId ?? "anonymous" } }),
        }),
      {
        router: { interceptors: [createAuthInterceptor({ ...options(), isPublic: (p) => p === "/auth.v1.AuthService/Login" })] },
        transport: { interceptors: [authdErrors] },
      },
    );
    const client = createClient(AuthService, transport);
    return {
      me: () => client.getCurrentUser({}, { headers }).then((r) => r.user?.id),
      login: () => client.login({}, { headers }).then((r) => r.user?.id),
    };
  };

  it("puts the verified caller in the context", async () => {
    await expect(service({ authorization: `Bearer ${await token("a")}` }).me()).resolves.toBe("user-1");
  });

  it("refuses a call without a token, or with another scheme, with authd's reasons", async () => {
    await expect(service().me()).rejects.toMatchObject({ code: Code.Unauthenticated, reason: "UNAUTHENTICATED" });
    await expect(service({ authorization: "Basic dXNlcjpwYXNz" }).me()).rejects.toMatchObject({ reason: "INVALID_TOKEN" });
  });

  it("lets a public procedure through without a token, but still verifies a token sent to it", async () => {
    await expect(service().login()).resolves.toBe("anonymous");
    await expect(service({ authorization: `Bearer ${await token("a")}` }).login()).resolves.toBe("user-1");
    await expect(service({ authorization: "Bearer not.a.jwt" }).login()).rejects.toMatchObject({ reason: "INVALID_TOKEN" });
  });
});
