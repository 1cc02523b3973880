// Signing in with OpenID Connect providers, and linking one to an account. A flow is a
// short-lived, single-use record keyed by the hash of its state (the only value the client holds);
// its nonce and PKCE verifier are HMACs of the state under a server key, so nothing secret is
// stored and nothing the client sends besides the state is trusted. The provider's account is
// found by its (issuer, subject), never by email:
//
//   StartProviderSignIn ─▶ provider ─▶ FinishProviderSignIn ─┬─ linked subject ──────────▶ that user ─┐
//                                                            └─ new subject ─▶ new account ───────────┤
//                                                               (an address taken by another account: │
//                                                                EMAIL_EXISTS, nothing is made)       ▼
//                                                                      sign-in/ flow: second factor or session
//
//   StartProviderLink (signed in, recent) ─▶ provider ─▶ FinishProviderLink (same session) ─▶ link
import { randomUUID } from "node:crypto";
import type { Accounts } from "../accounts/accounts.ts";
import { providerMethod, type SignInMethod } from "../accounts/sign-in-methods.ts";
import { type ClientBudget, countClientStart } from "../attempt-limit.ts";
import { addSeconds, type Clock } from "../clock.ts";
import { AuthError } from "../errors.ts";
import { checkOpaque, normalizeEmail } from "../input.ts";
import type { Logger } from "../log.ts";
import type { Notifier } from "../mail/notifications.ts";
import type { KeyedHasher } from "../secrets/server-secrets.ts";
import { type Caller, type ClientInfo, requireUser, unknownClient } from "../sessions/caller.ts";
import type { LoginResult, SignIn } from "../sign-in/sign-in.ts";
import { DuplicateProviderLinkError } from "../store/errors.ts";
import type { CodeRecord, Store, UserRecord } from "../store/port.ts";
import { randomToken, tokenHash } from "../tokens/opaque.ts";
import type { Reauthentication } from "../two-factor/reauthentication.ts";
import type { TwoFactor } from "../two-factor/two-factor.ts";
import { type FlowSecrets, type OidcClients, type ProviderIdentity, signInFailed } from "./oidc-client.ts";

export interface FederationDeps {
  store: Pick<Store, "users" | "codes" | "providerLinks" | "attempts">;
  clock: Clock;
  oidc: OidcClients;
  /** Derives each flow's nonce and PKCE verifier from its state. */
  flowKeys: KeyedHasher;
  notifier: Notifier;
  log: Pick<Logger, "info">;
  /** `startsPerClient`: flows one client network (and its IPv6 aggregate) may start in an hour (undefined: no limit). */
  policy: { flowTtlSeconds: number; startsPerClient: ClientBudget | undefined };
}

export interface StartedFlow {
  authorizationUrl: string;
  state: string;
  expiresAt: Date;
}

export type ProviderSignInResult = LoginResult & { accountCreated: boolean };

type FlowPurpose = "provider_sign_in" | "provider_link";

const tooManyStarts = (retryAfterSeconds: number) =>
  new AuthError("RATE_LIMITED", "too many sign-ins with a provider started from this network; try again later", { retryAfterSeconds });

/** The longest name kept from a provider (checkDisplayName's bound). */
const maxName = 100;

