// root-auth-totp (docs/legacy-rest/root-auth-totp.md): /auth/… and /totp/…. Its register and login
// paths are auth-router's too (docs/legacy-rest/auth-router.md): one route answers both documents.

import { AuthError } from "../../errors.ts";
import type { Route, RouteInput } from "../declaration.ts";
import { userRouter, tokensSnake, deviceCamel } from "../presenters.ts";
import { login, complete, cookieOf, register } from "../steps.ts";

/** The device a request confirms: the secret from /totp/setup, a code from it, and a name. */
const newDevice = (input: RouteInput) => ({
  secret: input.body.str("secret"),
  code: input.body.str("otp"),
  deviceName: input.body.str("deviceName"),
});

export const rootAuthTotpRoutes: Route[] = [
  {
    method: "POST",
    path: "/auth/register",
    docs: ["root-auth-totp", "auth-router"],
    auth: "none",
    status: 201,
    summary: "Register",
    body: { email: "string", password: "string", name: "string" },
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
    method: "POST",
    path: "/auth/login",
    docs: ["root-auth-totp", "auth-router"],
    auth: "none",
    summary: "Login; sets the session cookie",
    body: { email: "string", password: "string", remember_me: "boolean", loginCode: "string", recoveryCode: "string" },
    returns: ["token", "requires2FA", "user.id", "user.email", "access_token", "refresh_token", "token_type", "expires_in"],
    async run(input, ops) {
      const result = await login(input, ops, "loginCode", "remember_me");
      if (result.state === "second_factor_pending") {
        return {
          fields: { token: result.challenge.token, requires2FA: true, user: { id: result.identity.id, email: result.identity.email } },
        };
      }
      const rememberMe = input.body.bool("remember_me");
      return {
        fields: { token: result.tokens.accessToken, requires2FA: false, ...tokensSnake(result.tokens), user: userRouter(result.account) },
        cookie: cookieOf(result.tokens, rememberMe),
        device: result.device,
      };
    },
  },
  {
    method: "POST",
    path: "/auth/verify-otp",
    docs: ["root-auth-totp"],
    auth: "challenge",
    summary: "Login step 2: Bearer <token from /auth/login>; sets the session cookie",
    body: { otp: "string" },
    returns: ["accessToken", "user.id", "user.email"],
    async run(input, ops) {
      if (input.bearer === undefined) {
        throw new AuthError("UNAUTHENTICATED", "the token from /auth/login is required as an Authorization Bearer header");
      }
      const result = await complete(ops, input.bearer, input.body.str("otp"), input);
      return {
        fields: {
          accessToken: result.tokens.accessToken,
          refreshToken: result.tokens.refreshToken,
          user: { id: result.account.id, email: result.account.email },
        },
        cookie: cookieOf(result.tokens, result.rememberMe),
        device: result.device,
      };
    },
  },
  {
    method: "GET",
    path: "/totp/setup",
    docs: ["root-auth-totp"],
    auth: "user",
    getWrites: true,
    summary:
      "A new TOTP secret to enable 2FA with /totp/enable. While 2FA is on, a new secret needs the password, which a GET cannot carry: 400 (use POST /api/auth/2fa/generate or the RPC)",
    returns: ["secret", "qrCodeUrl"],
    async run(input, ops) {
      const e = await ops.twoFactor.setup(await input.caller(), { password: "", additionalDevice: true }, input.client);
      return { fields: { secret: e.secret, qrCodeUrl: e.otpauthUrl, qrCodeDataUrl: e.qrCodeDataUrl } };
    },
  },
  {
    method: "POST",
    path: "/totp/enable",
    docs: ["root-auth-totp"],
    auth: "user",
    status: 201,
    summary: "Enable 2FA with the secret from /totp/setup",
    body: { secret: "string", otp: "string", deviceName: "string" },
    returns: ["message", "device.id", "device.name", "device.createdAt"],
    async run(input, ops) {
      const r = await ops.twoFactor.enable(await input.caller(), newDevice(input), input.client);
      return { fields: { device: deviceCamel(r.device), recoveryCodes: r.recoveryCodes }, message: "2FA enabled successfully" };
    },
  },
  {
    method: "POST",
    path: "/totp/disable",
    docs: ["root-auth-totp"],
    auth: "user",
    summary: "Disable 2FA",
    body: { otp: "string" },
    returns: ["message"],
    async run(input, ops) {
      await ops.twoFactor.disable(await input.caller(), { code: input.body.str("otp"), recoveryCode: "", password: "" }, input.client);
      return { message: "2FA disabled successfully" };
    },
  },
  {
    method: "GET",
    path: "/totp/devices",
    docs: ["root-auth-totp"],
    auth: "user",
    summary: "List authenticator devices",
    returns: ["devices[].id", "devices[].name", "devices[].createdAt", "devices[].lastUsedAt"],
    async run(input, ops) {
      return { fields: { devices: (await ops.twoFactor.listDevices(await input.caller())).map(deviceCamel) } };
    },
  },
  {
    method: "POST",
    path: "/totp/devices",
    docs: ["root-auth-totp"],
    auth: "user",
    status: 201,
    summary: "Add an authenticator device",
    body: { secret: "string", otp: "string", deviceName: "string" },
    returns: ["message", "device.id", "device.name", "device.createdAt"],
    async run(input, ops) {
      const device = await ops.twoFactor.addDevice(await input.caller(), newDevice(input), input.client);
      return { fields: { device: deviceCamel(device) }, message: "Device added successfully" };
    },
  },
  {
    method: "DELETE",
    path: "/totp/devices/:id",
    docs: ["root-auth-totp"],
    auth: "user",
    summary: "Remove an authenticator device (a session older than REAUTH_MAX_AGE_SECONDS sends password, and otp or recoveryCode)",
    body: { password: "string", otp: "string", recoveryCode: "string" },
    returns: ["message"],
    async run(input, ops) {
      const proof = { password: input.body.str("password"), code: input.body.str("otp"), recoveryCode: input.body.str("recoveryCode") };
      await ops.twoFactor.removeDevice(await input.caller(), input.params.id ?? "", proof, input.client);
      return { message: "Device removed successfully" };
    },
  },
];
