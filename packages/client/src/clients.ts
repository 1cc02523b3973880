// The generated services and messages, and the interceptor that turns authd's errors into
// AuthdError on any transport.
import { createClient, type Client, type Interceptor, type Transport } from "@connectrpc/connect";
import { toAuthdError } from "./errors.ts";
import { AdminService } from "./gen/auth/v1/admin_service_pb.js";
import { AuthService } from "./gen/auth/v1/auth_service_pb.js";
import { EmailSignInService } from "./gen/auth/v1/email_sign_in_service_pb.js";
import { FederationService } from "./gen/auth/v1/federation_service_pb.js";
import { PasskeyService } from "./gen/auth/v1/passkey_service_pb.js";
import { ServiceAccountService } from "./gen/auth/v1/service_account_service_pb.js";
import { SessionService } from "./gen/auth/v1/session_service_pb.js";
import { TokenService } from "./gen/auth/v1/token_service_pb.js";
import { TwoFactorService } from "./gen/auth/v1/two_factor_service_pb.js";
import type { TokenManager } from "./tokens.ts";

export * from "./gen/auth/v1/admin_service_pb.js";
export * from "./gen/auth/v1/auth_service_pb.js";
export * from "./gen/auth/v1/common_pb.js";
export * from "./gen/auth/v1/email_sign_in_service_pb.js";
export * from "./gen/auth/v1/passkey_service_pb.js";
export * from "./gen/auth/v1/service_account_service_pb.js";
export * from "./gen/auth/v1/session_service_pb.js";
export * from "./gen/auth/v1/token_service_pb.js";
export * from "./gen/auth/v1/two_factor_service_pb.js";

/** Rethrows every error that carries one of authd's reasons as an AuthdError. */
export const authdErrors: Interceptor = (next) => async (req) => {
  try {
    return await next(req);
  } catch (err) {
    throw toAuthdError(err) ?? err;
  }
};

/** What every transport factory of this package takes besides its protocol. */
export interface AuthdTransportOptions {
  /** authd's address, e.g. "https://auth.example.com". */
  baseUrl: string;
  /** Attach its access token to every call, refreshing it when it expires. */
  tokens?: TokenManager;
  /** More interceptors, called after the package's own. */
  interceptors?: Interceptor[];
}

/** The interceptors a transport of this package runs: errors as AuthdError, then the token, then the app's. */
export function transportInterceptors(opts: AuthdTransportOptions): Interceptor[] {
  return [authdErrors, ...(opts.tokens === undefined ? [] : [opts.tokens.interceptor]), ...(opts.interceptors ?? [])];
}

export interface AuthdClients {
  auth: Client<typeof AuthService>;
  sessions: Client<typeof SessionService>;
  twoFactor: Client<typeof TwoFactorService>;
  tokens: Client<typeof TokenService>;
  serviceAccounts: Client<typeof ServiceAccountService>;
  admin: Client<typeof AdminService>;
  /** Passwordless sign-in by a mailed code or magic link (when the server turns it on). */
  emailSignIn: Client<typeof EmailSignInService>;
  /** Passkeys: register, list, rename, remove, and sign in with one (when the server turns them on). */
  passkeys: Client<typeof PasskeyService>;
  /** Sign-in with OpenID Connect providers (Google, Microsoft, …) and linking them, when configured. */
  federation: Client<typeof FederationService>;
}

/** A client of each of authd's services on one transport. */
export function createAuthdClients(transport: Transport): AuthdClients {
  return {
    auth: createClient(AuthService, transport),
    sessions: createClient(SessionService, transport),
    twoFactor: createClient(TwoFactorService, transport),
    tokens: createClient(TokenService, transport),
    serviceAccounts: createClient(ServiceAccountService, transport),
    admin: createClient(AdminService, transport),
    emailSignIn: createClient(EmailSignInService, transport),
    passkeys: createClient(PasskeyService, transport),
    federation: createClient(FederationService, transport),
  };
}
