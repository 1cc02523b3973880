// Every path of the five legacy documents in ../shared/legacy-api, declared. A route only maps:
// request fields to an operation's arguments, and the result to what its documents show. Rules
// (validation, limits, sessions, 2FA) live in the operations, shared with the RPCs.

import type { LinkedAccount, LoginResult } from "../accounts/accounts.ts";
import type { ClientInfo } from "../domain.ts";
import { AuthError } from "../errors.ts";
import type { TokenPair } from "../sessions/sessions.ts";
import type { SessionRecord } from "../store/port.ts";
import type { Device, Enrolment } from "../totp/two-factor.ts";
import type { Operations, Route, RouteInput, RouteUser } from "./route.ts";

// ---- how each document shows the service's records ----

const iso = (d: Date | null | undefined) => (d === null || d === undefined ? null : d.toISOString());

/** api-v1 and api-auth-2fa: camelCase. */
const userCamel = (u: RouteUser) => ({
  id: u.id,
  email: u.email,
  name: u.displayName,
  emailVerified: u.emailVerified,
  twoFactorEnabled: u.twoFactorEnabled,
  createdAt: iso(u.createdAt),
  updatedAt: iso(u.updatedAt),
});

/** api-auth-security's UserProfile: snake_case, like its request fields. */
const userSnake = (u: RouteUser) => ({
  id: u.id,
  email: u.email,
  display_name: u.displayName,
  email_verified: u.emailVerified,
  two_factor_enabled: u.twoFactorEnabled,
  created_at: iso(u.createdAt),
  updated_at: iso(u.updatedAt),
});

/** auth-router's UserResponse. Every account has the role "user". */
const userRouter = (u: RouteUser) => ({
  id: u.id,
  email: u.email,
  ...(u.displayName === "" ? {} : { name: u.displayName }),
  role: "user",
  created_at: iso(u.createdAt),
});

const tokensCamel = (t: TokenPair) => ({
  accessToken: t.accessToken,
  refreshToken: t.refreshToken,
  tokenType: t.tokenType,
  expiresIn: t.expiresIn,
});

const tokensSnake = (t: TokenPair) => ({
  access_token: t.accessToken,
  refresh_token: t.refreshToken,
  token_type: t.tokenType,
  expires_in: t.expiresIn,
});

type ListedSession = SessionRecord & { current: boolean };

const sessionCamel = (s: ListedSession) => ({
  id: s.id,
  ipAddress: s.ipAddress,
  userAgent: s.userAgent,
  createdAt: iso(s.createdAt),
  lastActiveAt: iso(s.lastActiveAt),
  expiresAt: iso(s.expiresAt),
  current: s.current,
});

const sessionSnake = (s: ListedSession) => ({
  id: s.id,
  ip_address: s.ipAddress,
  user_agent: s.userAgent,
  created_at: iso(s.createdAt),
  last_active_at: iso(s.lastActiveAt),
  expires_at: iso(s.expiresAt),
  is_current: s.current,
});

/** auth-router's SessionResponse. */
const sessionRouter = (s: ListedSession) => ({
  id: s.id,
  device: s.userAgent === "" ? null : s.userAgent,
  ip_address: s.ipAddress === "" ? null : s.ipAddress,
  last_active: iso(s.lastActiveAt),
  created_at: iso(s.createdAt),
  is_current: s.current,
});

const linkedCamel = (a: LinkedAccount) => ({
  id: a.id,
  provider: a.provider,
  providerAccountId: a.providerAccountId,
  createdAt: iso(a.createdAt),
});

const deviceCamel = (d: Device) => ({ id: d.id, name: d.name, createdAt: iso(d.createdAt), lastUsedAt: iso(d.lastUsedAt) });

// ---- shared steps ----

function login(input: RouteInput, ops: Operations, codeField: string, rememberField = "rememberMe"): Promise<LoginResult> {
  return ops.accounts.login(
    {
      email: input.body.str("email"),
      password: input.body.str("password"),
      rememberMe: input.body.bool(rememberField),
      loginCode: input.body.str(codeField),
      recoveryCode: input.body.str("recoveryCode"),
    },
    input.client,
  );
}

async function complete(ops: Operations, challenge: string, code: string, client: ClientInfo) {
  const result = await ops.accounts.completeLogin(challenge, { code }, client);
  if (result.kind !== "signed_in") throw new Error("a completed second factor always signs in");
  return result;
}

