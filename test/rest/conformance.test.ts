// The conformance suite of the legacy REST paths: for each of the five documents described in
// docs/legacy-rest/, a realistic walk through its endpoints (register, verify, login, 2FA with
// codes computed in the test, the second login step, sessions, revoke, logout…), asserting the
// documented status and every documented response field, in the document's envelope.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectDriver } from "../support/drivers.ts";
import { grpcTransport, startHarness, type Harness } from "../support/harness.ts";
import { rest, sessionCookie, type Json } from "../support/rest.ts";
import { decodeQrDataUrl, totp, wrongCode } from "../support/totp.ts";

const password = "correct horse battery staple";
const newPassword = "a brand new passphrase";
const isoDate = expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
const jwt = expect.stringMatching(/^[\w-]+\.[\w-]+\.[\w-]+$/);
const opaque = expect.stringMatching(/^[\w-]{40,}$/);

let h: Harness; // email verification on (the default)
let open: Harness; // email verification off: register signs in
beforeAll(async () => {
  [h, open] = await Promise.all([startHarness(), startHarness({ EMAIL_VERIFICATION_REQUIRED: "false" })]);
});
afterAll(async () => {
  await Promise.all([h?.close(), open?.close()]);
});

const step = (x: Harness) => x.clock.advance(30_000);

