// @authd/client against a real authd: an app signs in through the package's Node transport, and its
// token manager calls both authd and a sample microservice that verifies the tokens with the
// package's interceptor. authd's clock and the sample's verifier share the test's clock, so moving
// it expires the access token for both.
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  AuthdError,
  createAuthdClients,
  createAuthdTransport,
  createTokenManager,
  isAuthdError,
  memoryTokenStorage,
  type StoredTokens,
  type TokenManager,
  type TokenPair,
  toAuthdError,
  type VerifyOptions,
} from "../../packages/client/src/node.ts";
import { type Harness, startHarness } from "../support/harness.ts";
import { openTestStore } from "../support/stores.ts";
import { countingRefreshes } from "./counting-store.ts";
import { type SampleServer, sampleClient, startSampleServer } from "./sample-service.ts";

const ttlSeconds = 60;
const password = "correct horse battery staple";

let h: Harness;
let sample: SampleServer;
/** RefreshToken calls that reached authd's store. */
let refreshes: () => number;

beforeAll(async () => {
  // No grace for a replayed refresh token: a second refresh with one token revokes the session, so
  // two calls racing one refresh would fail the test loudly, not only show in the count.
  const env = { EMAIL_VERIFICATION_REQUIRED: "false", ACCESS_TOKEN_TTL_SECONDS: String(ttlSeconds), REFRESH_REUSE_GRACE_SECONDS: "0" };
  const counted = countingRefreshes(await openTestStore("client_sample"));
  refreshes = counted.refreshes;
  h = await startHarness(env, counted.store);
  sample = await startSampleServer(verifying());
});

/** How the sample services verify authd's tokens: its key set, its issuer and audience, the test's clock. */
function verifying(): VerifyOptions {
  return { jwksUrl: `${h.url}/.well-known/jwks.json`, issuer: "authd", audience: "authd", now: () => h.clock.now() };
}

afterAll(async () => {
  await sample?.close();
  await h?.close();
});

let n = 0;
/** Registers a new account (or, given its email, not) and signs it in over gRPC; its tokens and user id. */
async function signIn(existing?: string): Promise<{ tokens: TokenPair; userId: string; email: string }> {
  const { auth } = createAuthdClients(createAuthdTransport({ baseUrl: h.url }));
  const email = existing ?? `client-${++n}@example.com`;
  if (existing === undefined) await auth.register({ email, password });
  const res = await auth.login({ email, password });
  if (res.result.case !== "tokens" || res.user === undefined) throw new Error("no tokens");
  return { tokens: res.result.value, userId: res.user.id, email };
}

interface App {
  manager: TokenManager;
  signOuts: string[];
  stored(): StoredTokens | undefined;
  sample: ReturnType<typeof sampleClient>;
  authd: ReturnType<typeof createAuthdClients>;
}

/** An app as the README shows it: one manager, its interceptor on the transports to authd and to the sample. */
async function app(tokens: TokenPair, now?: () => number, service: SampleServer = sample): Promise<App> {
  const storage = memoryTokenStorage();
  const signOuts: string[] = [];
  const manager = createTokenManager({
    transport: createAuthdTransport({ baseUrl: h.url }),
    storage,
    onSignOut: (reason) => signOuts.push(reason),
    now,
  });
  await manager.setTokens(tokens);
  return {
    manager,
    signOuts,
    stored: () => storage.load() as StoredTokens | undefined,
    sample: sampleClient(createAuthdTransport({ baseUrl: service.url, tokens: manager })),
    authd: createAuthdClients(createAuthdTransport({ baseUrl: h.url, protocol: "connect", tokens: manager })),
  };
}

describe("the sample microservice with the package's verifier", () => {
  it("puts the caller the token names into the handler's context", async () => {
    const { tokens, userId } = await signIn();
    const a = await app(tokens);
    await expect(a.sample.whoAmI()).resolves.toEqual({
      userId,
      sessionId: tokens.sessionId,
      roles: ["user"],
      permissions: [],
      checkedLive: false,
    });
  });

  it("reads roles and permissions from the token's claims: a role change shows after the next refresh", async () => {
    const { tokens, userId } = await signIn();
    const a = await app(tokens);
    await h.store.users.update(userId, { roles: ["admin"] });
    // The token still says what it said when it was issued.
    await expect(a.sample.whoAmI()).resolves.toMatchObject({ roles: ["user"], permissions: [] });
    h.clock.advance((ttlSeconds + 1) * 1000);
    const after = await a.sample.whoAmI();
    expect(after.roles).toEqual(["admin"]);
    expect(after.permissions).toContain("tokens.introspect");
  });

  it("refuses a call without a token, and a tampered token, with authd's reasons", async () => {
    const { tokens } = await signIn();
    const bare = sampleClient(createAuthdTransport({ baseUrl: sample.url }));
    const missing = await bare.whoAmI().catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(AuthdError);
    expect(missing).toMatchObject({ code: Code.Unauthenticated, reason: "UNAUTHENTICATED" });

    const [head, body, sig] = tokens.accessToken.split(".");
    const forged = `${head}.${body}.${sig?.startsWith("A") ? "B" : "A"}${sig?.slice(1)}`;
    const tampered = sampleClient(createAuthdTransport({ baseUrl: sample.url, interceptors: [bearerOf(forged)] }));
    await expect(tampered.whoAmI()).rejects.toMatchObject({ code: Code.Unauthenticated, reason: "INVALID_TOKEN" });
  });
});

