// Email sign-in (src/sign-in/email.ts) at the level of its operations: the code and the link are
// single use, short-lived, limited like passwords, and the request answers the same for every
// address; completion ends in the same flow as Login (second factor, device token, notice).
import { afterEach, describe, expect, it } from "vitest";
import type { CodeMail } from "../../src/mail/mailer.ts";
import { createMemoryStore } from "../../src/store/memory.ts";
import type { LoginResult } from "../../src/sign-in/sign-in.ts";
import { emailSignInFailuresKey } from "../../src/accounts/account.ts";
import { outcomeOf } from "../support/assertions.ts";
import { TestClock } from "../support/harness.ts";
import { startService, type InProcess } from "../support/service.ts";
import { totp } from "../support/totp.ts";

const password = "correct horse battery staple";
const linkUrl = "https://app.example.com/sign-in/email";
const on = { EMAIL_SIGN_IN: "code,link", EMAIL_SIGN_IN_LINK_URL: linkUrl, EMAIL_SIGN_IN_CODE_TTL_SECONDS: "300" };

let s: InProcess;
afterEach(() => s.close());

async function start(env: Record<string, string> = {}): Promise<InProcess> {
  s = await startService({ ...on, ...env });
  return s;
}

const reason = outcomeOf;

/** A verified account (signed up, then its verification code used). */
async function account(email: string): Promise<void> {
  await s.ops.accounts.register({ email, password, displayName: "" }, s.client);
  await s.service.background.drain();
  const mail = s.outbox.latest(email, "email_verification");
  if (mail === undefined) throw new Error("no verification mail");
  await s.ops.accounts.verifyEmail(mail.code);
}

/** Requests a sign-in mail and returns it (after the background work). */
async function requestMail(email: string): Promise<CodeMail | undefined> {
  await s.ops.emailSignIn.request(email, s.client);
  await s.service.background.drain();
  return s.outbox.latest(email, "email_sign_in");
}

