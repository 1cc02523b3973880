// api-auth-security and api-auth-2fa (docs/legacy-rest/api-auth-security.md, api-auth-2fa.md), both
// mounted at /api/auth. They share paths (register, login, 2FA disable), each answered by one route
// for both documents, so the two are declared together.

import type { Route } from "../declaration.ts";
import { iso, userCamel, userSnake, tokensCamel, sessionSnake, enrolmentCamel } from "../presenters.ts";
import { login, complete, register, disableProof } from "../steps.ts";

export const apiAuthRoutes: Route[] = [
  {
    method: "POST",
    path: "/api/auth/register",
    docs: ["api-auth-security", "api-auth-2fa"],
    auth: "none",
    status: 201,
    summary: "Register",
    body: { email: "string", password: "string", display_name: "string" },
    returns: ["success", "data.user", "message"],
    async run(input, ops) {
      const { user, tokens } = await register(input, ops, "display_name");
      const data = { user: userSnake(user), ...(tokens === undefined ? {} : tokensCamel(tokens)) };
      return { data, fields: { user: userCamel(user) }, message: tokens === undefined ? "Registered; verify your email." : "Registered." };
    },
  },
  {
    method: "POST",
    path: "/api/auth/login",
    docs: ["api-auth-security", "api-auth-2fa"],
    auth: "none",
    summary: "Login: tokens, or a temporary token when 2FA is enabled",
    body: { email: "string", password: "string", rememberMe: "boolean", loginCode: "string", recoveryCode: "string" },
    returns: ["accessToken", "refreshToken", "tempToken", "twoFactorRequired", "success", "data", "message"],
    async run(input, ops) {
      const result = await login(input, ops, "loginCode");
      if (result.state === "second_factor_pending") {
        const fields = { twoFactorRequired: true, tempToken: result.challenge.token, expiresAt: iso(result.challenge.expiresAt) };
        return { data: fields, fields, message: "2FA code required" };
      }
      const fields = { ...tokensCamel(result.tokens), user: userCamel(result.account) };
      return { data: fields, fields, message: "Login successful", device: result.device };
    },
  },
  {
    method: "POST",
    path: "/api/auth/login/2fa",
    docs: ["api-auth-2fa"],
    auth: "none",
    summary: "Login step 2 with the temporary token",
    body: { otp: "string", tempToken: "string" },
    returns: ["accessToken", "refreshToken", "message"],
    async run(input, ops) {
      const result = await complete(ops, input.body.str("tempToken"), input.body.str("otp"), input);
      return {
        fields: { ...tokensCamel(result.tokens), user: userCamel(result.account) },
        message: "Login successful",
        device: result.device,
      };
    },
  },
  {
    method: "POST",
    path: "/api/auth/refresh",
    docs: ["api-auth-2fa"],
    auth: "none",
    summary: "Refresh token",
    body: { refreshToken: "string" },
    returns: ["accessToken", "refreshToken", "message"],
    async run(input, ops) {
      return { fields: tokensCamel(await ops.sessions.refresh(input.body.str("refreshToken"))), message: "Token refreshed" };
    },
  },
  {
    method: "POST",
    path: "/api/auth/verify",
    docs: ["api-auth-security"],
    auth: "user",
    summary: "Check the bearer token; returns its user",
    returns: ["success", "data"],
    async run(input, ops) {
      return { data: userSnake(await ops.accounts.getUser(await input.caller())) };
    },
  },
  {
    method: "GET",
    path: "/api/auth/profile",
    docs: ["api-auth-security"],
    auth: "user",
    summary: "Profile",
    returns: ["success", "data"],
    async run(input, ops) {
      return { data: userSnake(await ops.accounts.getUser(await input.caller())) };
    },
  },
  {
    method: "PATCH",
    path: "/api/auth/profile",
    docs: ["api-auth-security"],
    auth: "user",
    summary: "Update the profile",
    body: { display_name: "string" },
    returns: ["success", "data"],
    async run(input, ops) {
      const user = await ops.accounts.updateProfile(await input.caller(), { displayName: input.body.str("display_name") });
      return { data: userSnake(user) };
    },
  },
  {
    method: "POST",
    path: "/api/auth/change-password",
    docs: ["api-auth-security"],
    auth: "user",
    summary: "Change password",
    body: { current_password: "string", new_password: "string" },
    returns: ["success"],
    async run(input, ops) {
      const changed = await ops.accounts.changePassword(
        await input.caller(),
        input.body.str("current_password"),
        input.body.str("new_password"),
        input.client,
        input.deviceToken,
      );
      return { data: { revoked_session_count: changed.revokedSessionCount }, device: changed.device };
    },
  },
  {
    method: "POST",
    path: "/api/auth/2fa/setup",
    docs: ["api-auth-security"],
    auth: "user",
    summary: "2FA setup",
    body: { password: "string" },
    returns: ["success", "data.secret", "data.qr_code"],
    async run(input, ops) {
      const e = await ops.twoFactor.setup(
        await input.caller(),
        { password: input.body.str("password"), additionalDevice: false },
        input.client,
      );
      return { data: { secret: e.secret, qr_code: e.qrCodeDataUrl, otpauth_url: e.otpauthUrl } };
    },
  },
  {
    method: "POST",
    path: "/api/auth/2fa/verify",
    docs: ["api-auth-security"],
    auth: "user",
    summary: "2FA verify: enables 2FA",
    body: { code: "string" },
    returns: ["success", "data.recovery_codes"],
    async run(input, ops) {
      const r = await ops.twoFactor.enable(
        await input.caller(),
        { code: input.body.str("code"), deviceName: "", secret: "" },
        input.client,
      );
      return { data: { recovery_codes: r.recoveryCodes } };
    },
  },
  {
    method: "POST",
    path: "/api/auth/2fa/disable",
    docs: ["api-auth-security", "api-auth-2fa"],
    auth: "user",
    summary: "2FA disable, with a code (api-auth-security) or the password (api-auth-2fa)",
    body: { code: "string", password: "string", otp: "string", recoveryCode: "string" },
    returns: ["success", "message", "twoFactorEnabled"],
    async run(input, ops) {
      await ops.twoFactor.disable(await input.caller(), disableProof(input), input.client);
      return { fields: { twoFactorEnabled: false }, message: "2FA disabled successfully" };
    },
  },
  {
    method: "POST",
    path: "/api/auth/2fa/generate",
    docs: ["api-auth-2fa"],
    auth: "user",
    summary: "Generate (or, when enabled, show) the 2FA secret; always needs the password",
    body: { password: "string" },
    returns: ["otpauthUrl", "qrCodeDataURL", "message"],
    async run(input, ops) {
      const e = await ops.twoFactor.setup(
        await input.caller(),
        { password: input.body.str("password"), additionalDevice: false, passwordRequired: true },
        input.client,
      );
      return {
        fields: { ...enrolmentCamel(e), qrCodeDataURL: e.qrCodeDataUrl, existing: e.existing },
        message: e.existing ? "2FA is already enabled; this is the existing secret" : "Scan the QR code, then confirm with a code",
      };
    },
  },
  {
    method: "POST",
    path: "/api/auth/2fa/confirm",
    docs: ["api-auth-2fa"],
    auth: "user",
    summary: "Confirm the 2FA setup (or a reset)",
    body: { otp: "string" },
    returns: ["message", "twoFactorEnabled"],
    async run(input, ops) {
      const r = await ops.twoFactor.enable(await input.caller(), { code: input.body.str("otp"), deviceName: "", secret: "" }, input.client);
      return { fields: { twoFactorEnabled: true, recoveryCodes: r.recoveryCodes }, message: "2FA enabled successfully" };
    },
  },
  {
    method: "POST",
    path: "/api/auth/2fa/reset",
    docs: ["api-auth-2fa"],
    auth: "user",
    summary: "Reset 2FA (new secret, confirmed with /2fa/confirm)",
    body: { password: "string" },
    returns: ["message", "otpauthUrl", "qrCodeDataURL"],
    async run(input, ops) {
      const e = await ops.twoFactor.reset(await input.caller(), input.body.str("password"), input.client);
      return { fields: { ...enrolmentCamel(e), qrCodeDataURL: e.qrCodeDataUrl }, message: "2FA reset successfully" };
    },
  },
  {
    method: "GET",
    path: "/api/auth/sessions",
    docs: ["api-auth-security"],
    auth: "user",
    summary: "List sessions",
    returns: ["success", "data[]"],
    async run(input, ops) {
      return { data: (await ops.sessions.list(await input.caller())).map(sessionSnake) };
    },
  },
  {
    method: "DELETE",
    path: "/api/auth/sessions/:session_id",
    docs: ["api-auth-security"],
    auth: "user",
    summary: "Revoke a session",
    returns: ["success"],
    async run(input, ops) {
      await ops.sessions.revoke(await input.caller(), input.params.session_id ?? "");
      return {};
    },
  },
  {
    method: "POST",
    path: "/api/auth/sessions/revoke-all",
    docs: ["api-auth-security"],
    auth: "user",
    summary: "Revoke all other sessions",
    returns: ["success"],
    async run(input, ops) {
      const { revokedCount, device } = await ops.sessions.revokeOthers(await input.caller(), input.deviceToken);
      return { data: { revoked_count: revokedCount }, ...(device === null ? {} : { device }) };
    },
  },
];
