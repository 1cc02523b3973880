import { randomUUID } from "node:crypto";
import { AuthError } from "../errors.ts";
import { addSeconds, type Caller, type ClientInfo, type Deps } from "../domain.ts";
import type { MailKind } from "../mail/mailer.ts";
import { checkNewPassword, checkPresentedPassword } from "../passwords/policy.ts";
import type { Sessions, TokenPair } from "../sessions/sessions.ts";
import { DuplicateEmailError } from "../store/errors.ts";
import type { CodePurpose, UserRecord } from "../store/port.ts";
import { randomToken, tokenHash } from "../tokens/opaque.ts";
import { checkDisplayName, checkId, checkOpaque, normalizeEmail } from "./validation.ts";

export interface LinkedAccount {
  id: string;
  provider: string;
  providerAccountId: string;
  createdAt: Date;
}

export interface RegisterInput {
  email: string;
  password: string;
  displayName: string;
}

export interface LoginInput {
  email: string;
  password: string;
  rememberMe: boolean;
}

export type LoginResult = { kind: "signed_in"; user: UserRecord; tokens: TokenPair };

const passwordAccountId = "password";

export function createAccounts(deps: Deps, sessions: Sessions) {
  const { store, clock, hasher, policy, log } = deps;

  async function requireUser(caller: Caller): Promise<UserRecord> {
    const user = await store.users.findById(caller.userId);
    // The session outlived its user only if deletion raced this call.
    if (user === null) throw new AuthError("SESSION_REVOKED", "the session has ended; sign in again");
    return user;
  }

  /**
   * Checks a password under the account's guessing limit. The attempt is counted before the
   * (slow) check and forgiven after a success, so parallel guesses cannot outrun the limit. The
   * key is the email, whether or not an account has it, so a lock reveals nothing.
   */
  async function checkPassword(
    email: string,
    user: UserRecord | null,
    password: string,
  ): Promise<boolean> {
    const limit = policy.passwordAttempts;
    const key = `password:${email}`;
    const now = clock.now();
    if (limit !== undefined) {
      const { counted, state } = await store.attempts.fail(key, now, limit);
      if (!counted) {
        const retryAfterSeconds = Math.max(1, Math.ceil(((state.lockedUntil?.getTime() ?? now.getTime()) - now.getTime()) / 1000));
        throw new AuthError("RATE_LIMITED", "too many failed attempts; try again later", { retryAfterSeconds });
      }
    }
    if (user === null || user.passwordHash === null) {
      await hasher.burn(password);
      return false;
    }
    const ok = await hasher.verify(user.passwordHash, password);
    if (ok && limit !== undefined) await store.attempts.clear(key);
    return ok;
  }

  /** Creates a one-time code, keeps only its hash, and mails the code. */
  async function sendCode(user: UserRecord, purpose: CodePurpose): Promise<void> {
    const code = randomToken(20);
    const now = clock.now();
    const ttl = purpose === "email_verification" ? policy.emailVerificationTtlSeconds : policy.passwordResetTtlSeconds;
    await store.codes.replace({
      codeHash: tokenHash(code),
      purpose,
      userId: user.id,
      createdAt: now,
      expiresAt: addSeconds(now, ttl),
    });
    const kind: MailKind = purpose;
    const hours = Math.round(ttl / 360) / 10;
    const [subject, text] =
      purpose === "email_verification"
        ? ["Verify your email address", `Your verification code is:\n\n${code}\n\nIt expires in ${hours} hours.`]
        : [
            "Reset your password",
            `Your password reset code is:\n\n${code}\n\nIt expires in ${hours} hours. If you did not ask for it, ignore this mail.`,
          ];
    await deps.mailer.send({ kind, to: user.email, subject, text, code });
  }

  async function consumeCode(rawCode: string, purpose: CodePurpose): Promise<UserRecord> {
    const code = checkOpaque("code", rawCode, "INVALID_CODE");
    const record = await store.codes.consume(tokenHash(code), purpose, clock.now());
    const user = record === null ? null : await store.users.findById(record.userId);
    if (user === null) throw new AuthError("INVALID_CODE", "the code is invalid or has expired", { field: "code" });
    return user;
  }

  async function setPassword(user: UserRecord, normalizedPassword: string, extra: { emailVerified?: boolean } = {}) {
    const now = clock.now();
    const passwordHash = await hasher.hash(normalizedPassword);
    const updated = await store.users.update(user.id, { passwordHash, passwordUpdatedAt: now, updatedAt: now, ...extra });
    if (updated === null) throw new AuthError("SESSION_REVOKED", "the session has ended; sign in again");
    return updated;
  }

  return {
    async register(input: RegisterInput, client: ClientInfo): Promise<{ user: UserRecord; tokens?: TokenPair }> {
      if (!policy.registrationEnabled) {
        throw new AuthError("REGISTRATION_DISABLED", "registration is disabled on this server");
      }
      const email = normalizeEmail("email", input.email);
      const displayName = checkDisplayName("display_name", input.displayName);
      const password = checkNewPassword("password", input.password, email);
      const now = clock.now();
      const user: UserRecord = {
        id: randomUUID(),
        email,
        emailVerified: false,
        displayName,
        passwordHash: await hasher.hash(password),
        passwordUpdatedAt: now,
        createdAt: now,
        updatedAt: now,
      };
      try {
        await store.users.insert(user);
      } catch (err) {
        if (err instanceof DuplicateEmailError) {
          throw new AuthError("EMAIL_EXISTS", "an account with this email already exists", { field: "email" });
        }
        throw err;
      }
      if (policy.emailVerificationRequired) {
        // Delivered after the response: a slow or failing mail server neither delays nor fails a
        // registration that has already happened (ResendVerificationEmail recovers a lost mail).
        deps.background.run("verification-mail", () => sendCode(user, "email_verification"));
        return { user };
      }
      return { user, tokens: await sessions.open(user, client, false) };
    },

    async login(input: LoginInput, client: ClientInfo): Promise<LoginResult> {
      const email = normalizeEmail("email", input.email);
      const password = checkPresentedPassword("password", input.password);
      const user = await store.users.findByEmail(email);
      if (!(await checkPassword(email, user, password)) || user === null || user.passwordHash === null) {
        throw new AuthError("INVALID_CREDENTIALS", "invalid email or password");
      }
      let current = user;
      if (hasher.needsRehash(user.passwordHash)) {
        // Conditional on the hash just verified: a password changed meanwhile is not overwritten.
        const upgraded = await store.users.update(
          user.id,
          { passwordHash: await hasher.hash(password), updatedAt: clock.now() },
          user.passwordHash,
        );
        if (upgraded !== null) {
          current = upgraded;
          log.info({ userId: user.id }, "password hash upgraded to current parameters");
        }
      }
      if (policy.emailVerificationRequired && !current.emailVerified) {
        throw new AuthError("EMAIL_NOT_VERIFIED", "verify your email address before signing in");
      }
      const tokens = await sessions.open(current, client, input.rememberMe);
      // A password change or reset that ran while this login was checking the old password has
      // revoked every session it could see, but not this one if it was opened afterwards. The
      // password is read again after the session exists: if it changed, the session goes too.
      const after = await store.users.findById(user.id);
      if (after === null || after.passwordHash !== current.passwordHash) {
        await store.sessions.revoke(tokens.sessionId, user.id, clock.now());
        throw new AuthError("INVALID_CREDENTIALS", "invalid email or password");
      }
      return { kind: "signed_in", user: after, tokens };
    },

    getUser: requireUser,

    async updateProfile(caller: Caller, changes: { displayName?: string | undefined }): Promise<UserRecord> {
      const user = await requireUser(caller);
      if (changes.displayName === undefined) return user;
      const displayName = checkDisplayName("display_name", changes.displayName);
      const updated = await store.users.update(user.id, { displayName, updatedAt: clock.now() });
      if (updated === null) throw new AuthError("SESSION_REVOKED", "the session has ended; sign in again");
      return updated;
    },

    async changePassword(caller: Caller, currentRaw: string, nextRaw: string): Promise<number> {
      const current = checkPresentedPassword("current_password", currentRaw);
      if (nextRaw.length === 0) throw new AuthError("INVALID_ARGUMENT", "new_password is required", { field: "new_password" });
      const user = await requireUser(caller);
      if (!(await checkPassword(user.email, user, current))) {
        throw new AuthError("INVALID_CREDENTIALS", "the current password is wrong", { field: "current_password" });
      }
      const next = checkNewPassword("new_password", nextRaw, user.email);
      await setPassword(user, next);
      return store.sessions.revokeAllForUser(user.id, clock.now(), caller.sessionId);
    },

    async deleteAccount(caller: Caller): Promise<void> {
      const user = await requireUser(caller);
      // Sessions go first so that no call can slip through while the rest is removed.
      await store.sessions.deleteAllForUser(user.id);
      await store.refreshTokens.deleteAllForUser(user.id);
      await store.codes.deleteAllForUser(user.id);
      await store.users.delete(user.id);
      log.info({ userId: user.id }, "account deleted");
    },

    async verifyEmail(rawCode: string): Promise<UserRecord> {
      const user = await consumeCode(rawCode, "email_verification");
      const updated = await store.users.update(user.id, { emailVerified: true, updatedAt: clock.now() });
      if (updated === null) throw new AuthError("INVALID_CODE", "the code is invalid or has expired", { field: "code" });
      return updated;
    },

    /**
     * Answers the same, in the same time, whether or not the address has an unverified account:
     * the lookup and delivery happen after the response.
     */
    async resendVerification(rawEmail: string): Promise<void> {
      const email = normalizeEmail("email", rawEmail);
      deps.background.run("resend-verification", async () => {
        const user = await store.users.findByEmail(email);
        if (user !== null && !user.emailVerified) await sendCode(user, "email_verification");
      });
    },

    /** Like resendVerification: the same answer whether or not the address is registered. */
    async requestPasswordReset(rawEmail: string): Promise<void> {
      const email = normalizeEmail("email", rawEmail);
      deps.background.run("password-reset", async () => {
        const user = await store.users.findByEmail(email);
        if (user !== null) await sendCode(user, "password_reset");
      });
    },

    /** Sets a new password from a reset code and ends every session of the user. */
    async resetPassword(rawCode: string, nextRaw: string): Promise<void> {
      const code = checkOpaque("code", rawCode, "INVALID_CODE");
      const hash = tokenHash(code);
      // The policy is checked before the code is used, so a refused password does not burn it.
      const pending = await store.codes.find(hash, "password_reset", clock.now());
      const owner = pending === null ? null : await store.users.findById(pending.userId);
      if (owner === null) throw new AuthError("INVALID_CODE", "the code is invalid or has expired", { field: "code" });
      const next = checkNewPassword("new_password", nextRaw, owner.email);
      const user = await consumeCode(code, "password_reset");
      // Receiving the code proves control of the address.
      await setPassword(user, next, { emailVerified: true });
      await store.sessions.revokeAllForUser(user.id, clock.now());
    },

    async listLinkedAccounts(caller: Caller): Promise<LinkedAccount[]> {
      const user = await requireUser(caller);
      const accounts: LinkedAccount[] = [];
      if (user.passwordHash !== null) {
        accounts.push({
          id: passwordAccountId,
          provider: "password",
          providerAccountId: user.email,
          createdAt: user.passwordUpdatedAt ?? user.createdAt,
        });
      }
      return accounts;
    },

    async unlinkAccount(caller: Caller, rawId: string): Promise<void> {
      const id = checkId("id", rawId);
      const accounts = await this.listLinkedAccounts(caller);
      const target = accounts.find((a) => a.id === id);
      if (target === undefined) throw new AuthError("NOT_FOUND", "no such linked account", { field: "id" });
      if (accounts.length <= 1) {
        throw new AuthError("LAST_SIGN_IN_METHOD", "this is the only way to sign in to the account; add another first");
      }
      // Only the password credential exists until external providers are added; it is removed by
      // clearing the hash.
      await store.users.update(caller.userId, { passwordHash: null, passwordUpdatedAt: null, updatedAt: clock.now() });
    },
  };
}

export type Accounts = ReturnType<typeof createAccounts>;
