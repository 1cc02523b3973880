// What the service keeps is bounded: live sessions per user, how long a spent refresh token is
// remembered, what an account leaves behind when deleted; and what it stores is only well-formed
// text, so MongoDB's replacement of lone surrogates can never make two inputs collide.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spentTokensKeptPerSession } from "../../src/sessions/refresh.ts";
import { tokenHash } from "../../src/tokens/opaque.ts";
import { failure, fetchDriver, type Driver } from "../support/drivers.ts";
import { startHarness, type Harness } from "../support/harness.ts";
import { scrape } from "../support/prometheus.ts";
import { rest } from "../support/rest.ts";
import { totp, wrongCode } from "../support/totp.ts";

const password = "correct horse battery staple";
const metricsToken = "bounded-growth-metrics-token-0123456789";
let h: Harness;
let d: Driver;
beforeAll(async () => {
  h = await startHarness({
    EMAIL_VERIFICATION_REQUIRED: "false",
    MAX_SESSIONS_PER_USER: "2",
    REFRESH_REUSE_DETECTION_SECONDS: "3600",
    METRICS_TOKEN: metricsToken,
  });
  d = fetchDriver(h.url, "growth");
});
afterAll(() => h.close());

describe("bounded growth", () => {
  it("a third live session revokes the oldest (MAX_SESSIONS_PER_USER=2)", async () => {
    const email = "many-devices@example.com";
    const first = (await d.call("AuthService/Register", { email, password })).tokens;
    h.clock.advance(1000);
    const second = (await d.call("AuthService/Login", { email, password })).tokens;
    h.clock.advance(1000);
    const third = (await d.call("AuthService/Login", { email, password })).tokens;
    expect((await failure(d.call("AuthService/GetCurrentUser", {}, first.accessToken))).reason).toBe("SESSION_REVOKED");
    const listed = await d.call("SessionService/ListSessions", {}, third.accessToken);
    expect(listed.sessions.map((s: { id: string }) => s.id).sort()).toEqual([second.sessionId, third.sessionId].sort());
  });

  it("a sign-in at or under the cap counts the user's sessions and lists none; over it, lists them to revoke", async () => {
    // Listing every session on every sign-in made a sign-in cost more the more sessions the user
    // held (and, on MongoDB, read them all); the storage metrics say which calls a sign-in made.
    const calls = async () => {
      const m = await scrape(`${h.url}/metrics`, metricsToken);
      const sessions = (operation: string) => m.count("authd_storage_operation_duration_seconds", { collection: "sessions", operation });
      return { counted: sessions("moreLiveThan"), listed: sessions("listLive") };
    };
    const email = "counted@example.com";
    let before = await calls();
    await d.call("AuthService/Register", { email, password }); // one session: under the cap
    h.clock.advance(1000);
    await d.call("AuthService/Login", { email, password }); // two: at the cap
    let after = await calls();
    expect([after.counted - before.counted, after.listed - before.listed]).toEqual([2, 0]);
    before = after;
    h.clock.advance(1000);
    await d.call("AuthService/Login", { email, password }); // three: over it, the oldest goes
    after = await calls();
    expect([after.counted - before.counted, after.listed - before.listed]).toEqual([1, 1]);
  });

  it("a spent refresh token is kept only for the reuse-detection window, and reuse inside it still revokes", async () => {
    const email = "rotating@example.com";
    const tokens = (await d.call("AuthService/Register", { email, password })).tokens;
    const stored = await h.store.refreshTokens.find(tokenHash(tokens.refreshToken));
    expect(stored!.expiresAt.getTime()).toBeGreaterThan(h.clock.now().getTime() + 24 * 3600_000); // the session's life
    await d.call("AuthService/RefreshToken", { refreshToken: tokens.refreshToken });
    const spent = await h.store.refreshTokens.find(tokenHash(tokens.refreshToken));
    expect(spent!.consumedAt).not.toBeNull();
    expect(spent!.expiresAt.getTime()).toBe(h.clock.now().getTime() + 3600_000); // purged after an hour, not a week
    h.clock.advance(30_000); // past the grace window
    const replay = await failure(d.call("AuthService/RefreshToken", { refreshToken: tokens.refreshToken }));
    expect(replay.reason).toBe("REFRESH_REVOKED");
  });

  it(`a session keeps its last ${spentTokensKeptPerSession} spent refresh tokens, however fast it refreshes; an older one is refused but ends nothing`, async () => {
    const email = "fast-refresher@example.com";
    let tokens = (await d.call("AuthService/Register", { email, password })).tokens;
    const spent: string[] = [];
    for (let i = 0; i < spentTokensKeptPerSession + 40; i++) {
      spent.push(tokens.refreshToken);
      tokens = (await d.call("AuthService/RefreshToken", { refreshToken: tokens.refreshToken })).tokens;
    }
    const kept = await Promise.all(spent.map((t) => h.store.refreshTokens.find(tokenHash(t))));
    expect(kept.slice(0, 40).every((t) => t === null)).toBe(true);
    expect(kept.slice(40).every((t) => t !== null && t.consumedAt !== null)).toBe(true);
    h.clock.advance(30_000); // past the grace window
    // Too old to be remembered: refused, and the session lives on.
    expect((await failure(d.call("AuthService/RefreshToken", { refreshToken: spent[0] }))).reason).toBe("INVALID_REFRESH");
    await d.call("AuthService/GetCurrentUser", {}, tokens.accessToken);
    // Remembered: reuse still ends the session.
    expect((await failure(d.call("AuthService/RefreshToken", { refreshToken: spent[40] }))).reason).toBe("REFRESH_REVOKED");
    expect((await failure(d.call("AuthService/GetCurrentUser", {}, tokens.accessToken))).reason).toBe("SESSION_REVOKED");
  });

  it("an ended session's refresh token is remembered for the reuse-detection window, not the rest of its life", async () => {
    const email = "signs-in-and-out@example.com";
    await d.call("AuthService/Register", { email, password });
    const tokens = (await d.call("AuthService/Login", { email, password, rememberMe: true })).tokens;
    const stored = async () => h.store.refreshTokens.find(tokenHash(tokens.refreshToken));
    expect((await stored())!.expiresAt.getTime()).toBeGreaterThan(h.clock.now().getTime() + 7 * 24 * 3600_000);
    await d.call("AuthService/Logout", {}, tokens.accessToken);
    expect((await stored())!.expiresAt.getTime()).toBe(h.clock.now().getTime() + 3600_000);
    // Still the session's end that a refresh hears of, within the window.
    expect((await failure(d.call("AuthService/RefreshToken", { refreshToken: tokens.refreshToken }))).reason).toBe("REFRESH_REVOKED");
    // After it, expired (and purged at the next sweep or by MongoDB's TTL index).
    h.clock.advance(3600_000);
    expect((await failure(d.call("AuthService/RefreshToken", { refreshToken: tokens.refreshToken }))).reason).toBe("REFRESH_EXPIRED");
  });

  it("sessions ended together by a security change keep their refresh tokens for the window too, the caller's its own life", async () => {
    const email = "signs-out-everywhere@example.com";
    await d.call("AuthService/Register", { email, password });
    // A clock step between sign-ins: the cap (2 here) revokes the oldest, the registration's.
    h.clock.advance(1000);
    const kept = (await d.call("AuthService/Login", { email, password, rememberMe: true })).tokens;
    h.clock.advance(1000);
    const ended = (await d.call("AuthService/Login", { email, password, rememberMe: true })).tokens;
    const expiry = async (t: { refreshToken: string }) =>
      (await h.store.refreshTokens.find(tokenHash(t.refreshToken)))!.expiresAt.getTime();
    await d.call("SessionService/RevokeOtherSessions", {}, kept.accessToken);
    expect(await expiry(ended)).toBe(h.clock.now().getTime() + 3600_000);
    expect(await expiry(kept)).toBeGreaterThan(h.clock.now().getTime() + 7 * 24 * 3600_000);
    expect((await failure(d.call("AuthService/RefreshToken", { refreshToken: ended.refreshToken }))).reason).toBe("REFRESH_REVOKED");
  });

  it("DeleteAccount also clears the account's password and second-factor attempt counters", async () => {
    const email = "leaving@example.com";
    const tokens = (await d.call("AuthService/Register", { email, password })).tokens;
    const setup = await d.call("TwoFactorService/Setup", {}, tokens.accessToken);
    await d.call("TwoFactorService/Enable", { code: totp(setup.secret, h.clock.now()) }, tokens.accessToken);
    await failure(d.call("AuthService/Login", { email, password: "a wrong password" }));
    await failure(d.call("TwoFactorService/Verify", { code: wrongCode(setup.secret, h.clock.now()) }, tokens.accessToken));
    const user = (await h.store.users.findByEmail(email))!;
    expect((await h.store.attempts.get(`password:${email}`, h.clock.now())).failures).toBe(1);
    expect((await h.store.attempts.get(`2fa:${user.id}`, h.clock.now())).failures).toBe(1);
    await d.call("AuthService/DeleteAccount", {}, tokens.accessToken);
    expect(await h.store.attempts.get(`password:${email}`, h.clock.now())).toEqual({ failures: 0, lockedUntil: null });
    expect(await h.store.attempts.get(`2fa:${user.id}`, h.clock.now())).toEqual({ failures: 0, lockedUntil: null });
  });
});