/** The cookie follows the session: as long as it can live with remember_me, for the browser session otherwise. */
const cookieOf = (t: TokenPair, rememberMe: boolean) => ({ sessionId: t.sessionId, rememberMe, expiresAt: t.refreshTokenExpiresAt });

function register(input: RouteInput, ops: Operations, nameField: string) {
  return ops.accounts.register(
    { email: input.body.str("email"), password: input.body.str("password"), displayName: input.body.str(nameField) },
    input.client,
  );
}

/** A proof for Disable: the password, a TOTP code (under any of the documents' names) or a recovery code. */
function disableProof(input: RouteInput) {
  return {
    password: input.body.str("password"),
    code: input.body.str("code") || input.body.str("otp"),
    recoveryCode: input.body.str("recoveryCode"),
  };
}

const enrolmentCamel = (e: Enrolment) => ({ secret: e.secret, otpauthUrl: e.otpauthUrl });

// ---- api-v1.md, mounted at /api/v1: { data, message } ----

const apiV1: Route[] = [
  {
    method: "POST", path: "/api/v1/auth/register", docs: ["api-v1"], auth: "none", status: 201,
    summary: "Register", body: { name: "string", email: "string", password: "string" },
    returns: ["data.user.id", "data.user.email", "message"],
    async run(input, ops) {
      const { user, tokens } = await register(input, ops, "name");
      return {
        data: { user: userCamel(user), ...(tokens === undefined ? {} : tokensCamel(tokens)) },
        message: tokens === undefined ? "Verify your email." : "Registration successful.",
      };
    },
  },
  {
    method: "POST", path: "/api/v1/auth/login", docs: ["api-v1"], auth: "none",
    summary: "Login (step 1), or step 2 with loginCode or recoveryCode",
    body: { email: "string", password: "string", loginCode: "string", recoveryCode: "string", rememberMe: "boolean" },
    returns: ["data.accessToken", "data.refreshToken", "data.mfaRequired", "message"],
    async run(input, ops) {
      const result = await login(input, ops, "loginCode");
      if (result.kind === "second_factor_required") return { data: { mfaRequired: true }, message: "2FA code required" };
      return { data: { ...tokensCamel(result.tokens), user: userCamel(result.user) }, message: "Login successful" };
    },
  },
  {
    method: "POST", path: "/api/v1/auth/logout", docs: ["api-v1"], auth: "user", clearsCookie: true, summary: "Logout",
    returns: ["message"],
    async run(input, ops) {
      await ops.sessions.logout(await input.caller());
      return { message: "Logged out", cookie: "clear" };
    },
  },
  {
    method: "POST", path: "/api/v1/auth/refresh", docs: ["api-v1"], auth: "none", summary: "Refresh token",
    body: { refreshToken: "string" }, returns: ["data.accessToken", "data.refreshToken"],
    async run(input, ops) {
      return { data: tokensCamel(await ops.sessions.refresh(input.body.str("refreshToken"))), message: "Token refreshed" };
    },
  },
  {
    method: "POST", path: "/api/v1/auth/verify/email", docs: ["api-v1"], auth: "none", summary: "Verify email",
    query: { code: "string" }, returns: ["data.user", "message"],
    async run(input, ops) {
      return { data: { user: userCamel(await ops.accounts.verifyEmail(input.query.str("code"))) }, message: "Email verified" };
    },
  },
  {
    method: "POST", path: "/api/v1/auth/resend-verification", docs: ["api-v1"], auth: "none",
    summary: "Resend the verification email", body: { email: "string" }, returns: ["message"],
    async run(input, ops) {
      await ops.accounts.resendVerification(input.body.str("email"));
      return { message: "If the address has an unverified account, a new code is on its way." };
    },
  },
  {
    method: "POST", path: "/api/v1/auth/forgot-password", docs: ["api-v1"], auth: "none",
    summary: "Forgot password", body: { email: "string" }, returns: ["message"],
    async run(input, ops) {
      await ops.accounts.requestPasswordReset(input.body.str("email"));
      return { message: "If the address has an account, a reset code is on its way." };
    },
  },
  {
    method: "POST", path: "/api/v1/auth/reset-password", docs: ["api-v1"], auth: "none",
    summary: "Reset password", query: { code: "string" }, body: { password: "string" }, returns: ["message"],
    async run(input, ops) {
      await ops.accounts.resetPassword(input.query.str("code"), input.body.str("password"));
      return { message: "Password reset; sign in with the new password." };
    },
  },
  {
    method: "GET", path: "/api/v1/auth/me", docs: ["api-v1"], auth: "user", summary: "Current user",
    returns: ["data.id", "data.email", "data.name", "data.emailVerified", "data.twoFactorEnabled", "data.createdAt"],
    async run(input, ops) {
      return { data: userCamel(await ops.accounts.getUser(await input.caller())), message: "Current user" };
    },
  },
  {
    method: "POST", path: "/api/v1/auth/2fa/setup", docs: ["api-v1"], auth: "user", summary: "2FA setup",
    body: { password: "string" }, returns: ["data.otpAuthUrl", "data.qrCode", "message"],
    async run(input, ops) {
      const e = await ops.twoFactor.setup(await input.caller(), { password: input.body.str("password"), additionalDevice: false });
      return { data: { otpAuthUrl: e.otpauthUrl, qrCode: e.qrCodeDataUrl, secret: e.secret }, message: "Scan QR and verify OTP" };
    },
  },
  {
    method: "POST", path: "/api/v1/auth/2fa/enable", docs: ["api-v1"], auth: "user", summary: "2FA enable",
    body: { otp: "string" }, returns: ["data.recoveryCodes", "message"],
    async run(input, ops) {
      const r = await ops.twoFactor.enable(await input.caller(), { code: input.body.str("otp"), deviceName: "", secret: "" });
      return { data: { recoveryCodes: r.recoveryCodes }, message: "2FA enabled — save recovery codes" };
    },
  },
  {
    method: "POST", path: "/api/v1/auth/2fa/verify", docs: ["api-v1"], auth: "user", summary: "2FA verify (test)",
    body: { otp: "string" }, returns: ["message"],
    async run(input, ops) {
      await ops.twoFactor.verify(await input.caller(), input.body.str("otp"));
      return { message: "OTP verified" };
    },
  },
  {
    method: "POST", path: "/api/v1/auth/2fa/disable", docs: ["api-v1"], auth: "user",
    summary: "2FA disable (with password, otp or recoveryCode)",
    body: { password: "string", otp: "string", code: "string", recoveryCode: "string" },
    returns: ["message"],
    async run(input, ops) {
      await ops.twoFactor.disable(await input.caller(), disableProof(input));
      return { message: "2FA disabled" };
    },
  },
  {
    method: "GET", path: "/api/v1/auth/2fa/status", docs: ["api-v1"], auth: "user", summary: "2FA status",
    returns: ["data.enabled", "data.enabledAt", "message"],
    async run(input, ops) {
      const s = await ops.twoFactor.status(await input.caller());
      return {
        data: { enabled: s.enabled, enabledAt: iso(s.enabledAt), deviceCount: s.deviceCount, recoveryCodesRemaining: s.recoveryCodesRemaining },
        message: "2FA status",
      };
    },
  },
  {
    method: "GET", path: "/api/v1/accounts", docs: ["api-v1"], auth: "user", summary: "List linked accounts",
    returns: ["data[].id", "data[].provider", "data[].providerAccountId", "data[].createdAt"],
    async run(input, ops) {
      return { data: (await ops.accounts.listLinkedAccounts(await input.caller())).map(linkedCamel), message: "Linked accounts" };
    },
  },
  {
    method: "DELETE", path: "/api/v1/accounts/:id", docs: ["api-v1"], auth: "user", summary: "Disconnect a linked account",
    returns: ["message"],
    async run(input, ops) {
      await ops.accounts.unlinkAccount(await input.caller(), input.params.id ?? "");
      return { message: "Account disconnected" };
    },
  },
  {
    method: "GET", path: "/api/v1/sessions", docs: ["api-v1"], auth: "user", summary: "List sessions",
    returns: ["data[].id", "data[].ipAddress", "data[].userAgent", "data[].createdAt", "data[].lastActiveAt", "data[].current"],
    async run(input, ops) {
      return { data: (await ops.sessions.list(await input.caller())).map(sessionCamel), message: "Active sessions" };
    },
  },
  {
    method: "DELETE", path: "/api/v1/sessions/:id", docs: ["api-v1"], auth: "user", summary: "Revoke a session",
    returns: ["message"],
    async run(input, ops) {
      await ops.sessions.revoke(await input.caller(), input.params.id ?? "");
      return { message: "Session revoked" };
    },
  },
  {
    method: "DELETE", path: "/api/v1/sessions", docs: ["api-v1"], auth: "user", summary: "Revoke all other sessions",
    returns: ["data.revokedCount", "message"],
    async run(input, ops) {
      return { data: { revokedCount: await ops.sessions.revokeOthers(await input.caller()) }, message: "Other sessions revoked" };
    },
  },
  {
    method: "GET", path: "/api/v1/healthcheck", docs: ["api-v1"], auth: "none", summary: "Health check",
    returns: ["data.status", "message"],
    async run(_input, ops) {
      if (!(await ops.probe())) throw new AuthError("STORAGE_UNAVAILABLE", "storage is not answering");
      return { data: { status: "ok" }, message: "OK" };
    },
  },
];

