// Sign-in with an OpenID Connect provider, end to end: the real server and a real provider
// (oidc-provider on loopback, test/support/oidc-provider.ts) whose login form the test submits as a
// browser would. The app's side is Connect JSON over HTTP/1.1 (what Connect-Web sends), one flow
// runs over gRPC, and the legacy REST list shows what the RPCs do.
import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AuthService } from "../../gen/auth/v1/auth_service_pb.js";
import { FederationService } from "../../gen/auth/v1/federation_service_pb.js";
import { TwoFactorService } from "../../gen/auth/v1/two_factor_service_pb.js";
import { createAuthdClients, createAuthdTransport } from "../../packages/client/src/node.ts";
import { errorInfoFromConnectError } from "../support/error-info.ts";
import type { Store } from "../../src/store/port.ts";
import { bearer, connectJsonTransport, createGate, type Gate, grpcTransport, type Harness, startHarness } from "../support/harness.ts";
import { startTestProvider, type TestProvider } from "../support/oidc-provider.ts";
import { rest } from "../support/rest.ts";
import { openTestStore } from "../support/stores.ts";
import { totp } from "../support/totp.ts";

let provider: TestProvider;
let h: Harness;
/** Holds the next provider sign-in right after it has found the link of its subject. */
let foundLinkGate: Gate | undefined;

beforeAll(async () => {
  provider = await startTestProvider();
  const inner = await openTestStore("federation");
  const store: Store = {
    ...inner,
    kind: inner.kind,
    providerLinks: {
      ...inner.providerLinks,
      findBySubject: async (...args) => {
        const found = await inner.providerLinks.findBySubject(...args);
        const gate = found === null ? undefined : foundLinkGate;
        if (gate !== undefined) {
          foundLinkGate = undefined;
          await gate.pass();
        }
        return found;
      },
    },
  };
  h = await startHarness(
    {
      OIDC_PROVIDERS: JSON.stringify([provider.settings("test")]),
      OIDC_REDIRECT_URI: provider.redirectUri,
      EMAIL_VERIFICATION_REQUIRED: "false",
    },
    store,
  );
});

afterAll(async () => {
  await h?.close();
  await provider?.close();
});

function clients(transport: Transport) {
  return {
    federation: createClient(FederationService, transport),
    auth: createClient(AuthService, transport),
    twoFactor: createClient(TwoFactorService, transport),
  };
}

const browser = () => clients(connectJsonTransport(h.url));

/** The status and reason a call was refused with. */
async function refused(call: Promise<unknown>): Promise<{ code: string; reason: string | undefined; message: string }> {
  try {
    await call;
  } catch (err) {
    if (!(err instanceof ConnectError)) throw err;
    return { code: Code[err.code], reason: errorInfoFromConnectError(err)?.reason, message: err.rawMessage };
  }
  throw new Error("expected the call to be refused");
}

let emails = 0;
const newEmail = () => `person-${++emails}-${Date.now()}@example.test`;

/** Start, the provider's login as `subject`, and the callback URL: what the browser goes through. */
async function throughProvider(c: ReturnType<typeof clients>, subject: string, tamper?: (url: URL) => void) {
  const started = await c.federation.startProviderSignIn({ provider: "test" });
  const url = new URL(started.authorizationUrl);
  tamper?.(url);
  return { state: started.state, callbackUrl: await provider.signIn(url.href, subject) };
}

async function signInWith(c: ReturnType<typeof clients>, subject: string) {
  const { state, callbackUrl } = await throughProvider(c, subject);
  return c.federation.finishProviderSignIn({ state, callbackUrl });
}

