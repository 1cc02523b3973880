// Account pre-hijacking: someone registers an address before its owner (email verification off)
// and adds credentials of their own, here a second factor. When the owner proves the mailbox by a
// password reset or an email sign-in, everything the maker added goes, the second factor too:
// kept, the maker's authenticator would have locked the owner out of their own address.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fetchDriver, type Driver } from "../support/drivers.ts";
import { startHarness, type Harness } from "../support/harness.ts";
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
