// Composition: configuration and replaceable parts in, the service's operations out. Each
// capability gets only the few dependencies it declares; nothing here speaks HTTP.
import { randomBytes } from "node:crypto";
import { createAccounts } from "../accounts/accounts.ts";
import { createAdmin } from "../admin/admin.ts";
import { reportAdminEmails } from "../admin/bootstrap.ts";
import { type ClientBudget, hourly, hourlyClientBudget } from "../attempt-limit.ts";
import { createAuditLog, type AuditLog } from "../audit/audit.ts";
import { createBackground, type Background } from "../background.ts";
import { systemClock, type Clock } from "../clock.ts";
import type { Config } from "../config.ts";
import { noEvents } from "../events.ts";
import { createForwardAuth } from "../forward-auth/forward-auth.ts";
import { createIntrospection } from "../introspection/introspection.ts";
import { createLogger, type Logger } from "../log.ts";
import { createPageTokens } from "../paging/page-tokens.ts";
import { permissionNames } from "../permissions/permissions.ts";
import { createFederation } from "../federation/federation.ts";
import { createOidcClients } from "../federation/oidc-client.ts";
import type { Operations } from "../operations.ts";
import { createMailLimits } from "../mail/limits.ts";
import { createLogMailer, createSmtpMailer, type Mailer } from "../mail/mailer.ts";
import { createNotifier } from "../mail/notifications.ts";
import type { Metrics } from "../metrics/metrics.ts";
import { createPasskeys } from "../passkeys/passkeys.ts";
import { createRelyingParty } from "../passkeys/relying-party.ts";
import { createPasswordCheck, type PasswordLimits } from "../passwords/check.ts";
import { createPasswordHasher, type PasswordHasher } from "../passwords/hasher.ts";
import { createNewPasswordPolicy } from "../passwords/policy.ts";
import { createPwnedPasswords } from "../passwords/pwned-passwords.ts";
import { deriveServerSecrets } from "../secrets/server-secrets.ts";
import { createPrincipals } from "../service-accounts/principal.ts";
import { createServiceAccounts } from "../service-accounts/service-accounts.ts";
import { createSessions } from "../sessions/sessions.ts";
import { createChallenges } from "../sign-in/challenge.ts";
import { createDeviceTokens } from "../tokens/devices.ts";
import { createSignInFlow } from "../sign-in/flow.ts";
import { passwordFactor } from "../sign-in/password.ts";
import { createEmailSignIn } from "../sign-in/email.ts";
import { createPasskeySignIn } from "../sign-in/passkey.ts";
import { createSignIn, onDeviceStep } from "../sign-in/sign-in.ts";
import { createMemoryStore } from "../store/memory.ts";
import type { AttemptPolicy, Store } from "../store/port.ts";
import { createAccessTokens, type AccessTokens } from "../tokens/access.ts";
import { loadKeyRing } from "../tokens/keys.ts";
import { createTwoFactor } from "../two-factor/two-factor.ts";
import type { SpanExporter } from "@opentelemetry/sdk-trace";
import type { Tracing } from "./tracing.ts";

/** Replaceable parts, for tests and for embedding the service in another process. */
export interface Overrides {
  store?: Store;
  /** Tests pass a cheaper hasher; production always derives it from ARGON2_* settings. */
  hasher?: PasswordHasher;
  clock?: Clock;
  mailer?: Mailer;
  log?: Logger;
  /** Where spans go when the OTEL_* settings turn tracing on (tests: an in-memory exporter). */
  spanExporter?: SpanExporter;
}

export type { Operations } from "../operations.ts";

/** The composed service: its operations and the parts the front door and shutdown need. */
export interface Service {
  operations: Operations;
  store: Store;
  clock: Clock;
  log: Logger;
  mailer: Mailer;
  accessTokens: AccessTokens;
  /** Work started by a request but finished after its response (mail delivery). */
  background: Background;
  /** The audit log (AdminService's calls, ADMIN_EMAILS); for tools beside the server (scripts/admin.ts). */
  audit: AuditLog;
  /** The call spans, when the OTEL_* settings turn tracing on. */
  tracing: Tracing | undefined;
  /** The Prometheus metrics; undefined when off (Config.metrics). */
  metrics: Metrics | undefined;
}

/** A per-client budget from its per-network policy, counted on the IPv6 aggregate as configured (CLIENT_IPV6_AGGREGATE_*). */
function clientBudget(network: AttemptPolicy | undefined, config: Config): ClientBudget | undefined {
  return network === undefined ? undefined : { network, aggregate: config.clientAggregate };
}

