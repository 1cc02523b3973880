// Sign-in as an explicit state machine, in the manner of ory/kratos's self-service flows.
//
//   a first factor                     does the account need a second factor?
//   (password.ts) ──▶ first_factor_checked ──── no ─────────────────────────────▶ signed_in
//                            │                                                      ▲
//                            ├── yes, and the same call brought a code ── prove ────┤
//                            │                                                      │
//                            └── yes, no code ──▶ second_factor_pending ── prove ───┘
//                                                 (a challenge is issued;  (CompleteLogin with
//                                                  see challenge.ts)        the challenge)
//
// Every arrow into signed_in opens the session the same way (openSession): email verified, the
// session stamped with the cutoff generations read BEFORE the factors were checked (so a password
// or two-factor change that lands meanwhile leaves it born ended), and a last look at the user
// afterwards. A new way in (passkeys, social sign-in, email codes) is one more first-factor
// module that ends in `afterFirstFactor` (or, for one that proves both factors at once, as a
// passkey with user verification does, `afterBothFactors`); a second factor other than a code
// completes the pending step through `completeSecondFactorWith`.

import type { ClientInfo } from "../sessions/caller.ts";
import { AuthError } from "../errors.ts";
import { accountDisabled, accountView, type AccountView } from "../accounts/account.ts";
import type { Sessions, TokenPair } from "../sessions/sessions.ts";
import { credentialGeneration, type Store, type UserRecord } from "../store/port.ts";
import type { FactorProof, TwoFactor } from "../two-factor/two-factor.ts";
import { invalidChallenge, type Challenge, type Challenges } from "./challenge.ts";

/** Who is signing in, and nothing more: the profile waits for the second factor. */
export interface SignInIdentity {
  id: string;
  email: string;
}

/** `userGeneration`: the account's credential generation the session opened under (its device token's). */
export type SignedIn = { state: "signed_in"; account: AccountView; tokens: TokenPair; rememberMe: boolean; userGeneration: number };
export type SecondFactorPending = { state: "second_factor_pending"; identity: SignInIdentity; challenge: Challenge };
export type SignInResult = SignedIn | SecondFactorPending;

export interface SignInDeps {
  store: Pick<Store, "users">;
  policy: { emailVerificationRequired: boolean };
}

