// TOTP_SETUP_MAX_PER_HOUR bounds the QR codes an account draws. Only a call that may draw one
// counts: one refused before (no password, a wrong one, no recent sign-in) spends nothing, or a
// stolen access token alone, with no password, could spend the owner's Setups and Resets and keep
// the owner from replacing an authenticator for an hour at a time.
import { afterAll, beforeAll, expect, it } from "vitest";
import { failure, fetchDriver } from "../support/drivers.ts";
import { startHarness, type Harness } from "../support/harness.ts";
import { totp } from "../support/totp.ts";

const password = "correct horse battery staple";
let h: Harness;
beforeAll(async () => {
  h = await startHarness({ EMAIL_VERIFICATION_REQUIRED: "false", TOTP_SETUP_MAX_PER_HOUR: "3" });
});
afterAll(() => h.close());

it("a token without the password spends none of the owner's Setups and Resets; the budget still holds", async () => {
  const f = fetchDriver(h.url, "setup-budget-owner");
  try {
    const reg = await f.call("AuthService/Register", { email: "budget-owner@example.com", password });
    const token = reg.tokens.accessToken;
    const { secret } = await f.call("TwoFactorService/Setup", {}, token);
    await f.call("TwoFactorService/Enable", { code: totp(secret, h.clock.now()) }, token);
    // Whoever holds the token, without the password: refused each time, and nothing is spent.
    for (let i = 0; i < 5; i++) {
      expect((await failure(f.call("TwoFactorService/Setup", {}, token))).code).toBe("invalid_argument");
      expect((await failure(f.call("TwoFactorService/Reset", { password: "not the password at all" }, token))).reason).toBe(
        "INVALID_CREDENTIALS",
      );
    }
    // The owner can still replace the authenticator...
    expect((await f.call("TwoFactorService/Reset", { password }, token)).secret).toBeTruthy();
    // ...and the budget (one spent by the first Setup, one by that Reset) still holds.
    expect((await f.call("TwoFactorService/Setup", { password }, token)).secret).toBeTruthy();
    const refused = await failure(f.call("TwoFactorService/Reset", { password }, token));
    expect([refused.code, refused.reason]).toEqual(["resource_exhausted", "RATE_LIMITED"]);
    // Once spent, a call is refused before the password is checked.
    const early = await failure(f.call("TwoFactorService/Reset", { password: "not the password at all" }, token));
    expect(early.reason).toBe("RATE_LIMITED");
  } finally {
    f.close();
  }
});
