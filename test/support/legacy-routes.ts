// Every endpoint of the five legacy REST dialects, written here by hand from the pages in
// docs/legacy-rest/ (each route's "Auth:", "Body:" and "Query:" lines), NOT from the server's route
// table in src/rest/routes.ts: the REST tests take what to expect from this list, so a route the
// server declares wrongly (a missing route, a lost auth requirement, a renamed field) shows up as a
// failure instead of being agreed with.

export type Dialect = "api-v1" | "api-auth-security" | "api-auth-2fa" | "root-auth-totp" | "auth-router";
export type FieldType = "string" | "boolean";

export interface DocumentedRoute {
  method: "GET" | "POST" | "PATCH" | "DELETE";
  /** `:name` segments are path parameters. */
  path: string;
  /** The page or pages that describe the path (two where dialects share it). */
  docs: Dialect[];
  /** none; "user": bearer-or-cookie; "challenge": the sign-in challenge as the Bearer token. */
  auth: "none" | "user" | "challenge";
  /** The body fields the page lists (on a shared path, the union of both pages' fields). */
  body?: Record<string, FieldType>;
  query?: Record<string, FieldType>;
}

const s = "string" as const;
// README.md, "Requests": rememberMe / remember_me are the boolean fields; everything else is text.
const b = "boolean" as const;

