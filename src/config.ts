// Configuration is read from the environment once, at start-up, into a typed object. A bad value
// stops the server with a message naming the variable.

import type { ClientAggregate } from "./client-network.ts";
import { clientAggregate } from "./config/client-networks.ts";
import { type ConnectionLimits, connectionLimits } from "./config/connection-limits.ts";
import { type EmailSignInSettings, emailSignIn } from "./config/email-sign-in.ts";
import { type MetricsSettings, metrics } from "./config/metrics.ts";
import { mongodb } from "./config/mongodb.ts";
import { oidc } from "./config/oidc.ts";
import { bool, ConfigError, type Env, int, oneOf, origins, str, url } from "./config/parse.ts";
import { type Argon2Settings, accountHourlyBound, argon2, type PwnedPasswordsSettings, pwnedPasswords } from "./config/passwords.ts";
import { adminEmails, roles } from "./config/roles.ts";
import { serverSecret } from "./config/server-secret.ts";
import { type TlsSettings, tls } from "./config/tls.ts";
import { type JwtSettings, jwt } from "./config/tokens.ts";
import { type TracingSettings, tracing } from "./config/tracing.ts";
import { type WebAuthnSettings, webauthn } from "./config/webauthn.ts";
import type { OidcSettings } from "./oidc-providers.ts";
import { adminRole, type RoleMap } from "./permissions/permissions.ts";
import type { MongoConnectionPlan } from "./store/mongo/connection-plan.ts";

// Each group of settings is parsed in its own module under config/; the names importers use are
// all exported from here.
export { ConfigError } from "./config/parse.ts";
export type { ConnectionLimits } from "./config/connection-limits.ts";
export type { EmailSignInSettings } from "./config/email-sign-in.ts";
export type { TracesExporter, TracesSampler, TracingSettings } from "./config/tracing.ts";
export type { WebAuthnSettings } from "./config/webauthn.ts";

