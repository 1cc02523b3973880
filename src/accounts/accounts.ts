// The account's own life: registration, profile, email verification, password change and reset,
// linked sign-in methods, deletion. Signing in is its own capability (src/sign-in).
import { randomUUID } from "node:crypto";
import { type ClientBudget, countClientStart } from "../attempt-limit.ts";
import type { AuditLog } from "../audit/audit.ts";
import type { Background } from "../background.ts";
import type { Clock } from "../clock.ts";
import { AuthError } from "../errors.ts";
import { checkDisplayName, normalizeEmail } from "../input.ts";
import type { Logger } from "../log.ts";
import type { MailLimits } from "../mail/limits.ts";
import type { Mailer } from "../mail/mailer.ts";
import type { Notifier } from "../mail/notifications.ts";
import { accountPasswordAttemptKeys, type PasswordCheck } from "../passwords/check.ts";
import type { PasswordHasher } from "../passwords/hasher.ts";
import { checkPresentedPassword, type NewPasswordPolicy } from "../passwords/policy.ts";
import { promotedRoles } from "../permissions/permissions.ts";
import { requireUser as requireUserOf, type Caller, type ClientInfo, sessionEnded } from "../sessions/caller.ts";
import { requireBothCutoffsPass } from "../sessions/cutoffs.ts";
import type { Sessions, TokenPair } from "../sessions/sessions.ts";
import { DuplicateEmailError } from "../store/errors.ts";
import { defaultRole, noCutoff, type Store, type UserPatch, type UserRecord } from "../store/port.ts";
import { deviceOwner, type DeviceGrant, type DeviceTokens } from "../tokens/devices.ts";
import type { Reauthentication } from "../two-factor/reauthentication.ts";
import { twoFactorAttemptKeys, type TwoFactor } from "../two-factor/two-factor.ts";
import { accountDisabled, accountView, type AccountView, emailSignInAttemptKeys, emailSignInFailuresKey } from "./account.ts";
import { addressProven, dropMethodsAddedUnproven, type SignInMethod } from "./sign-in-methods.ts";
import { recordAdminPromotion } from "./admin-promotion.ts";
import { createLinkedAccounts } from "./linked-accounts.ts";
import { createMailedCodes } from "./mailed-codes.ts";

export type { AccountView } from "./account.ts";

export interface AccountPolicy {
  registrationEnabled: boolean;
  /**
   * Sign-ups a client network (an IPv4 address, an IPv6 /64, and its IPv6 aggregate) may attempt
   * in an hour (undefined: no bound). Accounts are kept for good, verified or not, and each sign-up
   * costs an argon2id hash: without a bound one client could fill the store and the hashing queue
   * with accounts of made-up emails.
   */
  registrationsPerClient: ClientBudget | undefined;
  emailVerificationRequired: boolean;
  emailVerificationTtlSeconds: number;
  passwordResetTtlSeconds: number;
}

const tooManySignUps = (retryAfterSeconds: number) =>
  new AuthError("RATE_LIMITED", "too many sign-ups from this network; try again later", { retryAfterSeconds });

export interface AccountsDeps {
  store: Pick<Store, "users" | "codes" | "attempts" | "twoFactor" | "passkeys" | "providerLinks">;
  clock: Clock;
  hasher: PasswordHasher;
  mailer: Mailer;
  /** Every code mail is admitted here first (hourly budgets per client and per address). */
  mailLimits: MailLimits;
  /** Security notifications to the account's owner. */
  notifier: Notifier;
  log: Pick<Logger, "info">;
  /** Mail goes out after the response (see Background). */
  background: Background;
  /** Judges new passwords (common, context words, breached). */
  passwordPolicy: NewPasswordPolicy;
  /** Known-device tokens: a completed reset or password change hands one out. */
  devices: DeviceTokens;
  policy: AccountPolicy;
  /** ADMIN_EMAILS: these accounts get the admin role when their address is verified. */
  adminEmails: readonly string[];
  /** Where such a promotion is recorded, as AdminService's calls are. */
  audit: Pick<AuditLog, "recordSystem">;
}

/** A sign-in method as ListLinkedAccounts shows it (see sign-in-methods.ts). */
export type LinkedAccount = SignInMethod;

export interface RegisterInput {
  email: string;
  password: string;
  displayName: string;
}

/** A new account's record; `passwordHash` null for one made by a provider sign-in. */
function newUser(email: string, displayName: string, passwordHash: string | null, emailVerified: boolean, now: Date): UserRecord {
  return {
    id: randomUUID(),
    email,
    emailVerified,
    emailVerifiedAt: emailVerified ? now : null,
    displayName,
    passwordHash,
    passwordUpdatedAt: passwordHash === null ? null : now,
    createdAt: now,
    updatedAt: now,
    sessionCutoff: { ...noCutoff },
    twoFactorCutoffRaises: 0,
    roles: [defaultRole],
    disabledAt: null,
  };
}

