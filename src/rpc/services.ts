import type { ConnectRouter, HandlerContext, Interceptor } from "@connectrpc/connect";
import { ConnectError } from "@connectrpc/connect";
import { codeToString } from "@connectrpc/connect/protocol-connect";
import { AuthService } from "../../gen/auth/v1/auth_service_pb.js";
import { EmailSignInService } from "../../gen/auth/v1/email_sign_in_service_pb.js";
import { PasskeyService } from "../../gen/auth/v1/passkey_service_pb.js";
import { FederationService } from "../../gen/auth/v1/federation_service_pb.js";
import { ServiceAccountService } from "../../gen/auth/v1/service_account_service_pb.js";
import { SessionService } from "../../gen/auth/v1/session_service_pb.js";
import { TokenService } from "../../gen/auth/v1/token_service_pb.js";
import { TwoFactorService } from "../../gen/auth/v1/two_factor_service_pb.js";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { StartedFlow } from "../federation/federation.ts";
import type { Operations } from "../operations.ts";
import { AuthError } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { Enrolment } from "../two-factor/two-factor.ts";
import type { CeremonyOptions } from "../passkeys/relying-party.ts";
import type { LoginResult, SignedInOnDevice } from "../sign-in/sign-in.ts";
import { bearerToken, clientCertificateKey, clientInfo, outcomeKey, principalBearer, requestIdKey } from "./context.ts";
import { toSafeError } from "../transport/safe-error.ts";
import { registerAdminService } from "./admin-service.ts";
import { sendableError, toConnectError } from "./errors.ts";
import {
  deviceMessage,
  deviceTokenMessage,
  introspectionMessage,
  linkedAccountMessage,
  passkeyMessage,
  reauthenticationOf,
  serviceAccountMessage,
  sessionMessage,
  tokenPairMessage,
  userMessage,
} from "./messages.ts";

const startedFlowMessage = (flow: StartedFlow) => ({
  authorizationUrl: flow.authorizationUrl,
  state: flow.state,
  expireTime: timestampFromDate(flow.expiresAt),
});

function enrolmentMessage(e: Enrolment) {
  return {
    secret: e.secret,
    otpauthUrl: e.otpauthUrl,
    qrCodeDataUrl: e.qrCodeDataUrl,
    expireTime: e.expiresAt === undefined ? undefined : timestampFromDate(e.expiresAt),
  };
}

/** Login's answer, shared by every first factor: tokens, or the second factor's challenge. */
function signInResultMessage(result: LoginResult) {
  if (result.state === "second_factor_pending") {
    const { token, expiresAt } = result.challenge;
    return {
      user: { id: result.identity.id, email: result.identity.email, twoFactorEnabled: true },
      result: { case: "secondFactor" as const, value: { challengeToken: token, expireTime: timestampFromDate(expiresAt) } },
    };
  }
  return {
    user: userMessage(result.account),
    result: { case: "tokens" as const, value: tokenPairMessage(result.tokens) },
    deviceToken: deviceTokenMessage(result.device),
  };
}

function ceremonyMessage(o: CeremonyOptions) {
  return { optionsJson: o.optionsJson, expireTime: timestampFromDate(o.expiresAt) };
}

/** A completed sign-in, as CompleteLogin and the passkey sign-ins answer it. */
function signedInMessage(result: SignedInOnDevice) {
  return { user: userMessage(result.account), tokens: tokenPairMessage(result.tokens), deviceToken: deviceTokenMessage(result.device) };
}

/**
 * Every RPC passes through here: errors become safe ConnectErrors with their reason attached, and
 * the reason goes to the request's access-log line (never the payload). The status the client
 * saw is noted by the adapter from the wire; the one noted here stands for streams.
 */
export function rpcInterceptor(log: Logger): Interceptor {
  return (next) => async (req) => {
    const outcome = req.contextValues.get(outcomeKey);
    try {
      const res = await next(req);
      if (outcome !== undefined) outcome.rpcCode = "ok";
      return res;
    } catch (err) {
      // Connect's own protocol errors (deadline, cancellation) pass as they are.
      const requestId = req.contextValues.get(requestIdKey);
      const safe =
        err instanceof ConnectError ? err : toSafeError(err, log.child({ requestId, rpc: `${req.service.typeName}/${req.method.name}` }));
      const outgoing = sendableError(safe instanceof AuthError ? toConnectError(safe) : safe);
      if (outcome !== undefined) {
        outcome.rpcCode = codeToString(ConnectError.from(outgoing).code);
        if (safe instanceof AuthError) outcome.reason = safe.reason;
      }
      throw outgoing;
    }
  };
}