describe("sign-in with an OpenID Connect provider", () => {
  it("ListProviders names the configured provider (also through @authd/client's clients)", async () => {
    const packaged = createAuthdClients(createAuthdTransport({ baseUrl: h.url }));
    expect((await packaged.federation.listProviders({})).providers.map((p) => p.id)).toEqual(["test"]);
    const { providers } = await browser().federation.listProviders({});
    expect(providers.map((p) => ({ id: p.id, displayName: p.displayName }))).toEqual([{ id: "test", displayName: "Test provider" }]);
  });

  it("the authorization URL asks for a code with PKCE (S256), state and nonce, for our client and redirect URI", async () => {
    const started = await browser().federation.startProviderSignIn({ provider: "test" });
    const url = new URL(started.authorizationUrl);
    expect(url.origin).toBe(provider.issuer);
    const q = Object.fromEntries(url.searchParams);
    expect(q).toMatchObject({
      response_type: "code",
      client_id: provider.clientId,
      redirect_uri: provider.redirectUri,
      state: started.state,
      code_challenge_method: "S256",
    });
    expect(q.scope?.split(" ")).toEqual(expect.arrayContaining(["openid", "email"]));
    expect(q.nonce).toMatch(/^[0-9a-f]{64}$/);
    expect(q.code_challenge).toMatch(/^[A-Za-z0-9_-]{43}$/);
    // Only the hash of the state is stored: the store holds no record under the state itself.
    expect(await h.store.codes.find(started.state, "provider_sign_in", h.clock.now())).toBeNull();
  });

  it("a first sign-in creates the account; the next finds it by subject, not by email", async () => {
    const c = browser();
    const email = newEmail();
    const subject = provider.person({ email, email_verified: true, name: "Ada Provider" });
    const first = await signInWith(c, subject);
    expect(first.accountCreated).toBe(true);
    expect(first.result.case).toBe("tokens");
    expect(first.user).toMatchObject({ email, displayName: "Ada Provider", emailVerified: true, twoFactorEnabled: false });
    const accessToken = first.result.case === "tokens" ? first.result.value.accessToken : "";
    const me = await c.auth.getCurrentUser({}, bearer(accessToken));
    expect(me.user?.id).toBe(first.user?.id);
    const linked = await c.auth.listLinkedAccounts({}, bearer(accessToken));
    expect(linked.accounts.map((a) => ({ provider: a.provider, providerAccountId: a.providerAccountId, email: a.email }))).toEqual([
      { provider: "test", providerAccountId: subject, email },
    ]);

    // The provider's address changes: the account is still found, by subject.
    provider.accounts.set(subject, { email: newEmail(), email_verified: true, name: "Ada Provider" });
    const second = await signInWith(c, subject);
    expect(second.accountCreated).toBe(false);
    expect(second.user?.id).toBe(first.user?.id);
    expect(second.user?.email).toBe(email);
  });

  it("a link whose account is gone (one a deletion missed) does not refuse its provider account: the sign-in is a first one", async () => {
    const c = browser();
    const email = newEmail();
    const subject = provider.person({ email, email_verified: true, name: "Orphan" });
    const first = await signInWith(c, subject);
    // The account goes but its link stays, as when the link was made while the account was erased.
    await h.store.users.delete(first.user?.id ?? "");
    const again = await signInWith(c, subject);
    expect(again.accountCreated).toBe(true);
    expect(again.user?.id).not.toBe(first.user?.id);
    expect(again.user?.email).toBe(email);
    expect((await h.store.providerLinks.listForUser(first.user?.id ?? "")).length).toBe(0);
  });

  it("an address that belongs to another account is not linked and nothing is created", async () => {
    const c = browser();
    const email = newEmail();
    const owner = await c.auth.register({ email, password: "correct horse battery staple 1", displayName: "Owner" });
    const ownerToken = owner.tokens?.accessToken ?? "";
    // The provider even says the address is verified: still no link by email.
    const subject = provider.person({ email: email.toUpperCase(), email_verified: true });
    const answer = await refused(signInWith(c, subject));
    expect(answer).toMatchObject({ code: "AlreadyExists", reason: "EMAIL_EXISTS" });
    expect(answer.message).toMatch(/sign in to it and link the provider/);
    expect(await h.store.providerLinks.findBySubject("test", provider.issuer, subject)).toBeNull();
    expect((await h.store.users.findByEmail(email))?.id).toBe(owner.user?.id);
    const linked = await c.auth.listLinkedAccounts({}, bearer(ownerToken));
    expect(linked.accounts.map((a) => a.provider)).toEqual(["password"]);
  });

  it("linking while signed in: the provider shows in ListLinkedAccounts and GET /api/v1/accounts, signs in, and is unlinked", async () => {
    const c = browser();
    const email = newEmail();
    const reg = await c.auth.register({ email, password: "correct horse battery staple 2", displayName: "Linker" });
    const token = reg.tokens?.accessToken ?? "";
    const subject = provider.person({ email: newEmail(), email_verified: false });

    const started = await c.federation.startProviderLink({ provider: "test" }, bearer(token));
    const callbackUrl = await provider.signIn(started.authorizationUrl, subject);
    // Another signed-in user cannot finish someone else's link, even holding its state.
    const other = await c.auth.register({ email: newEmail(), password: "correct horse battery staple 3", displayName: "Other" });
    expect(
      await refused(c.federation.finishProviderLink({ state: started.state, callbackUrl }, bearer(other.tokens?.accessToken ?? ""))),
    ).toMatchObject({
      code: "Unauthenticated",
      reason: "PROVIDER_SIGN_IN_FAILED",
    });
    const done = await c.federation.finishProviderLink({ state: started.state, callbackUrl }, bearer(token));
    expect(done.linkedAccount).toMatchObject({ provider: "test", providerAccountId: subject });
    const notice = await h.mail(email, "security_notification");
    expect(notice.notification).toBe("sign_in_method_added");

    const linked = await c.auth.listLinkedAccounts({}, bearer(token));
    expect(linked.accounts.map((a) => [a.id === "password" ? "password" : "link", a.provider])).toEqual([
      ["password", "password"],
      ["link", "test"],
    ]);
    const legacy = await rest(h, "GET", "/api/v1/accounts", { token });
    expect(legacy.status).toBe(200);
    expect(legacy.body.data.map((a: { provider: string; providerAccountId: string }) => [a.provider, a.providerAccountId])).toEqual([
      ["password", email],
      ["test", subject],
    ]);

    // The provider now signs in to this very account.
    const viaProvider = await signInWith(c, subject);
    expect(viaProvider.accountCreated).toBe(false);
    expect(viaProvider.user?.id).toBe(reg.user?.id);

    // The same provider account cannot be linked to a second account.
    const otherToken = other.tokens?.accessToken ?? "";
    const again = await c.federation.startProviderLink({ provider: "test" }, bearer(otherToken));
    const againUrl = await provider.signIn(again.authorizationUrl, subject);
    expect(await refused(c.federation.finishProviderLink({ state: again.state, callbackUrl: againUrl }, bearer(otherToken)))).toMatchObject(
      {
        code: "AlreadyExists",
        reason: "PROVIDER_ACCOUNT_LINKED",
      },
    );

    // Unlink the provider over REST; the password alone is then the last method.
    const linkId = done.linkedAccount?.id ?? "";
    expect((await rest(h, "DELETE", `/api/v1/accounts/${linkId}`, { token })).status).toBe(200);
    expect((await c.auth.listLinkedAccounts({}, bearer(token))).accounts.map((a) => a.provider)).toEqual(["password"]);
    expect(await refused(c.auth.unlinkAccount({ id: "password" }, bearer(token)))).toMatchObject({
      code: "FailedPrecondition",
      reason: "LAST_SIGN_IN_METHOD",
    });
    // And the provider account is free: a sign-in with it now makes a new account.
    const fresh = await signInWith(c, subject);
    expect(fresh.accountCreated).toBe(true);
    expect(fresh.user?.id).not.toBe(reg.user?.id);
  });

  it("a sign-in that found the link before the owner unlinked it does not sign in to the owner's account", async () => {
    const c = browser();
    const email = newEmail();
    const reg = await c.auth.register({ email, password: "correct horse battery staple 6", displayName: "Unlinker" });
    const token = reg.tokens?.accessToken ?? "";
    const subject = provider.person({ email: newEmail(), email_verified: true });
    const started = await c.federation.startProviderLink({ provider: "test" }, bearer(token));
    const linked = await c.federation.finishProviderLink(
      { state: started.state, callbackUrl: await provider.signIn(started.authorizationUrl, subject) },
      bearer(token),
    );
    // Whoever holds the provider account signs in; the sign-in is held once it has found the link...
    const { state, callbackUrl } = await throughProvider(c, subject);
    foundLinkGate = createGate();
    const held = foundLinkGate;
    const attack = c.federation.finishProviderSignIn({ state, callbackUrl });
    await held.reached;
    // ...while the owner unlinks that provider (which ends every session but the owner's).
    await c.auth.unlinkAccount({ id: linked.linkedAccount?.id ?? "" }, bearer(token));
    held.release();
    // As a sign-in that came a moment later: a new account of the provider's, never the owner's.
    const result = await attack;
    expect(result.accountCreated).toBe(true);
    expect(result.user?.id).not.toBe(reg.user?.id);
    const tokens = result.result.case === "tokens" ? result.result.value : undefined;
    expect((await c.auth.getCurrentUser({}, bearer(tokens?.accessToken ?? ""))).user?.id).toBe(result.user?.id);
    expect((await c.auth.listLinkedAccounts({}, bearer(token))).accounts.map((a) => a.provider)).toEqual(["password"]);
  });

  it("removing the password (a provider remains) ends the other sessions, as a password change does", async () => {
    const c = browser();
    const email = newEmail();
    const password = "correct horse battery staple 5";
    const reg = await c.auth.register({ email, password, displayName: "Switcher" });
    const token = reg.tokens?.accessToken ?? "";
    const other = await c.auth.login({ email, password });
    const otherToken = other.result.case === "tokens" ? other.result.value.accessToken : "";
    const started = await c.federation.startProviderLink({ provider: "test" }, bearer(token));
    const subject = provider.person({ email: newEmail(), email_verified: true });
    const callbackUrl = await provider.signIn(started.authorizationUrl, subject);
    await c.federation.finishProviderLink({ state: started.state, callbackUrl }, bearer(token));
    await c.auth.unlinkAccount({ id: "password" }, bearer(token));
    expect(await refused(c.auth.getCurrentUser({}, bearer(otherToken)))).toMatchObject({
      code: "Unauthenticated",
      reason: "SESSION_REVOKED",
    });
    expect((await c.auth.getCurrentUser({}, bearer(token))).user?.id).toBe(reg.user?.id);
    expect(await refused(c.auth.login({ email, password }))).toMatchObject({ reason: "INVALID_CREDENTIALS" });
    expect((await signInWith(c, subject)).user?.id).toBe(reg.user?.id);
  });

  it("a reset by the mailbox's owner drops a provider linked while the address was unproven (pre-hijacking)", async () => {
    const c = browser();
    const email = newEmail();
    // Someone else's provider account claims the address, unverified: it makes an unverified account.
    const intruder = provider.person({ email, email_verified: false });
    const made = await signInWith(c, intruder);
    expect(made.user?.emailVerified).toBe(false);
    // The address's owner resets the password with the mailed code.
    await c.auth.requestPasswordReset({ email });
    const code = (await h.mail(email, "password_reset")).code ?? "";
    await c.auth.resetPassword({ code, newPassword: "correct horse battery staple 6" });
    expect(await h.store.providerLinks.findBySubject("test", provider.issuer, intruder)).toBeNull();
    // The intruder's provider account no longer reaches it (and makes no second account for the address).
    expect(await refused(signInWith(c, intruder))).toMatchObject({ reason: "EMAIL_EXISTS" });
    // A provider linked once the address is proven stays through a later reset.
    const owner = await c.auth.login({ email, password: "correct horse battery staple 6" });
    const token = owner.result.case === "tokens" ? owner.result.value.accessToken : "";
    const started = await c.federation.startProviderLink({ provider: "test" }, bearer(token));
    const own = provider.person({ email, email_verified: true });
    await c.federation.finishProviderLink(
      { state: started.state, callbackUrl: await provider.signIn(started.authorizationUrl, own) },
      bearer(token),
    );
    await c.auth.requestPasswordReset({ email });
    await h.server.deps.background.drain();
    const again = (await h.mail(email, "password_reset")).code ?? "";
    await c.auth.resetPassword({ code: again, newPassword: "correct horse battery staple 7" });
    expect(await h.store.providerLinks.findBySubject("test", provider.issuer, own)).not.toBeNull();
  });

  it("a link keeps the provider's address only when it is a usable one, normalized; a subject is 1-255 ASCII characters", async () => {
    const c = browser();
    const reg = await c.auth.register({ email: newEmail(), password: "correct horse battery staple 4", displayName: "" });
    const token = reg.tokens?.accessToken ?? "";
    const link = async (subject: string) => {
      const started = await c.federation.startProviderLink({ provider: "test" }, bearer(token));
      const callbackUrl = await provider.signIn(started.authorizationUrl, subject);
      return c.federation.finishProviderLink({ state: started.state, callbackUrl }, bearer(token));
    };
    const mixed = await link(provider.person({ email: "  Someone@Example.TEST ", email_verified: true }));
    expect(mixed.linkedAccount?.email).toBe("someone@example.test");
    const junk = await link(provider.person({ email: `${"a".repeat(20_000)}\u0000\u202e@x`, email_verified: false }));
    expect(junk.linkedAccount?.email).toBe("");
    const linked = await c.auth.listLinkedAccounts({}, bearer(token));
    // Both links were made at the same instant of the test's clock: their order is not the point.
    expect(
      linked.accounts
        .map((a) => a.email)
        .slice(1)
        .sort(),
    ).toEqual(["", "someone@example.test"]);

    expect((await link(provider.person({ email: newEmail() }, "s".repeat(255)))).linkedAccount?.providerAccountId).toHaveLength(255);
    for (const subject of ["s".repeat(256), "line\nbreak", "tab\there", "caf\u00e9"]) {
      expect(await refused(link(provider.person({ email: newEmail() }, subject)))).toMatchObject({
        code: "Unauthenticated",
        reason: "PROVIDER_SIGN_IN_FAILED",
      });
    }
  });

  it("the only sign-in method of an account made by a provider cannot be removed", async () => {
    const c = browser();
    const subject = provider.person({ email: newEmail(), email_verified: true });
    const first = await signInWith(c, subject);
    const token = first.result.case === "tokens" ? first.result.value.accessToken : "";
    const [only] = (await c.auth.listLinkedAccounts({}, bearer(token))).accounts;
    expect(await refused(c.auth.unlinkAccount({ id: only?.id ?? "" }, bearer(token)))).toMatchObject({
      code: "FailedPrecondition",
      reason: "LAST_SIGN_IN_METHOD",
    });
    expect(await rest(h, "DELETE", `/api/v1/accounts/${only?.id}`, { token })).toMatchObject({ status: 409 });
    expect(await h.store.providerLinks.findBySubject("test", provider.issuer, subject)).not.toBeNull();
  });

  it("a forged or mismatched state is refused, and a state is good for one finish only", async () => {
    const c = browser();
    const subject = provider.person({ email: newEmail(), email_verified: true });
    const a = await throughProvider(c, subject);
    // A state we never issued.
    expect(await refused(c.federation.finishProviderSignIn({ state: "A".repeat(43), callbackUrl: a.callbackUrl }))).toMatchObject({
      code: "Unauthenticated",
      reason: "PROVIDER_SIGN_IN_FAILED",
    });
    // Another live flow's state with this callback (login CSRF: someone else's code in our browser).
    const b = await c.federation.startProviderSignIn({ provider: "test" });
    expect(await refused(c.federation.finishProviderSignIn({ state: b.state, callbackUrl: a.callbackUrl }))).toMatchObject({
      code: "Unauthenticated",
      reason: "PROVIDER_SIGN_IN_FAILED",
    });
    // The right pair works once; the same state again is spent: refused by us, before the provider
    // is asked (no exchange is logged as refused).
    const done = await c.federation.finishProviderSignIn({ state: a.state, callbackUrl: a.callbackUrl });
    expect(done.result.case).toBe("tokens");
    const exchangesRefused = () => h.logs.filter((l) => l.msg === "OpenID Connect sign-in refused").length;
    const before = exchangesRefused();
    expect(await refused(c.federation.finishProviderSignIn({ state: a.state, callbackUrl: a.callbackUrl }))).toMatchObject({
      code: "Unauthenticated",
      reason: "PROVIDER_SIGN_IN_FAILED",
    });
    expect(exchangesRefused()).toBe(before);
  });

  it("two sign-ins started side by side (two tabs) both finish", async () => {
    const c = browser();
    const one = provider.person({ email: newEmail(), email_verified: true });
    const two = provider.person({ email: newEmail(), email_verified: true });
    const first = await c.federation.startProviderSignIn({ provider: "test" });
    const second = await c.federation.startProviderSignIn({ provider: "test" });
    const firstUrl = await provider.signIn(first.authorizationUrl, one);
    const secondUrl = await provider.signIn(second.authorizationUrl, two);
    const a = await c.federation.finishProviderSignIn({ state: second.state, callbackUrl: secondUrl });
    const b = await c.federation.finishProviderSignIn({ state: first.state, callbackUrl: firstUrl });
    expect([a.accountCreated, b.accountCreated]).toEqual([true, true]);
    expect(a.user?.id).not.toBe(b.user?.id);
  });

  it("a disabled account is not signed in by its provider", async () => {
    const c = browser();
    const subject = provider.person({ email: newEmail(), email_verified: true });
    const first = await signInWith(c, subject);
    await h.store.users.update(first.user?.id ?? "", { disabledAt: h.clock.now() }, { endSessions: { keep: null } });
    expect(await refused(signInWith(c, subject))).toMatchObject({ code: "PermissionDenied", reason: "ACCOUNT_DISABLED" });
  });

  it("a replayed code is refused by the provider even under a fresh state", async () => {
    const c = browser();
    const subject = provider.person({ email: newEmail(), email_verified: true });
    const a = await throughProvider(c, subject);
    await c.federation.finishProviderSignIn({ state: a.state, callbackUrl: a.callbackUrl });
    // The spent code, carried into a new flow's callback (its state and everything else ours).
    const b = await c.federation.startProviderSignIn({ provider: "test" });
    const replay = new URL(a.callbackUrl);
    replay.searchParams.set("state", b.state);
    expect(await refused(c.federation.finishProviderSignIn({ state: b.state, callbackUrl: replay.href }))).toMatchObject({
      code: "Unauthenticated",
      reason: "PROVIDER_SIGN_IN_FAILED",
    });
    // The provider's own verdict, in our log only.
    expect(h.logs.some((l) => l.msg === "OpenID Connect sign-in refused" && l.oauthError === "invalid_grant")).toBe(true);
  });

  it("an ID token with another nonce is refused, as is a code issued for another PKCE challenge", async () => {
    const c = browser();
    const subject = provider.person({ email: newEmail(), email_verified: true });
    const nonce = await throughProvider(c, subject, (url) => url.searchParams.set("nonce", "n".repeat(64)));
    expect(await refused(c.federation.finishProviderSignIn(nonce))).toMatchObject({
      code: "Unauthenticated",
      reason: "PROVIDER_SIGN_IN_FAILED",
    });
    const pkce = await throughProvider(c, subject, (url) => url.searchParams.set("code_challenge", "c".repeat(43)));
    expect(await refused(c.federation.finishProviderSignIn(pkce))).toMatchObject({
      code: "Unauthenticated",
      reason: "PROVIDER_SIGN_IN_FAILED",
    });
    // Neither made an account.
    expect(await h.store.providerLinks.findBySubject("test", provider.issuer, subject)).toBeNull();
  });

  it("a callback URL that is not the redirect URI is refused before anything is exchanged", async () => {
    const c = browser();
    const subject = provider.person({ email: newEmail(), email_verified: true });
    const a = await throughProvider(c, subject);
    const elsewhere = a.callbackUrl.replace(provider.redirectUri, "https://evil.example/callback");
    expect(await refused(c.federation.finishProviderSignIn({ state: a.state, callbackUrl: elsewhere }))).toMatchObject({
      code: "InvalidArgument",
      reason: "INVALID_ARGUMENT",
    });
  });

  it("an account with TOTP gets the second-step challenge, completed with CompleteLogin", async () => {
    const c = browser();
    const subject = provider.person({ email: newEmail(), email_verified: true });
    const first = await signInWith(c, subject);
    const token = first.result.case === "tokens" ? first.result.value.accessToken : "";
    const setup = await c.twoFactor.setup({}, bearer(token));
    await c.twoFactor.enable({ code: totp(setup.secret, h.clock.now()) }, bearer(token));

    const pending = await signInWith(c, subject);
    expect(pending.result.case).toBe("secondFactor");
    expect(pending.deviceToken).toBeUndefined();
    const challengeToken = pending.result.case === "secondFactor" ? pending.result.value.challengeToken : "";
    const done = await c.auth.completeLogin({ challengeToken, code: totp(setup.secret, h.clock.now(), 1) });
    expect(done.user?.id).toBe(first.user?.id);
    expect(done.tokens?.accessToken).toBeTruthy();
  });

  it("over gRPC: first sign-in, second sign-in, linked accounts", async () => {
    const c = clients(grpcTransport(h.url));
    const subject = provider.person({ email: newEmail(), email_verified: true });
    const first = await signInWith(c, subject);
    expect(first.accountCreated).toBe(true);
    const second = await signInWith(c, subject);
    expect(second.user?.id).toBe(first.user?.id);
    const token = second.result.case === "tokens" ? second.result.value.accessToken : "";
    expect((await c.auth.listLinkedAccounts({}, bearer(token))).accounts.map((a) => a.providerAccountId)).toEqual([subject]);
    expect(await refused(c.federation.startProviderSignIn({ provider: "nope" }))).toMatchObject({
      code: "InvalidArgument",
      reason: "INVALID_ARGUMENT",
    });
  });
});