const emailExists = (message: string) => new AuthError("EMAIL_EXISTS", message, { field: "email" });

export function createAccounts(deps: AccountsDeps, sessions: Sessions, checkPassword: PasswordCheck, twoFactor: TwoFactor) {
  const { store, clock, hasher, policy, log } = deps;

  async function view(user: UserRecord): Promise<AccountView> {
    return accountView(user, await twoFactor.isEnabled(user.id));
  }

  const requireUser = (caller: Caller) => requireUserOf(store.users, caller);

  const promoted = (user: UserRecord) => recordAdminPromotion(deps, user);

  const linked = createLinkedAccounts({ store, clock, twoFactor, notifier: deps.notifier, log });

  const codes = createMailedCodes({
    ...deps,
    ttlSeconds: { email_verification: policy.emailVerificationTtlSeconds, password_reset: policy.passwordResetTtlSeconds },
  });

  /**
   * Sets the password (`passwordHash`, hashed by the caller before it spends anything: a full
   * hashing queue must fail the call while it has changed nothing) and, in the same write, ends
   * every session but the caller's `keep`, and that one only while it still passes the cutoff (a
   * change that ended it since it was authenticated must not be undone by keeping it, nor end the
   * session that made that change). With `ifPasswordHash`, only while the stored hash is still
   * that one. Null when either condition failed.
   */
  async function setPassword(
    user: UserRecord,
    passwordHash: string,
    keep: Caller | null,
    extra: Pick<UserPatch, "emailVerified" | "emailVerifiedAt" | "roles"> = {},
    ifPasswordHash?: string | null,
  ): Promise<UserRecord | null> {
    const now = clock.now();
    const updated = await store.users.update(
      user.id,
      { passwordHash, passwordUpdatedAt: now, updatedAt: now, ...extra },
      {
        endSessions: { keep: keep?.sessionId ?? null },
        ...(keep !== null && { ifSessionPasses: { sessionId: keep.sessionId, generation: keep.generations.user } }),
        ...(ifPasswordHash !== undefined && { ifPasswordHash }),
      },
    );
    if (updated === null && ifPasswordHash === undefined) throw sessionEnded();
    return updated;
  }

  return {
    async register(input: RegisterInput, client: ClientInfo): Promise<{ user: AccountView; tokens?: TokenPair }> {
      if (!policy.registrationEnabled) {
        throw new AuthError("REGISTRATION_DISABLED", "registration is disabled on this server");
      }
      // Every attempt counts, whatever it becomes (EMAIL_EXISTS too): it is the work that is bounded.
      await countClientStart(
        { attempts: store.attempts, clock },
        "register-client",
        client.ipAddress,
        policy.registrationsPerClient,
        tooManySignUps,
      );
      const email = normalizeEmail("email", input.email);
      const displayName = checkDisplayName("display_name", input.displayName);
      const password = await deps.passwordPolicy("password", input.password, { email, displayName });
      const user = newUser(email, displayName, await hasher.hash(password), false, clock.now());
      try {
        await store.users.insert(user);
      } catch (err) {
        if (err instanceof DuplicateEmailError) throw emailExists("an account with this email already exists");
        throw err;
      }
      if (policy.emailVerificationRequired) {
        // Delivered after the response: a slow or failing mail server neither delays nor fails a
        // registration that has already happened (ResendVerificationEmail recovers a lost mail).
        deps.background.run("verification-mail", () => codes.sendAfter(client, () => Promise.resolve(user), "email_verification"));
        return { user: accountView(user, false) };
      }
      return { user: accountView(user, false), tokens: await sessions.open(user, client, false, 0) };
    },

    /**
     * A new account without a password, for a first sign-in with a provider (src/federation/). The
     * provider's address is taken as verified only when the provider says so. An address that
     * belongs to another account makes nothing: linking to an account happens only while signed in
     * to it, never by matching email (the account takeover other services have suffered).
     */
    async registerFromProvider(input: { email: string; emailVerified: boolean; displayName: string }): Promise<UserRecord> {
      if (!policy.registrationEnabled) {
        throw new AuthError("REGISTRATION_DISABLED", "registration is disabled on this server");
      }
      const user = newUser(input.email, input.displayName, null, input.emailVerified, clock.now());
      try {
        await store.users.insert(user);
      } catch (err) {
        if (err instanceof DuplicateEmailError) {
          throw emailExists(
            "an account with this email address already exists: sign in to it and link the provider from the account's settings",
          );
        }
        throw err;
      }
      log.info({ userId: user.id }, "account created by a provider sign-in");
      return user;
    },

    /** The caller's account as the live check that proved the caller read it, a moment ago. */
    async getUser(caller: Caller): Promise<AccountView> {
      return accountView(caller.user, caller.twoFactorEnabled);
    },

    async updateProfile(caller: Caller, changes: { displayName?: string | undefined }): Promise<AccountView> {
      const user = await requireUser(caller);
      if (changes.displayName === undefined) return view(user);
      const displayName = checkDisplayName("display_name", changes.displayName);
      const updated = await store.users.update(user.id, { displayName, updatedAt: clock.now() });
      if (updated === null) throw sessionEnded();
      return view(updated);
    },

    /**
     * Changes the password and ends the caller's other sessions; the change voids every
     * known-device token issued before (it raises the generation), so the caller, who just proved
     * the password, gets a current one: its own renewed when `deviceToken` was current, else new.
     */
    async changePassword(
      caller: Caller,
      currentRaw: string,
      nextRaw: string,
      client: ClientInfo,
      deviceToken?: string,
    ): Promise<{ revokedSessionCount: number; device: DeviceGrant }> {
      const current = checkPresentedPassword("current_password", currentRaw);
      if (nextRaw.length === 0) throw new AuthError("INVALID_ARGUMENT", "new_password is required", { field: "new_password" });
      const user = await requireUser(caller);
      // Counted under the caller's session: strangers guessing at the address cannot refuse it.
      const from = { kind: "session", sessionId: caller.sessionId, address: client.ipAddress } as const;
      if (!(await checkPassword(user.email, user, current, from))) {
        throw new AuthError("INVALID_CREDENTIALS", "the current password is wrong", { field: "current_password" });
      }
      const next = await deps.passwordPolicy("new_password", nextRaw, user);
      const passwordHash = await hasher.hash(next);
      // A reset code mailed before the change dies with it: whoever held the mailbox for a moment
      // may have kept one, and it must not take back the account its owner has just secured. Voided
      // first, so that no failure between the two leaves the new password beside a live code.
      // A session a security change has ended since it was authenticated (the checks above take
      // a while: argon2, the breach check) voids nothing: not even the owner's reset code, which
      // the owner who ended it may be about to use. Both cutoffs, read just before: the write
      // below checks the user's again, in itself, and the second factor's lives in another document.
      await requireBothCutoffsPass(store, caller);
      await codes.revoke(user.id, "password_reset");
      // Only over the password just checked, and only while this session passes the cutoff: a
      // change, reset or RevokeOtherSessions that landed meanwhile (and ended this session) is
      // neither overwritten nor undone.
      const changed = await setPassword(user, passwordHash, caller, {}, user.passwordHash);
      if (changed === null) {
        const now = await store.users.findById(user.id);
        if (now !== null && now.passwordHash === user.passwordHash) throw sessionEnded();
        throw new AuthError("INVALID_CREDENTIALS", "the current password is wrong", { field: "current_password" });
      }
      deps.notifier.notify(user, "password_changed", client);
      const after = deviceOwner(changed);
      const device = deps.devices.renew(deviceToken, deviceOwner(user), after) ?? deps.devices.grant(after, null);
      return { revokedSessionCount: await sessions.revokeAllOf(user.id, caller.sessionId), device };
    },

    async deleteAccount(caller: Caller, proof: Reauthentication, client: ClientInfo): Promise<void> {
      const user = await requireUser(caller);
      await twoFactor.confirmIdentity(caller, user, proof, client);
      await this.erase(user, client);
    },

    /**
     * Removes the account and everything stored for it, and tells its owner. The caller has
     * decided it may (the owner's fresh proof, or AdminService's permission).
     */
    async erase(user: UserRecord, client: ClientInfo): Promise<void> {
      await sessions.forget(user.id);
      await store.codes.deleteAllForUser(user.id);
      await store.twoFactor.delete(user.id);
      await store.passkeys.deleteAllForUser(user.id);
      await store.providerLinks.deleteAllForUser(user.id);
      // Every counter that names the account or its address, the email sign-in ones included: the
      // address must not outlive the account in storage, nor its next owner inherit a lock. Except
      // the cap on wrong email codes in a row of an address the account never proved: its maker
      // could lift it by deleting and registering again (see emailSignInAttemptKeys).
      const keys = [
        ...accountPasswordAttemptKeys(user.email),
        ...emailSignInAttemptKeys(user.email, user.emailVerified),
        ...twoFactorAttemptKeys(user.id),
      ];
      for (const key of keys) await store.attempts.clear(key);
      await store.users.delete(user.id);
      log.info({ userId: user.id }, "account deleted");
      deps.notifier.notify(user, "account_deleted", client);
    },

    /**
     * Marks the address proven. Never an ADMIN_EMAILS promotion: verifying proves the mailbox but
     * keeps every credential the account had, and anyone can register an address before its owner
     * and wait for the owner to verify it (account pre-hijacking): the admin role would go to
     * whoever set the password. The owner is promoted by a password reset instead, which replaces
     * them (resetPassword), and whose proof drops what was added before this one
     * (dropMethodsAddedUnproven).
     */
    async verifyEmail(rawCode: string): Promise<AccountView> {
      const user = await codes.consume(rawCode, "email_verification");
      const now = clock.now();
      const updated = await store.users.update(user.id, { ...addressProven(user, now), updatedAt: now });
      if (updated === null) throw new AuthError("INVALID_CODE", "the code is invalid or has expired", { field: "code" });
      return view(updated);
    },

    /**
     * Answers the same, in the same time, whether or not the address has an unverified account:
     * the lookup and delivery happen after the response.
     */
    async resendVerification(rawEmail: string, client: ClientInfo): Promise<void> {
      const email = normalizeEmail("email", rawEmail);
      deps.background.run("resend-verification", () =>
        codes.sendAfter(
          client,
          async () => {
            const user = await store.users.findByEmail(email);
            return user?.emailVerified === false ? user : null;
          },
          "email_verification",
        ),
      );
    },

    /**
     * Like resendVerification: the same answer whether or not the address is registered, and
     * whether or not its account is disabled (which gets no mail: it could not use the code).
     */
    async requestPasswordReset(rawEmail: string, client: ClientInfo): Promise<void> {
      const email = normalizeEmail("email", rawEmail);
      deps.background.run("password-reset", () =>
        codes.sendAfter(
          client,
          async () => {
            const user = await store.users.findByEmail(email);
            return user?.disabledAt === null ? user : null;
          },
          "password_reset",
        ),
      );
    },

    /**
     * Sets a new password from a reset code, ends every session of the user and voids every
     * known-device token (the new generation), and makes this client a known device: proving the
     * mailbox is as good as a sign-in for the guessing limits, so an attacker who keeps guessing
     * after the reset cannot lock the owner out again. `deviceToken`, the client's current token
     * if it has one, is renewed (same device id).
     */
    async resetPassword(rawCode: string, nextRaw: string, client: ClientInfo, deviceToken?: string): Promise<DeviceGrant> {
      // The policy is checked before the code is used, so a refused password does not burn it.
      const pending = await codes.pending(rawCode, "password_reset");
      // Only the holder of a code mailed to the address gets this far: no stranger learns of it.
      if (pending.user.disabledAt !== null) throw accountDisabled();
      const next = await deps.passwordPolicy("new_password", nextRaw, pending.user);
      // Hashed before the code is spent too: a full hashing queue (RATE_LIMITED, which anyone can
      // cause by flooding sign-ins) used to fail the reset after it had burnt the code and dropped
      // the account's unproven ways in, leaving the owner to ask for another mail.
      const passwordHash = await hasher.hash(next);
      const user = await pending.consume();
      if (user.disabledAt !== null) throw accountDisabled();
      // Receiving the code proves control of the address.
      const roles = promotedRoles({ ...user, emailVerified: true }, deps.adminEmails) ?? undefined;
      // Whoever made the account may not own the address: the owner who just proved the mailbox
      // keeps no passkey, provider or second factor added before the address was first proven.
      // One ADMIN_EMAILS promotes now keeps none at all: a verification (VerifyEmail) kept whatever
      // the account's maker had added, and so may a maker signed in after it. Dropped before the
      // write that ends the sessions (see email sign-in's proven()), so none signs in between the two.
      await dropMethodsAddedUnproven(store, twoFactor, user, client, roles !== undefined);
      const updated = await setPassword(user, passwordHash, null, { ...addressProven(user, clock.now()), ...(roles && { roles }) });
      if (roles !== undefined && updated !== null) await promoted(updated);
      deps.notifier.notify(user, "password_reset_completed", client);
      await sessions.revokeAllOf(user.id);
      // Whoever guessed at the old password loses their hold: the owner who proved the mailbox
      // signs in at once (the second factor's lock stays; the mailbox does not prove it). The same
      // proof lifts the cap on email sign-in codes an attacker may have burnt.
      for (const key of [...accountPasswordAttemptKeys(user.email), emailSignInFailuresKey(user.email)]) await store.attempts.clear(key);
      // Issued under the generation the reset raised, so it outlives the reset that voids the rest.
      const after = deviceOwner(updated ?? user);
      return deps.devices.renew(deviceToken, deviceOwner(user), after) ?? deps.devices.grant(after, null);
    },

    listLinkedAccounts: linked.list,
    unlinkAccount: linked.unlink,
  };
}

export type Accounts = ReturnType<typeof createAccounts>;