// ---- api-auth-security.md and api-auth-2fa.md, both mounted at /api/auth ----

const apiAuth: Route[] = [
  {
    method: "POST", path: "/api/auth/register", docs: ["api-auth-security", "api-auth-2fa"], auth: "none", status: 201,
    summary: "Register", body: { email: "string", password: "string", display_name: "string" },
    returns: ["success", "data.user", "message"],
    async run(input, ops) {
      const { user, tokens } = await register(input, ops, "display_name");
      const data = { user: userSnake(user), ...(tokens === undefined ? {} : tokensCamel(tokens)) };
      return { data, fields: { user: userCamel(user) }, message: tokens === undefined ? "Registered; verify your email." : "Registered." };
    },
  },
  {
    method: "POST", path: "/api/auth/login", docs: ["api-auth-security", "api-auth-2fa"], auth: "none",
    summary: "Login: tokens, or a temporary token when 2FA is enabled",
    body: { email: "string", password: "string", rememberMe: "boolean", loginCode: "string", recoveryCode: "string" },
    returns: ["accessToken", "refreshToken", "tempToken", "twoFactorRequired", "success", "data", "message"],
    async run(input, ops) {
      const result = await login(input, ops, "loginCode");
      if (result.kind === "second_factor_required") {
        const fields = { twoFactorRequired: true, tempToken: result.challenge.token, expiresAt: iso(result.challenge.expiresAt) };
        return { data: fields, fields, message: "2FA code required" };
      }
      const fields = { ...tokensCamel(result.tokens), user: userCamel(result.user) };
      return { data: fields, fields, message: "Login successful" };
    },
  },
  {
    method: "POST", path: "/api/auth/login/2fa", docs: ["api-auth-2fa"], auth: "none", summary: "Login step 2 with the temporary token",
    body: { otp: "string", tempToken: "string" }, returns: ["accessToken", "refreshToken", "message"],
    async run(input, ops) {
      const result = await complete(ops, input.body.str("tempToken"), input.body.str("otp"), input.client);
      return { fields: { ...tokensCamel(result.tokens), user: userCamel(result.user) }, message: "Login successful" };
    },
  },
  {
    method: "POST", path: "/api/auth/refresh", docs: ["api-auth-2fa"], auth: "none", summary: "Refresh token",
    body: { refreshToken: "string" }, returns: ["accessToken", "refreshToken", "message"],
    async run(input, ops) {
      return { fields: tokensCamel(await ops.sessions.refresh(input.body.str("refreshToken"))), message: "Token refreshed" };
    },
  },
  {
    method: "POST", path: "/api/auth/verify", docs: ["api-auth-security"], auth: "user", summary: "Check the bearer token; returns its user",
    returns: ["success", "data"],
    async run(input, ops) {
      return { data: userSnake(await ops.accounts.getUser(await input.caller())) };
    },
  },
  {
    method: "GET", path: "/api/auth/profile", docs: ["api-auth-security"], auth: "user", summary: "Profile",
    returns: ["success", "data"],
    async run(input, ops) {
      return { data: userSnake(await ops.accounts.getUser(await input.caller())) };
    },
  },
  {
    method: "PATCH", path: "/api/auth/profile", docs: ["api-auth-security"], auth: "user", summary: "Update the profile",
    body: { display_name: "string" }, returns: ["success", "data"],
    async run(input, ops) {
      const user = await ops.accounts.updateProfile(await input.caller(), { displayName: input.body.str("display_name") });
      return { data: userSnake(user) };
    },
  },
  {
    method: "POST", path: "/api/auth/change-password", docs: ["api-auth-security"], auth: "user", summary: "Change password",
    body: { current_password: "string", new_password: "string" }, returns: ["success"],
    async run(input, ops) {
      const revoked = await ops.accounts.changePassword(await input.caller(), input.body.str("current_password"), input.body.str("new_password"));
      return { data: { revoked_session_count: revoked } };
    },
  },
  {
    method: "POST", path: "/api/auth/2fa/setup", docs: ["api-auth-security"], auth: "user", summary: "2FA setup",
    body: { password: "string" }, returns: ["success", "data.secret", "data.qr_code"],
    async run(input, ops) {
      const e = await ops.twoFactor.setup(await input.caller(), { password: input.body.str("password"), additionalDevice: false });
      return { data: { secret: e.secret, qr_code: e.qrCodeDataUrl, otpauth_url: e.otpauthUrl } };
    },
  },
  {
    method: "POST", path: "/api/auth/2fa/verify", docs: ["api-auth-security"], auth: "user", summary: "2FA verify: enables 2FA",
    body: { code: "string" }, returns: ["success", "data.recovery_codes"],
    async run(input, ops) {
      const r = await ops.twoFactor.enable(await input.caller(), { code: input.body.str("code"), deviceName: "", secret: "" });
      return { data: { recovery_codes: r.recoveryCodes } };
    },
  },
  {
    method: "POST", path: "/api/auth/2fa/disable", docs: ["api-auth-security", "api-auth-2fa"], auth: "user",
    summary: "2FA disable, with a code (api-auth-security) or the password (api-auth-2fa)",
    body: { code: "string", password: "string", otp: "string", recoveryCode: "string" },
    returns: ["success", "message", "twoFactorEnabled"],
    async run(input, ops) {
      await ops.twoFactor.disable(await input.caller(), disableProof(input));
      return { fields: { twoFactorEnabled: false }, message: "2FA disabled successfully" };
    },
  },
  {
    method: "POST", path: "/api/auth/2fa/generate", docs: ["api-auth-2fa"], auth: "user",
    summary: "Generate (or, when enabled, show) the 2FA secret; always needs the password", body: { password: "string" },
    returns: ["otpauthUrl", "qrCodeDataURL", "message"],
    async run(input, ops) {
      const e = await ops.twoFactor.setup(await input.caller(), {
        password: input.body.str("password"),
        additionalDevice: false,
        passwordRequired: true,
      });
      return {
        fields: { ...enrolmentCamel(e), qrCodeDataURL: e.qrCodeDataUrl, existing: e.existing },
        message: e.existing ? "2FA is already enabled; this is the existing secret" : "Scan the QR code, then confirm with a code",
      };
    },
  },
  {
    method: "POST", path: "/api/auth/2fa/confirm", docs: ["api-auth-2fa"], auth: "user", summary: "Confirm the 2FA setup (or a reset)",
    body: { otp: "string" }, returns: ["message", "twoFactorEnabled"],
    async run(input, ops) {
      const r = await ops.twoFactor.enable(await input.caller(), { code: input.body.str("otp"), deviceName: "", secret: "" });
      return { fields: { twoFactorEnabled: true, recoveryCodes: r.recoveryCodes }, message: "2FA enabled successfully" };
    },
  },
  {
    method: "POST", path: "/api/auth/2fa/reset", docs: ["api-auth-2fa"], auth: "user", summary: "Reset 2FA (new secret, confirmed with /2fa/confirm)",
    body: { password: "string" }, returns: ["message", "otpauthUrl", "qrCodeDataURL"],
    async run(input, ops) {
      const e = await ops.twoFactor.reset(await input.caller(), input.body.str("password"));
      return { fields: { ...enrolmentCamel(e), qrCodeDataURL: e.qrCodeDataUrl }, message: "2FA reset successfully" };
    },
  },
  {
    method: "GET", path: "/api/auth/sessions", docs: ["api-auth-security"], auth: "user", summary: "List sessions",
    returns: ["success", "data[]"],
    async run(input, ops) {
      return { data: (await ops.sessions.list(await input.caller())).map(sessionSnake) };
    },
  },
  {
    method: "DELETE", path: "/api/auth/sessions/:session_id", docs: ["api-auth-security"], auth: "user", summary: "Revoke a session",
    returns: ["success"],
    async run(input, ops) {
      await ops.sessions.revoke(await input.caller(), input.params.session_id ?? "");
      return {};
    },
  },
  {
    method: "POST", path: "/api/auth/sessions/revoke-all", docs: ["api-auth-security"], auth: "user", summary: "Revoke all other sessions",
    returns: ["success"],
    async run(input, ops) {
      return { data: { revoked_count: await ops.sessions.revokeOthers(await input.caller()) } };
    },
  },
];