/** The password guessing limits from the LOGIN_* settings (see passwords/check.ts); 0 turns one off. */
function passwordLimits(config: Config): PasswordLimits {
  const window = config.loginLockSeconds;
  const per = (maxFailures: number) => (maxFailures === 0 ? undefined : { maxFailures, windowSeconds: window, lockSeconds: window });
  const bound = config.loginAccountMaxFailuresPerHour;
  return {
    account: per(config.loginMaxFailures),
    address: clientBudget(per(config.loginAddressMaxFailures), config),
    device: per(config.loginDeviceMaxFailures),
    // Strangers get the smaller half: of 100, 50 for them and 50 for the owner's known devices.
    hourly: bound === 0 ? undefined : { strangers: hourly(Math.floor(bound / 2)), knownDevices: hourly(Math.ceil(bound / 2)) },
  };
}

async function openStore(config: Config, log: Logger, clock: Clock): Promise<Store> {
  if (config.mongodb === undefined) {
    log.warn("storage: embedded in-process store (no MONGODB_URI): all data is lost when the process exits");
    return createMemoryStore({ clock });
  }
  const plan = config.mongodb;
  if (plan.overridden.length > 0) {
    log.warn(
      { overridden: plan.overridden },
      `MONGODB_URI asks for ${plan.overridden.map((o) => `${o.option}=${o.given}`).join(", ")}: overridden. ` +
        "authd pins primary reads, journaled majority writes and retryable reads and writes, so that no revocation, spent token or attempt count is lost in a failover",
    );
  }
  for (const caution of plan.cautions) log.warn(`MONGODB_URI: ${caution}`);
  // Loaded only here: the embedded store has no use for the driver (about 30 MiB resident).
  const { createMongoStore } = await import("../store/mongo.ts");
  const mongo = createMongoStore(plan, { log });
  // Waits for the first attempt only (bounded by the selection and index time limits): with
  // MongoDB down the server still starts, reports not ready and answers STORAGE_UNAVAILABLE until
  // the store connects in the background. What no retry fixes (an index conflict, bad
  // credentials) stops the start here.
  try {
    await mongo.started;
  } catch (err) {
    await mongo.close();
    throw err;
  }
  log.info({ database: plan.dbName, connected: mongo.connected() }, "storage: MongoDB");
  return mongo;
}

/** Tracing from the OTEL_* settings; the SDK is loaded only when they turn it on. */
async function startTracing(config: Config, log: Logger, exporter: SpanExporter | undefined): Promise<Tracing | undefined> {
  if (config.tracing === undefined) return undefined;
  const { startTracing } = await import("./tracing.ts");
  const tracing = await startTracing(config.tracing, { log, exporter, scheme: config.tls === undefined ? "http" : "https" });
  log.info({ exporters: config.tracing.exporters, sampler: config.tracing.sampler }, "tracing: on");
  return tracing;
}

/** What a start has opened itself so far (not what the caller passed in), to close if it fails. */
interface Opened {
  tracing?: Tracing;
  store?: Store;
}

export async function composeService(config: Config, overrides: Overrides = {}): Promise<Service> {
  const opened: Opened = {};
  try {
    return await compose(config, overrides, opened);
  } catch (err) {
    // A step after the store opened failed (a signing key, an optional library missing, the
    // first administrators' promotion): close what this start opened, so that a program that
    // embeds the service and carries on keeps no connection pool or exporter of a dead start.
    await opened.store?.close().catch(() => undefined);
    await opened.tracing?.shutdown().catch(() => undefined);
    throw err;
  }
}

