import type { Clock } from "./clock.ts";
import { AuthError } from "./errors.ts";
import type { Logger } from "./log.ts";
import type { Mailer } from "./mail/mailer.ts";
import type { PasswordHasher } from "./passwords/hasher.ts";
import type { AttemptPolicy, Store, UserRecord } from "./store/port.ts";
import type { AccessTokens } from "./tokens/access.ts";
import type { SecretBox } from "./totp/secret-box.ts";

/** What every operation of the domain may use. Built once at start-up. */
export interface Deps {
  store: Store;
  clock: Clock;
  hasher: PasswordHasher;
  accessTokens: AccessTokens;
  mailer: Mailer;
  /** Encrypts TOTP secrets and hashes recovery codes. */
  secretBox: SecretBox;
  log: Logger;
  /** Work started by a request but finished after its response (mail delivery). */
  background: Background;
  policy: {
    registrationEnabled: boolean;
    emailVerificationRequired: boolean;
    emailVerificationTtlSeconds: number;
    passwordResetTtlSeconds: number;
    refreshTokenTtlSeconds: number;
    refreshTokenTtlRememberMeSeconds: number;
    sessionMaxLifetimeSeconds: number;
    /** Live sessions per user; opening one more revokes the oldest. */
    maxSessionsPerUser: number;
    /** How long a spent refresh token is remembered for reuse detection. */
    refreshReuseDetectionSeconds: number;
    /** Password guessing limit per account; undefined when disabled. */
    passwordAttempts: AttemptPolicy | undefined;
    /** Second-factor guessing limit per account (always on). */
    twoFactorAttempts: AttemptPolicy;
    /** The otpauth issuer shown by authenticator apps. */
    totpIssuer: string;
    /** How long a secret from Setup or Reset stays confirmable. */
    totpSetupTtlSeconds: number;
    /** How long a login challenge (password right, second factor pending) lives. */
    loginChallengeTtlSeconds: number;
  };
}

/** Who made the request, as far as the transport can tell. */
export interface ClientInfo {
  ipAddress: string;
  userAgent: string;
}

/** An authenticated caller: a live session of an existing user. */
export interface Caller {
  userId: string;
  sessionId: string;
  /** The cutoff generations the session was opened under (see SessionCutoff in store/port.ts). */
  generations: { user: number; twoFactor: number };
}

/** Tasks that outlive the request that started them; shutdown waits for them. */
export interface Background {
  run(name: string, task: () => Promise<void>): void;
  drain(): Promise<void>;
}

export function createBackground(log: Logger): Background {
  const pending = new Set<Promise<void>>();
  return {
    run(name, task) {
      const p = task()
        .catch((err: unknown) => log.error({ err, task: name }, "background task failed"))
        .finally(() => pending.delete(p));
      pending.add(p);
    },
    async drain() {
      while (pending.size > 0) await Promise.allSettled([...pending]);
    },
  };
}

export function addSeconds(date: Date, seconds: number): Date {
  return new Date(date.getTime() + seconds * 1000);
}

/** The caller's user. A live session outlives its user only if deletion raced the call. */
export async function requireUser(store: Store, caller: Caller): Promise<UserRecord> {
  const user = await store.users.findById(caller.userId);
  if (user === null) throw new AuthError("SESSION_REVOKED", "the session has ended; sign in again");
  return user;
}
