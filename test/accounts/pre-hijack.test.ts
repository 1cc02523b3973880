// Account pre-hijacking: someone registers an address before its owner (email verification off)
// and adds credentials of their own, here a second factor. When the owner proves the mailbox by a
// password reset or an email sign-in, everything the maker added goes, the second factor too:
// kept, the maker's authenticator would have locked the owner out of their own address.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Caller } from "../../src/sessions/caller.ts";
import { noReauthentication } from "../../src/two-factor/reauthentication.ts";
import { fetchDriver, type Driver } from "../support/drivers.ts";
import { startHarness, type Harness } from "../support/harness.ts";
import { startTestProvider, type TestProvider } from "../support/oidc-provider.ts";
import { outcome, startService, type InProcess } from "../support/service.ts";
import { SoftwareAuthenticator } from "../support/software-authenticator.ts";
import { totp } from "../support/totp.ts";

const makerPassword = "the maker's own password, long enough";
const ownerPassword = "the owner's password, set after the proof";
let h: Harness;
let d: Driver;
beforeAll(async () => {
  h = await startHarness({ EMAIL_VERIFICATION_REQUIRED: "false", EMAIL_SIGN_IN: "code", MAIL_MAX_PER_ADDRESS_PER_HOUR: "0" });
  d = fetchDriver(h.url, "pre-hijack");
});
afterAll(() => h.close());

/** The maker registers the address and turns a second factor on with their authenticator. */
async function preHijacked(email: string): Promise<void> {
  const reg = await d.call("AuthService/Register", { email, password: makerPassword });
  const setup = await d.call("TwoFactorService/Setup", {}, reg.tokens.accessToken);
  await d.call("TwoFactorService/Enable", { code: totp(setup.secret, h.clock.now()) }, reg.tokens.accessToken);
  expect((await d.call("AuthService/Login", { email, password: makerPassword })).secondFactor).toBeDefined();
}

async function mailed(email: string, purpose: "password_reset" | "email_sign_in"): Promise<string> {
  for (let i = 0; i < 200 && h.outbox.latest(email, purpose) === undefined; i++) await new Promise((r) => setTimeout(r, 10));
  const code = h.outbox.latest(email, purpose)?.code;
  if (code === undefined) throw new Error(`no ${purpose} mail`);
  return code;
}

describe("the owner proving the mailbox", () => {
  it("by a password reset removes the maker's second factor: the owner signs in with the new password alone", async () => {
    const email = "reset-owner@example.com";
    await preHijacked(email);
    await d.call("AuthService/RequestPasswordReset", { email });
    await d.call("AuthService/ResetPassword", { code: await mailed(email, "password_reset"), newPassword: ownerPassword });
    const login = await d.call("AuthService/Login", { email, password: ownerPassword });
    expect(login.secondFactor).toBeUndefined();
    expect(login.tokens.accessToken).toBeTruthy();
    expect((await d.call("TwoFactorService/GetStatus", {}, login.tokens.accessToken)).enabled ?? false).toBe(false);
  });

  it("by an email sign-in removes it too: signed in, not asked for the maker's code", async () => {
    const email = "email-owner@example.com";
    await preHijacked(email);
    await d.call("EmailSignInService/RequestEmailSignIn", { email });
    const res = await d.call("EmailSignInService/CompleteEmailSignIn", { email, code: await mailed(email, "email_sign_in") });
    expect(res.secondFactor).toBeUndefined();
    expect(res.tokens.accessToken).toBeTruthy();
  });
});