describe("OIDC_MAX_STARTS_PER_CLIENT_PER_HOUR", () => {
  it("bounds the flows one client network starts in an hour", async () => {
    const limited = await startHarness({
      OIDC_PROVIDERS: JSON.stringify([provider.settings("test")]),
      OIDC_REDIRECT_URI: provider.redirectUri,
      OIDC_MAX_STARTS_PER_CLIENT_PER_HOUR: "3",
    });
    try {
      const c = clients(connectJsonTransport(limited.url));
      for (let i = 0; i < 3; i++) await c.federation.startProviderSignIn({ provider: "test" });
      expect(await refused(c.federation.startProviderSignIn({ provider: "test" }))).toMatchObject({
        code: "ResourceExhausted",
        reason: "RATE_LIMITED",
      });
      // An unknown provider is refused as such, before anything is counted or stored.
      expect(await refused(c.federation.startProviderSignIn({ provider: "nope" }))).toMatchObject({ reason: "INVALID_ARGUMENT" });
      limited.clock.advance(3_601_000);
      await expect(c.federation.startProviderSignIn({ provider: "test" })).resolves.toHaveProperty("state");
    } finally {
      await limited.close();
    }
  });
});

describe("without OIDC_PROVIDERS", () => {
  it("no providers are listed and none can be started", async () => {
    const off = await startHarness();
    try {
      const c = clients(connectJsonTransport(off.url));
      expect((await c.federation.listProviders({})).providers).toEqual([]);
      expect(await refused(c.federation.startProviderSignIn({ provider: "test" }))).toMatchObject({
        code: "FailedPrecondition",
        reason: "SIGN_IN_METHOD_DISABLED",
      });
    } finally {
      await off.close();
    }
  });
});