async function compose(config: Config, overrides: Overrides, opened: Opened): Promise<Service> {
  const baseLog = overrides.log ?? createLogger(config.logLevel);
  const tracing = await startTracing(config, baseLog, overrides.spanExporter);
  opened.tracing = tracing;
  const log = tracing?.logger(baseLog) ?? baseLog;
  const clock = overrides.clock ?? systemClock;
  // Loaded only when on: prom-client (and the OpenTelemetry API it loads) costs nothing when off.
  const metrics = config.metrics === undefined ? undefined : (await import("../metrics/metrics.ts")).createMetrics();
  let openedStore = overrides.store;
  if (openedStore === undefined) {
    openedStore = await openStore(config, log, clock);
    opened.store = openedStore;
  }
  // With metrics on, every storage call is timed at the port; the adapters know nothing of it.
  const observed = metrics?.observeStore(openedStore) ?? openedStore;
  const store = tracing?.store(observed) ?? observed;
  const events = metrics?.events ?? noEvents;

  const { ring, generated } = await loadKeyRing(config.jwt.keys);
  // The kids, so that each step of a rotation can be checked in the log of every instance.
  log.info({ current: ring.current.kid, next: ring.next?.kid, previous: ring.previous.map((k) => k.kid) }, "signing keys");
  if (generated) {
    log.warn(
      "JWT_PRIVATE_KEY is not set: generated a temporary signing key; tokens will not survive a restart. Set JWT_PRIVATE_KEY or JWT_PRIVATE_KEY_FILE in production",
    );
  }
  let master = config.serverSecret;
  if (master === undefined) {
    master = randomBytes(32);
    log.warn(
      "SERVER_SECRET is not set: generated a temporary one; two-factor enrolments, recovery codes and session cookies will not survive a restart. Set SERVER_SECRET or SERVER_SECRET_FILE in production",
    );
  }
  const secrets = deriveServerSecrets(master);

  let mailer = overrides.mailer;
  if (mailer === undefined) {
    if (config.smtpUrl !== undefined) {
      mailer = await createSmtpMailer(config.smtpUrl, config.mailFrom);
    } else {
      mailer = createLogMailer(log);
      log.warn("MAIL_TO_LOG: verification, reset and sign-in codes are written to this log instead of mailed (set SMTP_URL to mail them)");
    }
  }

  const plainHasher = overrides.hasher ?? (await createPasswordHasher(config.argon2));
  const hasher = tracing?.hasher(plainHasher) ?? plainHasher;
  const accessTokens = createAccessTokens(
    ring,
    {
      issuer: config.jwt.issuer,
      audience: config.jwt.audience,
      ttlSeconds: config.jwt.accessTokenTtlSeconds,
      cacheSize: config.jwt.accessTokenCacheSize,
    },
    clock,
  );
  const background = createBackground(log);
  const limits = createMailLimits({
    attempts: store.attempts,
    clock,
    keys: secrets.mailLimitKeys,
    log,
    policy: {
      perAddressPerHour: config.mailLimits.perAddressPerHour,
      perClient: hourlyClientBudget(config.mailLimits.perClientPerHour, config.clientAggregate),
      notificationsPerAddressPerHour: config.mailLimits.notificationsPerAddressPerHour,
    },
  });
  const mailLimits = metrics?.observeMailLimits(limits) ?? limits;
  const sender = metrics?.observeMailer(mailer) ?? mailer;
  const notifier = createNotifier({ mailer: sender, limits: mailLimits, background, clock });

  const devices = createDeviceTokens({ signer: secrets.deviceTokens, clock, ttlSeconds: config.deviceTokenTtlSeconds });
  const sessions = createSessions({
    store,
    clock,
    accessTokens,
    cookieSigner: secrets.sessionCookie,
    successorSealer: secrets.refreshSuccessors,
    devices,
    log,
    events,
    roles: config.roles,
    policy: {
      refreshTokenTtlSeconds: config.refreshTokenTtlSeconds,
      refreshTokenTtlRememberMeSeconds: config.refreshTokenTtlRememberMeSeconds,
      sessionMaxLifetimeSeconds: config.sessionMaxLifetimeSeconds,
      maxSessionsPerUser: config.maxSessionsPerUser,
      refreshReuseDetectionSeconds: config.refreshReuseDetectionSeconds,
      refreshReuseGraceSeconds: config.refreshReuseGraceSeconds,
    },
  });
  const checkPassword = createPasswordCheck({
    attempts: store.attempts,
    clock,
    hasher,
    limits: passwordLimits(config),
    events,
    log,
    maxPerClient: config.argon2.maxPerClient,
  });
  // Wrong second factors, TOTP codes and passkeys alike, count toward one lock per account.
  const secondFactorAttempts = {
    maxFailures: config.twoFactor.maxFailures,
    windowSeconds: config.twoFactor.lockSeconds,
    lockSeconds: config.twoFactor.lockSeconds,
  };
  const twoFactor = createTwoFactor(
    {
      store,
      clock,
      secrets,
      log,
      notifier,
      events,
      policy: {
        attempts: secondFactorAttempts,
        maxConsecutiveFailures: config.twoFactor.maxConsecutiveFailures,
        totpIssuer: config.twoFactor.issuer,
        setupTtlSeconds: config.twoFactor.setupTtlSeconds,
        maxSetupsPerHour: config.twoFactor.maxSetupsPerHour,
        reauthMaxAgeSeconds: config.reauthMaxAgeSeconds,
      },
    },
    checkPassword,
    sessions,
  );
  const passwordPolicy = createNewPasswordPolicy({
    serviceName: config.twoFactor.issuer,
    breached: config.pwnedPasswords === undefined ? undefined : createPwnedPasswords({ ...config.pwnedPasswords, log, clock }),
  });
  const audit = createAuditLog({
    store,
    clock,
    log,
    retentionDays: config.auditRetentionDays,
    refusalsPerClient: hourlyClientBudget(config.auditMaxRefusalsPerAddressPerHour, config.clientAggregate),
  });
  const accounts = createAccounts(
    {
      store,
      clock,
      hasher,
      mailer: sender,
      mailLimits,
      notifier,
      log,
      background,
      passwordPolicy,
      devices,
      adminEmails: config.adminEmails,
      audit,
      policy: {
        registrationEnabled: config.registrationEnabled,
        registrationsPerClient: hourlyClientBudget(config.registrationsPerAddressPerHour, config.clientAggregate),
        emailVerificationRequired: config.emailVerificationRequired,
        emailVerificationTtlSeconds: config.emailVerificationTtlSeconds,
        passwordResetTtlSeconds: config.passwordResetTtlSeconds,
      },
    },
    sessions,
    checkPassword,
    twoFactor,
  );
  const challenges = createChallenges({ codes: store.codes, clock, ttlSeconds: config.loginChallengeTtlSeconds });
  const flow = createSignInFlow(
    { store, policy: { emailVerificationRequired: config.emailVerificationRequired } },
    { sessions, twoFactor, challenges },
  );
  const signInOperations = createSignIn(
    flow,
    passwordFactor({ users: store.users, hasher, clock, log }, checkPassword),
    devices,
    notifier,
    log,
  );
  const signIn = metrics?.observeSignIn(signInOperations) ?? signInOperations;
  const emailSignInOperations = createEmailSignIn(
    {
      store,
      clock,
      mailer: sender,
      mailLimits,
      background,
      codeHasher: secrets.emailSignInCodes,
      secondFactor: twoFactor,
      log,
      audit,
      adminEmails: config.adminEmails,
      policy:
        config.emailSignIn === undefined
          ? undefined
          : {
              code: config.emailSignIn.code,
              linkUrl: config.emailSignIn.linkUrl,
              ttlSeconds: config.emailSignIn.codeTtlSeconds,
              digits: config.emailSignIn.codeDigits,
              maxFailures: config.emailSignIn.codeMaxFailures,
              maxConsecutiveFailures: config.emailSignIn.maxConsecutiveFailures,
              clientLimit: passwordLimits(config).address,
            },
    },
    flow,
    onDeviceStep(devices, notifier, log),
  );
  const emailSignIn = metrics?.observeEmailSignIn(emailSignInOperations) ?? emailSignInOperations;
  const rp = await createRelyingParty({ codes: store.codes, passkeys: store.passkeys, clock, log, settings: config.webauthn });
  const passkeys = createPasskeys({ store, clock, log, notifier }, rp, twoFactor);
  const passkeySignInOperations = createPasskeySignIn(
    {
      store,
      clock,
      policy: {
        // The network's alone: passkey.ts says why no aggregate.
        address: passwordLimits(config).address?.network,
        secondFactor: secondFactorAttempts,
        startsPerClient: hourlyClientBudget(config.webauthn?.startsPerClientPerHour ?? 0, config.clientAggregate),
      },
    },
    { flow, rp, challenges, twoFactor, onDevice: onDeviceStep(devices, notifier, log) },
  );
  const passkeySignIn = metrics?.observePasskeySignIn(passkeySignInOperations) ?? passkeySignInOperations;

  const oidcSettings = config.oidc ?? { providers: [], redirectUri: "", flowTtlSeconds: 600, startsPerClientPerHour: 0 };
  if (config.oidc !== undefined)
    log.info({ providers: oidcSettings.providers.map((p) => p.id) }, "sign-in with OpenID Connect providers: on");
  const federation = createFederation(
    {
      store,
      clock,
      oidc: await createOidcClients({ settings: oidcSettings, log }),
      flowKeys: secrets.providerFlows,
      notifier,
      log,
      policy: {
        flowTtlSeconds: oidcSettings.flowTtlSeconds,
        startsPerClient: hourlyClientBudget(oidcSettings.startsPerClientPerHour, config.clientAggregate),
      },
    },
    { signIn, accounts, twoFactor },
  );
  const pageTokens = createPageTokens(secrets.pageTokens);
  const serviceAccounts = createServiceAccounts({
    store,
    clock,
    audit,
    pageTokens,
    knownPermissions: permissionNames(config.roles),
    twoFactor,
    notifier,
  });
  const principals = createPrincipals({ sessions, serviceAccounts });
  const introspection = createIntrospection({ sessions, serviceAccounts });
  const forwardAuth = createForwardAuth({ sessions });
  const admin = createAdmin({ store, clock, roles: config.roles, pageTokens, audit, notifier }, { sessions, twoFactor, accounts });
  if (config.adminEmails.length > 0) await reportAdminEmails({ users: store.users, log }, config.adminEmails);

  return {
    operations: {
      accounts,
      sessions,
      twoFactor,
      signIn,
      emailSignIn,
      passkeys,
      passkeySignIn,
      federation,
      principals,
      serviceAccounts,
      introspection,
      forwardAuth,
      admin,
    },
    store,
    clock,
    log,
    mailer,
    accessTokens,
    background,
    audit,
    tracing,
    metrics,
  };
}
