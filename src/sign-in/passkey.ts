// Passkeys as a way in: alone (a discoverable credential with user verification proves possession
// and the user: both factors, and phishing-resistant), or as the second factor after a password.
// Both open the session exactly as a completed Login does (flow.ts, then the device step).
//
// Limits, as for passwords and codes: failed passwordless assertions count per client network
// (the LOGIN_ADDRESS_* limit, under a key of its own), failed second-factor assertions against the
// account's second-factor lock (the same one TOTP codes count toward). A locked key is refused
// before any check. Nothing in an answer tells accounts apart: a passwordless start names no one,
// and every failure is the one INVALID_PASSKEY.
import { type ClientBudget, countClientStart, countGuess, refuseIfLocked } from "../attempt-limit.ts";
import type { Clock } from "../clock.ts";
import { clientNetwork } from "../client-network.ts";
import { AuthError } from "../errors.ts";
import type { CeremonyOptions, RelyingParty } from "../passkeys/relying-party.ts";
import type { ClientInfo } from "../sessions/caller.ts";
import type { AttemptPolicy, Store } from "../store/port.ts";
import type { TwoFactor } from "../two-factor/two-factor.ts";
import { twoFactorAttemptKey } from "../two-factor/two-factor.ts";
import type { Challenges } from "./challenge.ts";
import type { SignInFlow } from "./flow.ts";
import type { DeviceStep, SignedInOnDevice } from "./sign-in.ts";

export interface PasskeySignInDeps {
  store: Pick<Store, "users" | "passkeys" | "attempts">;
  clock: Clock;
  policy: {
    /** Failed passwordless assertions per client network (LOGIN_ADDRESS_MAX_FAILURES); undefined: off. */
    address: AttemptPolicy | undefined;
    /** The second-factor lock (TWO_FACTOR_MAX_FAILURES, TWO_FACTOR_LOCK_SECONDS). */
    secondFactor: AttemptPolicy;
    /** Passwordless starts (each stores a challenge) per client network, and its IPv6 aggregate, and hour (WEBAUTHN_MAX_STARTS_PER_CLIENT_PER_HOUR); undefined: no limit. */
    startsPerClient: ClientBudget | undefined;
  };
}

/**
 * The guessing-limit key of a client network's passwordless assertions. Its IPv6 aggregate is not
 * counted (client-network.ts), sparing a write on every failure: a signature cannot be guessed, so
 * more budget buys no way in; an assertion that could verify at all spends a challenge that only a
 * start makes, and starts are counted on the aggregate.
 */
export const passkeyAddressKey = (address: string): string => `passkey-address:${clientNetwork(address)}`;

const tooMany = (retryAfterSeconds: number) =>
  new AuthError("RATE_LIMITED", "too many failed passkey sign-ins; try again later", { retryAfterSeconds });
const tooManyStarts = (retryAfterSeconds: number) =>
  new AuthError("RATE_LIMITED", "too many passkey sign-ins started from this network; try again later", { retryAfterSeconds });
const secondFactorLocked = (retryAfterSeconds: number) =>
  new AuthError("TWO_FACTOR_LOCKED", "too many wrong second factors; try again later", { retryAfterSeconds });

export function createPasskeySignIn(
  deps: PasskeySignInDeps,
  parts: { flow: SignInFlow; rp: RelyingParty; challenges: Challenges; twoFactor: Pick<TwoFactor, "stateOf">; onDevice: DeviceStep },
) {
  const { store, clock, policy } = deps;
  const { flow, rp, challenges, twoFactor, onDevice } = parts;
  const limits = { attempts: store.attempts, clock };

  /** Runs a check under a key's limit: refused while locked, a failure counted, a success clearing nothing. */
  async function limited<T>(key: string, attempt: AttemptPolicy | undefined, locked: typeof tooMany, check: () => Promise<T>): Promise<T> {
    if (attempt === undefined) return check();
    await refuseIfLocked(limits, key, locked);
    try {
      return await check();
    } catch (err) {
      if (err instanceof AuthError && err.reason === "INVALID_PASSKEY") await countGuess(limits, key, attempt, locked);
      throw err;
    }
  }

  return {
    /** Anyone may start one, and each start stores a challenge until it expires: counted per client network. */
    async startSignIn(client: ClientInfo): Promise<CeremonyOptions> {
      rp.requireOn();
      await countClientStart(limits, "passkey-start", client.ipAddress, policy.startsPerClient, tooManyStarts);
      return rp.authenticationOptions("passkey_sign_in", "", []);
    },

    async finishSignIn(
      input: { credentialJson: string; rememberMe: boolean; deviceToken?: string | undefined },
      client: ClientInfo,
    ): Promise<SignedInOnDevice> {
      rp.requireOn();
      const { read } = await limited(passkeyAddressKey(client.ipAddress), policy.address, tooMany, () =>
        rp.verifyAssertion("passkey_sign_in", input.credentialJson, "credential_json", undefined, async (passkey) => {
          // Read before the proof is checked, as every sign-in does (flow.ts openSession).
          const user = await store.users.findById(passkey.userId);
          const { generation } = await twoFactor.stateOf(passkey.userId);
          return { user, generation };
        }),
      );
      if (read.user === null) throw new AuthError("INVALID_PASSKEY", "the passkey could not be verified; try again");
      const result = await flow.afterBothFactors(read.user, input.rememberMe, client, read.generation);
      return onDevice(result, input.deviceToken, client);
    },

    /** Options for the pending sign-in's account's passkeys; SIGN_IN_METHOD_DISABLED when it has none. */
    async startSecondFactor(rawChallenge: string): Promise<CeremonyOptions> {
      rp.requireOn();
      const { userId } = await challenges.find(rawChallenge);
      const mine = await store.passkeys.listForUser(userId);
      if (mine.length === 0) throw new AuthError("SIGN_IN_METHOD_DISABLED", "this account has no passkey; use a code");
      return rp.authenticationOptions("passkey_second_factor", userId, mine);
    },

    async finishSecondFactor(
      rawChallenge: string,
      input: { credentialJson: string; deviceToken?: string | undefined },
      client: ClientInfo,
    ): Promise<SignedInOnDevice> {
      rp.requireOn();
      const prove = (userId: string) =>
        limited(twoFactorAttemptKey(userId), policy.secondFactor, secondFactorLocked, async () => {
          await rp.verifyAssertion("passkey_second_factor", input.credentialJson, "credential_json", userId, async () => undefined);
        });
      return onDevice(await flow.completeSecondFactorWith(rawChallenge, prove, client), input.deviceToken, client);
    },
  };
}

export type PasskeySignIn = ReturnType<typeof createPasskeySignIn>;