describe("api-v1.md at /api/v1: { data, message }", () => {
  const email = "john@example.com";
  let access: string;
  let refresh: string;
  let secret: string;
  let recovery: string[];

  it("POST /auth/register → 201 { data: { user: { id, email } }, message }", async () => {
    const res = await rest(h, "POST", "/api/v1/auth/register", { body: { name: "John Doe", email, password } });
    expect(res.status).toBe(201);
    expect(res.body).toEqual({
      data: { user: expect.objectContaining({ id: expect.any(String), email, name: "John Doe" }) },
      message: "Verify your email.",
    });
  });

  it("login before verification is refused in the document's error shape", async () => {
    const res = await rest(h, "POST", "/api/v1/auth/login", { body: { email, password } });
    expect(res.status).toBe(403);
    expect(res.body).toEqual({ message: expect.any(String), code: "EMAIL_NOT_VERIFIED" });
  });

  it("POST /auth/resend-verification and POST /auth/verify/email?code=", async () => {
    const resend = await rest(h, "POST", "/api/v1/auth/resend-verification", { body: { email } });
    expect(resend.status).toBe(200);
    expect(resend.body).toEqual({ message: expect.any(String) });
    await h.server.deps.background.drain();
    const code = (await h.mail(email, "email_verification")).code;
    const res = await rest(h, "POST", `/api/v1/auth/verify/email?code=${encodeURIComponent(code)}`);
    expect(res.status).toBe(200);
    expect(res.body.data.user).toMatchObject({ email, emailVerified: true });
    expect(res.body.message).toEqual(expect.any(String));
  });

  it("POST /auth/login → { data: { accessToken, refreshToken }, message: 'Login successful' }", async () => {
    const res = await rest(h, "POST", "/api/v1/auth/login", { body: { email, password } });
    expect(res.status).toBe(200);
    expect(res.body.message).toBe("Login successful");
    expect(res.body.data).toMatchObject({ accessToken: jwt, refreshToken: opaque });
    ({ accessToken: access, refreshToken: refresh } = res.body.data);
  });

  it("GET /auth/me → the user profile; POST /auth/refresh → { data: { accessToken, refreshToken } }", async () => {
    const me = await rest(h, "GET", "/api/v1/auth/me", { token: access });
    expect(me.status).toBe(200);
    expect(me.body.data).toMatchObject({
      id: expect.any(String),
      email,
      name: "John Doe",
      emailVerified: true,
      twoFactorEnabled: false,
      createdAt: isoDate,
    });
    const r = await rest(h, "POST", "/api/v1/auth/refresh", { body: { refreshToken: refresh } });
    expect(r.status).toBe(200);
    expect(r.body.data).toMatchObject({ accessToken: jwt, refreshToken: opaque });
    ({ accessToken: access, refreshToken: refresh } = r.body.data);
  });

  it("2FA: setup → { data: { otpAuthUrl, qrCode } }, enable → { data: { recoveryCodes } }, verify, status", async () => {
    const setup = await rest(h, "POST", "/api/v1/auth/2fa/setup", { token: access });
    expect(setup.status).toBe(200);
    expect(setup.body).toMatchObject({
      data: { otpAuthUrl: expect.stringMatching(/^otpauth:\/\/totp\//), qrCode: expect.stringMatching(/^data:image\/png;base64,/) },
      message: "Scan QR and verify OTP",
    });
    expect(decodeQrDataUrl(setup.body.data.qrCode)).toBe(setup.body.data.otpAuthUrl);
    secret = new URL(setup.body.data.otpAuthUrl).searchParams.get("secret") ?? "";
    const enable = await rest(h, "POST", "/api/v1/auth/2fa/enable", { token: access, body: { otp: totp(secret, h.clock.now()) } });
    expect(enable.status).toBe(200);
    expect(enable.body.message).toBe("2FA enabled — save recovery codes");
    recovery = enable.body.data.recoveryCodes;
    expect(recovery).toHaveLength(10);
    step(h);
    const verify = await rest(h, "POST", "/api/v1/auth/2fa/verify", { token: access, body: { otp: totp(secret, h.clock.now()) } });
    expect(verify.status).toBe(200);
    expect(verify.body).toEqual({ message: "OTP verified" });
    const status = await rest(h, "GET", "/api/v1/auth/2fa/status", { token: access });
    expect(status.body).toMatchObject({ data: { enabled: true, enabledAt: isoDate }, message: "2FA status" });
  });

  it("login with 2FA → { data: { mfaRequired: true } }; again with loginCode or recoveryCode → tokens", async () => {
    const first = await rest(h, "POST", "/api/v1/auth/login", { body: { email, password } });
    expect(first.status).toBe(200);
    expect(first.body).toEqual({ data: { mfaRequired: true }, message: "2FA code required" });
    step(h);
    const withCode = await rest(h, "POST", "/api/v1/auth/login", { body: { email, password, loginCode: totp(secret, h.clock.now()) } });
    expect(withCode.status).toBe(200);
    expect(withCode.body.data).toMatchObject({ accessToken: jwt, refreshToken: opaque });
    const withRecovery = await rest(h, "POST", "/api/v1/auth/login", { body: { email, password, recoveryCode: recovery[0] } });
    expect(withRecovery.body.data).toMatchObject({ accessToken: jwt });
  });

  it("5 wrong codes → 423 Locked with the reason and Retry-After", async () => {
    step(h);
    const bad = wrongCode(secret, h.clock.now());
    for (let i = 0; i < 5; i++) {
      const res = await rest(h, "POST", "/api/v1/auth/login", { body: { email, password, loginCode: bad } });
      expect(res.status).toBe(401);
      expect(res.body.code).toBe("INVALID_TWO_FACTOR_CODE");
    }
    const locked = await rest(h, "POST", "/api/v1/auth/login", { body: { email, password, loginCode: totp(secret, h.clock.now()) } });
    expect(locked.status).toBe(423);
    expect(locked.body).toEqual({ message: expect.stringContaining("locked"), code: "TWO_FACTOR_LOCKED" });
    expect(locked.headers.get("retry-after")).toBe("900");
    h.clock.advance(15 * 60_000);
    access = (await rest(h, "POST", "/api/v1/auth/login", { body: { email, password, loginCode: totp(secret, h.clock.now()) } })).body.data
      .accessToken;
  });

  it("sessions: GET /sessions, DELETE /sessions/:id, DELETE /sessions (all others)", async () => {
    const list = await rest(h, "GET", "/api/v1/sessions", { token: access });
    expect(list.status).toBe(200);
    expect(list.body.data.length).toBeGreaterThanOrEqual(3);
    expect(list.body.data[0]).toEqual({
      id: expect.any(String),
      ipAddress: expect.any(String),
      userAgent: "legacy-client/1.0",
      createdAt: isoDate,
      lastActiveAt: isoDate,
      expiresAt: isoDate,
      current: expect.any(Boolean),
    });
    const other = list.body.data.find((s: Json) => !s.current);
    const del = await rest(h, "DELETE", `/api/v1/sessions/${other.id}`, { token: access });
    expect(del.status).toBe(200);
    expect(del.body.message).toEqual(expect.any(String));
    const again = await rest(h, "DELETE", `/api/v1/sessions/${other.id}`, { token: access });
    expect(again.status).toBe(404);
    expect(again.body.code).toBe("NOT_FOUND");
    const all = await rest(h, "DELETE", "/api/v1/sessions", { token: access });
    expect(all.status).toBe(200);
    expect(all.body.data.revokedCount).toBeGreaterThanOrEqual(1);
    expect((await rest(h, "GET", "/api/v1/sessions", { token: access })).body.data).toHaveLength(1);
  });

  it("accounts: GET /accounts lists the password credential; DELETE /accounts/:id refuses the last one", async () => {
    const list = await rest(h, "GET", "/api/v1/accounts", { token: access });
    expect(list.status).toBe(200);
    expect(list.body.data).toEqual([{ id: "password", provider: "password", providerAccountId: email, email, createdAt: isoDate }]);
    const del = await rest(h, "DELETE", "/api/v1/accounts/password", { token: access });
    expect(del.status).toBe(409);
    expect(del.body.code).toBe("LAST_SIGN_IN_METHOD");
  });

  it("2FA disable, password reset (forgot + reset?code=), logout, healthcheck", async () => {
    const disable = await rest(h, "POST", "/api/v1/auth/2fa/disable", { token: access, body: { password } });
    expect(disable.status).toBe(200);
    expect(disable.body).toEqual({ message: "2FA disabled" });
    const forgot = await rest(h, "POST", "/api/v1/auth/forgot-password", { body: { email } });
    expect(forgot.status).toBe(200);
    await h.server.deps.background.drain();
    const code = (await h.mail(email, "password_reset")).code;
    const reset = await rest(h, "POST", `/api/v1/auth/reset-password?code=${encodeURIComponent(code)}`, {
      body: { password: newPassword },
    });
    expect(reset.status).toBe(200);
    expect((await rest(h, "GET", "/api/v1/auth/me", { token: access })).status).toBe(401); // a reset ends every session
    const login = await rest(h, "POST", "/api/v1/auth/login", { body: { email, password: newPassword } });
    access = login.body.data.accessToken;
    const logout = await rest(h, "POST", "/api/v1/auth/logout", { token: access });
    expect(logout.status).toBe(200);
    const after = await rest(h, "GET", "/api/v1/auth/me", { token: access });
    expect(after.status).toBe(401);
    expect(after.body).toEqual({ message: expect.any(String), code: "SESSION_REVOKED" });
    const health = await rest(h, "GET", "/api/v1/healthcheck");
    expect(health.status).toBe(200);
    expect(health.body.data).toEqual({ status: "ok" });
  });
});

describe("api-auth-security.md and api-auth-2fa.md at /api/auth", () => {
  const email = "sec@example.com";
  let access: string;
  let secret: string;

  it("POST /register → 201, POST /login → tokens ({ success, data } and top-level), POST /verify, GET /profile", async () => {
    const reg = await rest(open, "POST", "/api/auth/register", { body: { email, password } });
    expect(reg.status).toBe(201);
    expect(reg.body).toMatchObject({ success: true, data: { user: { id: expect.any(String), email } }, message: expect.any(String) });
    const login = await rest(open, "POST", "/api/auth/login", { body: { email, password } });
    expect(login.status).toBe(200);
    expect(login.body).toMatchObject({
      success: true,
      accessToken: jwt,
      refreshToken: opaque,
      data: { accessToken: jwt, refreshToken: opaque },
      message: "Login successful",
    });
    access = login.body.accessToken;
    const verify = await rest(open, "POST", "/api/auth/verify", { token: access });
    expect(verify.body).toMatchObject({ success: true, data: { id: expect.any(String), email } });
    const profile = await rest(open, "GET", "/api/auth/profile", { token: access });
    expect(profile.body).toEqual({
      success: true,
      data: {
        id: expect.any(String),
        email,
        display_name: "",
        email_verified: false,
        two_factor_enabled: false,
        created_at: isoDate,
        updated_at: isoDate,
      },
    });
  });

  it("PATCH /profile { display_name } → { success, data: UserProfile }; POST /change-password → { success: true }", async () => {
    const patch = await rest(open, "PATCH", "/api/auth/profile", { token: access, body: { display_name: "Sec Ure" } });
    expect(patch.status).toBe(200);
    expect(patch.body).toMatchObject({ success: true, data: { display_name: "Sec Ure", email } });
    const change = await rest(open, "POST", "/api/auth/change-password", {
      token: access,
      body: { current_password: password, new_password: newPassword },
    });
    expect(change.status).toBe(200);
    expect(change.body.success).toBe(true);
    const wrong = await rest(open, "POST", "/api/auth/change-password", {
      token: access,
      body: { current_password: "not it at all", new_password: password },
    });
    expect(wrong.status).toBe(401);
    expect(wrong.body).toEqual({ success: false, message: expect.any(String), code: "INVALID_CREDENTIALS" });
  });

  it("POST /2fa/setup → { success, data: { secret, qr_code } }; POST /2fa/verify { code } enables it", async () => {
    const setup = await rest(open, "POST", "/api/auth/2fa/setup", { token: access });
    expect(setup.body).toMatchObject({
      success: true,
      data: { secret: expect.stringMatching(/^[A-Z2-7]{32}$/), qr_code: expect.stringMatching(/^data:image\/png;base64,/) },
    });
    secret = setup.body.data.secret;
    expect(decodeQrDataUrl(setup.body.data.qr_code)).toContain(`secret=${secret}`);
    const verify = await rest(open, "POST", "/api/auth/2fa/verify", { token: access, body: { code: totp(secret, open.clock.now()) } });
    expect(verify.status).toBe(200);
    expect(verify.body).toMatchObject({ success: true, data: { recovery_codes: expect.any(Array) } });
  });

  it("POST /login → temp token; POST /login/2fa { otp, tempToken } → tokens; POST /refresh", async () => {
    const login = await rest(open, "POST", "/api/auth/login", { body: { email, password: newPassword } });
    expect(login.body).toMatchObject({ success: true, twoFactorRequired: true, tempToken: opaque });
    expect(login.body.accessToken).toBeUndefined();
    step(open);
    const second = await rest(open, "POST", "/api/auth/login/2fa", {
      body: { otp: totp(secret, open.clock.now()), tempToken: login.body.tempToken },
    });
    expect(second.status).toBe(200);
    expect(second.body).toMatchObject({ accessToken: jwt, refreshToken: opaque, message: expect.any(String) });
    access = second.body.accessToken;
    const refreshed = await rest(open, "POST", "/api/auth/refresh", { body: { refreshToken: second.body.refreshToken } });
    expect(refreshed.body).toMatchObject({ accessToken: jwt, refreshToken: opaque });
  });

  it("POST /2fa/generate needs the password and shows the existing secret; /2fa/reset then /2fa/confirm replaces it", async () => {
    const none = await rest(open, "POST", "/api/auth/2fa/generate", { token: access, body: {} });
    expect(none.status).toBe(400);
    expect(none.body).toMatchObject({ success: false, code: "INVALID_ARGUMENT" });
    const gen = await rest(open, "POST", "/api/auth/2fa/generate", { token: access, body: { password: newPassword } });
    expect(gen.body).toMatchObject({
      otpauthUrl: expect.stringContaining(secret),
      qrCodeDataURL: expect.stringMatching(/^data:image\/png/),
      message: expect.any(String),
    });
    const reset = await rest(open, "POST", "/api/auth/2fa/reset", { token: access, body: { password: newPassword } });
    expect(reset.body).toMatchObject({
      message: "2FA reset successfully",
      otpauthUrl: expect.stringMatching(/^otpauth:/),
      qrCodeDataURL: expect.stringMatching(/^data:image\/png/),
    });
    const next = new URL(reset.body.otpauthUrl).searchParams.get("secret") ?? "";
    step(open);
    const confirm = await rest(open, "POST", "/api/auth/2fa/confirm", { token: access, body: { otp: totp(next, open.clock.now()) } });
    expect(confirm.body).toMatchObject({ message: "2FA enabled successfully", twoFactorEnabled: true });
    secret = next;
  });

  it("sessions: GET /sessions → { success, data: [Session] }, DELETE /sessions/:session_id, POST /sessions/revoke-all", async () => {
    await rest(open, "POST", "/api/auth/login", { body: { email, password: newPassword, loginCode: totp(secret, open.clock.now(), 1) } });
    const list = await rest(open, "GET", "/api/auth/sessions", { token: access });
    expect(list.body.success).toBe(true);
    expect(list.body.data[0]).toMatchObject({
      id: expect.any(String),
      ip_address: expect.any(String),
      user_agent: "legacy-client/1.0",
      created_at: isoDate,
      is_current: expect.any(Boolean),
    });
    const other = list.body.data.find((s: Json) => !s.is_current);
    const del = await rest(open, "DELETE", `/api/auth/sessions/${other.id}`, { token: access });
    expect(del.body).toMatchObject({ success: true });
    const all = await rest(open, "POST", "/api/auth/sessions/revoke-all", { token: access });
    expect(all.body.success).toBe(true);
  });

  it("POST /2fa/disable takes either document's body: { code } or { password }, and answers with both shapes' fields", async () => {
    step(open);
    step(open); // past the step whose code the previous sign-in spent
    // `code` and `otp` are one proof under the two documents' names: given both, it is refused, not
    // settled by taking one (a layer in front may read the other, here a wrong code), and nothing
    // is spent: the same right code then turns 2FA off.
    const code = totp(secret, open.clock.now());
    for (const body of [
      { otp: wrongCode(secret, open.clock.now()), code },
      { code, otp: wrongCode(secret, open.clock.now()) },
    ]) {
      const both = await rest(open, "POST", "/api/auth/2fa/disable", { token: access, body });
      expect(both.status).toBe(400);
      expect(both.body).toMatchObject({ success: false, code: "INVALID_ARGUMENT" });
      const v1 = await rest(open, "POST", "/api/v1/auth/2fa/disable", { token: access, body });
      expect(v1.status).toBe(400);
      expect(v1.body.code).toBe("INVALID_ARGUMENT");
    }
    expect((await rest(open, "GET", "/api/v1/auth/2fa/status", { token: access })).body.data.enabled).toBe(true);
    const byCode = await rest(open, "POST", "/api/auth/2fa/disable", { token: access, body: { code } });
    expect(byCode.status).toBe(200);
    expect(byCode.body).toEqual({ success: true, message: "2FA disabled successfully", twoFactorEnabled: false });
    const again = await rest(open, "POST", "/api/auth/2fa/generate", { token: access, body: { password: newPassword } });
    const s2 = new URL(again.body.otpauthUrl).searchParams.get("secret") ?? "";
    await rest(open, "POST", "/api/auth/2fa/confirm", { token: access, body: { otp: totp(s2, open.clock.now()) } });
    const byPassword = await rest(open, "POST", "/api/auth/2fa/disable", { token: access, body: { password: newPassword } });
    expect(byPassword.body).toEqual({ success: true, message: "2FA disabled successfully", twoFactorEnabled: false });
  });
});

describe("root-auth-totp.md at /: top-level fields, { statusCode, message, error } errors", () => {
  const email = "totp@example.com";
  let token: string;
  let secret: string;
  let deviceId: string;

  it("POST /auth/register → 201 { message, user: { id, email, is2FAEnabled } }; validation errors list messages", async () => {
    const reg = await rest(open, "POST", "/auth/register", { body: { email, password } });
    expect(reg.status).toBe(201);
    expect(reg.body).toMatchObject({ message: expect.any(String), user: { id: expect.any(String), email, is2FAEnabled: false } });
    const bad = await rest(open, "POST", "/auth/register", { body: { email: "not an email", password } });
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ statusCode: 400, message: [expect.any(String)], error: "Bad Request", code: "INVALID_ARGUMENT" });
  });

  it("POST /auth/login → { token, requires2FA: false, user: { id, email } }; wrong password → 401 'Unauthorized'", async () => {
    const login = await rest(open, "POST", "/auth/login", { body: { email, password } });
    expect(login.status).toBe(200);
    expect(login.body).toMatchObject({ token: jwt, requires2FA: false, user: { id: expect.any(String), email } });
    token = login.body.token;
    const wrong = await rest(open, "POST", "/auth/login", { body: { email, password: "not the password" } });
    expect(wrong.status).toBe(401);
    expect(wrong.body).toMatchObject({
      statusCode: 401,
      message: "invalid email or password",
      error: "Unauthorized",
      code: "INVALID_CREDENTIALS",
    });
  });

  it("GET /totp/setup → { secret, qrCodeUrl }; POST /totp/enable { secret, otp, deviceName } → 201 { message, device }", async () => {
    const setup = await rest(open, "GET", "/totp/setup", { token });
    expect(setup.status).toBe(200);
    expect(setup.body).toMatchObject({
      secret: expect.stringMatching(/^[A-Z2-7]{32}$/),
      qrCodeUrl: expect.stringMatching(/^otpauth:\/\/totp\//),
    });
    secret = setup.body.secret;
    const enable = await rest(open, "POST", "/totp/enable", {
      token,
      body: { secret, otp: totp(secret, open.clock.now()), deviceName: "iPhone 15" },
    });
    expect(enable.status).toBe(201);
    expect(enable.body).toMatchObject({
      message: expect.any(String),
      device: { id: expect.any(String), name: "iPhone 15", createdAt: isoDate },
    });
    deviceId = enable.body.device.id;
  });

  it("POST /auth/login → { token, requires2FA: true }; POST /auth/verify-otp (Bearer token) { otp } → { accessToken, user }", async () => {
    const login = await rest(open, "POST", "/auth/login", { body: { email, password, remember_me: true } });
    expect(login.body).toMatchObject({ token: opaque, requires2FA: true, user: { id: expect.any(String), email } });
    const wrong = await rest(open, "POST", "/auth/verify-otp", {
      token: login.body.token,
      body: { otp: wrongCode(secret, open.clock.now()) },
    });
    expect(wrong.status).toBe(401);
    expect(wrong.body).toMatchObject({
      statusCode: 401,
      message: expect.any(String),
      error: "Unauthorized",
      code: "INVALID_TWO_FACTOR_CODE",
    });
    step(open);
    const ok = await rest(open, "POST", "/auth/verify-otp", { token: login.body.token, body: { otp: totp(secret, open.clock.now()) } });
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ accessToken: jwt, user: { id: expect.any(String), email } });
    // remember_me from the first step makes the session cookie last as long as the session (30 days).
    expect(ok.headers.get("set-cookie")).toMatch(/^session=[\w-]+\.[\w-]+;.*Max-Age=2592000/);
    token = ok.body.accessToken;
  });

  it("devices: GET /totp/devices, POST /totp/devices (a secret for a new device), DELETE /totp/devices/:id", async () => {
    const list = await rest(open, "GET", "/totp/devices", { token });
    expect(list.body).toEqual({ devices: [{ id: deviceId, name: "iPhone 15", createdAt: isoDate, lastUsedAt: isoDate }] });
    // While 2FA is on, a new secret needs the password, which GET /totp/setup cannot carry.
    const setup = await rest(open, "GET", "/totp/setup", { token });
    expect(setup.status).toBe(400);
    expect(setup.body).toMatchObject({ statusCode: 400, error: "Bad Request", code: "INVALID_ARGUMENT" });
    // The same account's RPC (the same operation) issues one with the password.
    const rpc = connectDriver("rpc", grpcTransport(open.url), "rpc");
    const pending = await rpc.call("TwoFactorService/Setup", { additionalDevice: true, password }, token);
    step(open);
    const add = await rest(open, "POST", "/totp/devices", {
      token,
      body: { secret: pending.secret, otp: totp(pending.secret, open.clock.now()), deviceName: "iPad" },
    });
    expect(add.status).toBe(201);
    expect(add.body).toMatchObject({ message: expect.any(String), device: { id: expect.any(String), name: "iPad", createdAt: isoDate } });
    const del = await rest(open, "DELETE", `/totp/devices/${add.body.device.id}`, { token });
    expect(del.status).toBe(200);
    expect(del.body).toEqual({ message: "Device removed successfully" });
    const last = await rest(open, "DELETE", `/totp/devices/${deviceId}`, { token });
    expect(last.status).toBe(409);
    expect(last.body).toMatchObject({ statusCode: 409, error: "Conflict", code: "LAST_DEVICE" });
  });

  it("POST /totp/disable { otp } → { message: '2FA disabled successfully' }", async () => {
    step(open);
    const res = await rest(open, "POST", "/totp/disable", { token, body: { otp: totp(secret, open.clock.now()) } });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ message: "2FA disabled successfully" });
  });
});

