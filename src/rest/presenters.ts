// How each legacy document (docs/legacy-rest/) shows the service's records: users, tokens,
// sessions, linked accounts, authenticator devices and enrolments, in its own field names.

import type { AccountView } from "../accounts/account.ts";
import type { LinkedAccount } from "../accounts/accounts.ts";
import { legacyRole } from "../permissions/permissions.ts";
import type { SessionView, TokenPair } from "../sessions/sessions.ts";
import type { Device, Enrolment } from "../two-factor/two-factor.ts";

export const iso = (d: Date | null | undefined) => (d === null || d === undefined ? null : d.toISOString());

/** api-v1 and api-auth-2fa: camelCase. */
export const userCamel = (u: AccountView) => ({
  id: u.id,
  email: u.email,
  name: u.displayName,
  emailVerified: u.emailVerified,
  twoFactorEnabled: u.twoFactorEnabled,
  createdAt: iso(u.createdAt),
  updatedAt: iso(u.updatedAt),
});

/** api-auth-security's UserProfile: snake_case, like its request fields. */
export const userSnake = (u: AccountView) => ({
  id: u.id,
  email: u.email,
  display_name: u.displayName,
  email_verified: u.emailVerified,
  two_factor_enabled: u.twoFactorEnabled,
  created_at: iso(u.createdAt),
  updated_at: iso(u.updatedAt),
});

/** auth-router's UserResponse: one role (legacyRole: the first other than "user", else "user"). */
export const userRouter = (u: AccountView) => ({
  id: u.id,
  email: u.email,
  ...(u.displayName === "" ? {} : { name: u.displayName }),
  role: legacyRole(u.roles),
  created_at: iso(u.createdAt),
});

export const tokensCamel = (t: TokenPair) => ({
  accessToken: t.accessToken,
  refreshToken: t.refreshToken,
  tokenType: t.tokenType,
  expiresIn: t.expiresIn,
});

export const tokensSnake = (t: TokenPair) => ({
  access_token: t.accessToken,
  refresh_token: t.refreshToken,
  token_type: t.tokenType,
  expires_in: t.expiresIn,
});

export const sessionCamel = (s: SessionView) => ({
  id: s.id,
  ipAddress: s.ipAddress,
  userAgent: s.userAgent,
  createdAt: iso(s.createdAt),
  lastActiveAt: iso(s.lastActiveAt),
  expiresAt: iso(s.expiresAt),
  current: s.current,
});

export const sessionSnake = (s: SessionView) => ({
  id: s.id,
  ip_address: s.ipAddress,
  user_agent: s.userAgent,
  created_at: iso(s.createdAt),
  last_active_at: iso(s.lastActiveAt),
  expires_at: iso(s.expiresAt),
  is_current: s.current,
});

/** auth-router's SessionResponse. */
export const sessionRouter = (s: SessionView) => ({
  id: s.id,
  device: s.userAgent === "" ? null : s.userAgent,
  ip_address: s.ipAddress === "" ? null : s.ipAddress,
  last_active: iso(s.lastActiveAt),
  created_at: iso(s.createdAt),
  is_current: s.current,
});

export const linkedCamel = (a: LinkedAccount) => ({
  id: a.id,
  provider: a.provider,
  providerAccountId: a.providerAccountId,
  email: a.email,
  createdAt: iso(a.createdAt),
});

export const deviceCamel = (d: Device) => ({ id: d.id, name: d.name, createdAt: iso(d.createdAt), lastUsedAt: iso(d.lastUsedAt) });

export const enrolmentCamel = (e: Enrolment) => ({ secret: e.secret, otpauthUrl: e.otpauthUrl });