// ---- root-auth-totp.md (/auth/…, /totp/…) and auth-router.md (/auth) ----

const root: Route[] = [
  {
    method: "POST", path: "/auth/register", docs: ["root-auth-totp", "auth-router"], auth: "none", status: 201,
    summary: "Register", body: { email: "string", password: "string", name: "string" },
    returns: ["message", "user.id", "user.email", "user.is2FAEnabled", "access_token"],
    async run(input, ops) {
      const { user, tokens } = await register(input, ops, "name");
      return {
        fields: {
          user: { ...userRouter(user), is2FAEnabled: user.twoFactorEnabled },
          ...(tokens === undefined ? {} : { access_token: tokens.accessToken }),
        },
        message: tokens === undefined ? "Please check your email to verify your account" : "Registration successful",
      };
    },
  },
  {
    method: "POST", path: "/auth/login", docs: ["root-auth-totp", "auth-router"], auth: "none",
    summary: "Login; sets the session cookie",
    body: { email: "string", password: "string", remember_me: "boolean", loginCode: "string", recoveryCode: "string" },
    returns: ["token", "requires2FA", "user.id", "user.email", "access_token", "refresh_token", "token_type", "expires_in"],
    async run(input, ops) {
      const result = await login(input, ops, "loginCode", "remember_me");
      if (result.kind === "second_factor_required") {
        return { fields: { token: result.challenge.token, requires2FA: true, user: { id: result.user.id, email: result.user.email } } };
      }
      const rememberMe = input.body.bool("remember_me");
      return {
        fields: { token: result.tokens.accessToken, requires2FA: false, ...tokensSnake(result.tokens), user: userRouter(result.user) },
        cookie: cookieOf(result.tokens, rememberMe),
      };
    },
  },
  {
    method: "POST", path: "/auth/verify-otp", docs: ["root-auth-totp"], auth: "challenge",
    summary: "Login step 2: Bearer <token from /auth/login>; sets the session cookie", body: { otp: "string" },
    returns: ["accessToken", "user.id", "user.email"],
    async run(input, ops) {
      if (input.bearer === undefined) {
        throw new AuthError("UNAUTHENTICATED", "the token from /auth/login is required as an Authorization Bearer header");
      }
      const result = await complete(ops, input.bearer, input.body.str("otp"), input.client);
      return {
        fields: { accessToken: result.tokens.accessToken, refreshToken: result.tokens.refreshToken, user: { id: result.user.id, email: result.user.email } },
        cookie: cookieOf(result.tokens, result.rememberMe),
      };
    },
  },
  {
    method: "GET", path: "/totp/setup", docs: ["root-auth-totp"], auth: "user", getWrites: true,
    summary: "A new TOTP secret to enable 2FA with /totp/enable. While 2FA is on, a new secret needs the password, which a GET cannot carry: 400 (use POST /api/auth/2fa/generate or the RPC)",
    returns: ["secret", "qrCodeUrl"],
    async run(input, ops) {
      const e = await ops.twoFactor.setup(await input.caller(), { password: "", additionalDevice: true });
      return { fields: { secret: e.secret, qrCodeUrl: e.otpauthUrl, qrCodeDataUrl: e.qrCodeDataUrl } };
    },
  },
  {
    method: "POST", path: "/totp/enable", docs: ["root-auth-totp"], auth: "user", status: 201, summary: "Enable 2FA with the secret from /totp/setup",
    body: { secret: "string", otp: "string", deviceName: "string" }, returns: ["message", "device.id", "device.name", "device.createdAt"],
    async run(input, ops) {
      const r = await ops.twoFactor.enable(await input.caller(), {
        secret: input.body.str("secret"),
        code: input.body.str("otp"),
        deviceName: input.body.str("deviceName"),
      });
      return { fields: { device: deviceCamel(r.device), recoveryCodes: r.recoveryCodes }, message: "2FA enabled successfully" };
    },
  },
  {
    method: "POST", path: "/totp/disable", docs: ["root-auth-totp"], auth: "user", summary: "Disable 2FA", body: { otp: "string" },
    returns: ["message"],
    async run(input, ops) {
      await ops.twoFactor.disable(await input.caller(), { code: input.body.str("otp"), recoveryCode: "", password: "" });
      return { message: "2FA disabled successfully" };
    },
  },
  {
    method: "GET", path: "/totp/devices", docs: ["root-auth-totp"], auth: "user", summary: "List authenticator devices",
    returns: ["devices[].id", "devices[].name", "devices[].createdAt", "devices[].lastUsedAt"],
    async run(input, ops) {
      return { fields: { devices: (await ops.twoFactor.listDevices(await input.caller())).map(deviceCamel) } };
    },
  },
  {
    method: "POST", path: "/totp/devices", docs: ["root-auth-totp"], auth: "user", status: 201, summary: "Add an authenticator device",
    body: { secret: "string", otp: "string", deviceName: "string" }, returns: ["message", "device.id", "device.name", "device.createdAt"],
    async run(input, ops) {
      const device = await ops.twoFactor.addDevice(await input.caller(), {
        secret: input.body.str("secret"),
        code: input.body.str("otp"),
        deviceName: input.body.str("deviceName"),
      });
      return { fields: { device: deviceCamel(device) }, message: "Device added successfully" };
    },
  },
  {
    method: "DELETE", path: "/totp/devices/:id", docs: ["root-auth-totp"], auth: "user", summary: "Remove an authenticator device",
    returns: ["message"],
    async run(input, ops) {
      await ops.twoFactor.removeDevice(await input.caller(), input.params.id ?? "");
      return { message: "Device removed successfully" };
    },
  },
  // auth-router.md
  {
    method: "POST", path: "/auth/logout", docs: ["auth-router"], auth: "user", status: 204, clearsCookie: true, summary: "Logout; clears the session cookie",
    returns: [],
    async run(input, ops) {
      await ops.sessions.logout(await input.caller());
      return { cookie: "clear" };
    },
  },
  {
    method: "POST", path: "/auth/refresh", docs: ["auth-router"], auth: "none", summary: "Refresh token", body: { refresh_token: "string" },
    returns: ["access_token", "refresh_token", "token_type", "expires_in"],
    async run(input, ops) {
      return { fields: tokensSnake(await ops.sessions.refresh(input.body.str("refresh_token"))) };
    },
  },
  {
    method: "GET", path: "/auth/me", docs: ["auth-router"], auth: "user", summary: "Current user",
    returns: ["id", "email", "name", "role", "created_at"],
    async run(input, ops) {
      return { fields: userRouter(await ops.accounts.getUser(await input.caller())) };
    },
  },
  {
    method: "DELETE", path: "/auth/me", docs: ["auth-router"], auth: "user", status: 204, summary: "Delete the account", returns: [],
    async run(input, ops) {
      await ops.accounts.deleteAccount(await input.caller());
      return { cookie: "clear" };
    },
  },
  {
    method: "POST", path: "/auth/password", docs: ["auth-router"], auth: "user", status: 204, summary: "Change password",
    body: { current_password: "string", new_password: "string" }, returns: [],
    async run(input, ops) {
      await ops.accounts.changePassword(await input.caller(), input.body.str("current_password"), input.body.str("new_password"));
      return {};
    },
  },
  {
    method: "GET", path: "/auth/sessions", docs: ["auth-router"], auth: "user", summary: "List sessions (a JSON array)",
    returns: ["[].id", "[].device", "[].ip_address", "[].last_active", "[].created_at", "[].is_current"],
    async run(input, ops) {
      return { array: (await ops.sessions.list(await input.caller())).map(sessionRouter) };
    },
  },
  {
    method: "DELETE", path: "/auth/sessions/all", docs: ["auth-router"], auth: "user", summary: "Revoke all other sessions",
    returns: ["revoked"],
    async run(input, ops) {
      return { fields: { revoked: await ops.sessions.revokeOthers(await input.caller()) } };
    },
  },
  {
    method: "DELETE", path: "/auth/sessions/:id", docs: ["auth-router"], auth: "user", status: 204, summary: "Revoke a session",
    returns: [],
    async run(input, ops) {
      await ops.sessions.revoke(await input.caller(), input.params.id ?? "");
      return {};
    },
  },
];

export const routes: Route[] = [...apiV1, ...apiAuth, ...root];