describe("FederationService bad input", () => {
  const invalid = { code: "InvalidArgument", reason: "INVALID_ARGUMENT" };
  const failed = { code: "Unauthenticated", reason: "PROVIDER_SIGN_IN_FAILED" };

  it("missing and malformed fields, without touching a live flow", async () => {
    const c = browser();
    expect(await refused(c.federation.startProviderSignIn({ provider: "" }))).toMatchObject(invalid);
    const live = await c.federation.startProviderSignIn({ provider: "test" });
    const callbackUrl = `${provider.redirectUri}?code=x&state=${live.state}`;
    expect(await refused(c.federation.finishProviderSignIn({ state: "", callbackUrl }))).toMatchObject(invalid);
    expect(await refused(c.federation.finishProviderSignIn({ state: "not a state!", callbackUrl }))).toMatchObject(failed);
    expect(await refused(c.federation.finishProviderSignIn({ state: "x".repeat(300), callbackUrl }))).toMatchObject(invalid);
    for (const bad of [
      "",
      "not a url",
      `${provider.redirectUri}/../elsewhere?state=${live.state}`,
      `${provider.redirectUri}?${"a".repeat(5000)}`,
    ]) {
      expect(await refused(c.federation.finishProviderSignIn({ state: live.state, callbackUrl: bad }))).toMatchObject(invalid);
    }
    // None of those spent the flow: its own callback still reaches the provider (which refuses the made-up code).
    expect(await refused(c.federation.finishProviderSignIn({ state: live.state, callbackUrl }))).toMatchObject(failed);
    expect(h.logs.some((l) => l.msg === "OpenID Connect sign-in refused" && l.oauthError === "invalid_grant")).toBe(true);
  });

  it("linking needs a caller: no token, or a forged one, is UNAUTHENTICATED", async () => {
    const c = browser();
    expect(await refused(c.federation.startProviderLink({ provider: "test" }))).toMatchObject({ code: "Unauthenticated" });
    expect(
      await refused(c.federation.finishProviderLink({ state: "s", callbackUrl: provider.redirectUri }, bearer("e30.e30.x"))),
    ).toMatchObject({
      code: "Unauthenticated",
    });
  });

  it("an old session must re-authenticate before linking", async () => {
    const c = browser();
    const reg = await c.auth.register({ email: newEmail(), password: "correct horse battery staple 4", displayName: "Old" });
    h.clock.advance(11 * 60_000);
    try {
      expect(await refused(c.federation.startProviderLink({ provider: "test" }, bearer(reg.tokens?.accessToken ?? "")))).toMatchObject({
        code: "Unauthenticated",
        reason: "REAUTHENTICATION_REQUIRED",
      });
      const ok = await c.federation.startProviderLink(
        { provider: "test", reauthentication: { password: "correct horse battery staple 4" } },
        bearer(reg.tokens?.accessToken ?? ""),
      );
      expect(ok.authorizationUrl).toContain(provider.issuer);
    } finally {
      h.clock.advance(-11 * 60_000);
    }
  });
});
