// Email as a first factor (EMAIL_SIGN_IN): a one-time code mailed to the address and typed back,
// and, where the server has a web page for it (EMAIL_SIGN_IN_LINK_URL), a magic link in the same
// mail whose token that page sends back. Either ends in flow.afterFirstFactor, so the second
// factor, the session, the device token and the new-device notice are exactly Login's.
//
// Request: answered before anything is looked up; the lookup and the mail run in the background
// (background.ts) under the hourly mail limits (mail/limits.ts), as for password resets, so neither
// the answer nor its time tells whether the address has an account.
//
// The code: `digits` decimal digits from the CSPRNG, stored only as an HMAC under a key derived for
// this use (secrets/) over the user id and the code, so equal codes of two users never meet and a
// copy of the database cannot be searched offline without the server secret. Completing spends it
// with one atomic consume (exactly one of any number of racing completions wins). A new request
// replaces the code and link mailed before (CodeStore.replace).
//
// Wrong codes are counted before the lookup, per address (the email, whether or not it has an
// account) and per client network (and its IPv6 aggregate), like passwords: the address's count
// allows `maxFailures` guesses per code, and the guess that spends the budget voids the code; a
// new code (which the owner can ask for at once, within the mail budget) starts a fresh count. So a stranger gets at most
// maxFailures guesses per mailed code and MAIL_MAX_PER_ADDRESS_PER_HOUR codes an hour (25 by
// default). Across mails, a second count per address caps wrong codes in a row at
// maxConsecutiveFailures (NIST SP 800-63B: at most 100 consecutive failures per account), which
// no new mail resets: only a successful email sign-in (code or link), a completed password
// reset or the deletion of an account that had proven the address clears it, or 30 days (its
// window and its lock). Without it those 25 an hour would add up
// to about a 20 % chance a year against one 6-digit address. A stranger can burn it on purpose:
// that pauses sign-in by code for the address only; links (unguessable), the password, passkeys,
// providers and resets are not affected.
//
// Both counts are kept only for an address asked for within a code's life (a request marks it,
// for every address alike, `emailCodeRequestedKey`): a code for any other address is wrong
// whoever owns it, so it is refused at once, counted on the client's budget alone. Otherwise a
// client could make the store keep a 30-day count for every address it can make up (hundreds an
// hour per network); now that is bounded by the client's mail request budget.
//
// The link: a 256-bit token in the URL fragment (`#token=`), which browsers never send to a server
// and mail scanners that fetch the page cannot spend: only the page's own script calls
// CompleteEmailSignIn with it. Stored as a SHA-256 hash (its entropy needs no key).
//
// Completing either voids the other and proves the mailbox: the address becomes verified. An
// account that was NOT verified until then may have been registered by someone else with this
// address and credentials of theirs (account pre-hijacking): so its passkeys and linked provider
// accounts go, then its password is removed and every other session ended in one write (every
// credential added before the address was proven). The owner adds new ones.
import { randomInt } from "node:crypto";
import { accountDisabled, emailCodeAttemptKey, emailCodeRequestedKey, emailSignInFailuresKey } from "../accounts/account.ts";
import { type AdminPromotionDeps, recordAdminPromotion } from "../accounts/admin-promotion.ts";
import { addressProven, dropMethodsAddedUnproven } from "../accounts/sign-in-methods.ts";
import { promotedRoles } from "../permissions/permissions.ts";
import { addSeconds, type Clock } from "../clock.ts";
import { type ClientBudget, countClient, countGuess, forgiveClient } from "../attempt-limit.ts";
import type { Background } from "../background.ts";
import { AuthError } from "../errors.ts";
import { checkOpaque, normalizeEmail } from "../input.ts";
import type { MailLimits } from "../mail/limits.ts";
import type { Mailer } from "../mail/mailer.ts";
import type { KeyedHasher } from "../secrets/server-secrets.ts";
import type { ClientInfo } from "../sessions/caller.ts";
import type { CodePurpose, Store, UserRecord } from "../store/port.ts";
import { randomToken, tokenHash } from "../tokens/opaque.ts";
import type { TwoFactor } from "../two-factor/two-factor.ts";
import type { SecondFactorPending, SignedIn, SignInFlow } from "./flow.ts";
import type { LoginResult, SignedInOnDevice } from "./sign-in.ts";

