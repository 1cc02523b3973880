// The sign-in state machine at the level of its operations (no socket): every arrow of flow.ts's
// diagram, and what each state may show.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Caller } from "../../src/sessions/caller.ts";
import { startService, type InProcess } from "../support/service.ts";
import { totp, wrongCode } from "../support/totp.ts";
import { outcomeOf } from "../support/assertions.ts";

const password = "correct horse battery staple";
let s: InProcess;
beforeAll(async () => {
  s = await startService({ EMAIL_VERIFICATION_REQUIRED: "false", LOGIN_CHALLENGE_TTL_SECONDS: "120" });
});
afterAll(() => s.close());

const reason = outcomeOf;

/** An account with 2FA on; returns its TOTP secret and a caller for its first session. */
async function enrolled(email: string): Promise<{ secret: string; caller: Caller }> {
  const { tokens } = await s.ops.accounts.register({ email, password, displayName: "" }, s.client);
  const caller = await s.ops.sessions.authenticate({ bearer: tokens?.accessToken });
  const setup = await s.ops.twoFactor.setup(caller, { password: "", additionalDevice: false });
  await s.ops.twoFactor.enable(caller, { code: totp(setup.secret, s.clock.now()), deviceName: "", secret: "" }, s.client);
  s.clock.advance(30_000);
  return { secret: setup.secret, caller };
}

describe("first factor checked, no second factor: signed in", () => {
  it("opens a session whose account view carries no secret", async () => {
    await s.ops.accounts.register({ email: "plain@example.com", password, displayName: "Plain" }, s.client);
    const result = await s.ops.signIn.login({ email: "plain@example.com", password, rememberMe: true }, s.client);
    expect(result.state).toBe("signed_in");
    if (result.state !== "signed_in") return;
    expect(Object.keys(result.account).sort()).toEqual([
      "createdAt",
      "displayName",
      "email",
      "emailVerified",
      "id",
      "roles",
      "twoFactorEnabled",
      "updatedAt",
    ]);
    expect(result.rememberMe).toBe(true);
    expect((await s.ops.sessions.authenticate({ bearer: result.tokens.accessToken })).userId).toBe(result.account.id);
  });

  it("a wrong password and an unknown address are one answer", async () => {
    expect(await reason(s.ops.signIn.login({ email: "plain@example.com", password: "wrong password", rememberMe: false }, s.client))).toBe(
      "INVALID_CREDENTIALS",
    );
    expect(await reason(s.ops.signIn.login({ email: "nobody@example.com", password, rememberMe: false }, s.client))).toBe(
      "INVALID_CREDENTIALS",
    );
  });
});

describe("second factor required", () => {
  it("without a code: second_factor_pending shows only id and email, then CompleteLogin signs in once", async () => {
    const { secret } = await enrolled("pending@example.com");
    const first = await s.ops.signIn.login({ email: "pending@example.com", password, rememberMe: true }, s.client);
    expect(first.state).toBe("second_factor_pending");
    if (first.state !== "second_factor_pending") return;
    expect(Object.keys(first.identity).sort()).toEqual(["email", "id"]);
    expect(first.challenge.expiresAt.getTime() - s.clock.now().getTime()).toBe(120_000); // LOGIN_CHALLENGE_TTL_SECONDS
    const done = await s.ops.signIn.completeLogin(first.challenge.token, { code: totp(secret, s.clock.now()) }, s.client);
    expect([done.state, done.rememberMe, done.account.twoFactorEnabled]).toEqual(["signed_in", true, true]);
    // The challenge is single-use.
    s.clock.advance(30_000);
    expect(await reason(s.ops.signIn.completeLogin(first.challenge.token, { code: totp(secret, s.clock.now()) }, s.client))).toBe(
      "INVALID_CHALLENGE",
    );
  });

  it("with the code in the same call: signed in directly; a wrong code is refused and counted", async () => {
    const { secret } = await enrolled("one-call@example.com");
    const wrong = s.ops.signIn.login(
      { email: "one-call@example.com", password, rememberMe: false, loginCode: wrongCode(secret, s.clock.now()) },
      s.client,
    );
    expect(await reason(wrong)).toBe("INVALID_TWO_FACTOR_CODE");
    const user = (await s.store.users.findByEmail("one-call@example.com"))!;
    expect((await s.store.attempts.get(`2fa:${user.id}`, s.clock.now())).failures).toBe(1);
    const ok = await s.ops.signIn.login(
      { email: "one-call@example.com", password, rememberMe: false, loginCode: totp(secret, s.clock.now()) },
      s.client,
    );
    expect(ok.state).toBe("signed_in");
  });

  it("a challenge expires after LOGIN_CHALLENGE_TTL_SECONDS", async () => {
    const { secret } = await enrolled("expiring@example.com");
    const first = await s.ops.signIn.login({ email: "expiring@example.com", password, rememberMe: false }, s.client);
    if (first.state !== "second_factor_pending") throw new Error("expected a challenge");
    s.clock.advance(121_000);
    expect(await reason(s.ops.signIn.completeLogin(first.challenge.token, { code: totp(secret, s.clock.now()) }, s.client))).toBe(
      "INVALID_CHALLENGE",
    );
  });

  it("a password change after the first step voids its challenge", async () => {
    const { secret, caller } = await enrolled("changed@example.com");
    const first = await s.ops.signIn.login({ email: "changed@example.com", password, rememberMe: false }, s.client);
    if (first.state !== "second_factor_pending") throw new Error("expected a challenge");
    await s.ops.accounts.changePassword(caller, password, "another passphrase entirely", s.client);
    expect(await reason(s.ops.signIn.completeLogin(first.challenge.token, { code: totp(secret, s.clock.now()) }, s.client))).toBe(
      "INVALID_CHALLENGE",
    );
  });
});

describe("email verification", () => {
  it("an unverified account is refused before any second factor or session", async () => {
    const strict = await startService({ EMAIL_VERIFICATION_REQUIRED: "true" });
    try {
      await strict.ops.accounts.register({ email: "unverified@example.com", password, displayName: "" }, strict.client);
      expect(await reason(strict.ops.signIn.login({ email: "unverified@example.com", password, rememberMe: false }, strict.client))).toBe(
        "EMAIL_NOT_VERIFIED",
      );
      const user = (await strict.store.users.findByEmail("unverified@example.com"))!;
      expect(await strict.store.sessions.listLive(user.id, strict.clock.now())).toEqual([]);
    } finally {
      await strict.close();
    }
  });
});