export interface Config {
  port: number;
  host: string;
  /** How to reach MongoDB (the URI as the driver parsed it, pinned options); undefined: embedded store. */
  mongodb: MongoConnectionPlan | undefined;
  /**
   * TLS on the port; with `clientCaPem` (TLS_CLIENT_CA_FILE), client certificates that CA signed
   * authenticate service accounts (mTLS, src/service-accounts/principal.ts).
   */
  tls: TlsSettings | undefined;
  corsAllowedOrigins: string[];
  /** How many reverse proxies in front of us append to X-Forwarded-For (0: ignore the header). */
  trustProxyHops: number;
  maxBodyBytes: number;
  shutdownGraceMs: number;
  /**
   * Plain unary calls take the RPC fast path (rpc/unary.ts); false sends every call through
   * Connect's own handler, the way to rule the fast path out if a client ever answers differently.
   */
  rpcFastPath: boolean;
  /** Connection and protocol limits against slow or abusive clients; 0 turns a limit off. */
  limits: ConnectionLimits;
  /**
   * Where the Prometheus metrics are served: on their own plain-HTTP port (`port`, on `host`), or
   * without one on the main port, where the bearer `token` is then required. Undefined: metrics
   * are off (neither METRICS_PORT nor METRICS_TOKEN is set).
   */
  metrics: MetricsSettings | undefined;
  logLevel: "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent";
  jwt: JwtSettings;
  refreshTokenTtlSeconds: number;
  refreshTokenTtlRememberMeSeconds: number;
  /** No session lives longer than this from sign-in, however often it is refreshed. */
  sessionMaxLifetimeSeconds: number;
  /** Live sessions a user may hold; opening one more revokes the oldest. */
  maxSessionsPerUser: number;
  /** How long a spent refresh token is remembered, so that presenting it again revokes its session. */
  refreshReuseDetectionSeconds: number;
  /**
   * How long after a refresh the token it spent may be presented again and get the same new pair
   * (two tabs, a retry) instead of revoking the session; 0 disables.
   */
  refreshReuseGraceSeconds: number;
  argon2: Argon2Settings;
  /**
   * Failed password guesses per account from clients without a known-device token before those
   * clients are refused; 0 disables the limit.
   */
  loginMaxFailures: number;
  /** How long failures are remembered, and how long a reached limit locks. */
  loginLockSeconds: number;
  /** Failed password guesses per client address, across accounts; 0 disables the limit. */
  loginAddressMaxFailures: number;
  /**
   * The IPv6 aggregate the per-client budgets that guard accounts and the mail relay also count
   * (see src/client-network.ts); undefined when CLIENT_IPV6_AGGREGATE_MULTIPLE is 0.
   */
  clientAggregate: ClientAggregate | undefined;
  /** Failed password guesses per known device; 0 disables the limit. */
  loginDeviceMaxFailures: number;
  /** The account's bound per hour, half for strangers and half for known devices; 0 disables it. */
  loginAccountMaxFailuresPerHour: number;
  /** How long a known-device token stays valid (each sign-in renews it). */
  deviceTokenTtlSeconds: number;
  registrationEnabled: boolean;
  /** Sign-ups a client network may attempt in an hour; 0 turns the bound off. */
  registrationsPerAddressPerHour: number;
  emailVerificationRequired: boolean;
  emailVerificationTtlSeconds: number;
  passwordResetTtlSeconds: number;
  /** Passwordless sign-in by email (EMAIL_SIGN_IN); undefined: off (the default). See src/sign-in/email.ts. */
  emailSignIn: EmailSignInSettings | undefined;
  smtpUrl: string | undefined;
  /**
   * Mail (codes included) goes to the log instead (MAIL_TO_LOG): the default without SMTP_URL on
   * the embedded store; with MONGODB_URI, only when asked for, since whoever reads the logs could
   * then use any reset code.
   */
  mailToLog: boolean;
  mailFrom: string;
  /** Hourly mail budgets (0: no limit); see src/mail/limits.ts. */
  mailLimits: {
    perAddressPerHour: number;
    perClientPerHour: number;
    notificationsPerAddressPerHour: number;
  };
  /** Whether the REST session cookie is marked Secure (HTTPS only). */
  sessionCookieSecure: boolean;
  /**
   * The server's 32-byte symmetric secret, from which the TOTP encryption, recovery-code hashing
   * and session-cookie keys are derived; undefined means generate one (development).
   */
  serverSecret: Buffer | undefined;
  /** How long a login challenge (password right, second factor pending) lives. */
  loginChallengeTtlSeconds: number;
  /**
   * Passkeys (WebAuthn): the relying party the browser checks credentials against; undefined when
   * off (WEBAUTHN_RP_ID and WEBAUTHN_ORIGINS unset).
   */
  webauthn: WebAuthnSettings | undefined;
  /**
   * How long after signing in a session may make high-value changes (delete the account, remove a
   * sign-in method or an authenticator) without proving the password and second factor again.
   */
  reauthMaxAgeSeconds: number;
  /**
   * The Have I Been Pwned range (k-anonymity) check of new passwords; undefined when off (the
   * default). It fails open: when the API cannot answer, the local rules alone decide.
   */
  pwnedPasswords: PwnedPasswordsSettings | undefined;
  twoFactor: {
    /** Shown by authenticator apps next to the account (the otpauth issuer). */
    issuer: string;
    /** Wrong second-factor codes before the second factor locks. */
    maxFailures: number;
    /** How long wrong codes are remembered, and how long a reached limit locks. */
    lockSeconds: number;
    /** Wrong TOTP codes in a row, across locks, before TOTP codes are refused (recovery codes still work). */
    maxConsecutiveFailures: number;
    /** How long a secret from Setup or Reset stays confirmable. */
    setupTtlSeconds: number;
    /** Setups and Resets one account may make in an hour (each draws a QR code); 0: no limit. */
    maxSetupsPerHour: number;
  };
  /** OpenTelemetry tracing from the standard OTEL_* variables; undefined when off (the default). */
  tracing: TracingSettings | undefined;
  /** What each role may do (ROLES or ROLES_FILE); src/permissions/ has the default map. */
  roles: RoleMap;
  /**
   * Normalized emails whose accounts get the admin role when the owner proves the mailbox by a
   * password reset, or an email sign-in of an unverified account (ADMIN_EMAILS): the first
   * administrator without editing the database.
   */
  adminEmails: string[];
  /** How long audit events are kept (each carries its own expiry, set when recorded). */
  auditRetentionDays: number;
  /** Refused AdminService and ServiceAccountService calls stored per client network per hour (0: all). */
  auditMaxRefusalsPerAddressPerHour: number;
  /** Sign-in with OpenID Connect providers (OIDC_PROVIDERS); undefined when off (the default). */
  oidc: OidcSettings | undefined;
}

