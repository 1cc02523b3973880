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