describe("the token manager", () => {
  it("answers concurrent calls around an expiry with one refresh, shared by calls to authd and to the service", async () => {
    const { tokens, userId } = await signIn();
    const a = await app(tokens);
    await a.sample.whoAmI();

    h.clock.advance((ttlSeconds + 1) * 1000);
    const before = refreshes();
    const calls = [
      ...Array.from({ length: 6 }, () => a.sample.whoAmI().then((r) => r.userId)),
      ...Array.from({ length: 4 }, () => a.authd.auth.getCurrentUser({}).then((r) => r.user?.id)),
    ];
    const users = await Promise.all(calls);

    expect(users).toEqual(Array(10).fill(userId));
    expect(refreshes() - before).toBe(1);
    expect(a.stored()?.accessToken).not.toBe(tokens.accessToken);
    expect(a.stored()?.refreshToken).not.toBe(tokens.refreshToken);
    expect(a.signOuts).toEqual([]);

    // And again on the new pair: the first refresh left nothing behind that a second could trip on.
    h.clock.advance((ttlSeconds + 1) * 1000);
    await Promise.all(Array.from({ length: 5 }, () => a.sample.whoAmI()));
    expect(refreshes() - before).toBe(2);
  });

  it("refreshes before the call when its own clock says the token has expired", async () => {
    const { tokens } = await signIn();
    // The app's clock is a second past the expiry the pair states; authd's has not moved.
    const expiresAt = Number(tokens.accessTokenExpireTime?.seconds) * 1000;
    const a = await app(tokens, () => expiresAt + 1000);
    const before = refreshes();
    await Promise.all([a.sample.whoAmI(), a.sample.whoAmI(), a.manager.getAccessToken()]);
    expect(refreshes() - before).toBe(1);
  });

  it("signs out once, cleanly, when the refresh token is revoked", async () => {
    const { tokens } = await signIn();
    const a = await app(tokens);
    // The session ends elsewhere (another device signed it out); the app still holds its tokens.
    await createAuthdClients(createAuthdTransport({ baseUrl: h.url, interceptors: [bearerOf(tokens.accessToken)] })).auth.logout({});

    h.clock.advance((ttlSeconds + 1) * 1000);
    const before = refreshes();
    const results = await Promise.allSettled(Array.from({ length: 4 }, () => a.sample.whoAmI()));

    for (const r of results) {
      expect(r.status).toBe("rejected");
      const err = (r as PromiseRejectedResult).reason as unknown;
      expect(isAuthdError(err)).toBe(true);
      expect(err).toMatchObject({ code: Code.Unauthenticated, reason: "REFRESH_REVOKED" });
    }
    expect(refreshes() - before).toBe(1);
    expect(a.signOuts).toEqual(["REFRESH_REVOKED"]);
    expect(a.stored()).toBeUndefined();
    await expect(a.manager.getAccessToken()).resolves.toBeUndefined();
    // Signed out, calls go without a token.
    await expect(a.sample.whoAmI()).rejects.toMatchObject({ reason: "UNAUTHENTICATED" });
    expect(refreshes() - before).toBe(1);
  });

  it("signOut({ revoke: true }) ends the session at authd too", async () => {
    const { tokens } = await signIn();
    const a = await app(tokens);
    await a.manager.signOut({ revoke: true });
    expect(a.signOuts).toEqual(["SIGNED_OUT"]);
    const { auth } = createAuthdClients(createAuthdTransport({ baseUrl: h.url }));
    await expect(auth.refreshToken({ refreshToken: tokens.refreshToken })).rejects.toMatchObject({ reason: "REFRESH_REVOKED" });
  });
});

