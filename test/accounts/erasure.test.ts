// What deleting an account leaves behind: nothing that names the user or their address. In
// particular the counters kept under the address itself (the email sign-in codes' counts, whose
// count of wrong codes in a row lasts 30 days): an address deleted and registered again must
// inherit neither the old account's data nor its locks.
import { afterEach, describe, expect, it } from "vitest";
import { emailCodeAttemptKey, emailCodeRequestedKey, emailSignInFailuresKey } from "../../src/accounts/account.ts";
import { accountPasswordAttemptKeys } from "../../src/passwords/check.ts";
import { noReauthentication } from "../../src/two-factor/reauthentication.ts";
import { outcomeOf } from "../support/assertions.ts";
import { startService, type InProcess } from "../support/service.ts";

const password = "correct horse battery staple";
const email = "ada@example.com";
// Codes only, 5 wrong guesses a code and 10 in a row (the lowest allowed), no hourly mail bound.
const env = {
  EMAIL_SIGN_IN: "code",
  EMAIL_SIGN_IN_CODE_TTL_SECONDS: "300",
  EMAIL_SIGN_IN_CODE_MAX_FAILURES: "5",
  EMAIL_SIGN_IN_MAX_CONSECUTIVE_FAILURES: "10",
  MAIL_MAX_PER_ADDRESS_PER_HOUR: "0",
  EMAIL_VERIFICATION_REQUIRED: "false",
};

let s: InProcess;
afterEach(() => s.close());

async function mailedCode(): Promise<string> {
  await s.ops.emailSignIn.request(email, s.client);
  await s.service.background.drain();
  const mail = s.outbox.latest(email, "email_sign_in");
  if (mail === undefined) throw new Error("no sign-in mail");
  return mail.code;
}

const byCode = (code: string) => s.ops.emailSignIn.complete({ email, code, rememberMe: false }, s.client);
const wrong = (code: string, i: number) => (String(100_000 + i) === code ? String(200_000 + i) : String(100_000 + i));

describe("account deletion", () => {
  it("forgets the address's email sign-in counters: the address registered again inherits no lock", async () => {
    s = await startService(env);
    const { tokens } = await s.ops.accounts.register({ email, password, displayName: "" }, s.client);
    if (tokens === undefined) throw new Error("registration did not sign in");
    // The owner proves the mailbox: the account is theirs to delete with everything under its address.
    await s.ops.accounts.resendVerification(email, s.client);
    await s.service.background.drain();
    const verification = s.outbox.latest(email, "email_verification");
    if (verification === undefined) throw new Error("no verification mail");
    await s.ops.accounts.verifyEmail(verification.code);
    // A stranger spends the address's wrong codes in a row: even a right code is refused now.
    for (let mail = 0; mail < 2; mail++) {
      const code = await mailedCode();
      for (let i = 0; i < 5; i++) expect(await outcomeOf(byCode(wrong(code, mail * 5 + i)))).toBe("INVALID_CODE");
    }
    expect(await outcomeOf(byCode(await mailedCode()))).toBe("RATE_LIMITED");

    const caller = await s.ops.sessions.authenticate({ bearer: tokens.accessToken });
    await s.ops.accounts.deleteAccount(caller, noReauthentication, s.client);

    // Nothing kept under the address, as for the password's counters.
    const now = s.clock.now();
    const keys = [
      ...accountPasswordAttemptKeys(email),
      emailCodeRequestedKey(email),
      emailCodeAttemptKey(email),
      emailSignInFailuresKey(email),
    ];
    for (const key of keys) {
      expect({ key, ...(await s.store.attempts.get(key, now)) }).toEqual({ key, failures: 0, lockedUntil: null });
    }
    // Whoever registers the address next starts clean.
    await s.ops.accounts.register({ email, password: "another passphrase entirely", displayName: "" }, s.client);
    expect(await outcomeOf(byCode(await mailedCode()))).toBe("OK");
  });

  it("does not lift the address's cap on wrong codes for the maker of an account that never proved it", async () => {
    // Account pre-hijacking: anyone may register an address first (here with verification off) and
    // be signed in to it. Its codes go to the owner's mailbox; a right guess proves the address
    // (verified, and an ADMIN_EMAILS one is promoted). The maker who has spent the address's wrong
    // codes in a row must not get them back by deleting the account and registering it again.
    s = await startService(env);
    for (let round = 0; round < 2; round++) {
      const { tokens } = await s.ops.accounts.register({ email, password, displayName: "" }, s.client);
      if (tokens === undefined) throw new Error("registration did not sign in");
      const outcomes: string[] = [];
      for (let mail = 0; mail < 2; mail++) {
        const code = await mailedCode();
        for (let i = 0; i < 5; i++) outcomes.push(await outcomeOf(byCode(wrong(code, mail * 5 + i))));
      }
      // The first round spends the ten in a row; the second must find them spent.
      expect(outcomes.filter((o) => o === "INVALID_CODE").length, `round ${round}`).toBe(round === 0 ? 10 : 0);
      const caller = await s.ops.sessions.authenticate({ bearer: tokens.accessToken });
      await s.ops.accounts.deleteAccount(caller, noReauthentication, s.client);
    }
  });
});