async function mailFor(email: string): Promise<CodeMail & { token: string }> {
  const mail = await requestMail(email);
  if (mail === undefined) throw new Error("no sign-in mail");
  const token = new URL(mail.link ?? "").hash.replace(/^#token=/, "");
  return { ...mail, token };
}

const byCode = (email: string, code: string, extra: { deviceToken?: string } = {}) =>
  s.ops.emailSignIn.complete({ email, code, rememberMe: false, ...extra }, s.client);

const signedIn = (r: LoginResult) => {
  if (r.state !== "signed_in") throw new Error(`expected signed_in, got ${r.state}`);
  return r;
};

describe("off by default", () => {
  it("refuses both calls with SIGN_IN_METHOD_DISABLED and mails nothing", async () => {
    s = await startService();
    await s.ops.accounts.register({ email: "ada@example.com", password, displayName: "" }, s.client);
    expect(await reason(s.ops.emailSignIn.request("ada@example.com", s.client))).toBe("SIGN_IN_METHOD_DISABLED");
    expect(await reason(byCode("ada@example.com", "123456"))).toBe("SIGN_IN_METHOD_DISABLED");
    await s.service.background.drain();
    expect(s.outbox.all("ada@example.com", "email_sign_in")).toEqual([]);
  });

  it("code only: a link token is refused, and the mail carries no link", async () => {
    await start({ EMAIL_SIGN_IN: "code", EMAIL_SIGN_IN_LINK_URL: "" });
    await account("ada@example.com");
    const mail = await requestMail("ada@example.com");
    expect(mail?.code).toMatch(/^\d{6}$/);
    expect(mail?.link).toBeUndefined();
    expect(mail?.text).not.toContain("http");
    expect(await reason(s.ops.emailSignIn.complete({ linkToken: "x".repeat(43), rememberMe: false }, s.client))).toBe(
      "SIGN_IN_METHOD_DISABLED",
    );
  });
});

describe("the code", () => {
  it("signs in once, with a device token and the new-device notice, and is stored only as a keyed hash", async () => {
    await start();
    await account("ada@example.com");
    const mail = await mailFor("ada@example.com");
    expect(mail.code).toMatch(/^\d{6}$/);
    expect(mail.text).toContain(mail.code);
    expect(mail.text).toContain(`${linkUrl}#token=`);
    // Nothing stored contains the code or the link token in clear, nor their plain SHA-256.
    const user = await s.store.users.findByEmail("ada@example.com");
    const { createHash } = await import("node:crypto");
    for (const secret of [mail.code, mail.token, `${user?.id}:${mail.code}`]) {
      const plain = createHash("sha256").update(secret).digest("hex");
      expect(await s.store.codes.find(plain, "email_sign_in_code", s.clock.now())).toBeNull();
    }

    const result = signedIn(await byCode(" ADA@example.com ", `${mail.code.slice(0, 3)} ${mail.code.slice(3)}`));
    expect(result.account.email).toBe("ada@example.com");
    expect(result.device.known).toBe(false);
    expect((await s.ops.sessions.authenticate({ bearer: result.tokens.accessToken })).userId).toBe(result.account.id);
    await s.service.background.drain();
    expect(s.outbox.latest("ada@example.com", "security_notification")?.notification).toBe("new_device_sign_in");

    expect(await reason(byCode("ada@example.com", mail.code))).toBe("INVALID_CODE");
    // ... and the link of the same mail died with it.
    expect(await reason(s.ops.emailSignIn.complete({ linkToken: mail.token, rememberMe: false }, s.client))).toBe("INVALID_CODE");
  });

  it("exactly one of many concurrent completions with the same code signs in", async () => {
    await start();
    await account("ada@example.com");
    const { code } = await mailFor("ada@example.com");
    // As many as the code's guessing budget (5): each takes its place in the count before its check.
    const results = await Promise.all(Array.from({ length: 5 }, () => reason(byCode("ada@example.com", code))));
    expect(results.filter((r) => r === "OK")).toHaveLength(1);
    expect(results.filter((r) => r === "INVALID_CODE")).toHaveLength(4);
    expect(await s.store.sessions.listLive((await s.store.users.findByEmail("ada@example.com"))?.id ?? "", s.clock.now())).toHaveLength(1);
  });

  it("expires after EMAIL_SIGN_IN_CODE_TTL_SECONDS (the test clock)", async () => {
    await start();
    await account("ada@example.com");
    const { code } = await mailFor("ada@example.com");
    s.clock.advance(300_000);
    expect(await reason(byCode("ada@example.com", code))).toBe("INVALID_CODE");
  });

  it("a new request voids the code (and link) mailed before", async () => {
    await start({ MAIL_MAX_PER_ADDRESS_PER_HOUR: "0" });
    await account("ada@example.com");
    const first = await mailFor("ada@example.com");
    const second = await mailFor("ada@example.com");
    if (first.code === second.code) return; // one chance in a million: nothing to tell apart
    expect(await reason(byCode("ada@example.com", first.code))).toBe("INVALID_CODE");
    expect(await reason(s.ops.emailSignIn.complete({ linkToken: first.token, rememberMe: false }, s.client))).toBe("INVALID_CODE");
    expect(await reason(byCode("ada@example.com", second.code))).toBe("OK");
  });

  it("is bound to its account: another address's code does not open this one", async () => {
    await start();
    await account("ada@example.com");
    await account("bob@example.com");
    const { code } = await mailFor("bob@example.com");
    expect(await reason(byCode("ada@example.com", code))).toBe("INVALID_CODE");
    expect(await reason(byCode("bob@example.com", code))).toBe("OK");
  });

  it("EMAIL_SIGN_IN_CODE_MAX_FAILURES wrong codes void it; a new code gets a fresh budget", async () => {
    await start({ EMAIL_SIGN_IN_CODE_MAX_FAILURES: "3", MAIL_MAX_PER_ADDRESS_PER_HOUR: "0" });
    await account("ada@example.com");
    const { code } = await mailFor("ada@example.com");
    const wrong = code === "000000" ? "111111" : "000000";
    expect(await reason(byCode("ada@example.com", wrong))).toBe("INVALID_CODE");
    expect(await reason(byCode("ada@example.com", wrong))).toBe("INVALID_CODE");
    expect(await reason(byCode("ada@example.com", wrong))).toBe("INVALID_CODE"); // the third: the code is void
    expect(await reason(byCode("ada@example.com", code))).toBe("RATE_LIMITED");
    const fresh = await mailFor("ada@example.com");
    expect(await reason(byCode("ada@example.com", fresh.code))).toBe("OK");
    // The voided code stays void whatever the counter says.
    if (fresh.code !== code) expect(await reason(byCode("ada@example.com", code))).toBe("INVALID_CODE");
  });

  it("racing wrong guesses cannot get more than the budget checked", async () => {
    await start({ EMAIL_SIGN_IN_CODE_MAX_FAILURES: "3" });
    await account("ada@example.com");
    const { code } = await mailFor("ada@example.com");
    const guesses = Array.from({ length: 20 }, (_, i) => String(i).padStart(6, "9")).filter((g) => g !== code);
    const answers = await Promise.all(guesses.map((g) => reason(byCode("ada@example.com", g))));
    expect(answers.filter((a) => a === "INVALID_CODE")).toHaveLength(3);
    expect(answers.filter((a) => a === "RATE_LIMITED")).toHaveLength(answers.length - 3);
    expect(await reason(byCode("ada@example.com", code))).toBe("RATE_LIMITED");
  });

  it("an unknown address and a wrong code are one answer, and its budget runs the same", async () => {
    await start({ EMAIL_SIGN_IN_CODE_MAX_FAILURES: "2" });
    await account("ada@example.com");
    const run = async (email: string) => {
      await requestMail(email);
      return [await reason(byCode(email, "000001")), await reason(byCode(email, "000002")), await reason(byCode(email, "000003"))];
    };
    expect(await run("nobody@example.com")).toEqual(await run("ada@example.com"));
    expect(await run("nobody2@example.com")).toEqual(["INVALID_CODE", "INVALID_CODE", "RATE_LIMITED"]);
  });

  it("a code for an address nobody asked for within a code's life is refused at once, known or not, and nothing is kept for it", async () => {
    const clock = new TestClock();
    const memory = createMemoryStore({ clock });
    s = await startService({ ...on, EMAIL_SIGN_IN_CODE_MAX_FAILURES: "2" }, memory, clock);
    await account("ada@example.com");
    await mailFor("ada@example.com");
    s.clock.advance(661_000); // the code's life (600 s) and the mark's minute have passed
    const answers = async (email: string) => {
      const got: string[] = [];
      for (let i = 0; i < 5; i++) got.push(await reason(byCode(email, String(100_000 + i))));
      return got;
    };
    expect(await answers("ada@example.com")).toEqual(Array(5).fill("INVALID_CODE"));
    expect(await answers("nobody@example.com")).toEqual(Array(5).fill("INVALID_CODE"));
    // Nothing about either address is stored: a made-up address per guess costs the store nothing.
    for (const email of ["ada@example.com", "nobody@example.com"]) {
      expect(await s.store.attempts.get(`email-code:${email}`, s.clock.now())).toEqual({ failures: 0, lockedUntil: null });
      expect(await s.store.attempts.get(emailSignInFailuresKey(email), s.clock.now())).toEqual({ failures: 0, lockedUntil: null });
    }
    const before = memory.recordCounts().attempts;
    for (let i = 0; i < 50; i++) await reason(byCode(`made-up-${i}@example.com`, "123456"));
    expect(memory.recordCounts().attempts).toBe(before);
  });

  it("a new request gives an unknown address a fresh budget of wrong codes, as a mailed one gets", async () => {
    await start({ EMAIL_SIGN_IN_CODE_MAX_FAILURES: "2" });
    await account("ada@example.com");
    await mailFor("ada@example.com");
    // Locked out of guessing for both, a client asks for a new mail for each: whether the next
    // wrong code is RATE_LIMITED must not say which address has an account.
    const probe = async (email: string) => {
      for (const wrong of ["000001", "000002", "000003"]) await reason(byCode(email, wrong));
      await requestMail(email);
      return reason(byCode(email, "000004"));
    };
    expect(await probe("nobody@example.com")).toBe(await probe("ada@example.com"));
    expect(await probe("nobody3@example.com")).toBe("INVALID_CODE");
  });

  it("malformed input costs no guess", async () => {
    await start({ EMAIL_SIGN_IN_CODE_MAX_FAILURES: "1" });
    await account("ada@example.com");
    const { code } = await mailFor("ada@example.com");
    expect(await reason(byCode("ada@example.com", ""))).toBe("INVALID_ARGUMENT");
    expect(await reason(byCode("ada@example.com", "12345"))).toBe("INVALID_CODE");
    expect(await reason(byCode("ada@example.com", "abcdef"))).toBe("INVALID_CODE");
    expect(await reason(byCode("not an address", code))).toBe("INVALID_ARGUMENT");
    expect(
      await reason(s.ops.emailSignIn.complete({ email: "ada@example.com", code, linkToken: "abc", rememberMe: false }, s.client)),
    ).toBe("INVALID_ARGUMENT");
    expect(await reason(byCode("ada@example.com", code))).toBe("OK");
  });

  it("EMAIL_SIGN_IN_CODE_DIGITS sets the length", async () => {
    await start({ EMAIL_SIGN_IN_CODE_DIGITS: "8" });
    await account("ada@example.com");
    const { code } = await mailFor("ada@example.com");
    expect(code).toMatch(/^\d{8}$/);
    expect(await reason(byCode("ada@example.com", code))).toBe("OK");
  });
});

describe("wrong codes per client network (LOGIN_ADDRESS_MAX_FAILURES) and its IPv6 aggregate", () => {
  // 4 per /64, 3 times that (12) per /48. Each guess is for another address, nobody asked for any:
  // only the client's budget counts them (codes across addresses, as a sprayer would send).
  const limits = { LOGIN_ADDRESS_MAX_FAILURES: "4", CLIENT_IPV6_AGGREGATE_MULTIPLE: "3" };
  const wrong = (i: number, ipAddress: string) =>
    reason(
      s.ops.emailSignIn.complete(
        { email: `guessed-${i}@example.com`, code: "123456", rememberMe: false },
        { ipAddress, userAgent: "guesser" },
      ),
    );
  const failures = async (network: string) => (await s.store.attempts.get(`email-code-client:${network}`, s.clock.now())).failures;

  it("20 from 20 /64s of one /48: 12 are answered, then every /64 of it is refused; another /48 and IPv4 are not", async () => {
    await start(limits);
    const answers: string[] = [];
    for (let i = 0; i < 20; i++) answers.push(await wrong(i, `2001:db8:48:${i.toString(16)}::1`));
    expect(answers).toEqual([...Array(12).fill("INVALID_CODE"), ...Array(8).fill("RATE_LIMITED")]);
    expect(await wrong(20, "2001:db8:48:ffff::1")).toBe("RATE_LIMITED");
    expect(await wrong(21, "2001:db8:49::1")).toBe("INVALID_CODE");
    expect(await wrong(22, "192.0.2.48")).toBe("INVALID_CODE");
  });

  it("the same 20 from one /64 behave as before: its own 4, and its neighbours keep the rest of the /48's", async () => {
    await start(limits);
    const answers: string[] = [];
    for (let i = 0; i < 20; i++) answers.push(await wrong(i, `2001:db8:48:1::${(i + 1).toString(16)}`));
    expect(answers).toEqual([...Array(4).fill("INVALID_CODE"), ...Array(16).fill("RATE_LIMITED")]);
    expect(await failures("2001:db8:48::/48")).toBe(4);
    expect(await wrong(20, "2001:db8:48:2::1")).toBe("INVALID_CODE");
  });

  it("a right code takes back its count from the aggregate too", async () => {
    await start(limits);
    await account("ada@example.com");
    const { code } = await mailFor("ada@example.com");
    expect(await wrong(0, "2001:db8:48:1::1")).toBe("INVALID_CODE");
    const member = { ipAddress: "2001:db8:48:2::1", userAgent: "laptop" };
    signedIn(await s.ops.emailSignIn.complete({ email: "ada@example.com", code, rememberMe: false }, member));
    expect(await failures("2001:db8:48::/48")).toBe(1);
    expect(await failures("2001:db8:48:2::/64")).toBe(0);
  });
});

describe("EMAIL_SIGN_IN_MAX_CONSECUTIVE_FAILURES", () => {
  // 10 (the lowest allowed) over codes of 5 guesses each: two mails' worth of wrong codes.
  const capped = { EMAIL_SIGN_IN_MAX_CONSECUTIVE_FAILURES: "10", EMAIL_SIGN_IN_CODE_MAX_FAILURES: "5", MAIL_MAX_PER_ADDRESS_PER_HOUR: "0" };
  const wrongFor = (code: string, i: number) => {
    const guess = String(100_000 + i);
    return guess === code ? String(200_000 + i) : guess;
  };
  /** Mails a code and spends its budget on wrong guesses; returns the answers. */
  async function burnOneMail(email: string, from: number): Promise<string[]> {
    const { code } = await mailFor(email);
    const answers: string[] = [];
    for (let i = 0; i < 5; i++) answers.push(await reason(byCode(email, wrongFor(code, from + i))));
    return answers;
  }

  it("once reached, refuses even a correct code, and new mails do not reset it; the password still signs in", async () => {
    await start(capped);
    await account("ada@example.com");
    expect(await burnOneMail("ada@example.com", 0)).toEqual(Array(5).fill("INVALID_CODE"));
    expect(await burnOneMail("ada@example.com", 5)).toEqual(Array(5).fill("INVALID_CODE"));
    for (let mail = 0; mail < 3; mail++) {
      const { code } = await mailFor("ada@example.com");
      expect(await reason(byCode("ada@example.com", code))).toBe("RATE_LIMITED");
    }
    // Long after the codes' lifetime and the hourly mail budget.
    s.clock.advance(7 * 24 * 3_600_000);
    const { code } = await mailFor("ada@example.com");
    expect(await reason(byCode("ada@example.com", code))).toBe("RATE_LIMITED");
    expect(await reason(s.ops.signIn.login({ email: "ada@example.com", password, rememberMe: false }, s.client))).toBe("OK");
  });

  it("leaves the magic link working (it cannot be guessed), and a sign-in by link lifts it", async () => {
    await start(capped);
    await account("ada@example.com");
    await burnOneMail("ada@example.com", 0);
    await burnOneMail("ada@example.com", 5);
    const { token } = await mailFor("ada@example.com");
    expect(await reason(s.ops.emailSignIn.complete({ linkToken: token, rememberMe: false }, s.client))).toBe("OK");
    expect(await reason(byCode("ada@example.com", (await mailFor("ada@example.com")).code))).toBe("OK");
  });

  it("a successful email sign-in clears the count", async () => {
    await start(capped);
    await account("ada@example.com");
    for (let round = 0; round < 3; round++) {
      await burnOneMail("ada@example.com", 0);
      const { code } = await mailFor("ada@example.com");
      for (let i = 0; i < 4; i++) expect(await reason(byCode("ada@example.com", wrongFor(code, 10 + i)))).toBe("INVALID_CODE");
      expect(await reason(byCode("ada@example.com", code))).toBe("OK");
    }
  });

  it("an unknown address gets the same answers, and the same refusal at the cap", async () => {
    await start(capped);
    await account("ada@example.com");
    await mailFor("ada@example.com");
    const run = async (email: string) => {
      const answers: string[] = [];
      for (let i = 0; i < 11; i++) {
        // A new request for each five: the per-code lock passes; the address count does not.
        if (i % 5 === 0) {
          s.clock.advance(300_000);
          await requestMail(email);
        }
        answers.push(await reason(byCode(email, String(100_000 + i))));
      }
      return answers;
    };
    const known = await run("ada@example.com");
    expect(await run("nobody@example.com")).toEqual(known);
    expect(known).toEqual([...Array(10).fill("INVALID_CODE"), "RATE_LIMITED"]);
  });

  it("a completed password reset clears it", async () => {
    await start(capped);
    await account("ada@example.com");
    await burnOneMail("ada@example.com", 0);
    await burnOneMail("ada@example.com", 5);
    expect(await reason(byCode("ada@example.com", (await mailFor("ada@example.com")).code))).toBe("RATE_LIMITED");
    await s.ops.accounts.requestPasswordReset("ada@example.com", s.client);
    await s.service.background.drain();
    const reset = s.outbox.latest("ada@example.com", "password_reset");
    if (reset === undefined) throw new Error("no reset mail");
    await s.ops.accounts.resetPassword(reset.code, "an entirely new passphrase", s.client);
    expect(await reason(byCode("ada@example.com", (await mailFor("ada@example.com")).code))).toBe("OK");
  });
});

describe("the request", () => {
  it("answers before any lookup or mail, for known and unknown addresses alike", async () => {
    const store = createMemoryStore();
    const lookups: string[] = [];
    const findByEmail = store.users.findByEmail.bind(store.users);
    store.users.findByEmail = (email: string) => {
      lookups.push(email);
      return findByEmail(email);
    };
    s = await startService(on, store);
    await account("ada@example.com");
    lookups.length = 0;
    for (const email of ["ada@example.com", "nobody@example.com"]) {
      const answer = await s.ops.emailSignIn.request(email, s.client);
      expect(answer).toBeUndefined();
      for (let i = 0; i < 50; i++) await Promise.resolve();
      expect(lookups).toEqual([]);
      await s.service.background.drain();
      expect(lookups).toEqual([email]);
      lookups.length = 0;
    }
    expect(s.outbox.mails.filter((m) => m.kind === "email_sign_in").map((m) => m.to)).toEqual(["ada@example.com"]);
  });

  it("mails within the hourly address and client budgets only, and a refused mail leaves the previous code valid", async () => {
    // The address's budget counts its verification mail too: 1 + 2 sign-in mails.
    await start({ MAIL_MAX_PER_ADDRESS_PER_HOUR: "3", MAIL_MAX_PER_CLIENT_PER_HOUR: "6" });
    await account("ada@example.com");
    await mailFor("ada@example.com");
    const second = await mailFor("ada@example.com");
    await requestMail("ada@example.com"); // over the address's budget: no mail
    expect(s.outbox.all("ada@example.com", "email_sign_in")).toHaveLength(2);
    // Unknown addresses spend the client's budget as known ones do.
    await requestMail("nobody@example.com");
    await account("bob@example.com");
    expect(await requestMail("bob@example.com")).toBeUndefined();
    expect(await reason(byCode("ada@example.com", second.code))).toBe("OK");
    s.clock.advance(3_600_000);
    expect(await requestMail("bob@example.com")).toBeDefined();
  });
});

describe("the link", () => {
  it("signs in once with the token from its fragment, and voids the code", async () => {
    await start();
    await account("ada@example.com");
    const mail = await mailFor("ada@example.com");
    expect(new URL(mail.link ?? "").origin + new URL(mail.link ?? "").pathname).toBe(linkUrl);
    expect(mail.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const result = signedIn(await s.ops.emailSignIn.complete({ linkToken: mail.token, rememberMe: true }, s.client));
    expect([result.account.email, result.rememberMe]).toEqual(["ada@example.com", true]);
    expect(await reason(s.ops.emailSignIn.complete({ linkToken: mail.token, rememberMe: false }, s.client))).toBe("INVALID_CODE");
    expect(await reason(byCode("ada@example.com", mail.code))).toBe("INVALID_CODE");
  });

  it("expires with the code, and concurrent uses sign in once", async () => {
    await start({ MAIL_MAX_PER_ADDRESS_PER_HOUR: "0" });
    await account("ada@example.com");
    const old = await mailFor("ada@example.com");
    s.clock.advance(300_000);
    expect(await reason(s.ops.emailSignIn.complete({ linkToken: old.token, rememberMe: false }, s.client))).toBe("INVALID_CODE");
    const { token } = await mailFor("ada@example.com");
    const all = await Promise.all(
      Array.from({ length: 6 }, () => reason(s.ops.emailSignIn.complete({ linkToken: token, rememberMe: false }, s.client))),
    );
    expect(all.filter((r) => r === "OK")).toHaveLength(1);
  });
});

describe("with a second factor", () => {
  it("returns Login's challenge, and CompleteLogin finishes the sign-in", async () => {
    await start({ EMAIL_VERIFICATION_REQUIRED: "false" });
    const { tokens } = await s.ops.accounts.register({ email: "ada@example.com", password, displayName: "" }, s.client);
    const caller = await s.ops.sessions.authenticate({ bearer: tokens?.accessToken });
    const setup = await s.ops.twoFactor.setup(caller, { password: "", additionalDevice: false });
    await s.ops.twoFactor.enable(caller, { code: totp(setup.secret, s.clock.now()), deviceName: "", secret: "" }, s.client);
    // Verified after the second factor was turned on (as owners do where verification is not
    // required): the mailbox alone is still no way round it. (An unverified account's email
    // sign-in would remove the password and the second factor, see below.)
    s.clock.advance(60_000);
    await s.store.users.update(caller.userId, { emailVerified: true, emailVerifiedAt: s.clock.now() });
    s.clock.advance(30_000);
    const { code } = await mailFor("ada@example.com");
    const first = await byCode("ada@example.com", code);
    expect(first.state).toBe("second_factor_pending");
    if (first.state !== "second_factor_pending") return;
    expect(Object.keys(first.identity).sort()).toEqual(["email", "id"]);
    const done = await s.ops.signIn.completeLogin(first.challenge.token, { code: totp(setup.secret, s.clock.now()) }, s.client);
    expect(done.state).toBe("signed_in");
    expect(done.account.twoFactorEnabled).toBe(true);
  });
});

describe("an unverified account", () => {
  it("is verified by the code; the password, passkeys and provider links added before the proof are removed, its sessions ended", async () => {
    await start({ EMAIL_VERIFICATION_REQUIRED: "false" });
    // Someone registers the address with a password of theirs, adds a passkey and stays signed in.
    const { tokens, user: squatted } = await s.ops.accounts.register({ email: "ada@example.com", password, displayName: "" }, s.client);
    const squatter = tokens?.accessToken;
    const passkey = { id: "pk1", userId: squatted.id, credentialId: "cred1", publicKey: "key", counter: 0, transports: [] };
    const more = { backupEligible: false, backedUp: false, userHandle: "h", name: "theirs", createdAt: s.clock.now(), lastUsedAt: null };
    expect(await s.store.passkeys.insert({ ...passkey, ...more })).toBe(true);
    const link = { id: "l1", userId: squatted.id, provider: "google", issuer: "https://accounts.google.com", subject: "theirs" };
    await s.store.providerLinks.insert({ ...link, email: "", createdAt: s.clock.now() });
    expect((await s.store.users.findByEmail("ada@example.com"))?.emailVerified).toBe(false);
    const { code } = await mailFor("ada@example.com");
    const result = signedIn(await byCode("ada@example.com", code));
    expect(result.account.emailVerified).toBe(true);
    const user = await s.store.users.findByEmail("ada@example.com");
    expect([user?.emailVerified, user?.passwordHash]).toEqual([true, null]);
    expect(await s.store.passkeys.listForUser(squatted.id)).toEqual([]);
    expect(await s.store.providerLinks.listForUser(squatted.id)).toEqual([]);
    expect(await reason(s.ops.sessions.authenticate({ bearer: squatter }))).toBe("SESSION_REVOKED");
    expect(await reason(s.ops.signIn.login({ email: "ada@example.com", password, rememberMe: false }, s.client))).toBe(
      "INVALID_CREDENTIALS",
    );
    expect((await s.ops.sessions.authenticate({ bearer: result.tokens.accessToken })).userId).toBe(result.account.id);
  });

  it("with EMAIL_VERIFICATION_REQUIRED, signs in by code where Login would refuse", async () => {
    await start();
    await s.ops.accounts.register({ email: "ada@example.com", password, displayName: "" }, s.client);
    const { token } = await mailFor("ada@example.com");
    expect(signedIn(await s.ops.emailSignIn.complete({ linkToken: token, rememberMe: false }, s.client)).account.emailVerified).toBe(true);
  });

  it("a verified account keeps its password, passkeys and sessions", async () => {
    await start();
    await account("ada@example.com");
    const id = (await s.store.users.findByEmail("ada@example.com"))?.id ?? "";
    const passkey = { id: "pk1", userId: id, credentialId: "cred1", publicKey: "key", counter: 0, transports: [] };
    const more = { backupEligible: false, backedUp: false, userHandle: "h", name: "mine", createdAt: s.clock.now(), lastUsedAt: null };
    await s.store.passkeys.insert({ ...passkey, ...more });
    const before = signedIn(await s.ops.signIn.login({ email: "ada@example.com", password, rememberMe: false }, s.client));
    const { code } = await mailFor("ada@example.com");
    signedIn(await byCode("ada@example.com", code, { deviceToken: before.device.token }));
    expect((await s.ops.sessions.authenticate({ bearer: before.tokens.accessToken })).userId).toBe(before.account.id);
    expect(await reason(s.ops.signIn.login({ email: "ada@example.com", password, rememberMe: false }, s.client))).toBe("OK");
    expect(await s.store.passkeys.listForUser(id)).toHaveLength(1);
  });
});

describe("a disabled account", () => {
  it("gets no mail; a code mailed before is refused with ACCOUNT_DISABLED and changes nothing", async () => {
    await start({ EMAIL_VERIFICATION_REQUIRED: "false" });
    await s.ops.accounts.register({ email: "ada@example.com", password, displayName: "" }, s.client);
    const { code } = await mailFor("ada@example.com");
    const before = await s.store.users.findByEmail("ada@example.com");
    await s.store.users.update(before?.id ?? "", { disabledAt: s.clock.now() });
    expect(await requestMail("ada@example.com")).toMatchObject({ code }); // still the earlier mail: none sent
    expect(s.outbox.all("ada@example.com", "email_sign_in")).toHaveLength(1);
    expect(await reason(byCode("ada@example.com", code))).toBe("ACCOUNT_DISABLED");
    const after = await s.store.users.findByEmail("ada@example.com");
    expect([after?.emailVerified, after?.passwordHash]).toEqual([false, before?.passwordHash]);
  });
});

describe("ADMIN_EMAILS", () => {
  it("promotes the named address as an email sign-in proves it, and audits it as VerifyEmail does", async () => {
    await start({ EMAIL_VERIFICATION_REQUIRED: "false", ADMIN_EMAILS: "boss@example.com" });
    const { user } = await s.ops.accounts.register({ email: "boss@example.com", password, displayName: "" }, s.client);
    expect(user.roles).toEqual(["user"]);
    const { code } = await mailFor("boss@example.com");
    expect(signedIn(await byCode("boss@example.com", code)).account.roles).toEqual(["admin", "user"]);
    const [event] = await s.store.audit.list({ targetUserId: user.id, before: null, limit: 1, now: s.clock.now() });
    expect(event).toMatchObject({ action: "bootstrap.grant_admin", actor: { kind: "system" }, detail: "roles=admin,user" });
  });
});
