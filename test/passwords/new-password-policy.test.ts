// The new-password policy where it is applied: Register, ChangePassword and ResetPassword refuse
// common passwords and passwords built from the user's or the service's own words with
// WEAK_PASSWORD and a message that says why, and change nothing.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AuthError } from "../../src/errors.ts";
import { failure, fetchDriver, type Driver } from "../support/drivers.ts";
import { startHarness, type Harness } from "../support/harness.ts";
import { startService, type InProcess } from "../support/service.ts";

const tooCommon = "this password is one of the most commonly used passwords; choose another";
const ownWords = "the password must not be built from your email address, your name or the service's name";

describe("Register over the wire", () => {
  let h: Harness;
  let d: Driver;
  beforeAll(async () => {
    h = await startHarness({ TOTP_ISSUER: "Example Auth" });
    d = fetchDriver(h.url, "policy-test");
  });
  afterAll(() => h.close());

  it.each([
    ["butterfly", tooCommon],
    ["samantha", tooCommon],
    ["zaq12wsx", tooCommon],
    ["Butterfly2024!", tooCommon],
    ["AdaLovelace1815", ownWords],
    ["ada.lovelace@example.net", ownWords],
    ["ExampleAuth2024!", ownWords],
  ])("%s → invalid_argument / WEAK_PASSWORD (%s), no account, no mail", async (password, message) => {
    const email = "ada.lovelace@example.net";
    const f = await failure(d.call("AuthService/Register", { email, password, displayName: "Ada Lovelace" }));
    expect({ code: f.code, reason: f.reason, field: f.metadata.field }).toEqual({
      code: "invalid_argument",
      reason: "WEAK_PASSWORD",
      field: "password",
    });
    expect(f.message).toContain(message);
    expect(f.message).not.toContain(password);
    await h.server.deps.background.drain();
    expect(await h.store.users.findByEmail(email)).toBeNull();
    expect(h.outbox.latest(email, "email_verification")).toBeUndefined();
  });

  it("a strong passphrase registers", async () => {
    await d.call("AuthService/Register", {
      email: "ada.lovelace@example.net",
      password: "analytical engine weaves algebra",
      displayName: "Ada Lovelace",
    });
    expect(await h.store.users.findByEmail("ada.lovelace@example.net")).not.toBeNull();
  });
});

describe("ChangePassword and ResetPassword", () => {
  const password = "analytical engine weaves algebra";
  const email = "grace.hopper@example.net";
  let s: InProcess;
  beforeAll(async () => {
    s = await startService({ EMAIL_VERIFICATION_REQUIRED: "false" });
    await s.ops.accounts.register({ email, password, displayName: "Grace Hopper" }, s.client);
  });
  afterAll(() => s.close());

  async function refusal(p: Promise<unknown>): Promise<string> {
    try {
      await p;
    } catch (err) {
      if (err instanceof AuthError) return `${err.reason} ${err.field}: ${err.message}`;
      throw err;
    }
    return "accepted";
  }

  it.each([
    ["samantha1", tooCommon],
    ["GraceHopper1906", ownWords],
  ])("ChangePassword to %s is refused and the password stays", async (next, message) => {
    const { tokens } = await s.ops.signIn.login({ email, password, rememberMe: false }, s.client).then((r) => {
      if (r.state !== "signed_in") throw new Error(r.state);
      return r;
    });
    const caller = await s.ops.sessions.authenticate({ bearer: tokens.accessToken });
    const before = await s.store.users.findByEmail(email);
    expect(await refusal(s.ops.accounts.changePassword(caller, password, next, s.client))).toBe(`WEAK_PASSWORD new_password: ${message}`);
    expect((await s.store.users.findByEmail(email))?.passwordHash).toBe(before?.passwordHash);
  });

  it("ResetPassword to a common password is refused and keeps the code usable", async () => {
    await s.ops.accounts.requestPasswordReset(email, s.client);
    await s.service.background.drain();
    const code = s.outbox.latest(email, "password_reset")?.code ?? "";
    const before = await s.store.users.findByEmail(email);
    expect(await refusal(s.ops.accounts.resetPassword(code, "zaq12wsx", s.client))).toBe(`WEAK_PASSWORD new_password: ${tooCommon}`);
    expect((await s.store.users.findByEmail(email))?.passwordHash).toBe(before?.passwordHash);
    expect(await refusal(s.ops.accounts.resetPassword(code, "a compiler for every ship", s.client))).toBe("accepted");
  });
});