describe("the live check through IntrospectToken", () => {
  let live: SampleServer;
  let keyRefused: SampleServer;

  beforeAll(async () => {
    // An admin makes the sample service its account, whose key may introspect tokens.
    const admin = await signIn();
    await h.store.users.update(admin.userId, { roles: ["admin"] });
    const { tokens } = await signIn(admin.email);
    const { serviceAccounts } = createAuthdClients(createAuthdTransport({ baseUrl: h.url, interceptors: [bearerOf(tokens.accessToken)] }));
    const { apiKey } = await serviceAccounts.createServiceAccount({ name: "orders", permissions: ["tokens.introspect"] });
    const transport = createAuthdTransport({ baseUrl: h.url });
    live = await startSampleServer({ ...verifying(), live: { transport, apiKey } });
    keyRefused = await startSampleServer({ ...verifying(), live: { transport, apiKey: `${apiKey.slice(0, -4)}AAAA` } });
  });

  afterAll(async () => {
    await live?.close();
    await keyRefused?.close();
  });

  it("accepts a live session, with the permissions the user's roles give now", async () => {
    const { tokens, userId } = await signIn();
    const a = await app(tokens, undefined, live);
    await expect(a.sample.whoAmI()).resolves.toEqual({
      userId,
      sessionId: tokens.sessionId,
      roles: ["user"],
      permissions: [],
      checkedLive: true,
    });
    // A role given after the token was issued counts on the next call, with the same token.
    await h.store.users.update(userId, { roles: ["admin"] });
    expect((await a.sample.whoAmI()).permissions).toContain("tokens.introspect");
    expect(a.stored()?.accessToken).toBe(tokens.accessToken);
  });

  it("refuses a token whose session has ended at once, where the signature alone still passes, and the app signs out", async () => {
    const { tokens } = await signIn();
    const a = await app(tokens, undefined, live);
    await a.sample.whoAmI();
    await createAuthdClients(createAuthdTransport({ baseUrl: h.url, interceptors: [bearerOf(tokens.accessToken)] })).auth.logout({});

    const offline = sampleClient(createAuthdTransport({ baseUrl: sample.url, interceptors: [bearerOf(tokens.accessToken)] }));
    await expect(offline.whoAmI()).resolves.toMatchObject({ checkedLive: false });
    const err = await a.sample.whoAmI().catch((e: unknown) => e);
    expect(isAuthdError(err)).toBe(true);
    expect(err).toMatchObject({ code: Code.Unauthenticated, reason: "SESSION_REVOKED" });
    expect(a.signOuts).toEqual(["SESSION_REVOKED"]);
    expect(a.stored()).toBeUndefined();
  });

  it("answers UNAVAILABLE, not the caller's fault, when authd refuses the service's own key", async () => {
    const { tokens } = await signIn();
    const a = await app(tokens, undefined, keyRefused);
    const err = await a.sample.whoAmI().catch((e: unknown) => e);
    expect(err).toMatchObject({ code: Code.Unavailable });
    expect(isAuthdError(err)).toBe(false);
    expect(a.signOuts).toEqual([]);
  });
});

describe("the admin client", () => {
  it("lists users for an admin, and refuses others with PERMISSION_DENIED", async () => {
    const admin = await signIn();
    await h.store.users.update(admin.userId, { roles: ["admin"] });
    const asAdmin = await app((await signIn(admin.email)).tokens);
    const { users } = await asAdmin.authd.admin.listUsers({ emailPrefix: admin.email });
    expect(users.map((u) => u.id)).toEqual([admin.userId]);

    const someone = await app((await signIn()).tokens);
    await expect(someone.authd.admin.listUsers({})).rejects.toMatchObject({ code: Code.PermissionDenied, reason: "PERMISSION_DENIED" });
  });
});

describe("typed errors", () => {
  it.each(["grpc", "connect", "grpc-web"] as const)("carry authd's reason over %s", async (protocol) => {
    const { auth } = createAuthdClients(createAuthdTransport({ baseUrl: h.url, protocol }));
    const err = await auth.login({ email: "nobody@example.com", password: "wrong password!" }).catch((e: unknown) => e);
    expect(isAuthdError(err)).toBe(true);
    expect(err).toBeInstanceOf(ConnectError);
    expect(err).toMatchObject({ code: Code.Unauthenticated, reason: "INVALID_CREDENTIALS", rawMessage: expect.any(String) });
  });

  it("keep the other details and the field", async () => {
    const { auth } = createAuthdClients(createAuthdTransport({ baseUrl: h.url, protocol: "connect", json: true }));
    const err = await auth.register({ email: "not an email", password }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: Code.InvalidArgument, reason: "INVALID_ARGUMENT", errorMetadata: { field: "email" } });
    expect((err as AuthdError).details.length).toBeGreaterThan(1);
  });

  it("are not made up for errors without authd's ErrorInfo", () => {
    const plain = new ConnectError("no", Code.Unavailable);
    expect(toAuthdError(plain)).toBeUndefined();
    expect(plain instanceof AuthdError).toBe(false);
    expect(isAuthdError(new Error("x"))).toBe(false);
  });
});

function bearerOf(token: string) {
  return (next: Parameters<import("@connectrpc/connect").Interceptor>[0]) => (req: Parameters<typeof next>[0]) => {
    req.header.set("authorization", `Bearer ${token}`);
    return next(req);
  };
}
