// The whole account and session life cycle, driven over every kind of client the service has:
// Connect's client over gRPC, plain @grpc/grpc-js, Connect JSON with fetch, and Connect-Web's
// protocols (Connect JSON and gRPC-Web) from Node.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectJsonTransport, grpcTransport, grpcWebTransport, startHarness, type Harness } from "../support/harness.ts";
import { connectDriver, failure, fetchDriver, grpcJsDriver, type Driver, type Json } from "../support/drivers.ts";

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.close();
});

const drivers: Array<[string, () => Driver]> = [
  ["connect-grpc", () => connectDriver("connect-grpc", grpcTransport(h.url), "flow-test/connect-grpc")],
  ["grpc-js", () => grpcJsDriver(h.url)],
  ["fetch-json", () => fetchDriver(h.url, "flow-test/fetch")],
  ["connect-json", () => connectDriver("connect-json", connectJsonTransport(h.url), "flow-test/connect-json")],
  ["grpc-web", () => connectDriver("grpc-web", grpcWebTransport(h.url), "flow-test/grpc-web")],
];

describe.each(drivers)("account and session life cycle over %s", (name, make) => {
  let d: Driver;
  const email = `Flow.${name}@Example.COM `;
  const normalized = `flow.${name}@example.com`;
  let password = "correct horse battery staple";
  let sessionA: Json;

  beforeAll(() => {
    d = make();
  });
  afterAll(() => d.close());

  it("registers, refuses login until the email is verified, then verifies with the mailed code", async () => {
    const reg = await d.call("AuthService/Register", { email, password, displayName: "Flow Tester" });
    expect(reg.user.email).toBe(normalized);
    expect(reg.user.emailVerified ?? false).toBe(false);
    expect(reg.user.displayName).toBe("Flow Tester");
    expect(reg.verificationRequired).toBe(true);
    expect(reg.tokens ?? null).toBeNull();

    const early = await failure(d.call("AuthService/Login", { email, password }));
    expect([early.code, early.reason]).toEqual(["failed_precondition", "EMAIL_NOT_VERIFIED"]);

    const mail = await h.mail(normalized, "email_verification");
    expect(mail.text).toContain(mail.code);
    const verified = await d.call("AuthService/VerifyEmail", { code: mail.code });
    expect(verified.user.emailVerified).toBe(true);

    const again = await failure(d.call("AuthService/VerifyEmail", { code: mail.code }));
    expect([again.code, again.reason]).toEqual(["invalid_argument", "INVALID_CODE"]);
  });

  it("logs in, reads the current user, refreshes, and revokes the family when an old refresh token returns", async () => {
    const login = await d.call("AuthService/Login", { email: normalized, password });
    const t1 = login.tokens;
    expect(t1.tokenType).toBe("Bearer");
    expect(Number(t1.expiresIn)).toBe(900);
    expect(t1.accessToken.split(".")).toHaveLength(3);
    expect(t1.refreshToken).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(login.user.email).toBe(normalized);

    const me = await d.call("AuthService/GetCurrentUser", {}, t1.accessToken);
    expect(me.user.email).toBe(normalized);

    const refreshed = await d.call("AuthService/RefreshToken", { refreshToken: t1.refreshToken });
    const t2 = refreshed.tokens;
    expect(t2.refreshToken).not.toBe(t1.refreshToken);
    expect(t2.sessionId).toBe(t1.sessionId);
    expect((await d.call("AuthService/GetCurrentUser", {}, t2.accessToken)).user.email).toBe(normalized);

    // Within the grace window the same client racing itself gets the same pair back...
    const raced = await d.call("AuthService/RefreshToken", { refreshToken: t1.refreshToken });
    expect([raced.tokens.accessToken, raced.tokens.refreshToken]).toEqual([t2.accessToken, t2.refreshToken]);
    // ...after it, the spent token is reuse.
    h.clock.advance(30_000);
    const replay = await failure(d.call("AuthService/RefreshToken", { refreshToken: t1.refreshToken }));
    expect([replay.code, replay.reason]).toEqual(["unauthenticated", "REFRESH_REVOKED"]);
    // The whole family is gone: the pair issued by the legitimate refresh dies too.
    const dead = await failure(d.call("AuthService/GetCurrentUser", {}, t2.accessToken));
    expect([dead.code, dead.reason]).toEqual(["unauthenticated", "SESSION_REVOKED"]);
    const deadRefresh = await failure(d.call("AuthService/RefreshToken", { refreshToken: t2.refreshToken }));
    expect([deadRefresh.code, deadRefresh.reason]).toEqual(["unauthenticated", "REFRESH_REVOKED"]);
  });

  it("lists sessions with user agent and IP, revokes one, and the revoked token fails on the next call", async () => {
    sessionA = (await d.call("AuthService/Login", { email: normalized, password })).tokens;
    const sessionB = (await d.call("AuthService/Login", { email: normalized, password, rememberMe: true })).tokens;

    const listed = await d.call("SessionService/ListSessions", {}, sessionA.accessToken);
    const live: Json[] = listed.sessions ?? [];
    expect(live.map((s) => s.id).sort()).toEqual([sessionA.sessionId, sessionB.sessionId].sort());
    for (const s of live) {
      expect(s.ipAddress).toBe("127.0.0.1");
      expect(s.userAgent).toMatch(name === "grpc-js" ? /grpc-node-js/ : /flow-test/);
      expect(s.current ?? false).toBe(s.id === sessionA.sessionId);
    }

    await d.call("SessionService/RevokeSession", { sessionId: sessionB.sessionId }, sessionA.accessToken);
    const revoked = await failure(d.call("AuthService/GetCurrentUser", {}, sessionB.accessToken));
    expect([revoked.code, revoked.reason]).toEqual(["unauthenticated", "SESSION_REVOKED"]);
    const refreshRevoked = await failure(d.call("AuthService/RefreshToken", { refreshToken: sessionB.refreshToken }));
    expect([refreshRevoked.code, refreshRevoked.reason]).toEqual(["unauthenticated", "REFRESH_REVOKED"]);

    const twice = await failure(d.call("SessionService/RevokeSession", { sessionId: sessionB.sessionId }, sessionA.accessToken));
    expect([twice.code, twice.reason]).toEqual(["not_found", "NOT_FOUND"]);

    const remaining = (await d.call("SessionService/ListSessions", {}, sessionA.accessToken)).sessions ?? [];
    expect(remaining.map((s: Json) => s.id)).toEqual([sessionA.sessionId]);
  });

  it("revokes every other session and reports how many", async () => {
    const b = (await d.call("AuthService/Login", { email: normalized, password })).tokens;
    const c = (await d.call("AuthService/Login", { email: normalized, password })).tokens;
    const res = await d.call("SessionService/RevokeOtherSessions", {}, sessionA.accessToken);
    expect(res.revokedCount).toBe(2);
    for (const t of [b, c]) {
      const f = await failure(d.call("AuthService/GetCurrentUser", {}, t.accessToken));
      expect(f.reason).toBe("SESSION_REVOKED");
    }
    expect((await d.call("AuthService/GetCurrentUser", {}, sessionA.accessToken)).user.email).toBe(normalized);
  });

  it("updates the profile", async () => {
    const res = await d.call("AuthService/UpdateProfile", { displayName: "  Renamed  " }, sessionA.accessToken);
    expect(res.user.displayName).toBe("Renamed");
    expect((await d.call("AuthService/GetCurrentUser", {}, sessionA.accessToken)).user.displayName).toBe("Renamed");
  });

  it("changes the password: checks the current one and revokes the other sessions", async () => {
    const other = (await d.call("AuthService/Login", { email: normalized, password })).tokens;
    const wrong = await failure(
      d.call(
        "AuthService/ChangePassword",
        { currentPassword: "not my password", newPassword: "a brand new passphrase" },
        sessionA.accessToken,
      ),
    );
    expect([wrong.code, wrong.reason]).toEqual(["unauthenticated", "INVALID_CREDENTIALS"]);

    const res = await d.call(
      "AuthService/ChangePassword",
      { currentPassword: password, newPassword: "a brand new passphrase" },
      sessionA.accessToken,
    );
    expect(res.revokedSessionCount).toBe(1);
    expect((await failure(d.call("AuthService/GetCurrentUser", {}, other.accessToken))).reason).toBe("SESSION_REVOKED");
    expect((await d.call("AuthService/GetCurrentUser", {}, sessionA.accessToken)).user.email).toBe(normalized);

    const old = await failure(d.call("AuthService/Login", { email: normalized, password }));
    expect([old.code, old.reason]).toEqual(["unauthenticated", "INVALID_CREDENTIALS"]);
    password = "a brand new passphrase";
    await d.call("AuthService/Login", { email: normalized, password });
  });

  it("resets a forgotten password with the mailed code and ends every session", async () => {
    await d.call("AuthService/RequestPasswordReset", { email: normalized });
    const mail = await h.mail(normalized, "password_reset");
    await d.call("AuthService/ResetPassword", { code: mail.code, newPassword: "reset to something long" });
    const ended = await failure(d.call("AuthService/GetCurrentUser", {}, sessionA.accessToken));
    expect(ended.reason).toBe("SESSION_REVOKED");
    const reused = await failure(d.call("AuthService/ResetPassword", { code: mail.code, newPassword: "another long password" }));
    expect([reused.code, reused.reason]).toEqual(["invalid_argument", "INVALID_CODE"]);
    password = "reset to something long";
    sessionA = (await d.call("AuthService/Login", { email: normalized, password })).tokens;
  });

  it("lists the password as a linked account and refuses to unlink the last sign-in method", async () => {
    const res = await d.call("AuthService/ListLinkedAccounts", {}, sessionA.accessToken);
    expect(res.accounts).toHaveLength(1);
    expect(res.accounts[0].provider).toBe("password");
    expect(res.accounts[0].providerAccountId).toBe(normalized);
    const last = await failure(d.call("AuthService/UnlinkAccount", { id: res.accounts[0].id }, sessionA.accessToken));
    expect([last.code, last.reason]).toEqual(["failed_precondition", "LAST_SIGN_IN_METHOD"]);
    const unknown = await failure(d.call("AuthService/UnlinkAccount", { id: "google-123" }, sessionA.accessToken));
    expect([unknown.code, unknown.reason]).toEqual(["not_found", "NOT_FOUND"]);
  });

  it("logs out: the session's tokens stop working at once", async () => {
    const s = (await d.call("AuthService/Login", { email: normalized, password })).tokens;
    await d.call("AuthService/Logout", {}, s.accessToken);
    expect((await failure(d.call("AuthService/GetCurrentUser", {}, s.accessToken))).reason).toBe("SESSION_REVOKED");
    expect((await failure(d.call("AuthService/RefreshToken", { refreshToken: s.refreshToken }))).reason).toBe("REFRESH_REVOKED");
  });

  it("deletes the account and everything that belongs to it", async () => {
    const user = await h.store.users.findByEmail(normalized);
    expect(user).not.toBeNull();
    await d.call("AuthService/DeleteAccount", {}, sessionA.accessToken);
    expect((await failure(d.call("AuthService/GetCurrentUser", {}, sessionA.accessToken))).reason).toBe("SESSION_REVOKED");
    expect(await h.store.users.findByEmail(normalized)).toBeNull();
    expect(await h.store.sessions.listLive(user!.id, h.clock.now())).toEqual([]);
    const login = await failure(d.call("AuthService/Login", { email: normalized, password }));
    expect([login.code, login.reason]).toEqual(["unauthenticated", "INVALID_CREDENTIALS"]);
    // The address is free again.
    const reg = await d.call("AuthService/Register", { email: normalized, password });
    expect(reg.user.id).not.toBe(user!.id);
  });
});
