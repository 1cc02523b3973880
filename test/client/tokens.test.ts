// The token manager's own rules, against an in-memory AuthService whose RefreshToken the test
// answers by hand: what happens to a refresh overtaken by a sign-out or a new sign-in, a refresh
// that fails for a passing reason, and the storages. The end-to-end behaviour against a real
// authd is in sample-service.test.ts.
import { Code, ConnectError, createClient, createRouterTransport } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import {
  AuthdError,
  AuthService,
  authdErrors,
  createTokenManager,
  type KeyValueStorage,
  memoryTokenStorage,
  type StoredTokens,
  webTokenStorage,
} from "../../packages/client/src/index.ts";

const pair = (n: number): StoredTokens => ({
  accessToken: `access-${n}`,
  refreshToken: `refresh-${n}`,
  accessTokenExpiresAt: 0,
  sessionId: "s",
});

/** An AuthService whose refreshes wait until the test settles them, in order. */
function fakeAuthd() {
  const pending: Array<{ token: string; settle: (outcome: StoredTokens | Error) => void }> = [];
  const transport = createRouterTransport(({ service }) => {
    service(AuthService, {
      refreshToken: (req) =>
        new Promise((resolve, reject) => {
          pending.push({
            token: req.refreshToken,
            settle: (outcome) => (outcome instanceof Error ? reject(outcome) : resolve({ tokens: { ...outcome, tokenType: "Bearer" } })),
          });
        }),
    });
  });
  const next = async () => {
    for (let i = 0; i < 100 && pending.length === 0; i++) await new Promise((r) => setTimeout(r, 5));
    const p = pending.shift();
    if (p === undefined) throw new Error("no refresh arrived");
    return p;
  };
  return { transport, next, pending };
}

/** A lock as navigator.locks gives one: each run waits for the one before. */
function mutex(): <T>(run: () => Promise<T>) => Promise<T> {
  let tail: Promise<unknown> = Promise.resolve();
  return (run) => {
    const result = tail.then(run);
    tail = result.catch(() => undefined);
    return result;
  };
}

