// The one-time codes and challenges of the storage port (the rules every adapter honours are in ../port.ts).

/**
 * email_sign_in_*: the code and the magic link of an email sign-in (src/sign-in/email.ts);
 * provider_*: a sign-in or link with an OpenID Connect provider (src/federation/).
 */
export type CodePurpose =
  | "email_verification"
  | "password_reset"
  | "login_challenge"
  | "email_sign_in_code"
  | "email_sign_in_link"
  // WebAuthn challenges (src/passkeys/), one purpose per ceremony so none answers another's.
  | "passkey_registration"
  | "passkey_sign_in"
  | "passkey_second_factor"
  | "provider_sign_in"
  | "provider_link";

export interface CodeRecord {
  /** SHA-256 of the code, hex. The code itself is never stored. */
  codeHash: string;
  purpose: CodePurpose;
  /** The user it belongs to; "" for a passwordless sign-in's challenge, issued before anyone is known. */
  userId: string;
  createdAt: Date;
  expiresAt: Date;
  /** login_challenge only: whether the session to open was asked to be remembered. */
  rememberMe?: boolean;
  /**
   * login_challenge only: the account's credential generation (see credentialGeneration) when the
   * password was checked. A password change or reset since then raises it, and the challenge is void.
   */
  userGeneration?: number;
  /** provider_sign_in and provider_link only: the configured provider id the flow runs with. */
  provider?: string;
  /** provider_link only: the session that started the link; only it may finish it. */
  sessionId?: string;
}

export interface CodeStore {
  /** Stores the code and deletes every other code of the same user and purpose. */
  replace(code: CodeRecord): Promise<void>;
  /** The code if it exists with that purpose and has not expired at `now`, without using it. */
  find(codeHash: string, purpose: CodePurpose, now: Date): Promise<CodeRecord | null>;
  /**
   * Atomically removes and returns the code if it exists with that purpose and has not expired
   * at `now`; null otherwise. Exactly one of any number of concurrent callers gets the record.
   */
  consume(codeHash: string, purpose: CodePurpose, now: Date): Promise<CodeRecord | null>;
  deleteAllForUser(userId: string): Promise<void>;
  /**
   * Stores the code beside any others of its user and purpose (for challenges issued before a
   * user is known, which must not void each other).
   */
  add(code: CodeRecord): Promise<void>;
}