export function registerAuthServices(router: ConnectRouter, ops: Operations): void {
  const { accounts, sessions, twoFactor, signIn, federation } = ops;
  const caller = (ctx: HandlerContext) => sessions.authenticate({ bearer: bearerToken(ctx) });

  router.service(AuthService, {
    async register(req, ctx) {
      const { user, tokens } = await accounts.register(
        { email: req.email, password: req.password, displayName: req.displayName },
        clientInfo(ctx),
      );
      return {
        user: userMessage(user),
        verificationRequired: tokens === undefined,
        tokens: tokens === undefined ? undefined : tokenPairMessage(tokens),
      };
    },
    async login(req, ctx) {
      const result = await signIn.login(
        {
          email: req.email,
          password: req.password,
          rememberMe: req.rememberMe,
          loginCode: req.loginCode,
          recoveryCode: req.recoveryCode,
          deviceToken: req.deviceToken,
        },
        clientInfo(ctx),
      );
      return signInResultMessage(result);
    },
    async completeLogin(req, ctx) {
      const proof = { code: req.code, recoveryCode: req.recoveryCode };
      return signedInMessage(await signIn.completeLogin(req.challengeToken, proof, clientInfo(ctx), req.deviceToken));
    },
    async logout(_req, ctx) {
      await sessions.logout(await caller(ctx));
      return {};
    },
    async refreshToken(req) {
      return { tokens: tokenPairMessage(await sessions.refresh(req.refreshToken)) };
    },
    async getCurrentUser(_req, ctx) {
      return { user: userMessage(await accounts.getUser(await caller(ctx))) };
    },
    async updateProfile(req, ctx) {
      const user = await accounts.updateProfile(await caller(ctx), { displayName: req.displayName });
      return { user: userMessage(user) };
    },
    async changePassword(req, ctx) {
      const changed = await accounts.changePassword(
        await caller(ctx),
        req.currentPassword,
        req.newPassword,
        clientInfo(ctx),
        req.deviceToken,
      );
      return { revokedSessionCount: changed.revokedSessionCount, deviceToken: deviceTokenMessage(changed.device) };
    },
    async deleteAccount(req, ctx) {
      await accounts.deleteAccount(await caller(ctx), reauthenticationOf(req.reauthentication), clientInfo(ctx));
      return {};
    },
    async verifyEmail(req) {
      return { user: userMessage(await accounts.verifyEmail(req.code)) };
    },
    async resendVerificationEmail(req, ctx) {
      await accounts.resendVerification(req.email, clientInfo(ctx));
      return {};
    },
    async requestPasswordReset(req, ctx) {
      await accounts.requestPasswordReset(req.email, clientInfo(ctx));
      return {};
    },
    async resetPassword(req, ctx) {
      const device = await accounts.resetPassword(req.code, req.newPassword, clientInfo(ctx), req.deviceToken);
      return { deviceToken: deviceTokenMessage(device) };
    },
    async listLinkedAccounts(_req, ctx) {
      const list = await accounts.listLinkedAccounts(await caller(ctx));
      return { accounts: list.map(linkedAccountMessage) };
    },
    async unlinkAccount(req, ctx) {
      await accounts.unlinkAccount(await caller(ctx), req.id, reauthenticationOf(req.reauthentication), clientInfo(ctx));
      return {};
    },
  });

  router.service(EmailSignInService, {
    async requestEmailSignIn(req, ctx) {
      await ops.emailSignIn.request(req.email, clientInfo(ctx));
      return {};
    },
    async completeEmailSignIn(req, ctx) {
      const input = {
        email: req.email,
        code: req.code,
        linkToken: req.linkToken,
        rememberMe: req.rememberMe,
        deviceToken: req.deviceToken,
      };
      return signInResultMessage(await ops.emailSignIn.complete(input, clientInfo(ctx)));
    },
  });

  router.service(FederationService, {
    async listProviders() {
      return { providers: federation.listProviders() };
    },
    async startProviderSignIn(req, ctx) {
      return startedFlowMessage(await federation.startSignIn(req.provider, req.rememberMe, clientInfo(ctx)));
    },
    async finishProviderSignIn(req, ctx) {
      const result = await federation.finishSignIn(req.state, req.callbackUrl, clientInfo(ctx), req.deviceToken);
      return { ...signInResultMessage(result), accountCreated: result.accountCreated };
    },
    async startProviderLink(req, ctx) {
      return startedFlowMessage(
        await federation.startLink(await caller(ctx), req.provider, reauthenticationOf(req.reauthentication), clientInfo(ctx)),
      );
    },
    async finishProviderLink(req, ctx) {
      const linked = await federation.finishLink(await caller(ctx), req.state, req.callbackUrl, clientInfo(ctx));
      return { linkedAccount: linkedAccountMessage(linked) };
    },
  });

  router.service(TwoFactorService, {
    async setup(req, ctx) {
      const e = await twoFactor.setup(
        await caller(ctx),
        { password: req.password, additionalDevice: req.additionalDevice },
        clientInfo(ctx),
      );
      return { ...enrolmentMessage(e), existing: e.existing };
    },
    async enable(req, ctx) {
      const r = await twoFactor.enable(
        await caller(ctx),
        { code: req.code, deviceName: req.deviceName, secret: req.secret },
        clientInfo(ctx),
      );
      return {
        recoveryCodes: r.recoveryCodes,
        device: deviceMessage(r.device),
        enableTime: timestampFromDate(r.enabledAt),
        revokedSessionCount: r.revokedSessionCount,
      };
    },
    async verify(req, ctx) {
      return { deviceId: await twoFactor.verify(await caller(ctx), req.code) };
    },
    async disable(req, ctx) {
      const revoked = await twoFactor.disable(
        await caller(ctx),
        { code: req.code, recoveryCode: req.recoveryCode, password: req.password },
        clientInfo(ctx),
      );
      return { revokedSessionCount: revoked };
    },
    async getStatus(_req, ctx) {
      const s = await twoFactor.status(await caller(ctx));
      return {
        enabled: s.enabled,
        enableTime: s.enabledAt === null ? undefined : timestampFromDate(s.enabledAt),
        deviceCount: s.deviceCount,
        recoveryCodesRemaining: s.recoveryCodesRemaining,
      };
    },
    async reset(req, ctx) {
      return enrolmentMessage(await twoFactor.reset(await caller(ctx), req.password, clientInfo(ctx)));
    },
    async listDevices(_req, ctx) {
      return { devices: (await twoFactor.listDevices(await caller(ctx))).map(deviceMessage) };
    },
    async addDevice(req, ctx) {
      const device = await twoFactor.addDevice(
        await caller(ctx),
        { secret: req.secret, code: req.code, deviceName: req.deviceName },
        clientInfo(ctx),
      );
      return { device: deviceMessage(device) };
    },
    async removeDevice(req, ctx) {
      const proof = reauthenticationOf(req.reauthentication);
      return { revokedSessionCount: await twoFactor.removeDevice(await caller(ctx), req.deviceId, proof, clientInfo(ctx)) };
    },
    async regenerateRecoveryCodes(req, ctx) {
      return { recoveryCodes: await twoFactor.regenerateRecoveryCodes(await caller(ctx), req.code, clientInfo(ctx)) };
    },
  });

  router.service(SessionService, {
    async listSessions(_req, ctx) {
      const list = await sessions.list(await caller(ctx));
      return { sessions: list.map(sessionMessage) };
    },
    async revokeSession(req, ctx) {
      await sessions.revoke(await caller(ctx), req.sessionId);
      return {};
    },
    async revokeOtherSessions(req, ctx) {
      const { revokedCount, device } = await sessions.revokeOthers(await caller(ctx), req.deviceToken);
      return device === null ? { revokedCount } : { revokedCount, deviceToken: deviceTokenMessage(device) };
    },
  });

  registerAdminService(router, ops);
  registerPasskeyService(router, ops);
  registerServiceServices(router, ops);
}

