// Revocation stays immediate with the verified-token cache warm: the cache only spares the
// signature check of a token seen before, and the session is read on every call. Each case warms
// the cache with the very tokens it then revokes, checks that the refusal was a cache hit (so the
// signature was not what refused it), and that a session the change did not end still works.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AuthError } from "../../src/errors.ts";
import type { Caller } from "../../src/sessions/caller.ts";
import { noReauthentication } from "../../src/two-factor/reauthentication.ts";
import { fetchDriver, grpcJsDriver, RpcFailure, type Driver } from "../support/drivers.ts";
import { startHarness, type Harness } from "../support/harness.ts";
import { startService, type InProcess } from "../support/service.ts";

const password = "correct horse battery staple";

describe("in-process: a warm cache never outlives a revocation", () => {
  let s: InProcess;
  let n = 0;
  beforeAll(async () => {
    s = await startService({ EMAIL_VERIFICATION_REQUIRED: "false" });
  });
  afterAll(() => s.close());

  const hits = () => s.service.accessTokens.cacheStats().hits;
  const check = (bearer: string) =>
    s.ops.sessions.authenticate({ bearer }).then(
      () => "live",
      (e: unknown) => (e instanceof AuthError ? e.reason : String(e)),
    );

  /** A new account signed in on `count` devices, each token verified twice (the cache is warm). */
  async function signedIn(count: number): Promise<{ email: string; bearers: string[]; callers: Caller[] }> {
    const email = `warm${++n}@example.com`;
    await s.ops.accounts.register({ email, password, displayName: "" }, s.client);
    const bearers: string[] = [];
    for (let i = 0; i < count; i++) {
      const result = await s.ops.signIn.login({ email, password, rememberMe: false }, s.client);
      if (result.state !== "signed_in") throw new Error("expected a completed sign-in");
      bearers.push(result.tokens.accessToken);
    }
    const callers = await Promise.all(bearers.map((bearer) => s.ops.sessions.authenticate({ bearer })));
    const before = hits();
    for (const bearer of bearers) expect(await check(bearer)).toBe("live");
    expect(hits() - before).toBe(count);
    return { email, bearers, callers };
  }

  /** The refusals of `bearers`, each of which must have been answered by the cache. */
  async function refusedWarm(bearers: string[]): Promise<string[]> {
    const before = hits();
    const reasons = await Promise.all(bearers.map(check));
    expect(hits() - before).toBe(bearers.length);
    return reasons;
  }

  it("Logout", async () => {
    const { bearers, callers } = await signedIn(2);
    await s.ops.sessions.logout(callers[0] as Caller);
    expect(await refusedWarm(bearers)).toEqual(["SESSION_REVOKED", "live"]);
  });

  it("RevokeSession of another session", async () => {
    const { bearers, callers } = await signedIn(2);
    await s.ops.sessions.revoke(callers[0] as Caller, (callers[1] as Caller).sessionId);
    expect(await refusedWarm(bearers)).toEqual(["live", "SESSION_REVOKED"]);
  });

  it("sign-out everywhere else (RevokeOtherSessions)", async () => {
    const { bearers, callers } = await signedIn(3);
    await s.ops.sessions.revokeOthers(callers[1] as Caller);
    expect(await refusedWarm(bearers)).toEqual(["SESSION_REVOKED", "live", "SESSION_REVOKED"]);
  });

  it("ChangePassword", async () => {
    const { bearers, callers } = await signedIn(2);
    await s.ops.accounts.changePassword(callers[0] as Caller, password, "a brand new passphrase", s.client);
    expect(await refusedWarm(bearers)).toEqual(["live", "SESSION_REVOKED"]);
  });

  it("a completed password reset", async () => {
    const { email, bearers } = await signedIn(2);
    await s.ops.accounts.requestPasswordReset(email, s.client);
    await s.service.background.drain();
    const mail = s.outbox.latest(email, "password_reset");
    if (mail === undefined) throw new Error("no reset mail");
    await s.ops.accounts.resetPassword(mail.code, "reset to something long", s.client);
    expect(await refusedWarm(bearers)).toEqual(["SESSION_REVOKED", "SESSION_REVOKED"]);
  });

  it("DeleteAccount", async () => {
    const { bearers, callers } = await signedIn(2);
    await s.ops.accounts.deleteAccount(callers[0] as Caller, noReauthentication, s.client);
    expect(await refusedWarm(bearers)).toEqual(["SESSION_REVOKED", "SESSION_REVOKED"]);
  });

  it("the session's own end: a warm token of an expired session is refused", async () => {
    const { bearers } = await signedIn(1);
    // The refresh token (and so the session) lasts a week; the access token is what expires first.
    s.clock.advance(901_000);
    expect(await s.ops.sessions.authenticate({ bearer: bearers[0] as string }).catch((e: AuthError) => e.reason)).toBe("TOKEN_EXPIRED");
  });
});