export interface EmailSignInPolicy {
  /** Codes are mailed and accepted (EMAIL_SIGN_IN includes "code"). */
  code: boolean;
  /** The page links point to (EMAIL_SIGN_IN_LINK_URL); undefined: no links. */
  linkUrl: string | undefined;
  /** How long a code and a link live (EMAIL_SIGN_IN_CODE_TTL_SECONDS). */
  ttlSeconds: number;
  /** Digits of a code (EMAIL_SIGN_IN_CODE_DIGITS). */
  digits: number;
  /** Wrong codes per mailed code (EMAIL_SIGN_IN_CODE_MAX_FAILURES). */
  maxFailures: number;
  /** Wrong codes in a row per address, whatever the mails (EMAIL_SIGN_IN_MAX_CONSECUTIVE_FAILURES). */
  maxConsecutiveFailures: number;
  /** Wrong codes per client network and its IPv6 aggregate, across addresses (the password's LOGIN_ADDRESS_MAX_FAILURES); undefined: off. */
  clientLimit: ClientBudget | undefined;
}

export interface EmailSignInDeps extends AdminPromotionDeps {
  /** ADMIN_EMAILS: an address proven by an email sign-in is promoted as by VerifyEmail. */
  adminEmails: readonly string[];
  store: Pick<Store, "users" | "codes" | "attempts" | "passkeys" | "providerLinks">;
  clock: Clock;
  mailer: Mailer;
  mailLimits: MailLimits;
  background: Background;
  /** The keyed hash of codes (ServerSecrets.emailSignInCodes). */
  codeHasher: KeyedHasher;
  /** undefined: email sign-in is off (the default). */
  policy: EmailSignInPolicy | undefined;
  /** Clears a second factor enrolled before the address was proven (proven()). */
  secondFactor: Pick<TwoFactor, "resetBy">;
}

export interface EmailSignInInput {
  email?: string;
  code?: string;
  linkToken?: string;
  rememberMe: boolean;
  deviceToken?: string | undefined;
}

const codePurpose: CodePurpose = "email_sign_in_code";
const linkPurpose: CodePurpose = "email_sign_in_link";

/** How long an address's wrong codes in a row are remembered, and the lock at the cap lasts. */
const consecutiveWindowSeconds = 30 * 24 * 3_600;

const invalidCode = () => new AuthError("INVALID_CODE", "the code is invalid or has expired", { field: "code" });
const rateLimited = (retryAfterSeconds: number) =>
  new AuthError("RATE_LIMITED", "too many wrong codes; request a new one", { retryAfterSeconds });

function disabled(what: string): AuthError {
  return new AuthError("SIGN_IN_METHOD_DISABLED", `${what} is not turned on on this server`);
}

/** The digits of a typed code: spaces and dashes (as people copy them) dropped. */
function parseCode(raw: string, digits: number): string {
  const code = raw.replace(/[\s-]/g, "");
  if (code.length === 0) throw new AuthError("INVALID_ARGUMENT", "code is required", { field: "code" });
  if (code.length !== digits || !/^\d+$/.test(code)) throw invalidCode();
  return code;
}

