// auth-router (docs/legacy-rest/auth-router.md), mounted at /auth. Its register and login paths,
// shared with root-auth-totp, are declared in root-auth-totp.ts.

import type { Route } from "../declaration.ts";
import { userRouter, tokensSnake, sessionRouter } from "../presenters.ts";

export const authRouterRoutes: Route[] = [
  {
    method: "POST",
    path: "/auth/logout",
    docs: ["auth-router"],
    auth: "user",
    status: 204,
    clearsCookie: true,
    summary: "Logout; clears the session cookie",
    returns: [],
    async run(input, ops) {
      await ops.sessions.logout(await input.caller());
      return { cookie: "clear" };
    },
  },
  {
    method: "POST",
    path: "/auth/refresh",
    docs: ["auth-router"],
    auth: "none",
    summary: "Refresh token",
    body: { refresh_token: "string" },
    returns: ["access_token", "refresh_token", "token_type", "expires_in"],
    async run(input, ops) {
      return { fields: tokensSnake(await ops.sessions.refresh(input.body.str("refresh_token"))) };
    },
  },
  {
    method: "GET",
    path: "/auth/me",
    docs: ["auth-router"],
    auth: "user",
    summary: "Current user",
    returns: ["id", "email", "name", "role", "created_at"],
    async run(input, ops) {
      return { fields: userRouter(await ops.accounts.getUser(await input.caller())) };
    },
  },
  {
    method: "DELETE",
    path: "/auth/me",
    docs: ["auth-router"],
    auth: "user",
    status: 204,
    summary: "Delete the account (a session older than REAUTH_MAX_AGE_SECONDS sends the password, and code or recovery_code with 2FA on)",
    body: { password: "string", code: "string", recovery_code: "string" },
    returns: [],
    async run(input, ops) {
      const proof = { password: input.body.str("password"), code: input.body.str("code"), recoveryCode: input.body.str("recovery_code") };
      await ops.accounts.deleteAccount(await input.caller(), proof, input.client);
      return { cookie: "clear" };
    },
  },
  {
    method: "POST",
    path: "/auth/password",
    docs: ["auth-router"],
    auth: "user",
    status: 204,
    summary: "Change password",
    body: { current_password: "string", new_password: "string" },
    returns: [],
    async run(input, ops) {
      const [current, next] = [input.body.str("current_password"), input.body.str("new_password")];
      const { device } = await ops.accounts.changePassword(await input.caller(), current, next, input.client, input.deviceToken);
      return { device };
    },
  },
  {
    method: "GET",
    path: "/auth/sessions",
    docs: ["auth-router"],
    auth: "user",
    summary: "List sessions (a JSON array)",
    returns: ["[].id", "[].device", "[].ip_address", "[].last_active", "[].created_at", "[].is_current"],
    async run(input, ops) {
      return { array: (await ops.sessions.list(await input.caller())).map(sessionRouter) };
    },
  },
  {
    method: "DELETE",
    path: "/auth/sessions/all",
    docs: ["auth-router"],
    auth: "user",
    summary: "Revoke all other sessions",
    returns: ["revoked"],
    async run(input, ops) {
      const { revokedCount, device } = await ops.sessions.revokeOthers(await input.caller(), input.deviceToken);
      return { fields: { revoked: revokedCount }, ...(device === null ? {} : { device }) };
    },
  },
  {
    method: "DELETE",
    path: "/auth/sessions/:id",
    docs: ["auth-router"],
    auth: "user",
    status: 204,
    summary: "Revoke a session",
    returns: [],
    async run(input, ops) {
      await ops.sessions.revoke(await input.caller(), input.params.id ?? "");
      return {};
    },
  },
];