describe.each([
  ["Connect JSON over HTTP/1.1", (url: string) => fetchDriver(url, "warm-cache")],
  ["@grpc/grpc-js", (url: string) => grpcJsDriver(url)],
])("over the real server (%s): a warm cache never outlives a revocation", (_name, makeDriver) => {
  let h: Harness;
  let d: Driver;
  let n = 0;
  beforeAll(async () => {
    h = await startHarness({ EMAIL_VERIFICATION_REQUIRED: "false" });
    d = makeDriver(h.url);
  });
  afterAll(async () => {
    d.close();
    await h.close();
  });

  const hits = () => h.server.deps.accessTokens.cacheStats().hits;
  const me = (token: string) =>
    d.call("AuthService/GetCurrentUser", {}, token).then(
      () => "live",
      (e: unknown) => (e instanceof RpcFailure ? (e.reason ?? e.code) : String(e)),
    );

  async function signedIn(count: number): Promise<{ email: string; tokens: string[] }> {
    const email = `warm${++n}@example.com`;
    await d.call("AuthService/Register", { email, password });
    const tokens: string[] = [];
    for (let i = 0; i < count; i++) tokens.push((await d.call("AuthService/Login", { email, password })).tokens.accessToken);
    for (const token of tokens) expect(await me(token)).toBe("live");
    const before = hits();
    for (const token of tokens) expect(await me(token)).toBe("live");
    expect(hits() - before).toBe(count);
    return { email, tokens };
  }

  async function refusedWarm(tokens: string[]): Promise<string[]> {
    const before = hits();
    const reasons: string[] = [];
    for (const token of tokens) reasons.push(await me(token));
    expect(hits() - before).toBe(tokens.length);
    return reasons;
  }

  it("Logout", async () => {
    const { tokens } = await signedIn(2);
    await d.call("AuthService/Logout", {}, tokens[0]);
    expect(await refusedWarm(tokens)).toEqual(["SESSION_REVOKED", "live"]);
  });

  it("RevokeOtherSessions", async () => {
    const { tokens } = await signedIn(2);
    await d.call("SessionService/RevokeOtherSessions", {}, tokens[1]);
    expect(await refusedWarm(tokens)).toEqual(["SESSION_REVOKED", "live"]);
  });

  it("ChangePassword", async () => {
    const { tokens } = await signedIn(2);
    await d.call("AuthService/ChangePassword", { currentPassword: password, newPassword: "a brand new passphrase" }, tokens[0]);
    expect(await refusedWarm(tokens)).toEqual(["live", "SESSION_REVOKED"]);
  });

  it("ResetPassword", async () => {
    const { email, tokens } = await signedIn(2);
    await d.call("AuthService/RequestPasswordReset", { email });
    const mail = await h.mail(email, "password_reset");
    await d.call("AuthService/ResetPassword", { code: mail.code, newPassword: "reset to something long" });
    expect(await refusedWarm(tokens)).toEqual(["SESSION_REVOKED", "SESSION_REVOKED"]);
  });

  it("an expired token is refused however warm", async () => {
    const { tokens } = await signedIn(1);
    h.clock.advance(901_000);
    expect(await me(tokens[0] as string)).toBe("TOKEN_EXPIRED");
  });
});