describe("strings that are not well-formed UTF-16 are INVALID_ARGUMENT", () => {
  const lone = "\ud800";

  // Over RPC the protocol layer itself refuses them (protobuf strings are UTF-8), before any
  // operation runs.
  // Each row names the account it would have created (with U+FFFD where storage would put it).
  it.each([
    ["AuthService/Register", { email: `ada${lone}@example.com`, password }, "ada\ufffd@example.com"],
    ["AuthService/Register", { email: "ada-name@example.com", password, displayName: `Ada ${lone}` }, "ada-name@example.com"],
    ["AuthService/Login", { email: "x@example.com", password: `${lone}${password}` }, "x@example.com"],
    ["AuthService/RequestPasswordReset", { email: `x${"\udfff"}@example.com` }, "x\ufffd@example.com"],
  ] as const)("RPC %s with a lone surrogate in %j: MALFORMED_REQUEST", async (method, req, account) => {
    const f = await failure(d.call(method, req));
    expect([f.code, f.reason]).toEqual(["invalid_argument", "MALFORMED_REQUEST"]);
    expect(await h.store.users.findByEmail(account)).toBeNull();
  });

  // The legacy REST routes decode plain JSON: the operations' own input checks refuse them, with
  // the field, and nothing is stored.
  it.each([
    ["/api/v1/auth/register", { name: "Ada", email: `legacy${lone}@example.com`, password }, "email", "legacy\ufffd@example.com"],
    [
      "/api/v1/auth/register",
      { name: `Ada ${lone}`, email: "legacy-name@example.com", password },
      "display_name",
      "legacy-name@example.com",
    ],
    [
      "/api/v1/auth/register",
      { name: "Ada", email: "legacy-pw@example.com", password: `${password}${lone}` },
      "password",
      "legacy-pw@example.com",
    ],
    ["/api/v1/auth/login", { email: `legacy${lone}@example.com`, password }, "email", "legacy\ufffd@example.com"],
    ["/api/v1/auth/login", { email: "legacy-login@example.com", password: `${lone}${password}` }, "password", "legacy-login@example.com"],
  ] as const)("REST %s with a lone surrogate in %j: INVALID_ARGUMENT naming the field", async (path, body, field, account) => {
    const res = await rest(h, "POST", path, { body });
    expect(res.status).toBe(400);
    expect(res.body.code).toBe("INVALID_ARGUMENT");
    expect(res.body.message).toContain(field);
    expect(await h.store.users.findByEmail(account)).toBeNull();
    // Not even a failed-guess record: the input was refused before anything looked it up.
    expect(await h.store.attempts.get(`password:${account}`, h.clock.now())).toEqual({ failures: 0, lockedUntil: null });
  });

  it("a device name over REST", async () => {
    const email = "surrogates@example.com";
    const tokens = (await d.call("AuthService/Register", { email, password })).tokens;
    const setup = await rest(h, "GET", "/totp/setup", { token: tokens.accessToken });
    const secret = setup.body.secret as string;
    const res = await rest(h, "POST", "/totp/enable", {
      token: tokens.accessToken,
      body: { secret, otp: totp(secret, h.clock.now()), deviceName: `Phone ${lone}` },
    });
    expect([res.status, res.body.code]).toEqual([400, "INVALID_ARGUMENT"]);
    expect((await d.call("TwoFactorService/GetStatus", {}, tokens.accessToken)).enabled ?? false).toBe(false);
  });
});