export function loadConfig(env: Env, readFile: (path: string) => string): Config {
  const tlsSettings = tls(env, readFile);
  const day = 86_400;
  const trustProxyHops = int(env, "TRUST_PROXY_HOPS", 0, 0, 10);
  const port = int(env, "PORT", 8080, 0, 65_535);
  const host = str(env, "HOST") ?? "0.0.0.0";
  const config: Config = {
    port,
    host,
    mongodb: mongodb(env),
    tls: tlsSettings,
    corsAllowedOrigins: origins(env, "CORS_ALLOWED_ORIGINS"),
    trustProxyHops,
    maxBodyBytes: int(env, "MAX_BODY_BYTES", 64 * 1024, 1024, 16 * 1024 * 1024),
    shutdownGraceMs: int(env, "SHUTDOWN_GRACE_MS", 10_000, 0, 600_000),
    rpcFastPath: bool(env, "RPC_FAST_PATH", true),
    limits: connectionLimits(env, trustProxyHops),
    metrics: metrics(env, port, host, readFile),
    logLevel: oneOf(env, "LOG_LEVEL", ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const, "info"),
    jwt: jwt(env, readFile),
    refreshTokenTtlSeconds: int(env, "REFRESH_TOKEN_TTL_SECONDS", 7 * day, 60, 365 * day),
    refreshTokenTtlRememberMeSeconds: int(env, "REFRESH_TOKEN_TTL_REMEMBER_ME_SECONDS", 30 * day, 60, 365 * day),
    // NIST SP 800-63B: re-authenticate at least every 30 days.
    sessionMaxLifetimeSeconds: int(env, "SESSION_MAX_LIFETIME_SECONDS", 30 * day, 60, 365 * day),
    maxSessionsPerUser: int(env, "MAX_SESSIONS_PER_USER", 100, 1, 10_000),
    refreshReuseDetectionSeconds: int(env, "REFRESH_REUSE_DETECTION_SECONDS", day, 60, 365 * day),
    // Long enough for a retry or a second tab, short enough that a stolen spent token is of little use.
    refreshReuseGraceSeconds: int(env, "REFRESH_REUSE_GRACE_SECONDS", 30, 0, 300),
    argon2: argon2(env),
    loginMaxFailures: int(env, "LOGIN_MAX_FAILURES", 10, 0, 1000),
    loginLockSeconds: int(env, "LOGIN_LOCK_SECONDS", 900, 1, 86_400),
    loginAddressMaxFailures: int(env, "LOGIN_ADDRESS_MAX_FAILURES", 100, 0, 1_000_000),
    clientAggregate: clientAggregate(env),
    loginDeviceMaxFailures: int(env, "LOGIN_DEVICE_MAX_FAILURES", 10, 0, 1000),
    // NIST SP 800-63B 5.2.2: no more than 100 failed attempts on one account. At least 2, so
    // that each half (strangers, known devices) is at least 1.
    loginAccountMaxFailuresPerHour: accountHourlyBound(env),
    deviceTokenTtlSeconds: int(env, "DEVICE_TOKEN_TTL_SECONDS", 90 * day, 3_600, 400 * day),
    registrationEnabled: bool(env, "REGISTRATION_ENABLED", true),
    registrationsPerAddressPerHour: int(env, "REGISTRATION_MAX_PER_ADDRESS_PER_HOUR", 100, 0, 1_000_000),
    emailVerificationRequired: bool(env, "EMAIL_VERIFICATION_REQUIRED", true),
    emailVerificationTtlSeconds: int(env, "EMAIL_VERIFICATION_TTL_SECONDS", day, 60, 30 * day),
    passwordResetTtlSeconds: int(env, "PASSWORD_RESET_TTL_SECONDS", 3_600, 60, day),
    emailSignIn: emailSignIn(env),
    smtpUrl: url(env, "SMTP_URL", ["smtp:", "smtps:"]),
    mailToLog: bool(env, "MAIL_TO_LOG", str(env, "SMTP_URL") === undefined && str(env, "MONGODB_URI") === undefined),
    mailFrom: str(env, "MAIL_FROM") ?? "authd <no-reply@localhost>",
    mailLimits: {
      perAddressPerHour: int(env, "MAIL_MAX_PER_ADDRESS_PER_HOUR", 5, 0, 1_000),
      perClientPerHour: int(env, "MAIL_MAX_PER_CLIENT_PER_HOUR", 20, 0, 100_000),
      notificationsPerAddressPerHour: int(env, "MAIL_MAX_NOTIFICATIONS_PER_ADDRESS_PER_HOUR", 10, 0, 1_000),
    },
    sessionCookieSecure: bool(env, "SESSION_COOKIE_SECURE", true),
    serverSecret: serverSecret(env, readFile),
    loginChallengeTtlSeconds: int(env, "LOGIN_CHALLENGE_TTL_SECONDS", 300, 30, 3_600),
    webauthn: webauthn(env),
    reauthMaxAgeSeconds: int(env, "REAUTH_MAX_AGE_SECONDS", 600, 0, day),
    pwnedPasswords: pwnedPasswords(env),
    twoFactor: {
      issuer: str(env, "TOTP_ISSUER") ?? "authd",
      maxFailures: int(env, "TWO_FACTOR_MAX_FAILURES", 5, 1, 100),
      lockSeconds: int(env, "TWO_FACTOR_LOCK_SECONDS", 900, 1, 86_400),
      maxConsecutiveFailures: int(env, "TWO_FACTOR_MAX_CONSECUTIVE_FAILURES", 100, 10, 1_000),
      setupTtlSeconds: int(env, "TOTP_SETUP_TTL_SECONDS", 600, 60, day),
      maxSetupsPerHour: int(env, "TOTP_SETUP_MAX_PER_HOUR", 30, 0, 10_000),
    },
    tracing: tracing(env),
    roles: roles(env, readFile),
    adminEmails: adminEmails(env),
    auditRetentionDays: int(env, "AUDIT_RETENTION_DAYS", 365, 1, 3650),
    auditMaxRefusalsPerAddressPerHour: int(env, "AUDIT_MAX_REFUSALS_PER_ADDRESS_PER_HOUR", 60, 0, 1_000_000),
    oidc: oidc(env, readFile),
  };
  if (config.refreshTokenTtlRememberMeSeconds < config.refreshTokenTtlSeconds) {
    throw new ConfigError("REFRESH_TOKEN_TTL_REMEMBER_ME_SECONDS", "must not be shorter than REFRESH_TOKEN_TTL_SECONDS");
  }
  if (config.sessionMaxLifetimeSeconds < config.refreshTokenTtlRememberMeSeconds) {
    throw new ConfigError("SESSION_MAX_LIFETIME_SECONDS", "must not be shorter than REFRESH_TOKEN_TTL_REMEMBER_ME_SECONDS");
  }
  if (config.refreshReuseGraceSeconds >= config.refreshReuseDetectionSeconds) {
    throw new ConfigError("REFRESH_REUSE_GRACE_SECONDS", "must be shorter than REFRESH_REUSE_DETECTION_SECONDS");
  }
  if (config.mongodb !== undefined && config.serverSecret === undefined) {
    // A generated key would make every stored TOTP secret and recovery code unusable after a
    // restart, locking every 2FA user out: with durable storage the key must be durable too.
    throw new ConfigError("SERVER_SECRET", "must be set (or SERVER_SECRET_FILE, or the older TOTP_ENCRYPTION_KEY) when MONGODB_URI is");
  }
  if (config.smtpUrl !== undefined && config.mailToLog) throw new ConfigError("MAIL_TO_LOG", "cannot be true when SMTP_URL is set");
  if (config.smtpUrl === undefined && !config.mailToLog) {
    // Durable storage means a deployment, where logs are read by more people than mailboxes are.
    throw new ConfigError(
      "SMTP_URL",
      config.mongodb === undefined
        ? "must be set when MAIL_TO_LOG is false"
        : "must be set when MONGODB_URI is: without it every reset and sign-in code is written to the log, where anyone who reads the logs could use it (set MAIL_TO_LOG=true to accept that, on a staging server)",
    );
  }
  if (config.adminEmails.length > 0 && !config.roles.has(adminRole)) {
    throw new ConfigError("ADMIN_EMAILS", `grants the role "${adminRole}", which ROLES does not define`);
  }
  if (config.corsAllowedOrigins.includes("*") && config.corsAllowedOrigins.length > 1) {
    throw new ConfigError("CORS_ALLOWED_ORIGINS", "cannot mix * with explicit origins");
  }
  return config;
}