describe("createTokenManager", () => {
  it("does not bring back tokens a sign-out replaced while their refresh was in flight", async () => {
    const authd = fakeAuthd();
    const signOuts: string[] = [];
    const storage = memoryTokenStorage();
    const m = createTokenManager({ transport: authd.transport, storage, onSignOut: (r) => signOuts.push(r) });
    await m.setTokens(pair(1));
    const refreshing = m.refresh().catch((e: unknown) => e);
    const call = await authd.next();
    await m.signOut();
    call.settle(pair(2));
    expect(await refreshing).toBeInstanceOf(AuthdError);
    expect(storage.load()).toBeUndefined();
    await expect(m.getAccessToken()).resolves.toBeUndefined();
    expect(signOuts).toEqual(["SIGNED_OUT"]);
  });

  it("keeps a new sign-in's tokens when an older refresh finishes after it", async () => {
    const authd = fakeAuthd();
    const m = createTokenManager({ transport: authd.transport });
    await m.setTokens(pair(1));
    const refreshing = m.refresh().catch((e: unknown) => e);
    const call = await authd.next();
    await m.setTokens(pair(3));
    call.settle(pair(2));
    await refreshing;
    await expect(m.getAccessToken()).resolves.toBe("access-3");
  });

  it("keeps the session when a refresh fails for a passing reason, and refreshes again later", async () => {
    const authd = fakeAuthd();
    const signOuts: string[] = [];
    const m = createTokenManager({ transport: authd.transport, onSignOut: (r) => signOuts.push(r) });
    await m.setTokens(pair(1));
    const failing = m.refresh().catch((e: unknown) => e);
    (await authd.next()).settle(new ConnectError("storage down", Code.Unavailable));
    expect(await failing).toMatchObject({ code: Code.Unavailable });
    expect(signOuts).toEqual([]);
    const again = m.refresh();
    const call = await authd.next();
    expect(call.token).toBe("refresh-1");
    call.settle(pair(2));
    await expect(again).resolves.toMatchObject({ accessToken: "access-2" });
  });

  it("shares one refresh among many callers, and skips it for a caller whose token was already replaced", async () => {
    const authd = fakeAuthd();
    const m = createTokenManager({ transport: authd.transport });
    await m.setTokens(pair(1));
    const all = Promise.all([m.refresh("access-1"), m.refresh("access-1"), m.refresh()]);
    (await authd.next()).settle(pair(2));
    expect((await all).map((t) => t.accessToken)).toEqual(["access-2", "access-2", "access-2"]);
    await expect(m.refresh("access-1")).resolves.toMatchObject({ accessToken: "access-2" });
    expect(authd.pending).toEqual([]);
  });

  it("with a shared lock, two managers of one storage (two tabs) spend a refresh token once", async () => {
    const authd = fakeAuthd();
    const storage = memoryTokenStorage();
    const lock = mutex();
    const tabA = createTokenManager({ transport: authd.transport, storage, lock });
    const tabB = createTokenManager({ transport: authd.transport, storage, lock });
    await tabA.setTokens(pair(1));
    await expect(tabB.getAccessToken()).resolves.toBe("access-1");

    const both = Promise.all([tabA.refresh("access-1"), tabB.refresh("access-1")]);
    const call = await authd.next();
    expect(call.token).toBe("refresh-1");
    call.settle(pair(2));
    expect((await both).map((t) => t.refreshToken)).toEqual(["refresh-2", "refresh-2"]);
    expect(authd.pending).toEqual([]);
    await expect(tabB.getAccessToken()).resolves.toBe("access-2");
  });

  it("with a shared lock, a manager whose storage was cleared by another signs out instead of refreshing", async () => {
    const authd = fakeAuthd();
    const storage = memoryTokenStorage();
    const lock = mutex();
    const signOuts: string[] = [];
    const tabA = createTokenManager({ transport: authd.transport, storage, lock });
    const tabB = createTokenManager({ transport: authd.transport, storage, lock, onSignOut: (r) => signOuts.push(r) });
    await tabA.setTokens(pair(1));
    await tabB.getAccessToken();
    await tabA.signOut();
    await expect(tabB.refresh()).rejects.toMatchObject({ reason: "UNAUTHENTICATED" });
    expect(authd.pending).toEqual([]);
    expect(signOuts).toEqual(["SIGNED_OUT"]);
    await expect(tabB.getAccessToken()).resolves.toBeUndefined();
  });

  it("fails a call that meets its expiry after the session was revoked with the same reason", async () => {
    const authd = fakeAuthd();
    const signOuts: string[] = [];
    const m = createTokenManager({ transport: authd.transport, onSignOut: (r) => signOuts.push(r) });
    await m.setTokens(pair(1));
    const first = m.refresh("access-1").catch((e: unknown) => e);
    (await authd.next()).settle(new AuthdError(Code.Unauthenticated, "REFRESH_REVOKED", "the session has ended"));
    expect(await first).toMatchObject({ reason: "REFRESH_REVOKED" });
    // A slower call, still carrying the old token, asks for a refresh after the sign-out.
    await expect(m.refresh("access-1")).rejects.toMatchObject({ reason: "REFRESH_REVOKED" });
    await expect(m.refresh("some-other-token")).rejects.toMatchObject({ reason: "UNAUTHENTICATED" });
    expect(authd.pending).toEqual([]);
    expect(signOuts).toEqual(["REFRESH_REVOKED"]);
  });

  it("does not end a newer session when a call of the one it replaced answers SESSION_REVOKED", async () => {
    // A call still carrying the old session's token (its session revoked elsewhere, the user
    // already signed in again) fails late: that session is over, not the one signed in since.
    const signOuts: string[] = [];
    const storage = memoryTokenStorage();
    const m = createTokenManager({ transport: fakeAuthd().transport, storage, onSignOut: (r) => signOuts.push(r) });
    let answer: (() => void) | undefined;
    const transport = createRouterTransport(
      ({ service }) => {
        service(AuthService, {
          getCurrentUser: () =>
            new Promise((_resolve, reject) => {
              answer = () => reject(new AuthdError(Code.Unauthenticated, "SESSION_REVOKED", "the session has ended"));
            }),
        });
      },
      { transport: { interceptors: [authdErrors, m.interceptor] } },
    );
    await m.setTokens(pair(1));
    const late = createClient(AuthService, transport)
      .getCurrentUser({})
      .catch((e: unknown) => e);
    for (let i = 0; i < 100 && answer === undefined; i++) await new Promise((r) => setTimeout(r, 5));
    await m.setTokens(pair(2));
    answer?.();
    expect(await late).toMatchObject({ reason: "SESSION_REVOKED" });
    await expect(m.getAccessToken()).resolves.toBe("access-2");
    expect(storage.load()).toMatchObject({ accessToken: "access-2" });
    expect(signOuts).toEqual([]);
  });

  it("loads the stored session on first use", async () => {
    const authd = fakeAuthd();
    const storage = memoryTokenStorage();
    storage.save(pair(7));
    const m = createTokenManager({ transport: authd.transport, storage });
    await expect(m.getAccessToken()).resolves.toBe("access-7");
  });
});

describe("webTokenStorage", () => {
  function fakeWebStorage(): KeyValueStorage & { items: Map<string, string> } {
    const items = new Map<string, string>();
    return {
      items,
      getItem: (k) => items.get(k) ?? null,
      setItem: (k, v) => void items.set(k, v),
      removeItem: (k) => void items.delete(k),
    };
  }

  it("stores the tokens as JSON under one key, and forgets them", () => {
    const web = fakeWebStorage();
    const storage = webTokenStorage(web);
    storage.save(pair(1));
    expect(JSON.parse(web.items.get("authd.tokens") ?? "")).toEqual(pair(1));
    expect(storage.load()).toEqual(pair(1));
    storage.clear();
    expect(storage.load()).toBeUndefined();
  });

  it("reads what is not its JSON as no session", () => {
    const web = fakeWebStorage();
    for (const junk of ["{", "null", '{"accessToken":1}', "[]"]) {
      web.items.set("authd.tokens", junk);
      expect(webTokenStorage(web).load()).toBeUndefined();
    }
  });
});