export const documentedRoutes: DocumentedRoute[] = [
  // api-v1.md: mounted at /api/v1
  { method: "POST", path: "/api/v1/auth/register", docs: ["api-v1"], auth: "none", body: { name: s, email: s, password: s } },
  {
    method: "POST",
    path: "/api/v1/auth/login",
    docs: ["api-v1"],
    auth: "none",
    body: { email: s, password: s, rememberMe: b, loginCode: s, recoveryCode: s },
  },
  { method: "POST", path: "/api/v1/auth/logout", docs: ["api-v1"], auth: "user" },
  { method: "POST", path: "/api/v1/auth/refresh", docs: ["api-v1"], auth: "none", body: { refreshToken: s } },
  { method: "POST", path: "/api/v1/auth/verify/email", docs: ["api-v1"], auth: "none", query: { code: s } },
  { method: "POST", path: "/api/v1/auth/resend-verification", docs: ["api-v1"], auth: "none", body: { email: s } },
  { method: "POST", path: "/api/v1/auth/forgot-password", docs: ["api-v1"], auth: "none", body: { email: s } },
  { method: "POST", path: "/api/v1/auth/reset-password", docs: ["api-v1"], auth: "none", query: { code: s }, body: { password: s } },
  { method: "GET", path: "/api/v1/auth/me", docs: ["api-v1"], auth: "user" },
  { method: "POST", path: "/api/v1/auth/2fa/setup", docs: ["api-v1"], auth: "user", body: { password: s } },
  { method: "POST", path: "/api/v1/auth/2fa/enable", docs: ["api-v1"], auth: "user", body: { otp: s } },
  { method: "POST", path: "/api/v1/auth/2fa/verify", docs: ["api-v1"], auth: "user", body: { otp: s } },
  {
    method: "POST",
    path: "/api/v1/auth/2fa/disable",
    docs: ["api-v1"],
    auth: "user",
    body: { password: s, otp: s, code: s, recoveryCode: s },
  },
  { method: "GET", path: "/api/v1/auth/2fa/status", docs: ["api-v1"], auth: "user" },
  { method: "GET", path: "/api/v1/accounts", docs: ["api-v1"], auth: "user" },
  {
    method: "DELETE",
    path: "/api/v1/accounts/:id",
    docs: ["api-v1"],
    auth: "user",
    body: { password: s, code: s, recoveryCode: s },
  },
  { method: "GET", path: "/api/v1/sessions", docs: ["api-v1"], auth: "user" },
  { method: "DELETE", path: "/api/v1/sessions/:id", docs: ["api-v1"], auth: "user" },
  { method: "DELETE", path: "/api/v1/sessions", docs: ["api-v1"], auth: "user" },
  { method: "GET", path: "/api/v1/healthcheck", docs: ["api-v1"], auth: "none" },

  // api-auth-security.md and api-auth-2fa.md: both mounted at /api/auth
  {
    method: "POST",
    path: "/api/auth/register",
    docs: ["api-auth-security", "api-auth-2fa"],
    auth: "none",
    body: { email: s, password: s, display_name: s },
  },
  {
    method: "POST",
    path: "/api/auth/login",
    docs: ["api-auth-security", "api-auth-2fa"],
    auth: "none",
    body: { email: s, password: s, rememberMe: b, loginCode: s, recoveryCode: s },
  },
  { method: "POST", path: "/api/auth/verify", docs: ["api-auth-security"], auth: "user" },
  { method: "GET", path: "/api/auth/profile", docs: ["api-auth-security"], auth: "user" },
  {
    method: "POST",
    path: "/api/auth/change-password",
    docs: ["api-auth-security"],
    auth: "user",
    body: { current_password: s, new_password: s },
  },
  { method: "PATCH", path: "/api/auth/profile", docs: ["api-auth-security"], auth: "user", body: { display_name: s } },
  { method: "POST", path: "/api/auth/2fa/setup", docs: ["api-auth-security"], auth: "user", body: { password: s } },
  { method: "POST", path: "/api/auth/2fa/verify", docs: ["api-auth-security"], auth: "user", body: { code: s } },
  {
    method: "POST",
    path: "/api/auth/2fa/disable",
    docs: ["api-auth-security", "api-auth-2fa"],
    auth: "user",
    body: { code: s, otp: s, password: s, recoveryCode: s },
  },
  { method: "GET", path: "/api/auth/sessions", docs: ["api-auth-security"], auth: "user" },
  { method: "DELETE", path: "/api/auth/sessions/:session_id", docs: ["api-auth-security"], auth: "user" },
  { method: "POST", path: "/api/auth/sessions/revoke-all", docs: ["api-auth-security"], auth: "user" },
  { method: "POST", path: "/api/auth/login/2fa", docs: ["api-auth-2fa"], auth: "none", body: { tempToken: s, otp: s } },
  { method: "POST", path: "/api/auth/refresh", docs: ["api-auth-2fa"], auth: "none", body: { refreshToken: s } },
  { method: "POST", path: "/api/auth/2fa/generate", docs: ["api-auth-2fa"], auth: "user", body: { password: s } },
  { method: "POST", path: "/api/auth/2fa/confirm", docs: ["api-auth-2fa"], auth: "user", body: { otp: s } },
  { method: "POST", path: "/api/auth/2fa/reset", docs: ["api-auth-2fa"], auth: "user", body: { password: s } },

  // root-auth-totp.md: /auth/… and /totp/…
  {
    method: "POST",
    path: "/auth/register",
    docs: ["root-auth-totp", "auth-router"],
    auth: "none",
    body: { email: s, password: s, name: s },
  },
  {
    method: "POST",
    path: "/auth/login",
    docs: ["root-auth-totp", "auth-router"],
    auth: "none",
    body: { email: s, password: s, remember_me: b, loginCode: s, recoveryCode: s },
  },
  { method: "POST", path: "/auth/verify-otp", docs: ["root-auth-totp"], auth: "challenge", body: { otp: s } },
  { method: "GET", path: "/totp/setup", docs: ["root-auth-totp"], auth: "user" },
  { method: "POST", path: "/totp/enable", docs: ["root-auth-totp"], auth: "user", body: { secret: s, otp: s, deviceName: s } },
  { method: "POST", path: "/totp/disable", docs: ["root-auth-totp"], auth: "user", body: { otp: s } },
  { method: "GET", path: "/totp/devices", docs: ["root-auth-totp"], auth: "user" },
  { method: "POST", path: "/totp/devices", docs: ["root-auth-totp"], auth: "user", body: { secret: s, otp: s, deviceName: s } },
  { method: "DELETE", path: "/totp/devices/:id", docs: ["root-auth-totp"], auth: "user", body: { password: s, otp: s, recoveryCode: s } },

  // auth-router.md: /auth
  { method: "POST", path: "/auth/logout", docs: ["auth-router"], auth: "user" },
  { method: "POST", path: "/auth/refresh", docs: ["auth-router"], auth: "none", body: { refresh_token: s } },
  { method: "GET", path: "/auth/me", docs: ["auth-router"], auth: "user" },
  { method: "DELETE", path: "/auth/me", docs: ["auth-router"], auth: "user", body: { password: s, code: s, recovery_code: s } },
  { method: "POST", path: "/auth/password", docs: ["auth-router"], auth: "user", body: { current_password: s, new_password: s } },
  { method: "GET", path: "/auth/sessions", docs: ["auth-router"], auth: "user" },
  { method: "DELETE", path: "/auth/sessions/all", docs: ["auth-router"], auth: "user" },
  { method: "DELETE", path: "/auth/sessions/:id", docs: ["auth-router"], auth: "user" },
];

/**
 * HTTP reason phrases, as root-auth-totp's error body carries them in `error` (its NestJS-style
 * `{ statusCode, message, error }`; RFC 7231 §6 wording, which is also Node's http.STATUS_CODES).
 */
export const httpReasonPhrases: Record<number, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  409: "Conflict",
  413: "Payload Too Large",
  415: "Unsupported Media Type",
  423: "Locked",
  429: "Too Many Requests",
  503: "Service Unavailable",
};