describe("auth-router.md at /auth: snake_case fields, { error, code, details } errors, the session cookie", () => {
  const email = "router@example.com";
  let access: string;
  let refresh: string;
  let cookie: string;

  it("POST /auth/register → 201 { user, message, access_token }", async () => {
    const res = await rest(open, "POST", "/auth/register", { body: { email, password, name: "Ro Uter" } });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      user: { id: expect.any(String), email, name: "Ro Uter", role: "user", created_at: isoDate },
      message: expect.any(String),
      access_token: jwt,
    });
  });

  it("POST /auth/login → { access_token, refresh_token, token_type, expires_in, user } and a 30-day HttpOnly SameSite=Lax Secure cookie with remember_me", async () => {
    const res = await rest(open, "POST", "/auth/login", { body: { email, password, remember_me: true } });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      access_token: jwt,
      refresh_token: opaque,
      token_type: "Bearer",
      expires_in: 900,
      user: { id: expect.any(String), email, role: "user", created_at: isoDate },
    });
    const setCookie = res.headers.getSetCookie().find((c) => c.startsWith("session=")) ?? "";
    expect(setCookie).toMatch(/^session=[\w-]+\.[\w-]+;/);
    expect(setCookie).toMatch(/HttpOnly/i);
    expect(setCookie).toMatch(/SameSite=Lax/i);
    expect(setCookie).toMatch(/Secure/i);
    expect(setCookie).toMatch(/Max-Age=2592000/);
    cookie = sessionCookie(res);
    ({ access_token: access, refresh_token: refresh } = res.body);
    const plain = await rest(open, "POST", "/auth/login", { body: { email, password } });
    // A browser-session cookie (the known-device cookie beside it keeps its own lifetime).
    expect(plain.headers.getSetCookie().find((c) => c.startsWith("session="))).not.toMatch(/Max-Age/);
  });

  it("GET /auth/me works with the cookie alone, and with the Bearer token", async () => {
    const byCookie = await rest(open, "GET", "/auth/me", { cookie });
    expect(byCookie.status).toBe(200);
    expect(byCookie.body).toEqual({ id: expect.any(String), email, name: "Ro Uter", role: "user", created_at: isoDate });
    expect((await rest(open, "GET", "/auth/me", { token: access })).body.email).toBe(email);
    const forged = await rest(open, "GET", "/auth/me", { cookie: cookie.replace(/\.[\w-]+$/, ".AAAA") });
    expect(forged.status).toBe(401);
    expect(forged.body).toMatchObject({ error: expect.any(String), code: "INVALID_TOKEN" });
  });

  it("role is the user's role (not always user), at once; GetCurrentUser lists every role", async () => {
    const user = await open.store.users.findByEmail(email);
    await open.store.users.update(user!.id, { roles: ["admin", "user"] });
    try {
      expect((await rest(open, "GET", "/auth/me", { cookie })).body.role).toBe("admin");
      const me = await connectDriver("connect-grpc", grpcTransport(open.url), "roles").call("AuthService/GetCurrentUser", {}, access);
      expect(me.user.roles).toEqual(["admin", "user"]);
    } finally {
      await open.store.users.update(user!.id, { roles: ["user"] });
    }
    expect((await rest(open, "GET", "/auth/me", { cookie })).body.role).toBe("user");
  });

  it("cookie-authenticated writes from another site are refused (CSRF); same-site and Bearer calls work", async () => {
    const cross = await rest(open, "POST", "/auth/password", {
      cookie,
      headers: { origin: "https://evil.example" },
      body: { current_password: password, new_password: newPassword },
    });
    expect(cross.status).toBe(403);
    expect(cross.body).toMatchObject({ code: "CSRF_REJECTED" });
    const fetchSite = await rest(open, "DELETE", "/auth/sessions/all", { cookie, headers: { "sec-fetch-site": "cross-site" } });
    expect(fetchSite.status).toBe(403);
    // The one documented GET that changes state (it issues a secret) is checked like a write.
    const setup = await rest(open, "GET", "/totp/setup", { cookie, headers: { origin: "https://evil.example" } });
    expect(setup.status).toBe(403);
    expect(setup.body.code).toBe("CSRF_REJECTED");
    expect(await open.store.twoFactor.get(JSON.parse(Buffer.from(access.split(".")[1] ?? "", "base64url").toString()).sub)).toBeNull();
    // Reads by cookie need no Origin.
    expect((await rest(open, "GET", "/auth/me", { cookie, headers: { origin: "https://evil.example" } })).status).toBe(200);
    const same = await rest(open, "POST", "/auth/password", {
      cookie,
      headers: { origin: open.url },
      body: { current_password: password, new_password: newPassword },
    });
    expect(same.status).toBe(204);
    expect(same.body).toBeUndefined();
    const bearer = await rest(open, "POST", "/auth/password", {
      token: access,
      headers: { origin: "https://evil.example" },
      body: { current_password: newPassword, new_password: password },
    });
    expect(bearer.status).toBe(204);
  });

  it("GET /auth/sessions → [SessionResponse]; DELETE /auth/sessions/:id → 204; DELETE /auth/sessions/all → { revoked }", async () => {
    const second = (await rest(open, "POST", "/auth/login", { body: { email, password } })).body.access_token;
    const list = await rest(open, "GET", "/auth/sessions", { token: access });
    expect(list.status).toBe(200);
    expect(Array.isArray(list.body)).toBe(true);
    expect(list.body[0]).toEqual({
      id: expect.any(String),
      device: "legacy-client/1.0",
      ip_address: expect.any(String),
      last_active: isoDate,
      created_at: isoDate,
      is_current: expect.any(Boolean),
    });
    const secondId = JSON.parse(Buffer.from(second.split(".")[1], "base64url").toString()).sid;
    const del = await rest(open, "DELETE", `/auth/sessions/${secondId}`, { token: access });
    expect(del.status).toBe(204);
    const missing = await rest(open, "DELETE", `/auth/sessions/${secondId}`, { token: access });
    expect(missing.status).toBe(404);
    expect(missing.body).toMatchObject({ error: expect.any(String), code: "NOT_FOUND" });
    await rest(open, "POST", "/auth/login", { body: { email, password } });
    const all = await rest(open, "DELETE", "/auth/sessions/all", { token: access });
    expect(all.status).toBe(200);
    expect(all.body).toEqual({ revoked: expect.any(Number) });
    expect(all.body.revoked).toBeGreaterThanOrEqual(1);
  });

  it("POST /auth/refresh { refresh_token } → { access_token, refresh_token, token_type, expires_in }", async () => {
    const res = await rest(open, "POST", "/auth/refresh", { body: { refresh_token: refresh } });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ access_token: jwt, refresh_token: opaque, token_type: "Bearer", expires_in: 900 });
    access = res.body.access_token;
    step(open); // past the grace window, in which a replay would get the same pair back
    const reused = await rest(open, "POST", "/auth/refresh", { body: { refresh_token: refresh } });
    expect(reused.status).toBe(401);
    expect(reused.body).toMatchObject({ error: expect.any(String), code: "REFRESH_REVOKED" });
  });

  it("POST /auth/logout → 204 and clears the cookie, which then stops working; DELETE /auth/me → 204", async () => {
    const login = await rest(open, "POST", "/auth/login", { body: { email, password } });
    const c = sessionCookie(login);
    const out = await rest(open, "POST", "/auth/logout", { cookie: c, headers: { origin: open.url } });
    expect(out.status).toBe(204);
    expect(out.headers.get("set-cookie")).toMatch(/^session=;.*Max-Age=0/);
    expect((await rest(open, "GET", "/auth/me", { cookie: c })).status).toBe(401);
    const token = (await rest(open, "POST", "/auth/login", { body: { email, password } })).body.access_token;
    const gone = await rest(open, "DELETE", "/auth/me", { token });
    expect(gone.status).toBe(204);
    expect((await rest(open, "POST", "/auth/login", { body: { email, password } })).status).toBe(401);
  });
});
