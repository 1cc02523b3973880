// A session's token pair: a fresh refresh token stored for it, and an access token for the same
// session.

import type { Clock } from "../clock.ts";
import type { SessionRecord, Store, UserRecord } from "../store/port.ts";
import type { AccessTokens } from "../tokens/access.ts";
import { randomToken, tokenHash } from "../tokens/opaque.ts";

export interface TokenPair {
  accessToken: string;
  refreshToken: string;
  tokenType: "Bearer";
  expiresIn: number;
  accessTokenExpiresAt: Date;
  refreshTokenExpiresAt: Date;
  sessionId: string;
}

export interface PairIssuerDeps {
  store: Pick<Store, "refreshTokens">;
  clock: Clock;
  accessTokens: AccessTokens;
  /** The permissions of a set of roles (permissions.ts's lookup). */
  permissionsFor: (roles: readonly string[]) => readonly string[];
}

export function pairIssuer(deps: PairIssuerDeps) {
  const { store, clock, accessTokens, permissionsFor } = deps;

  /** The roles as the user record holds them now: a refresh carries a change into the next token. */
  async function issuePair(session: SessionRecord, user: UserRecord, expiresAt: Date): Promise<TokenPair> {
    const refreshToken = randomToken(32);
    await store.refreshTokens.insert({
      tokenHash: tokenHash(refreshToken),
      sessionId: session.id,
      userId: session.userId,
      createdAt: clock.now(),
      expiresAt,
      consumedAt: null,
      successor: null,
    });
    const access = await accessTokens.issue({
      userId: session.userId,
      sessionId: session.id,
      roles: user.roles,
      permissions: permissionsFor(user.roles),
    });
    return {
      accessToken: access.token,
      refreshToken,
      tokenType: "Bearer",
      expiresIn: access.expiresIn,
      accessTokenExpiresAt: access.expiresAt,
      refreshTokenExpiresAt: expiresAt,
      sessionId: session.id,
    };
  }

  return issuePair;
}
