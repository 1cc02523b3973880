// RevokeOtherSessions (and removing a sign-in method) keeps the caller's session and ends the
// others. Authenticated before a two-factor change ended its session (the two-factor record's
// cutoff), such a call must not then end the session that made that change. The user record's
// cutoff is checked in the write itself (ifSessionPasses); the two-factor record's is another
// document, read just before the write (passesTwoFactorCutoff). A change landing between that
// read and the write is still not seen: KNOWN TO FAIL, the last test (it.fails), one store round
// trip left open. Turn it into `it` once the two cutoffs can be checked in one write.
import { describe, expect, it } from "vitest";
import { endOtherSessions } from "../../src/accounts/sign-in-methods.ts";
import type { Caller } from "../../src/sessions/caller.ts";
import { createMemoryStore } from "../../src/store/memory.ts";
import type { Store } from "../../src/store/port.ts";
import { type InProcess, startService } from "../support/service.ts";
import { totp } from "../support/totp.ts";

const password = "correct horse battery staple";

/** An owner's session and another, both signed in; `other` authenticated now, before what follows. */
async function twoSessions(s: InProcess, email: string) {
  const { tokens: owned } = await s.ops.accounts.register({ email, password, displayName: "" }, s.client);
  const ownerToken = owned?.accessToken ?? "";
  const owner = await s.ops.sessions.authenticate({ bearer: ownerToken });
  const signedIn = await s.ops.signIn.login({ email, password, rememberMe: false }, s.client);
  if (signedIn.state !== "signed_in") throw new Error("expected a session");
  const other = await s.ops.sessions.authenticate({ bearer: signedIn.tokens.accessToken });
  return { owner, ownerToken, other, otherToken: signedIn.tokens.accessToken };
}

/** The owner turns 2FA on, which ends every other session through the two-factor record's cutoff. */
async function ownerTurnsOnTwoFactor(s: InProcess, owner: Caller): Promise<void> {
  const setup = await s.ops.twoFactor.setup(owner, { password: "", additionalDevice: false });
  await s.ops.twoFactor.enable(owner, { code: totp(setup.secret, s.clock.now()), deviceName: "", secret: "" }, s.client);
}

/** ChangePassword from `caller`, with the right password, is SESSION_REVOKED and leaves the account as it was. */
async function expectChangePasswordRefused(s: InProcess, caller: Caller, email: string): Promise<void> {
  const before = await s.store.users.findByEmail(email);
  await expect(s.ops.accounts.changePassword(caller, password, "a brand new long passphrase", s.client)).rejects.toHaveProperty(
    "reason",
    "SESSION_REVOKED",
  );
  expect(await s.store.users.findByEmail(email)).toEqual(before);
}

/** Runs `test` against a fresh in-process service (over `store`, if given), closed after. */
async function withService(test: (s: InProcess) => Promise<void>, store?: Store): Promise<void> {
  const s = await startService({ EMAIL_VERIFICATION_REQUIRED: "false" }, store);
  try {
    await test(s);
  } finally {
    await s.close();
  }
}

describe("a call from a session a two-factor change ended after it was authenticated", () => {
  it("RevokeOtherSessions is refused (SESSION_REVOKED) and ends no one", async () => {
    await withService(async (s) => {
      const { owner, ownerToken, other, otherToken } = await twoSessions(s, "revoke-others@example.com");
      await ownerTurnsOnTwoFactor(s, owner);
      await expect(s.ops.sessions.authenticate({ bearer: otherToken })).rejects.toHaveProperty("reason", "SESSION_REVOKED");
      await expect(s.ops.sessions.revokeOthers(other)).rejects.toHaveProperty("reason", "SESSION_REVOKED");
      await expect(s.ops.sessions.authenticate({ bearer: ownerToken })).resolves.toHaveProperty("sessionId", owner.sessionId);
    });
  });

  it("the sessions a removed passkey or provider link may have opened: none is ended, the owner's stays", async () => {
    await withService(async (s) => {
      const { owner, ownerToken, other } = await twoSessions(s, "remove-method@example.com");
      await ownerTurnsOnTwoFactor(s, owner);
      await endOtherSessions(s.store, other, s.clock.now());
      await expect(s.ops.sessions.authenticate({ bearer: ownerToken })).resolves.toHaveProperty("sessionId", owner.sessionId);
    });
  });

  it("ChangePassword is refused (SESSION_REVOKED) and changes nothing", async () => {
    await withService(async (s) => {
      const email = "change-password-2fa@example.com";
      const { owner, ownerToken, other } = await twoSessions(s, email);
      await ownerTurnsOnTwoFactor(s, owner);
      await expectChangePasswordRefused(s, other, email);
      await expect(s.ops.sessions.authenticate({ bearer: ownerToken })).resolves.toHaveProperty("sessionId", owner.sessionId);
    });
  });

  it.fails("a two-factor change landing between that read and the write is not seen: the owner's session is ended", async () => {
    const inner = createMemoryStore();
    // Holds the next kept-caller write (endSessions with a kept session) until the test lets it go.
    let hold: { reached: () => void; release: Promise<void> } | undefined;
    const store: Store = {
      ...inner,
      users: {
        ...inner.users,
        update: async (id, patch, options) => {
          const held = options?.endSessions?.keep != null ? hold : undefined;
          if (held !== undefined) {
            hold = undefined;
            held.reached();
            await held.release;
          }
          return inner.users.update(id, patch, options);
        },
      },
    };
    await withService(async (s) => {
      const { owner, ownerToken, other } = await twoSessions(s, "between@example.com");
      let release: () => void = () => undefined;
      const reached = new Promise<void>((resolve) => {
        hold = { reached: resolve, release: new Promise<void>((r) => (release = r)) };
      });
      const revoking = s.ops.sessions.revokeOthers(other).catch(() => undefined);
      await reached;
      // The owner's change lands while the other's write is on its way (hold off the owner's own
      // kept-caller write: none is made by Enable, which writes the two-factor record).
      await ownerTurnsOnTwoFactor(s, owner);
      release();
      await revoking;
      await expect(s.ops.sessions.authenticate({ bearer: ownerToken })).resolves.toHaveProperty("sessionId", owner.sessionId);
    }, store);
  });
});

describe("a ChangePassword from a session the owner's RevokeOtherSessions ended after it was authenticated", () => {
  it("is refused (SESSION_REVOKED), changes nothing, and keeps no session of its own", async () => {
    await withService(async (s) => {
      const email = "change-password-cutoff@example.com";
      const { owner, ownerToken, other, otherToken } = await twoSessions(s, email);
      await s.ops.sessions.revokeOthers(owner);
      await expectChangePasswordRefused(s, other, email);
      await expect(s.ops.sessions.authenticate({ bearer: ownerToken })).resolves.toHaveProperty("sessionId", owner.sessionId);
      await expect(s.ops.sessions.authenticate({ bearer: otherToken })).rejects.toHaveProperty("reason", "SESSION_REVOKED");
    });
  });
});