function registerPasskeyService(router: ConnectRouter, ops: Operations): void {
  const { sessions, passkeys, passkeySignIn } = ops;
  const caller = (ctx: HandlerContext) => sessions.authenticate({ bearer: bearerToken(ctx) });

  router.service(PasskeyService, {
    async startPasskeyRegistration(req, ctx) {
      return ceremonyMessage(
        await passkeys.startRegistration(await caller(ctx), reauthenticationOf(req.reauthentication), clientInfo(ctx)),
      );
    },
    async finishPasskeyRegistration(req, ctx) {
      const passkey = await passkeys.finishRegistration(
        await caller(ctx),
        { credentialJson: req.credentialJson, name: req.name },
        clientInfo(ctx),
      );
      return { passkey: passkeyMessage(passkey) };
    },
    async listPasskeys(_req, ctx) {
      return { passkeys: (await passkeys.list(await caller(ctx))).map(passkeyMessage) };
    },
    async renamePasskey(req, ctx) {
      return { passkey: passkeyMessage(await passkeys.rename(await caller(ctx), req.passkeyId, req.name)) };
    },
    async removePasskey(req, ctx) {
      await passkeys.remove(await caller(ctx), req.passkeyId, reauthenticationOf(req.reauthentication), clientInfo(ctx));
      return {};
    },
    async startPasskeySignIn(_req, ctx) {
      return ceremonyMessage(await passkeySignIn.startSignIn(clientInfo(ctx)));
    },
    async finishPasskeySignIn(req, ctx) {
      const input = { credentialJson: req.credentialJson, rememberMe: req.rememberMe, deviceToken: req.deviceToken };
      return signedInMessage(await passkeySignIn.finishSignIn(input, clientInfo(ctx)));
    },
    async startPasskeySecondFactor(req) {
      return ceremonyMessage(await passkeySignIn.startSecondFactor(req.challengeToken));
    },
    async finishPasskeySecondFactor(req, ctx) {
      const input = { credentialJson: req.credentialJson, deviceToken: req.deviceToken };
      return signedInMessage(await passkeySignIn.finishSecondFactor(req.challengeToken, input, clientInfo(ctx)));
    },
  });
}