export function createFederation(deps: FederationDeps, parts: { signIn: SignIn; accounts: Accounts; twoFactor: TwoFactor }) {
  const { store, clock, oidc, policy } = deps;

  const secretsOf = (state: string): FlowSecrets => ({
    state,
    nonce: deps.flowKeys.keyedHash(`nonce:${state}`),
    codeVerifier: deps.flowKeys.keyedHash(`pkce:${state}`),
  });

  async function start(purpose: FlowPurpose, rawProvider: string, fields: Partial<CodeRecord> & { userId: string }): Promise<StartedFlow> {
    const provider = oidc.provider(rawProvider);
    const state = randomToken(32);
    // Before anything is stored: a provider that cannot be reached leaves no flow behind.
    const authorizationUrl = await oidc.authorizationUrl(provider, secretsOf(state));
    const now = clock.now();
    const expiresAt = addSeconds(now, policy.flowTtlSeconds);
    const flow: CodeRecord = { codeHash: tokenHash(state), purpose, createdAt: now, expiresAt, provider: provider.id, ...fields };
    // A sign-in has no user yet: its flow sits beside any other (two tabs, two people); a link
    // replaces the user's earlier unfinished one.
    await (fields.userId === "" ? store.codes.add(flow) : store.codes.replace(flow));
    return { authorizationUrl, state, expiresAt };
  }

  /** Spends the flow (whatever happens next, it cannot be finished twice), then exchanges the code. */
  async function finish(
    purpose: FlowPurpose,
    rawState: string,
    callbackUrl: string,
  ): Promise<{ flow: CodeRecord; identity: ProviderIdentity }> {
    const state = checkOpaque("state", rawState, "PROVIDER_SIGN_IN_FAILED");
    const callback = oidc.callback(callbackUrl);
    const flow = await store.codes.consume(tokenHash(state), purpose, clock.now());
    if (flow === null || flow.provider === undefined) throw signInFailed();
    const identity = await oidc.exchange(oidc.provider(flow.provider), callback, secretsOf(state));
    return { flow, identity };
  }

  function usableEmail(raw: string | undefined): string {
    try {
      return normalizeEmail("email", raw ?? "");
    } catch {
      return "";
    }
  }

  /** The provider's address and name as a new account takes them; an unusable address is none. */
  function profileOf(identity: ProviderIdentity): { email: string; emailVerified: boolean; displayName: string } {
    let email: string;
    try {
      email = normalizeEmail("email", identity.email ?? "");
    } catch {
      throw new AuthError("PROVIDER_SIGN_IN_FAILED", "the provider did not share a usable email address, which a new account needs");
    }
    // Lone surrogates too (JSON can carry them, storage cannot; see input.ts).
    const cleaned = (identity.name ?? "").replace(/[\p{Cc}\p{Cf}\p{Cs}]+/gu, " ").trim();
    const name = [...cleaned].slice(0, maxName).join("").trim();
    return { email, emailVerified: identity.emailVerified, displayName: name };
  }

  /**
   * The user linked to the provider account, or a new one linked to it (the first sign-in).
   * `healed`: an orphaned link was dropped on the way here.
   */
  async function userFor(provider: string, identity: ProviderIdentity, healed = false): Promise<{ user: UserRecord; created: boolean }> {
    const linked = await store.providerLinks.findBySubject(provider, identity.issuer, identity.subject);
    if (linked !== null) {
      const user = await store.users.findById(linked.userId);
      if (user === null) {
        // A link whose account is gone: one a deletion missed (a link made in another tab while the
        // account was being erased, after its links were), which no expiry removes. Kept, it would
        // refuse this provider account for good; dropped, the sign-in goes on as the first one, as
        // it would have had the deletion seen the link. Once: a link that will not go is refused.
        if (healed) throw signInFailed();
        await store.providerLinks.delete(linked.id, linked.userId);
        return userFor(provider, identity, true);
      }
      // The link is this sign-in's proof, and the user (with the session cutoff the session opens
      // under) was read after it: an UnlinkAccount between the two reads ends the other sessions
      // before that read, and the session would be born past its cutoff. Looked up again, the link
      // is either gone (as for a sign-in a moment later) or removed only after the user was read,
      // and then the removal's cutoff ends the session.
      const still = await store.providerLinks.findBySubject(provider, identity.issuer, identity.subject);
      if (still?.id !== linked.id) return userFor(provider, identity);
      return { user, created: false };
    }
    const profile = profileOf(identity);
    const user = await parts.accounts.registerFromProvider(profile);
    try {
      await store.providerLinks.insert({ id: randomUUID(), userId: user.id, provider, ...subjectOf(identity), createdAt: clock.now() });
    } catch (err) {
      // A concurrent first sign-in with the same provider account won: ours goes, theirs signs in.
      await store.users.delete(user.id);
      if (!(err instanceof DuplicateProviderLinkError)) throw err;
      return userFor(provider, identity);
    }
    return { user, created: true };
  }

  /**
   * What a link keeps of the provider account. The address is shown back (ListLinkedAccounts) and
   * comes from whatever the provider lets its users type: kept only when it is a usable address,
   * normalized as ours are, else "".
   */
  const subjectOf = (identity: ProviderIdentity) => ({
    issuer: identity.issuer,
    subject: identity.subject,
    email: usableEmail(identity.email),
  });

  return {
    /** The configured providers, for the app's buttons. */
    listProviders: () => oidc.list(),

    /**
     * Anyone may start one, and each start stores a flow until it expires: counted per client
     * network (after the provider is known to exist, before anything is stored).
     */
    async startSignIn(rawProvider: string, rememberMe: boolean, client: ClientInfo): Promise<StartedFlow> {
      oidc.provider(rawProvider);
      await countClientStart({ attempts: store.attempts, clock }, "oidc-start", client.ipAddress, policy.startsPerClient, tooManyStarts);
      return start("provider_sign_in", rawProvider, { userId: "", rememberMe });
    },

    async finishSignIn(rawState: string, callbackUrl: string, client: ClientInfo, deviceToken?: string): Promise<ProviderSignInResult> {
      const { flow, identity } = await finish("provider_sign_in", rawState, callbackUrl);
      const { user, created } = await userFor(flow.provider ?? "", identity);
      const result = await parts.signIn.afterProvider(user, flow.rememberMe === true, client, deviceToken);
      return { ...result, accountCreated: created };
    },

    /** Linking needs a recent sign-in (or a proof), like every change to the ways in. */
    async startLink(
      caller: Caller,
      rawProvider: string,
      proof: Reauthentication,
      client: ClientInfo = unknownClient,
    ): Promise<StartedFlow> {
      const user = await requireUser(store.users, caller);
      await parts.twoFactor.confirmIdentity(caller, user, proof, client);
      return start("provider_link", rawProvider, { userId: user.id, sessionId: caller.sessionId });
    },

    /** Only the session that started the link finishes it. */
    async finishLink(caller: Caller, rawState: string, callbackUrl: string, client: ClientInfo): Promise<SignInMethod> {
      const state = checkOpaque("state", rawState, "PROVIDER_SIGN_IN_FAILED");
      const pending = await store.codes.find(tokenHash(state), "provider_link", clock.now());
      if (pending === null || pending.userId !== caller.userId || pending.sessionId !== caller.sessionId) throw signInFailed();
      const { flow, identity } = await finish("provider_link", state, callbackUrl);
      const user = await requireUser(store.users, caller);
      const link = { id: randomUUID(), userId: user.id, provider: flow.provider ?? "", ...subjectOf(identity), createdAt: clock.now() };
      try {
        await store.providerLinks.insert(link);
      } catch (err) {
        if (!(err instanceof DuplicateProviderLinkError)) throw err;
        const existing = await store.providerLinks.findBySubject(link.provider, link.issuer, link.subject);
        if (existing?.userId === user.id) return providerMethod(existing);
        throw new AuthError("PROVIDER_ACCOUNT_LINKED", "this provider account is already linked to another account");
      }
      deps.log.info({ userId: user.id, provider: link.provider }, "provider linked");
      deps.notifier.notify(user, "sign_in_method_added", client);
      return providerMethod(link);
    },
  };
}

export type Federation = ReturnType<typeof createFederation>;