export function createSignInFlow(deps: SignInDeps, parts: { sessions: Sessions; twoFactor: TwoFactor; challenges: Challenges }) {
  const { store, policy } = deps;
  const { sessions, twoFactor, challenges } = parts;

  const pending = (checked: UserRecord, challenge: Challenge): SecondFactorPending => ({
    state: "second_factor_pending",
    identity: { id: checked.id, email: checked.email },
    challenge,
  });

  /**
   * second factor checked (or not needed) ──▶ signed_in. `checked` is the user as read when the
   * first factor was verified and `twoFactorGeneration` the two-factor cutoff read before the
   * second; a password change or reset that ran meanwhile is caught by reading the password again
   * once the session exists, and 2FA turned on meanwhile sends a password-only sign-in back to
   * second_factor_pending.
   */
  async function openSession(
    checked: UserRecord,
    client: ClientInfo,
    rememberMe: boolean,
    secondFactorChecked: boolean,
    twoFactorGeneration: number,
  ): Promise<SignInResult> {
    if (policy.emailVerificationRequired && !checked.emailVerified) {
      throw new AuthError("EMAIL_NOT_VERIFIED", "verify your email address before signing in");
    }
    if (checked.disabledAt !== null) throw accountDisabled();
    const tokens = await sessions.open(checked, client, rememberMe, twoFactorGeneration);
    const after = await store.users.findById(checked.id);
    if (after === null || after.passwordHash !== checked.passwordHash) {
      await sessions.end(tokens.sessionId, checked.id);
      throw new AuthError("INVALID_CREDENTIALS", "invalid email or password");
    }
    // Disabled while the session was being opened: the disable's cutoff may have come first.
    if (after.disabledAt !== null) {
      await sessions.end(tokens.sessionId, checked.id);
      throw accountDisabled();
    }
    const twoFactorEnabled = await twoFactor.isEnabled(after.id);
    if (twoFactorEnabled && !secondFactorChecked) {
      await sessions.end(tokens.sessionId, after.id);
      return pending(checked, await challenges.issue(checked, rememberMe));
    }
    return {
      state: "signed_in",
      account: accountView(after, twoFactorEnabled),
      tokens,
      rememberMe,
      userGeneration: credentialGeneration(checked),
    };
  }

  /** With the second factor checked, openSession has no way back to pending. */
  function signedIn(result: SignInResult): SignedIn {
    if (result.state !== "signed_in") throw new Error("a completed second factor always signs in");
    return result;
  }

  /**
   * The second step: the challenge's user, the proof's shape (`parse`, which returns the check),
   * then the check, then the challenge spent. A password change or reset since the password was
   * checked voids the challenge: it raised the generation. (A timestamp cannot tell: the change's
   * time is taken before its hash.)
   */
  async function completeWith(
    rawChallenge: string,
    client: ClientInfo,
    parse: (userId: string) => Promise<(user: UserRecord) => Promise<unknown>>,
  ): Promise<SignedIn> {
    const challenge = await challenges.find(rawChallenge);
    const prove = await parse(challenge.userId);
    const user = await store.users.findById(challenge.userId);
    // The challenge's holder proved the first factor: told why, before the disable's cutoff voids it.
    if (user !== null && user.disabledAt !== null) throw accountDisabled();
    // No password is no reason to refuse: the first factor may have been a provider. Removing the
    // password raises the generation like a change does.
    if (user === null || credentialGeneration(user) !== challenge.userGeneration) {
      throw invalidChallenge();
    }
    const { generation } = await twoFactor.stateOf(user.id);
    await prove(user);
    await challenges.consume(challenge.token);
    return signedIn(await openSession(user, client, challenge.rememberMe === true, true, generation));
  }

  return {
    /** Validates the shape of a second factor sent along with the first, before anything is checked. */
    checkProof: (proof: FactorProof, codeField: string, recoveryField: string) =>
      twoFactor.checkLoginProof(proof, codeField, recoveryField),

    /**
     * first_factor_checked ──▶ signed_in or second_factor_pending. `checked` is the user as read
     * when the first factor was verified; `proof` a second factor brought by the same call.
     */
    async afterFirstFactor(checked: UserRecord, options: { rememberMe: boolean; proof: FactorProof | undefined }, client: ClientInfo) {
      if (policy.emailVerificationRequired && !checked.emailVerified) {
        throw new AuthError("EMAIL_NOT_VERIFIED", "verify your email address before signing in");
      }
      // Before any challenge is issued or code spent: a disabled account gets no second step.
      if (checked.disabledAt !== null) throw accountDisabled();
      const { enabled: needsSecondFactor, generation } = await twoFactor.stateOf(checked.id);
      if (needsSecondFactor) {
        if (options.proof === undefined) return pending(checked, await challenges.issue(checked, options.rememberMe));
        await twoFactor.prove(checked, options.proof, client);
      }
      return openSession(checked, client, options.rememberMe, needsSecondFactor, generation);
    },

    /**
     * A first factor that proves both (a passkey with user verification) ──▶ signed_in. `checked`
     * and `twoFactorGeneration` were read before the proof was checked.
     */
    async afterBothFactors(checked: UserRecord, rememberMe: boolean, client: ClientInfo, twoFactorGeneration: number): Promise<SignedIn> {
      // openSession refuses a disabled account (ACCOUNT_DISABLED: the passkey proved who this is).
      return signedIn(await openSession(checked, client, rememberMe, true, twoFactorGeneration));
    },

    /** second_factor_pending ──▶ signed_in, with the challenge from the first step and a code. */
    async completeSecondFactor(rawChallenge: string, rawProof: FactorProof, client: ClientInfo): Promise<SignedIn> {
      return completeWith(rawChallenge, client, async () => {
        const proof = twoFactor.checkLoginProof(rawProof, "code", "recovery_code");
        if (proof === undefined) throw new AuthError("INVALID_ARGUMENT", "code or recovery_code is required", { field: "code" });
        return (user) => twoFactor.prove(user, proof, client);
      });
    },

    /**
     * second_factor_pending ──▶ signed_in with another second factor (a passkey): `prove` checks it
     * for the challenge's user, or throws.
     */
    completeSecondFactorWith: (rawChallenge: string, prove: (userId: string) => Promise<void>, client: ClientInfo) =>
      completeWith(rawChallenge, client, async (userId) => () => prove(userId)),
  };
}

export type SignInFlow = ReturnType<typeof createSignInFlow>;