/**
 * The services whose callers may be services: a service account's API key or a user's access
 * token, told apart by the key's prefix, or a verified TLS client certificate
 * (service-accounts/principal.ts).
 */
function registerServiceServices(router: ConnectRouter, ops: Operations): void {
  const { principals, serviceAccounts, introspection } = ops;
  const principal = (ctx: HandlerContext) => principals.authenticate(principalBearer(ctx), ctx.values.get(clientCertificateKey));

  router.service(ServiceAccountService, {
    async createServiceAccount(req, ctx) {
      const issued = await serviceAccounts.create(
        await principal(ctx),
        { name: req.name, permissions: req.permissions, reauthentication: reauthenticationOf(req.reauthentication) },
        clientInfo(ctx),
      );
      return { serviceAccount: serviceAccountMessage(issued.account), apiKey: issued.apiKey };
    },
    async listServiceAccounts(req, ctx) {
      const page = await serviceAccounts.list(await principal(ctx), { pageSize: req.pageSize, pageToken: req.pageToken }, clientInfo(ctx));
      return { serviceAccounts: page.accounts.map(serviceAccountMessage), nextPageToken: page.nextPageToken };
    },
    async revokeServiceAccount(req, ctx) {
      return {
        serviceAccount: serviceAccountMessage(await serviceAccounts.revoke(await principal(ctx), req.serviceAccountId, clientInfo(ctx))),
      };
    },
    async rotateServiceAccountKey(req, ctx) {
      const issued = await serviceAccounts.rotateKey(
        await principal(ctx),
        req.serviceAccountId,
        reauthenticationOf(req.reauthentication),
        clientInfo(ctx),
      );
      return { serviceAccount: serviceAccountMessage(issued.account), apiKey: issued.apiKey };
    },
  });

  router.service(TokenService, {
    async introspectToken(req, ctx) {
      return introspectionMessage(
        await introspection.introspect(await principal(ctx), { token: req.token, tokenTypeHint: req.tokenTypeHint }),
      );
    },
  });
}
