// The service's Prometheus metrics: one registry per service, built by server/compose.ts and
// handed to what it observes. Each metric is recorded at one place, from outside the code it
// watches wherever that is exact: calls from the access log (calls.ts), storage from a wrapper
// around the port, mail from wrappers around the mailer and the mail limits, sign-ins from a
// wrapper around the sign-in operations. Only what an answer hides (a lock beginning, a refresh
// token reused or replayed within its grace) comes from the operations, through SecurityEvents.
// README "Metrics" lists every metric.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import { AuthError } from "../errors.ts";
import type { PasswordLockScope, SecurityEvents } from "../events.ts";
import type { MailLimits } from "../mail/limits.ts";
import type { Mailer } from "../mail/mailer.ts";
import type { EmailSignIn } from "../sign-in/email.ts";
import type { PasskeySignIn } from "../sign-in/passkey.ts";
import type { SignIn } from "../sign-in/sign-in.ts";
import { DuplicateRecordError, StorageFailureError, StorageUnavailableError } from "../store/errors.ts";
import { observeStore as observeStoreCalls } from "../store/observed.ts";
import type { Store } from "../store/port.ts";
import { type CallMetrics, createCallMetrics } from "./calls.ts";

/** What the listener counts (server/listener.ts ListenerStats), read at each scrape. */
export interface ConnectionCounts {
  accepted: number;
  open: number;
  http2Resets: number;
}

/** A limit the listener enforced (server/listener.ts LimitEvent), without its address. */
export type EnforcedLimit =
  | { kind: "connection_refused"; why: string }
  | { kind: "slow_body" }
  | { kind: "stalled_stream" }
  | { kind: "idle_connection_closed" }
  | { kind: "stream_refused"; why: string }
  | { kind: "http2_resets"; scope: string };

export interface Metrics {
  readonly contentType: string;
  /** The Prometheus text exposition of every metric. */
  scrape(): Promise<string>;
  calls: CallMetrics;
  events: SecurityEvents;
  observeStore(store: Store): Store;
  observeMailer(mailer: Mailer): Mailer;
  observeMailLimits(limits: MailLimits): MailLimits;
  observeSignIn(signIn: SignIn): SignIn;
  /** CompleteEmailSignIn counted as the sign-in step "email". */
  observeEmailSignIn(emailSignIn: EmailSignIn): EmailSignIn;
  /** FinishPasskeySignIn counted as the step "passkey", FinishPasskeySecondFactor as "second_factor". */
  observePasskeySignIn(passkeySignIn: PasskeySignIn): PasskeySignIn;
  limitEnforced(limit: EnforcedLimit): void;
  /** Where the connection counts come from, once the listener exists. */
  watchConnections(counts: () => ConnectionCounts): void;
}

/** Storage takes microseconds in memory and milliseconds to seconds over the network. */
const storageBuckets = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

const passwordScopes: readonly PasswordLockScope[] = [
  "address",
  "address_aggregate",
  "account",
  "account_hour",
  "account_hour_known",
  "device",
  "session",
];

/**
 * A storage error's label: what the port promises failures become; anything else is "other". A
 * taken email or provider account is an answer, not a failure: not counted.
 */
function storageError(err: unknown): string | undefined {
  if (err instanceof DuplicateRecordError) return undefined;
  if (err instanceof StorageUnavailableError) return "unavailable";
  if (err instanceof StorageFailureError) return "failure";
  return "other";
}