// The owner verifies the address first (VerifyEmail, from a mail the maker's registration sent or
// the owner asked for), then claims the account with a password reset or an email sign-in: the
// passkeys and provider links the maker added before the address was proven still go. What was
// added after it stays, and so does a second factor once the address is proven (a mailbox is no
// way round it: test/sign-in/email.test.ts, "with a second factor").
describe("the owner verifying first, then proving the mailbox", () => {
  const origin = "https://app.example.com";
  let p: TestProvider;
  let s: InProcess;
  beforeAll(async () => {
    p = await startTestProvider();
    s = await startService({
      OIDC_PROVIDERS: JSON.stringify([p.settings("test")]),
      OIDC_REDIRECT_URI: p.redirectUri,
      WEBAUTHN_RP_ID: "example.com",
      WEBAUTHN_ORIGINS: origin,
      EMAIL_VERIFICATION_REQUIRED: "false",
      EMAIL_SIGN_IN: "code",
      MAIL_MAX_PER_ADDRESS_PER_HOUR: "0",
    });
  });
  afterAll(async () => {
    await s.close();
    await p.close();
  });

  async function providerSignIn(subject: string) {
    const started = await s.ops.federation.startSignIn("test", false, s.client);
    return s.ops.federation.finishSignIn(started.state, await p.signIn(started.authorizationUrl, subject), s.client);
  }
  async function code(email: string, purpose: "email_verification" | "password_reset" | "email_sign_in"): Promise<string> {
    await s.service.background.drain();
    const mailed = s.outbox.latest(email, purpose)?.code;
    if (mailed === undefined) throw new Error(`no ${purpose} mail`);
    return mailed;
  }
  async function ownerVerifies(email: string): Promise<void> {
    s.clock.advance(60_000);
    await s.ops.accounts.resendVerification(email, s.client);
    await s.ops.accounts.verifyEmail(await code(email, "email_verification"));
    s.clock.advance(1_000);
  }
  async function ownerResets(email: string): Promise<void> {
    await s.ops.accounts.requestPasswordReset(email, s.client);
    await s.ops.accounts.resetPassword(await code(email, "password_reset"), ownerPassword, s.client);
  }
  /** The maker registers the address with a password and is signed in (verification is not required here). */
  async function registered(email: string, password: string): Promise<Caller> {
    const { tokens } = await s.ops.accounts.register({ email, password, displayName: "" }, s.client);
    return s.ops.sessions.authenticate({ bearer: tokens?.accessToken });
  }

  it("a provider account the maker linked with an unverified address no longer reaches the account after the reset", async () => {
    const email = "verified-then-reset@example.com";
    const maker = p.person({ email, email_verified: false });
    expect(await outcome(providerSignIn(maker))).toBe("OK");
    const made = await s.store.users.findByEmail(email);
    await ownerVerifies(email);
    // Between the two, the maker's provider account signs in to the now verified account.
    const between = await providerSignIn(maker);
    expect(between.state === "signed_in" && between.account.id).toBe(made?.id);
    await ownerResets(email);
    expect(await s.store.providerLinks.listForUser(made!.id)).toEqual([]);
    // The provider account is linked to nothing now, and the address has an account: nothing is made.
    expect(await outcome(providerSignIn(maker))).toBe("EMAIL_EXISTS email");
  });

  it("so does a link made before the proof, at an email sign-in; and the sessions end", async () => {
    const email = "verified-then-email@example.com";
    const maker = p.person({ email, email_verified: false });
    await outcome(providerSignIn(maker));
    const made = await s.store.users.findByEmail(email);
    await ownerVerifies(email);
    const between = await providerSignIn(maker);
    if (between.state !== "signed_in") throw new Error("the maker did not sign in");
    await s.ops.emailSignIn.request(email, s.client);
    const owner = await s.ops.emailSignIn.complete({ email, code: await code(email, "email_sign_in"), rememberMe: false }, s.client);
    expect(owner.state).toBe("signed_in");
    expect(await s.store.providerLinks.listForUser(made!.id)).toEqual([]);
    expect(await outcome(s.ops.sessions.authenticate({ bearer: between.tokens.accessToken }))).toBe("SESSION_REVOKED");
    if (owner.state === "signed_in") expect(await outcome(s.ops.sessions.authenticate({ bearer: owner.tokens.accessToken }))).toBe("OK");
  });

  it("a passkey added before the proof goes at the reset; a passkey and a second factor the owner adds after it stay through the next", async () => {
    const email = "passkey-then-verified@example.com";
    const makerSession = await registered(email, makerPassword);
    const makerKey = new SoftwareAuthenticator(origin);
    const { optionsJson } = await s.ops.passkeys.startRegistration(makerSession, noReauthentication);
    await s.ops.passkeys.finishRegistration(makerSession, { credentialJson: makerKey.create(optionsJson), name: "theirs" }, s.client);
    s.clock.advance(60_000);

    await ownerVerifies(email);
    await ownerResets(email);
    const signIn = await s.ops.passkeySignIn.startSignIn(s.client);
    expect(
      await outcome(s.ops.passkeySignIn.finishSignIn({ credentialJson: makerKey.get(signIn.optionsJson), rememberMe: false }, s.client)),
    ).toBe("INVALID_PASSKEY");
    const login = await s.ops.signIn.login({ email, password: ownerPassword, rememberMe: false }, s.client);
    expect(login.state).toBe("signed_in");
    if (login.state !== "signed_in") return;

    // The owner's own passkey and second factor, added after the address was proven, survive a reset.
    const owner = await s.ops.sessions.authenticate({ bearer: login.tokens.accessToken });
    const ownerKey = new SoftwareAuthenticator(origin);
    const again = await s.ops.passkeys.startRegistration(owner, noReauthentication);
    await s.ops.passkeys.finishRegistration(owner, { credentialJson: ownerKey.create(again.optionsJson), name: "mine" }, s.client);
    const ownSetup = await s.ops.twoFactor.setup(owner, { password: "", additionalDevice: false });
    await s.ops.twoFactor.enable(owner, { code: totp(ownSetup.secret, s.clock.now()), deviceName: "", secret: "" }, s.client);
    s.clock.advance(60_000);
    await ownerResets(email);
    const user = await s.store.users.findByEmail(email);
    expect((await s.store.passkeys.listForUser(user!.id)).map((k) => k.name)).toEqual(["mine"]);
    expect((await s.ops.signIn.login({ email, password: ownerPassword, rememberMe: false }, s.client)).state).toBe("second_factor_pending");
  });
});