/** `finish`: the signed-in step Login ends with (device token, new-device notice). */
export function createEmailSignIn(
  deps: EmailSignInDeps,
  flow: SignInFlow,
  finish: (result: SignedIn, presentedDeviceToken: string | undefined, client: ClientInfo) => SignedInOnDevice,
) {
  const { store, clock } = deps;

  const enabled = (): EmailSignInPolicy => {
    if (deps.policy === undefined) throw disabled("email sign-in");
    return deps.policy;
  };

  const codeHash = (userId: string, code: string) => deps.codeHasher.keyedHash(`${userId}:${code}`);

  /** Voids the user's live code or link of `purpose`: an expired stand-in replaces it. */
  const voidPending = (userId: string, purpose: CodePurpose) =>
    store.codes.replace({ codeHash: tokenHash(randomToken(32)), purpose, userId, createdAt: clock.now(), expiresAt: clock.now() });

  /**
   * An admitted request for the address (known or not): marked for a code's life (plus a minute,
   * for the code written after the mark), from this request on, and its wrong-code budget restarts.
   */
  async function markRequested(email: string, policy: EmailSignInPolicy): Promise<void> {
    const life = { maxFailures: Number.MAX_SAFE_INTEGER, windowSeconds: policy.ttlSeconds + 60, lockSeconds: 1 };
    await store.attempts.clear(emailCodeRequestedKey(email));
    await store.attempts.fail(emailCodeRequestedKey(email), clock.now(), life);
    await store.attempts.clear(emailCodeAttemptKey(email));
  }

  /** The mail, with a fresh code and link, to an account's address (admitted by its mail budget). */
  async function mailTo(user: UserRecord, policy: EmailSignInPolicy): Promise<void> {
    if (!(await deps.mailLimits.admitAddress("email_sign_in", user.email))) return;
    if (policy.code) await markRequested(user.email, policy);
    const now = clock.now();
    const expiresAt = addSeconds(now, policy.ttlSeconds);
    const minutes = Math.round(policy.ttlSeconds / 60);
    const lines: string[] = [];
    let code = "";
    if (policy.code) {
      code = String(randomInt(0, 10 ** policy.digits)).padStart(policy.digits, "0");
      // A new code gets the whole budget (markRequested); the stranger's hourly share is the mail limit.
      await store.codes.replace({ codeHash: codeHash(user.id, code), purpose: codePurpose, userId: user.id, createdAt: now, expiresAt });
      lines.push(`Your sign-in code is:\n\n${code}\n`);
    }
    let link: string | undefined;
    if (policy.linkUrl !== undefined) {
      const token = randomToken(32);
      await store.codes.replace({ codeHash: tokenHash(token), purpose: linkPurpose, userId: user.id, createdAt: now, expiresAt });
      link = `${policy.linkUrl}#token=${token}`;
      lines.push(`${policy.code ? "Or open this link" : "Open this link"} to sign in:\n\n${link}\n`);
    }
    lines.push(`It expires in ${minutes} minutes and works once. If you did not ask to sign in, ignore this mail.`);
    await deps.mailer.send({
      kind: "email_sign_in",
      to: user.email,
      subject: "Your sign-in code",
      text: lines.join("\n"),
      code: code || (link ?? ""),
      ...(link === undefined ? {} : { link }),
    });
  }

  /**
   * The mailbox is proven: the address becomes verified; an unverified account also loses the
   * password, passkeys, provider links and second factor added before (pre-hijacking, see the
   * header) and its other sessions. A verified one loses the passkeys, links and second factor
   * added before its address was first proven (dropMethodsAddedUnproven), and with them its
   * sessions; its password stays, as it would for the owner who registered with it.
   */
  async function proven(user: UserRecord, client: ClientInfo): Promise<UserRecord> {
    // A disabled account is left as it is (the flow would refuse it anyway, after the change).
    if (user.disabledAt !== null) throw accountDisabled();
    if (user.emailVerified) {
      if (!(await dropMethodsAddedUnproven(store, deps.secondFactor, user, client))) return user;
      return (await store.users.update(user.id, { updatedAt: clock.now() }, { endSessions: { keep: null } })) ?? user;
    }
    const roles = promotedRoles({ ...user, emailVerified: true }, deps.adminEmails) ?? undefined;
    const now = clock.now();
    const patch = { ...addressProven(user, now), passwordHash: null, passwordUpdatedAt: null, updatedAt: now, ...(roles && { roles }) };
    // Before the write that ends the sessions: a passkey sign-in that read the user after that
    // write finds its passkey gone when it records the use (a compare-and-set), and one that read
    // it before opens a session the write ends. Dropped after the write, a passkey could still
    // sign in between the two, into a live session.
    await dropMethodsAddedUnproven(store, deps.secondFactor, user, client);
    const updated = await store.users.update(user.id, patch, { endSessions: { keep: null } });
    if (roles !== undefined && updated !== null) await recordAdminPromotion(deps, updated);
    return updated ?? user;
  }

  /** The user the code proves, under the guessing limits; throws for a wrong or spent one. */
  async function byCode(policy: EmailSignInPolicy, rawEmail: string, rawCode: string, client: ClientInfo): Promise<UserRecord> {
    if (!policy.code) throw disabled("sign-in with an emailed code");
    const email = normalizeEmail("email", rawEmail);
    const code = parseCode(rawCode, policy.digits);
    const perCode = { maxFailures: policy.maxFailures, windowSeconds: policy.ttlSeconds, lockSeconds: policy.ttlSeconds };
    const clientKind = "email-code-client";
    // Both before the lookup: a refusal reads nothing about the account.
    if (policy.clientLimit !== undefined)
      await countClient({ ...store, clock }, clientKind, client.ipAddress, policy.clientLimit, rateLimited);
    // No request within a code's life: no live code, for a known address or not. Nothing is kept.
    if ((await store.attempts.get(emailCodeRequestedKey(email), clock.now())).failures === 0) throw invalidCode();
    const spent = await countGuess({ ...store, clock }, emailCodeAttemptKey(email), perCode, rateLimited);
    const inARow = {
      maxFailures: policy.maxConsecutiveFailures,
      windowSeconds: consecutiveWindowSeconds,
      lockSeconds: consecutiveWindowSeconds,
    };
    await countGuess({ ...store, clock }, emailSignInFailuresKey(email), inARow, rateLimited);
    const user = await store.users.findByEmail(email);
    // An unknown address spends the same consume, on a hash that names nobody.
    const record = await store.codes.consume(codeHash(user?.id ?? "-", code), codePurpose, clock.now());
    if (user === null || record === null || record.userId !== user.id) {
      if (spent && user !== null) await voidPending(user.id, codePurpose);
      throw invalidCode();
    }
    for (const key of [emailCodeAttemptKey(email), emailSignInFailuresKey(email)]) await store.attempts.clear(key);
    if (policy.clientLimit !== undefined) await forgiveClient({ ...store, clock }, clientKind, client.ipAddress, policy.clientLimit);
    await voidPending(user.id, linkPurpose);
    return user;
  }

  async function byLink(policy: EmailSignInPolicy, rawToken: string): Promise<UserRecord> {
    if (policy.linkUrl === undefined) throw disabled("sign-in with an emailed link");
    const token = checkOpaque("link_token", rawToken, "INVALID_CODE");
    const record = await store.codes.consume(tokenHash(token), linkPurpose, clock.now());
    const user = record === null ? null : await store.users.findById(record.userId);
    if (user === null)
      throw new AuthError("INVALID_CODE", "the link is invalid or has expired; request a new one", { field: "link_token" });
    // The mailbox is proven as by a right code: the codes' cap lifts (a link cannot be guessed).
    await store.attempts.clear(emailSignInFailuresKey(user.email));
    await voidPending(user.id, codePurpose);
    return user;
  }

  return {
    /** Returns at once, the same for every address; the mail (if any) follows in the background. */
    async request(rawEmail: string, client: ClientInfo): Promise<void> {
      const policy = enabled();
      const email = normalizeEmail("email", rawEmail);
      deps.background.run("email-sign-in", async () => {
        if (!(await deps.mailLimits.admitClient(client))) return;
        const user = await store.users.findByEmail(email);
        // A disabled account gets no mail: it could not use the code.
        if (user !== null && user.disabledAt === null) await mailTo(user, policy);
        // Any other address gets what a mailed one gets besides the mail: the same budget counted,
        // and a fresh budget of wrong codes. Otherwise a client locked out of guessing codes for an
        // address would learn, from whether a request unlocked it, that the address has an account.
        else if (policy.code && (await deps.mailLimits.admitAddress("email_sign_in", email))) await markRequested(email, policy);
      });
    },

    /** Email and code, or the link's token: signed in, or the second factor pending, as Login. */
    async complete(input: EmailSignInInput, client: ClientInfo): Promise<LoginResult> {
      const policy = enabled();
      const hasLink = (input.linkToken ?? "") !== "";
      if (hasLink && ((input.code ?? "") !== "" || (input.email ?? "") !== "")) {
        throw new AuthError("INVALID_ARGUMENT", "send either email and code, or link_token", { field: "link_token" });
      }
      const found = hasLink
        ? await byLink(policy, input.linkToken ?? "")
        : await byCode(policy, input.email ?? "", input.code ?? "", client);
      const user = await proven(found, client);
      const result: SignedIn | SecondFactorPending = await flow.afterFirstFactor(
        user,
        { rememberMe: input.rememberMe, proof: undefined },
        client,
      );
      if (result.state !== "signed_in") return result;
      return finish(result, input.deviceToken, client);
    },
  };
}

export type EmailSignIn = ReturnType<typeof createEmailSignIn>;
