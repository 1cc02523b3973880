import { randomUUID } from "node:crypto";
import { AuthError } from "../errors.ts";
import { addSeconds, requireUser as requireUserOf, type Caller, type ClientInfo, type Deps } from "../domain.ts";
import type { MailKind } from "../mail/mailer.ts";
import { passwordAttemptKey, type PasswordCheck } from "../passwords/check.ts";
import { checkNewPassword, checkPresentedPassword } from "../passwords/policy.ts";
import type { Sessions, TokenPair } from "../sessions/sessions.ts";
import { DuplicateEmailError } from "../store/errors.ts";
import { noCutoff, type UserRecord } from "../store/port.ts";
import { randomToken, tokenHash } from "../tokens/opaque.ts";
import { twoFactorAttemptKey, type Challenge, type FactorProof, type TwoFactor } from "../totp/two-factor.ts";
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
  /** For accounts with 2FA: a TOTP code or a recovery code, to sign in in one call. */
  loginCode?: string;
  recoveryCode?: string;
}

/** A user as callers see it: the record plus whether sign-in needs a second factor. */
export type AccountView = UserRecord & { twoFactorEnabled: boolean };

export type LoginResult =
  | { kind: "signed_in"; user: AccountView; tokens: TokenPair; rememberMe: boolean }
  | { kind: "second_factor_required"; user: AccountView; challenge: Challenge };

type MailedCodePurpose = "email_verification" | "password_reset";

const passwordAccountId = "password";

