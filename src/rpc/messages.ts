import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import {
  DeviceTokenSchema,
  TokenPairSchema,
  UserSchema,
  type DeviceToken,
  type Reauthentication as ReauthenticationMessage,
  type TokenPair as TokenPairMessage,
  type User,
} from "../../gen/auth/v1/common_pb.js";
import { SessionSchema, type Session } from "../../gen/auth/v1/session_service_pb.js";
import { LinkedAccountSchema, type LinkedAccount as LinkedAccountMessage } from "../../gen/auth/v1/auth_service_pb.js";
import type { DeviceGrant } from "../tokens/devices.ts";
import type { AccountView, LinkedAccount } from "../accounts/accounts.ts";
import { DeviceSchema, type Device as DeviceMessage } from "../../gen/auth/v1/two_factor_service_pb.js";
import { noReauthentication, type Reauthentication } from "../two-factor/reauthentication.ts";
import type { Device } from "../two-factor/two-factor.ts";
import { PasskeySchema, type Passkey as PasskeyMessage } from "../../gen/auth/v1/passkey_service_pb.js";
import type { PasskeyView } from "../passkeys/passkeys.ts";
import type { SessionView, TokenPair } from "../sessions/sessions.ts";
import { ServiceAccountSchema, type ServiceAccount as ServiceAccountMessage } from "../../gen/auth/v1/service_account_service_pb.js";
import { IntrospectTokenResponseSchema, type IntrospectTokenResponse } from "../../gen/auth/v1/token_service_pb.js";
import type { Introspection } from "../introspection/introspection.ts";
import type { ServiceAccountView } from "../service-accounts/service-accounts.ts";

export function userMessage(user: AccountView): User {
  return create(UserSchema, {
    id: user.id,
    email: user.email,
    emailVerified: user.emailVerified,
    displayName: user.displayName,
    twoFactorEnabled: user.twoFactorEnabled,
    createTime: timestampFromDate(user.createdAt),
    updateTime: timestampFromDate(user.updatedAt),
    roles: [...user.roles],
  });
}

export function tokenPairMessage(tokens: TokenPair): TokenPairMessage {
  return create(TokenPairSchema, {
    accessToken: tokens.accessToken,
    refreshToken: tokens.refreshToken,
    tokenType: tokens.tokenType,
    expiresIn: BigInt(tokens.expiresIn),
    accessTokenExpireTime: timestampFromDate(tokens.accessTokenExpiresAt),
    refreshTokenExpireTime: timestampFromDate(tokens.refreshTokenExpiresAt),
    sessionId: tokens.sessionId,
  });
}

export function sessionMessage(session: SessionView): Session {
  return create(SessionSchema, {
    id: session.id,
    userAgent: session.userAgent,
    ipAddress: session.ipAddress,
    createTime: timestampFromDate(session.createdAt),
    lastActiveTime: timestampFromDate(session.lastActiveAt),
    expireTime: timestampFromDate(session.expiresAt),
    current: session.current,
  });
}

export function deviceTokenMessage(grant: DeviceGrant): DeviceToken {
  return create(DeviceTokenSchema, {
    token: grant.token,
    expireTime: timestampFromDate(grant.expiresAt),
    deviceId: grant.deviceId,
    known: grant.known,
  });
}

export function linkedAccountMessage(account: LinkedAccount): LinkedAccountMessage {
  return create(LinkedAccountSchema, {
    id: account.id,
    provider: account.provider,
    providerAccountId: account.providerAccountId,
    createTime: timestampFromDate(account.createdAt),
    email: account.email,
  });
}

export function deviceMessage(device: Device): DeviceMessage {
  return create(DeviceSchema, {
    id: device.id,
    name: device.name,
    createTime: timestampFromDate(device.createdAt),
    lastUseTime: device.lastUsedAt === null ? undefined : timestampFromDate(device.lastUsedAt),
  });
}

export function passkeyMessage(passkey: PasskeyView): PasskeyMessage {
  return create(PasskeySchema, {
    id: passkey.id,
    name: passkey.name,
    credentialId: passkey.credentialId,
    transports: passkey.transports,
    backupEligible: passkey.backupEligible,
    backedUp: passkey.backedUp,
    createTime: timestampFromDate(passkey.createdAt),
    lastUseTime: passkey.lastUsedAt === null ? undefined : timestampFromDate(passkey.lastUsedAt),
  });
}

/** A request's optional step-up proof (an absent message is an absent proof). */
export function reauthenticationOf(message: ReauthenticationMessage | undefined): Reauthentication {
  if (message === undefined) return noReauthentication;
  return { password: message.password, code: message.code, recoveryCode: message.recoveryCode };
}

export function serviceAccountMessage(a: ServiceAccountView): ServiceAccountMessage {
  return create(ServiceAccountSchema, {
    id: a.id,
    name: a.name,
    permissions: a.permissions,
    createdBy: a.createdBy,
    createTime: timestampFromDate(a.createdAt),
    lastUsedTime: a.lastUsedAt === null ? undefined : timestampFromDate(a.lastUsedAt),
    revokeTime: a.revokedAt === null ? undefined : timestampFromDate(a.revokedAt),
    keyCreateTime: timestampFromDate(a.keyCreatedAt),
    keyPrefix: a.keyPrefix,
  });
}

/** An introspection: `active` alone when the token is not active. */
export function introspectionMessage(r: Introspection): IntrospectTokenResponse {
  if (!r.active) return create(IntrospectTokenResponseSchema, { active: false });
  return create(IntrospectTokenResponseSchema, {
    active: true,
    sub: r.sub,
    sid: r.sid,
    roles: [...r.roles],
    permissions: [...r.permissions],
    expireTime: r.expiresAt === null ? undefined : timestampFromDate(r.expiresAt),
    issueTime: timestampFromDate(r.issuedAt),
    clientId: r.clientId,
    tokenType: r.tokenType,
    iss: r.issuer,
  });
}
