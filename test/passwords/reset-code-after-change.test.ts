// A password reset code mailed before the owner changed the password dies with the change. Whoever
// held the mailbox for a moment (a shared computer, a forwarding rule since removed) may have kept
// a code; the owner who then changes the password has taken the account back, and the code, valid
// for another hour, must not take it away again.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { failure, fetchDriver, type Driver } from "../support/drivers.ts";
import { startHarness, type Harness } from "../support/harness.ts";

let h: Harness;
let d: Driver;
beforeAll(async () => {
  h = await startHarness({ EMAIL_VERIFICATION_REQUIRED: "false" });
  d = fetchDriver(h.url, "reset-after-change");
});
afterAll(async () => {
  d.close();
  await h.close();
});

describe("a reset code and a later password change", () => {
  it("the code mailed before the change is refused after it, and changes nothing", async () => {
    const email = "kept-code@example.com";
    const first = "correct horse battery staple";
    await d.call("AuthService/Register", { email, password: first });
    await d.call("AuthService/RequestPasswordReset", { email });
    const kept = await h.mail(email, "password_reset");

    const session = (await d.call("AuthService/Login", { email, password: first })).tokens;
    const second = "the owner's new passphrase";
    await d.call("AuthService/ChangePassword", { currentPassword: first, newPassword: second }, session.accessToken);

    const before = await h.store.users.findByEmail(email);
    const refused = await failure(d.call("AuthService/ResetPassword", { code: kept.code, newPassword: "the keeper's own password" }));
    expect([refused.code, refused.reason]).toEqual(["invalid_argument", "INVALID_CODE"]);
    expect(await h.store.users.findByEmail(email)).toEqual(before);
    // The owner's session and password stand.
    expect((await d.call("AuthService/GetCurrentUser", {}, session.accessToken)).user.email).toBe(email);
    await d.call("AuthService/Login", { email, password: second });
  });

  it("a code asked for after the change works as usual", async () => {
    const email = "later-code@example.com";
    const first = "correct horse battery staple";
    await d.call("AuthService/Register", { email, password: first });
    const session = (await d.call("AuthService/Login", { email, password: first })).tokens;
    await d.call("AuthService/ChangePassword", { currentPassword: first, newPassword: "the owner's new passphrase" }, session.accessToken);
    await d.call("AuthService/RequestPasswordReset", { email });
    const fresh = await h.mail(email, "password_reset");
    await d.call("AuthService/ResetPassword", { code: fresh.code, newPassword: "reset to something long" });
    await d.call("AuthService/Login", { email, password: "reset to something long" });
  });
});

describe("the reset mail says how long its code lives", () => {
  it("in hours from an hour up, in minutes under it", async () => {
    const email = "how-long@example.com";
    await d.call("AuthService/Register", { email, password: "correct horse battery staple" });
    await d.call("AuthService/RequestPasswordReset", { email });
    expect((await h.mail(email, "password_reset")).text).toContain("It expires in 1 hour.");

    const short = await startHarness({ EMAIL_VERIFICATION_REQUIRED: "false", PASSWORD_RESET_TTL_SECONDS: "900" });
    const s = fetchDriver(short.url, "reset-after-change");
    try {
      await s.call("AuthService/Register", { email, password: "correct horse battery staple" });
      await s.call("AuthService/RequestPasswordReset", { email });
      // Not "0.3 hours".
      expect((await short.mail(email, "password_reset")).text).toContain("It expires in 15 minutes.");
    } finally {
      s.close();
      await short.close();
    }
    // A minute, and an hour and a bit, in the singular.
    for (const [ttl, says] of [
      ["60", "It expires in 1 minute."],
      ["3700", "It expires in 1 hour."],
    ]) {
      const other = await startHarness({ EMAIL_VERIFICATION_REQUIRED: "false", PASSWORD_RESET_TTL_SECONDS: ttl as string });
      const o = fetchDriver(other.url, "reset-after-change");
      try {
        await o.call("AuthService/Register", { email, password: "correct horse battery staple" });
        await o.call("AuthService/RequestPasswordReset", { email });
        expect((await other.mail(email, "password_reset")).text).toContain(says);
      } finally {
        o.close();
        await other.close();
      }
    }
  });
});