export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const registers = [registry];
  const counter = <L extends string>(name: string, help: string, labelNames: readonly L[] = []) =>
    new Counter({ name, help, labelNames, registers });

  const signIns = counter(
    "authd_sign_ins_total",
    "Sign-in attempts by step (password: Login; second_factor: CompleteLogin; email: CompleteEmailSignIn) and outcome: signed_in, second_factor_pending, or the ErrorReason in lower case (invalid_credentials, rate_limited, ...); error for a failure with no reason.",
    ["step", "outcome"],
  );
  const lockouts = counter(
    "authd_lockouts_total",
    "Guessing limits reached by a wrong guess (each starts a lock), by factor and the counter that locked.",
    ["factor", "scope"],
  );
  const refreshReuse = counter(
    "authd_refresh_reuse_detected_total",
    "Spent refresh tokens presented again outside their grace window: each revoked its session.",
  );
  const graceReplays = counter(
    "authd_refresh_grace_replays_total",
    "Spent refresh tokens presented again within their grace window, answered with the same pair.",
  );
  const storageDuration = new Histogram({
    name: "authd_storage_operation_duration_seconds",
    help: "Time of each storage call, by collection and operation.",
    labelNames: ["collection", "operation"],
    buckets: storageBuckets,
    registers,
  });
  const storageErrors = counter(
    "authd_storage_errors_total",
    "Storage calls that failed, by collection, operation and error: unavailable (unreachable, timed out), failure (answered with an error), other.",
    ["collection", "operation", "error"],
  );
  const mails = counter(
    "authd_mails_total",
    "Mails handed to the mail server, by kind (email_verification, password_reset, email_sign_in, or the security notification's kind) and result (sent, failed).",
    ["kind", "result"],
  );
  const mailsLimited = counter(
    "authd_mails_limited_total",
    "Mails not sent because an hourly mail budget was spent, by budget: client (code-mail requests per client), address (code mails per address), notification (notifications per address and kind).",
    ["limit"],
  );
  const refused = counter(
    "authd_connections_refused_total",
    "Connections closed at once by a connection limit, by limit: total, per_address, shed_address.",
    ["why"],
  );
  const slowBodies = counter("authd_slow_request_bodies_total", "HTTP/1.1 connections closed for sending their request body too slowly.");
  const stalledStreams = counter(
    "authd_http2_streams_stalled_total",
    "HTTP/2 streams reset at HTTP_REQUEST_TIMEOUT_MS with their answer still not taken by the client.",
  );
  const idleClosed = counter(
    "authd_idle_connections_closed_total",
    "Idle connections closed at MAX_CONNECTIONS to make room for a new one.",
  );
  const refusedStreams = counter(
    "authd_requests_refused_total",
    "Requests refused for what their client address or connection already held open.",
    ["why"],
  );
  const shed = counter(
    "authd_http2_sessions_shed_total",
    "HTTP/2 sessions closed for resetting too many streams, by the budget spent: connection, address, flood.",
    ["scope"],
  );

  // The listener's own counts, read at each scrape.
  let connections: (() => ConnectionCounts) | undefined;
  const fromListener = (name: string, help: string, count: (c: ConnectionCounts) => number) =>
    new Counter({
      name,
      help,
      registers,
      collect() {
        if (connections === undefined) return;
        this.reset();
        this.inc(count(connections()));
      },
    });
  fromListener("authd_connections_accepted_total", "Connections accepted.", (c) => c.accepted);
  fromListener("authd_http2_stream_resets_total", "HTTP/2 streams the clients reset before they were answered.", (c) => c.http2Resets);
  new Gauge({
    name: "authd_connections_open",
    help: "Connections open now.",
    registers,
    collect() {
      if (connections !== undefined) this.set(connections().open);
    },
  });

  // Series that matter at zero (an alert on a rate needs the series to exist before the first event).
  for (const scope of passwordScopes) lockouts.labels("password", scope).inc(0);
  lockouts.labels("second_factor", "account").inc(0);
  for (const outcome of ["signed_in", "second_factor_pending", "invalid_credentials", "rate_limited"]) {
    signIns.labels("password", outcome).inc(0);
  }

  const signInOutcome = (err: unknown) => (err instanceof AuthError ? err.reason.toLowerCase() : "error");
  /** Counts a sign-in step's outcome: the state it reached, or the reason it was refused for. */
  const counted = async <R extends { state: string }>(step: string, run: Promise<R>): Promise<R> => {
    try {
      const result = await run;
      signIns.labels(step, result.state).inc();
      return result;
    } catch (err) {
      signIns.labels(step, signInOutcome(err)).inc();
      throw err;
    }
  };

  return {
    contentType: registry.contentType,
    scrape: () => registry.metrics(),
    calls: createCallMetrics(registry),
    events: {
      locked: (factor: "password" | "second_factor", scope: string) => lockouts.labels(factor, scope).inc(),
      refreshReuse: () => refreshReuse.inc(),
      refreshGraceReplay: () => graceReplays.inc(),
    },

    observeStore(store) {
      return observeStoreCalls<number>(store, (collection, operation) => {
        const duration = storageDuration.labels(collection, operation);
        return {
          begin: () => performance.now(),
          end(started, error) {
            duration.observe((performance.now() - started) / 1000);
            const label = error === undefined ? undefined : storageError(error);
            if (label !== undefined) storageErrors.labels(collection, operation, label).inc();
          },
        };
      });
    },

    observeMailer(mailer) {
      return {
        async send(mail) {
          const kind = mail.kind === "security_notification" ? mail.notification : mail.kind;
          try {
            await mailer.send(mail);
          } catch (err) {
            mails.labels(kind, "failed").inc();
            throw err;
          }
          mails.labels(kind, "sent").inc();
        },
        close: () => mailer.close?.(),
      };
    },

    observeMailLimits(limits) {
      const counted = (limit: string) => (admitted: boolean) => {
        if (!admitted) mailsLimited.labels(limit).inc();
        return admitted;
      };
      const client = counted("client");
      const address = counted("address");
      const notification = counted("notification");
      return {
        admitClient: (who) => limits.admitClient(who).then(client),
        admitAddress: (kind, to) => limits.admitAddress(kind, to).then(address),
        admitNotification: (kind, to) => limits.admitNotification(kind, to).then(notification),
      };
    },

    observeSignIn(signIn) {
      return {
        login: (input, client) => counted("password", signIn.login(input, client)),
        afterProvider: (checked, rememberMe, client, deviceToken) =>
          counted("provider", signIn.afterProvider(checked, rememberMe, client, deviceToken)),
        completeLogin: (challengeToken, proof, client, deviceToken) =>
          counted("second_factor", signIn.completeLogin(challengeToken, proof, client, deviceToken)),
      };
    },

    observeEmailSignIn(emailSignIn) {
      return { request: emailSignIn.request, complete: (input, client) => counted("email", emailSignIn.complete(input, client)) };
    },

    observePasskeySignIn(passkeySignIn) {
      return {
        ...passkeySignIn,
        finishSignIn: (input, client) => counted("passkey", passkeySignIn.finishSignIn(input, client)),
        finishSecondFactor: (challenge, input, client) =>
          counted("second_factor", passkeySignIn.finishSecondFactor(challenge, input, client)),
      };
    },

    limitEnforced(limit) {
      if (limit.kind === "connection_refused") refused.labels(limit.why).inc();
      else if (limit.kind === "slow_body") slowBodies.inc();
      else if (limit.kind === "stalled_stream") stalledStreams.inc();
      else if (limit.kind === "idle_connection_closed") idleClosed.inc();
      else if (limit.kind === "stream_refused") refusedStreams.labels(limit.why).inc();
      else shed.labels(limit.scope).inc();
    },

    watchConnections(counts) {
      connections = counts;
    },
  };
}