export function createAccounts(deps: Deps, sessions: Sessions, checkPassword: PasswordCheck, twoFactor: TwoFactor) {
  const { store, clock, hasher, policy, log } = deps;

  async function view(user: UserRecord): Promise<AccountView> {
    return { ...user, twoFactorEnabled: await twoFactor.isEnabled(user.id) };
  }

  /**
   * Opens the session of a sign-in whose every factor has been checked against `checked`, the user
   * as read when the password was verified. A password change or reset that ran meanwhile has
   * revoked every session it could see, but not this one if it was opened afterwards: the
   * password is read again after the session exists, and if it changed the session goes too.
   */
  async function openSignedIn(
    checked: UserRecord,
    client: ClientInfo,
    rememberMe: boolean,
    secondFactorChecked: boolean,
    twoFactorGeneration: number,
  ): Promise<LoginResult> {
    if (policy.emailVerificationRequired && !checked.emailVerified) {
      throw new AuthError("EMAIL_NOT_VERIFIED", "verify your email address before signing in");
    }
    const tokens = await sessions.open(checked, client, rememberMe, twoFactorGeneration);
    const after = await store.users.findById(checked.id);
    if (after === null || after.passwordHash !== checked.passwordHash) {
      await sessions.end(tokens.sessionId, checked.id);
      throw new AuthError("INVALID_CREDENTIALS", "invalid email or password");
    }
    // Likewise 2FA turned on while a password-only sign-in was under way: Enable revoked every
    // session it could see, so this one is revoked here and the sign-in needs its second factor.
    const twoFactorEnabled = await twoFactor.isEnabled(after.id);
    if (twoFactorEnabled && !secondFactorChecked) {
      await sessions.end(tokens.sessionId, after.id);
      const challenge = await twoFactor.issueChallenge(checked, rememberMe);
      return { kind: "second_factor_required", user: { ...after, twoFactorEnabled }, challenge };
    }
    return { kind: "signed_in", user: { ...after, twoFactorEnabled }, tokens, rememberMe };
  }

  const requireUser = (caller: Caller) => requireUserOf(store, caller);

  /** Creates a one-time code, keeps only its hash, and mails the code. */
  async function sendCode(user: UserRecord, purpose: MailedCodePurpose): Promise<void> {
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

  async function consumeCode(rawCode: string, purpose: MailedCodePurpose): Promise<UserRecord> {
    const code = checkOpaque("code", rawCode, "INVALID_CODE");
    const record = await store.codes.consume(tokenHash(code), purpose, clock.now());
    const user = record === null ? null : await store.users.findById(record.userId);
    if (user === null) throw new AuthError("INVALID_CODE", "the code is invalid or has expired", { field: "code" });
    return user;
  }

  /**
   * Sets the password and, in the same write, ends every session but `keep`. With
   * `ifPasswordHash`, only while the stored hash is still that one (null when it is not).
   */
  async function setPassword(
    user: UserRecord,
    normalizedPassword: string,
    keep: string | null,
    extra: { emailVerified?: boolean } = {},
    ifPasswordHash?: string | null,
  ): Promise<UserRecord | null> {
    const now = clock.now();
    const passwordHash = await hasher.hash(normalizedPassword);
    const updated = await store.users.update(
      user.id,
      { passwordHash, passwordUpdatedAt: now, updatedAt: now, ...extra },
      ifPasswordHash === undefined ? { endSessions: { keep } } : { endSessions: { keep }, ifPasswordHash },
    );
    if (updated === null && ifPasswordHash === undefined) throw new AuthError("SESSION_REVOKED", "the session has ended; sign in again");
    return updated;
  }

  return {
    async register(input: RegisterInput, client: ClientInfo): Promise<{ user: AccountView; tokens?: TokenPair }> {
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
        sessionCutoff: { ...noCutoff },
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
        return { user: { ...user, twoFactorEnabled: false } };
      }
      return { user: { ...user, twoFactorEnabled: false }, tokens: await sessions.open(user, client, false, 0) };
    },

    async login(input: LoginInput, client: ClientInfo): Promise<LoginResult> {
      const email = normalizeEmail("email", input.email);
      const password = checkPresentedPassword("password", input.password);
      const proof = twoFactor.checkLoginProof({ code: input.loginCode, recoveryCode: input.recoveryCode }, "login_code", "recovery_code");
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
          { ifPasswordHash: user.passwordHash },
        );
        if (upgraded !== null) {
          current = upgraded;
          log.info({ userId: user.id }, "password hash upgraded to current parameters");
        }
      }
      if (policy.emailVerificationRequired && !current.emailVerified) {
        throw new AuthError("EMAIL_NOT_VERIFIED", "verify your email address before signing in");
      }
      const { enabled: needsSecondFactor, generation } = await twoFactor.stateOf(current.id);
      if (needsSecondFactor) {
        if (proof === undefined) {
          const challenge = await twoFactor.issueChallenge(user, input.rememberMe);
          return { kind: "second_factor_required", user: { ...current, twoFactorEnabled: true }, challenge };
        }
        await twoFactor.prove(current.id, proof);
      }
      return openSignedIn(current, client, input.rememberMe, needsSecondFactor, generation);
    },

    /** The second step of a sign-in that Login answered with a challenge. */
    async completeLogin(rawChallenge: string, rawProof: FactorProof, client: ClientInfo) {
      const challenge = await twoFactor.findChallenge(rawChallenge);
      const proof = twoFactor.checkLoginProof(rawProof, "code", "recovery_code");
      if (proof === undefined) throw new AuthError("INVALID_ARGUMENT", "code or recovery_code is required", { field: "code" });
      const user = await store.users.findById(challenge.userId);
      // A password change or reset since the password was checked voids the challenge: it raised
      // the generation. (A timestamp cannot tell: the change's time is taken before its hash.)
      if (user === null || user.passwordHash === null || user.sessionCutoff.generation !== challenge.userGeneration) {
        throw new AuthError("INVALID_CHALLENGE", "the sign-in challenge is invalid or has expired; sign in again");
      }
      const { generation } = await twoFactor.stateOf(user.id);
      await twoFactor.prove(user.id, proof);
      await twoFactor.consumeChallenge(challenge.token);
      return openSignedIn(user, client, challenge.rememberMe === true, true, generation);
    },

    async getUser(caller: Caller): Promise<AccountView> {
      return view(await requireUser(caller));
    },

    async updateProfile(caller: Caller, changes: { displayName?: string | undefined }): Promise<AccountView> {
      const user = await requireUser(caller);
      if (changes.displayName === undefined) return view(user);
      const displayName = checkDisplayName("display_name", changes.displayName);
      const updated = await store.users.update(user.id, { displayName, updatedAt: clock.now() });
      if (updated === null) throw new AuthError("SESSION_REVOKED", "the session has ended; sign in again");
      return view(updated);
    },

    async changePassword(caller: Caller, currentRaw: string, nextRaw: string): Promise<number> {
      const current = checkPresentedPassword("current_password", currentRaw);
      if (nextRaw.length === 0) throw new AuthError("INVALID_ARGUMENT", "new_password is required", { field: "new_password" });
      const user = await requireUser(caller);
      if (!(await checkPassword(user.email, user, current))) {
        throw new AuthError("INVALID_CREDENTIALS", "the current password is wrong", { field: "current_password" });
      }
      const next = checkNewPassword("new_password", nextRaw, user.email);
      // Only over the password just checked: a change or reset that landed meanwhile (and ended
      // this session) is neither overwritten nor undone.
      const changed = await setPassword(user, next, caller.sessionId, {}, user.passwordHash);
      if (changed === null) throw new AuthError("INVALID_CREDENTIALS", "the current password is wrong", { field: "current_password" });
      return sessions.revokeAllOf(user.id, caller.sessionId);
    },

    async deleteAccount(caller: Caller): Promise<void> {
      const user = await requireUser(caller);
      // Sessions go first so that no call can slip through while the rest is removed.
      await store.sessions.deleteAllForUser(user.id);
      await store.refreshTokens.deleteAllForUser(user.id);
      await store.codes.deleteAllForUser(user.id);
      await store.twoFactor.delete(user.id);
      await store.attempts.clear(passwordAttemptKey(user.email));
      await store.attempts.clear(twoFactorAttemptKey(user.id));
      await store.users.delete(user.id);
      log.info({ userId: user.id }, "account deleted");
    },

    async verifyEmail(rawCode: string): Promise<AccountView> {
      const user = await consumeCode(rawCode, "email_verification");
      const updated = await store.users.update(user.id, { emailVerified: true, updatedAt: clock.now() });
      if (updated === null) throw new AuthError("INVALID_CODE", "the code is invalid or has expired", { field: "code" });
      return view(updated);
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
      await setPassword(user, next, null, { emailVerified: true });
      await sessions.revokeAllOf(user.id);
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
