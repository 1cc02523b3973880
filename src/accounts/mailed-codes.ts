// The one-time codes an account's owner receives by mail to prove the address: email verification
// and password reset. Kept only as a hash, replaced by the next one of the same purpose, spent once.
import { addSeconds, type Clock } from "../clock.ts";
import { AuthError } from "../errors.ts";
import { checkOpaque } from "../input.ts";
import type { MailLimits } from "../mail/limits.ts";
import type { CodeMailKind, Mailer } from "../mail/mailer.ts";
import type { ClientInfo } from "../sessions/caller.ts";
import type { Store, UserRecord } from "../store/port.ts";
import { randomToken, tokenHash } from "../tokens/opaque.ts";

export type MailedCodePurpose = Exclude<CodeMailKind, "email_sign_in">;

export interface MailedCodesDeps {
  store: Pick<Store, "users" | "codes">;
  clock: Clock;
  mailer: Mailer;
  /** Every code mail is admitted here first (hourly budgets per client and per address). */
  mailLimits: MailLimits;
  ttlSeconds: Record<MailedCodePurpose, number>;
}

export function createMailedCodes(deps: MailedCodesDeps) {
  const { store, clock } = deps;

  /**
   * Creates a one-time code, keeps only its hash, and mails the code; nothing at all over the
   * address's mail budget, so the code already mailed stays the valid one. The client's budget is
   * the caller's to count, before it looks the address up.
   */
  async function send(user: UserRecord, purpose: MailedCodePurpose): Promise<void> {
    if (!(await deps.mailLimits.admitAddress(purpose, user.email))) return;
    const code = randomToken(20);
    const now = clock.now();
    const ttl = deps.ttlSeconds[purpose];
    await store.codes.replace({
      codeHash: tokenHash(code),
      purpose,
      userId: user.id,
      createdAt: now,
      expiresAt: addSeconds(now, ttl),
    });
    const [amount, unit] = ttl < 3600 ? [Math.round(ttl / 60), "minute"] : [Math.round(ttl / 360) / 10, "hour"];
    const life = `${amount} ${unit}${amount === 1 ? "" : "s"}`;
    const [subject, text] =
      purpose === "email_verification"
        ? [
            "Verify your email address",
            `Your verification code is:\n\n${code}\n\nIt expires in ${life}. If you did not create an account with this address, do not use it: ask for a password reset instead, which makes the account yours and removes whatever its maker added.`,
          ]
        : [
            "Reset your password",
            `Your password reset code is:\n\n${code}\n\nIt expires in ${life}. If you did not ask for it, ignore this mail.`,
          ];
    await deps.mailer.send({ kind: purpose, to: user.email, subject, text, code });
  }

  return {
    /**
     * A request for a code mail: counted on the client's budget first, whatever the address turns
     * out to be, then the mail to the account `find` gives, if any.
     */
    async sendAfter(client: ClientInfo, find: () => Promise<UserRecord | null>, purpose: MailedCodePurpose): Promise<void> {
      if (!(await deps.mailLimits.admitClient(client))) return;
      const user = await find();
      if (user !== null) await send(user, purpose);
    },

    /**
     * Spends a code: its account, or INVALID_CODE for a well-formed code that is unknown, spent,
     * expired or whose account is gone (a malformed one is refused by its shape first).
     */
    async consume(rawCode: string, purpose: MailedCodePurpose): Promise<UserRecord> {
      return spend(checkedHash(rawCode), purpose);
    },

    /**
     * A code looked up without spending it, for checks that must not burn it when they refuse
     * (the new password's policy): the account it names as it reads now, and `consume()`, which
     * spends it then (INVALID_CODE if it was spent or lapsed meanwhile). INVALID_CODE as `consume`.
     */
    async pending(rawCode: string, purpose: MailedCodePurpose): Promise<{ user: UserRecord; consume(): Promise<UserRecord> }> {
      const hash = checkedHash(rawCode);
      const user = await accountOf(await store.codes.find(hash, purpose, clock.now()));
      return { user, consume: () => spend(hash, purpose) };
    },

    /** Voids the user's live code of `purpose`, if any: an expired stand-in replaces it. */
    async revoke(userId: string, purpose: MailedCodePurpose): Promise<void> {
      const now = clock.now();
      await store.codes.replace({ codeHash: tokenHash(randomToken(32)), purpose, userId, createdAt: now, expiresAt: now });
    },
  };

  async function spend(hash: string, purpose: MailedCodePurpose): Promise<UserRecord> {
    return accountOf(await store.codes.consume(hash, purpose, clock.now()));
  }

  /** The account a code found in the store names; INVALID_CODE for no code, or a gone account. */
  async function accountOf(code: { userId: string } | null): Promise<UserRecord> {
    const user = code === null ? null : await store.users.findById(code.userId);
    if (user === null) throw new AuthError("INVALID_CODE", "the code is invalid or has expired", { field: "code" });
    return user;
  }
}

/** The hash a code is kept as; a malformed code is refused by its shape before any lookup. */
const checkedHash = (rawCode: string) => tokenHash(checkOpaque("code", rawCode, "INVALID_CODE"));
