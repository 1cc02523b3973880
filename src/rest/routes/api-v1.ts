// api-v1 (docs/legacy-rest/api-v1.md), mounted at /api/v1: { data, message }.

import { AuthError } from "../../errors.ts";
import type { Route } from "../declaration.ts";
import { iso, userCamel, tokensCamel, sessionCamel, linkedCamel } from "../presenters.ts";
import { login, register, disableProof } from "../steps.ts";

export const apiV1Routes: Route[] = [
  {
    method: "POST",
    path: "/api/v1/auth/register",
    docs: ["api-v1"],
    auth: "none",
    status: 201,
    summary: "Register",
    body: { name: "string", email: "string", password: "string" },
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
    method: "POST",
    path: "/api/v1/auth/login",
    docs: ["api-v1"],
    auth: "none",
    summary: "Login (step 1), or step 2 with loginCode or recoveryCode",
    body: { email: "string", password: "string", loginCode: "string", recoveryCode: "string", rememberMe: "boolean" },
    returns: ["data.accessToken", "data.refreshToken", "data.mfaRequired", "message"],
    async run(input, ops) {
      const result = await login(input, ops, "loginCode");
      if (result.state === "second_factor_pending") return { data: { mfaRequired: true }, message: "2FA code required" };
      return {
        data: { ...tokensCamel(result.tokens), user: userCamel(result.account) },
        message: "Login successful",
        device: result.device,
      };
    },
  },
  {
    method: "POST",
    path: "/api/v1/auth/logout",
    docs: ["api-v1"],
    auth: "user",
    clearsCookie: true,
    summary: "Logout",
    returns: ["message"],
    async run(input, ops) {
      await ops.sessions.logout(await input.caller());
      return { message: "Logged out", cookie: "clear" };
    },
  },
  {
    method: "POST",
    path: "/api/v1/auth/refresh",
    docs: ["api-v1"],
    auth: "none",
    summary: "Refresh token",
    body: { refreshToken: "string" },
    returns: ["data.accessToken", "data.refreshToken"],
    async run(input, ops) {
      return { data: tokensCamel(await ops.sessions.refresh(input.body.str("refreshToken"))), message: "Token refreshed" };
    },
  },
  {
    method: "POST",
    path: "/api/v1/auth/verify/email",
    docs: ["api-v1"],
    auth: "none",
    summary: "Verify email",
    query: { code: "string" },
    returns: ["data.user", "message"],
    async run(input, ops) {
      return { data: { user: userCamel(await ops.accounts.verifyEmail(input.query.str("code"))) }, message: "Email verified" };
    },
  },
  {
    method: "POST",
    path: "/api/v1/auth/resend-verification",
    docs: ["api-v1"],
    auth: "none",
    summary: "Resend the verification email",
    body: { email: "string" },
    returns: ["message"],
    async run(input, ops) {
      await ops.accounts.resendVerification(input.body.str("email"), input.client);
      return { message: "If the address has an unverified account, a new code is on its way." };
    },
  },
  {
    method: "POST",
    path: "/api/v1/auth/forgot-password",
    docs: ["api-v1"],
    auth: "none",
    summary: "Forgot password",
    body: { email: "string" },
    returns: ["message"],
    async run(input, ops) {
      await ops.accounts.requestPasswordReset(input.body.str("email"), input.client);
      return { message: "If the address has an account, a reset code is on its way." };
    },
  },
  {
    method: "POST",
    path: "/api/v1/auth/reset-password",
    docs: ["api-v1"],
    auth: "none",
    summary: "Reset password",
    query: { code: "string" },
    body: { password: "string" },
    returns: ["message"],
    async run(input, ops) {
      const device = await ops.accounts.resetPassword(input.query.str("code"), input.body.str("password"), input.client, input.deviceToken);
      // The known-device cookie, as the sign-in routes set it: the owner who proved the mailbox
      // signs in as a known device, whatever strangers keep guessing.
      return { message: "Password reset; sign in with the new password.", device };
    },
  },
  {
    method: "GET",
    path: "/api/v1/auth/me",
    docs: ["api-v1"],
    auth: "user",
    summary: "Current user",
    returns: ["data.id", "data.email", "data.name", "data.emailVerified", "data.twoFactorEnabled", "data.createdAt"],
    async run(input, ops) {
      return { data: userCamel(await ops.accounts.getUser(await input.caller())), message: "Current user" };
    },
  },
  {
    method: "POST",
    path: "/api/v1/auth/2fa/setup",
    docs: ["api-v1"],
    auth: "user",
    summary: "2FA setup",
    body: { password: "string" },
    returns: ["data.otpAuthUrl", "data.qrCode", "message"],
    async run(input, ops) {
      const e = await ops.twoFactor.setup(
        await input.caller(),
        { password: input.body.str("password"), additionalDevice: false },
        input.client,
      );
      return { data: { otpAuthUrl: e.otpauthUrl, qrCode: e.qrCodeDataUrl, secret: e.secret }, message: "Scan QR and verify OTP" };
    },
  },
  {
    method: "POST",
    path: "/api/v1/auth/2fa/enable",
    docs: ["api-v1"],
    auth: "user",
    summary: "2FA enable",
    body: { otp: "string" },
    returns: ["data.recoveryCodes", "message"],
    async run(input, ops) {
      const r = await ops.twoFactor.enable(await input.caller(), { code: input.body.str("otp"), deviceName: "", secret: "" }, input.client);
      return { data: { recoveryCodes: r.recoveryCodes }, message: "2FA enabled — save recovery codes" };
    },
  },
  {
    method: "POST",
    path: "/api/v1/auth/2fa/verify",
    docs: ["api-v1"],
    auth: "user",
    summary: "2FA verify (test)",
    body: { otp: "string" },
    returns: ["message"],
    async run(input, ops) {
      await ops.twoFactor.verify(await input.caller(), input.body.str("otp"));
      return { message: "OTP verified" };
    },
  },
  {
    method: "POST",
    path: "/api/v1/auth/2fa/disable",
    docs: ["api-v1"],
    auth: "user",
    summary: "2FA disable (with password, otp or recoveryCode)",
    body: { password: "string", otp: "string", code: "string", recoveryCode: "string" },
    returns: ["message"],
    async run(input, ops) {
      await ops.twoFactor.disable(await input.caller(), disableProof(input), input.client);
      return { message: "2FA disabled" };
    },
  },
  {
    method: "GET",
    path: "/api/v1/auth/2fa/status",
    docs: ["api-v1"],
    auth: "user",
    summary: "2FA status",
    returns: ["data.enabled", "data.enabledAt", "message"],
    async run(input, ops) {
      const s = await ops.twoFactor.status(await input.caller());
      return {
        data: {
          enabled: s.enabled,
          enabledAt: iso(s.enabledAt),
          deviceCount: s.deviceCount,
          recoveryCodesRemaining: s.recoveryCodesRemaining,
        },
        message: "2FA status",
      };
    },
  },
  {
    method: "GET",
    path: "/api/v1/accounts",
    docs: ["api-v1"],
    auth: "user",
    summary: "List linked accounts",
    returns: ["data[].id", "data[].provider", "data[].providerAccountId", "data[].email", "data[].createdAt"],
    async run(input, ops) {
      return { data: (await ops.accounts.listLinkedAccounts(await input.caller())).map(linkedCamel), message: "Linked accounts" };
    },
  },
  {
    method: "DELETE",
    path: "/api/v1/accounts/:id",
    docs: ["api-v1"],
    auth: "user",
    summary:
      "Disconnect a linked account (a session older than REAUTH_MAX_AGE_SECONDS sends password, and code or recoveryCode with 2FA on)",
    body: { password: "string", code: "string", recoveryCode: "string" },
    returns: ["message"],
    async run(input, ops) {
      const proof = { password: input.body.str("password"), code: input.body.str("code"), recoveryCode: input.body.str("recoveryCode") };
      await ops.accounts.unlinkAccount(await input.caller(), input.params.id ?? "", proof, input.client);
      return { message: "Account disconnected" };
    },
  },
  {
    method: "GET",
    path: "/api/v1/sessions",
    docs: ["api-v1"],
    auth: "user",
    summary: "List sessions",
    returns: ["data[].id", "data[].ipAddress", "data[].userAgent", "data[].createdAt", "data[].lastActiveAt", "data[].current"],
    async run(input, ops) {
      return { data: (await ops.sessions.list(await input.caller())).map(sessionCamel), message: "Active sessions" };
    },
  },
  {
    method: "DELETE",
    path: "/api/v1/sessions/:id",
    docs: ["api-v1"],
    auth: "user",
    summary: "Revoke a session",
    returns: ["message"],
    async run(input, ops) {
      await ops.sessions.revoke(await input.caller(), input.params.id ?? "");
      return { message: "Session revoked" };
    },
  },
  {
    method: "DELETE",
    path: "/api/v1/sessions",
    docs: ["api-v1"],
    auth: "user",
    summary: "Revoke all other sessions",
    returns: ["data.revokedCount", "message"],
    async run(input, ops) {
      const { revokedCount, device } = await ops.sessions.revokeOthers(await input.caller(), input.deviceToken);
      return { data: { revokedCount }, message: "Other sessions revoked", ...(device === null ? {} : { device }) };
    },
  },
  {
    method: "GET",
    path: "/api/v1/healthcheck",
    docs: ["api-v1"],
    auth: "none",
    summary: "Health check",
    returns: ["data.status", "message"],
    async run(_input, ops) {
      if (!(await ops.probe())) throw new AuthError("STORAGE_UNAVAILABLE", "storage is not answering");
      return { data: { status: "ok" }, message: "OK" };
    },
  },
];
