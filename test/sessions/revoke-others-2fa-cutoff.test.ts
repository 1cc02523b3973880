// Changes that keep the caller's session and end the others: RevokeOtherSessions, ChangePassword
// and a removed sign-in method (in the user record), Enable, Disable, RemoveDevice and a confirmed
// Reset (in the two-factor record). A session authenticated just before the owner's security
// change must not then land such a change, which would end the owner's session (or, for a
// two-factor change, put the thief's authenticator in, or take the owner's out). The two cutoffs
// live in two documents; every such change writes the user record's cutoff in one conditional
// write, a two-factor change before its own (src/two-factor/cutoff.ts), so of two such changes from
// two sessions exactly one wins, in either direction and either order: the other is refused with
// SESSION_REVOKED and changes nothing. The races run on the store under test (MongoDB with
// MONGODB_URI) and on the MongoDB users adapter's filter over mingo.
import { describe, expect, it } from "vitest";
import { endOtherSessions } from "../../src/accounts/sign-in-methods.ts";
import type { Caller } from "../../src/sessions/caller.ts";
import { StorageUnavailableError } from "../../src/store/errors.ts";
import type { Store } from "../../src/store/port.ts";
import { noReauthentication } from "../../src/two-factor/reauthentication.ts";
import { memoryStoreWithMingoUsers } from "../support/mingo-users.ts";
import { type InProcess, outcome, startService } from "../support/service.ts";
import { openTestStore, storageUnderTest } from "../support/stores.ts";
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

/** The owner turns 2FA on, which ends every other session; returns the authenticator's secret. */
async function ownerTurnsOnTwoFactor(s: InProcess, owner: Caller): Promise<string> {
  const setup = await s.ops.twoFactor.setup(owner, { password: "", additionalDevice: false });
  await s.ops.twoFactor.enable(owner, { code: totp(setup.secret, s.clock.now()), deviceName: "", secret: "" }, s.client);
  return setup.secret;
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

  it("voids no password reset code mailed before: the owner's reset still goes through", async () => {
    await withService(async (s) => {
      const email = "change-password-reset-code@example.com";
      const { owner, other } = await twoSessions(s, email);
      await s.ops.accounts.requestPasswordReset(email, s.client);
      await s.service.background.drain();
      const code = s.outbox.latest(email, "password_reset")?.code ?? "";
      await s.ops.sessions.revokeOthers(owner);
      await expectChangePasswordRefused(s, other, email);
      await expect(s.ops.accounts.resetPassword(code, "the owner's reset passphrase", s.client)).resolves.toHaveProperty("token");
    });
  });
});

/** A session of the account signed in with its second factor, authenticated now. */
async function signInWithCode(s: InProcess, email: string, secret: string): Promise<{ caller: Caller; token: string }> {
  s.clock.advance(30_000); // a TOTP step of its own
  const signedIn = await s.ops.signIn.login({ email, password, rememberMe: false, loginCode: totp(secret, s.clock.now()) }, s.client);
  if (signedIn.state !== "signed_in") throw new Error("expected a session");
  return { caller: await s.ops.sessions.authenticate({ bearer: signedIn.tokens.accessToken }), token: signedIn.tokens.accessToken };
}

async function expectLive(s: InProcess, token: string, caller: Caller): Promise<void> {
  await expect(s.ops.sessions.authenticate({ bearer: token })).resolves.toHaveProperty("sessionId", caller.sessionId);
}

async function expectEnded(s: InProcess, token: string): Promise<void> {
  await expect(s.ops.sessions.authenticate({ bearer: token })).rejects.toHaveProperty("reason", "SESSION_REVOKED");
}

/**
 * `inner`, with the next write that raises a cutoff keeping a given session held until released:
 * the user record's (`endSessions.keep`) or the two-factor record's, whichever comes first. That
 * is where a change decides whether it lands: a two-factor change's own write, in code where it
 * wrote nothing else, and its first write, the user record's, now.
 */
function holdingKeptWrite(inner: Store) {
  let next: { sessionId: string; reached: () => void; release: Promise<void> } | undefined;
  const pass = async (kept: string | null | undefined) => {
    const held = next;
    if (held === undefined || kept !== held.sessionId) return;
    next = undefined;
    held.reached();
    await held.release;
  };
  const store: Store = {
    ...inner,
    kind: inner.kind,
    users: {
      ...inner.users,
      update: async (id, patch, options) => {
        await pass(options?.endSessions?.keep);
        return inner.users.update(id, patch, options);
      },
    },
    twoFactor: {
      ...inner.twoFactor,
      save: async (record, expectedVersion) => {
        const before = await inner.twoFactor.get(record.userId);
        if (record.sessionCutoff.generation > (before?.sessionCutoff.generation ?? 0)) await pass(record.sessionCutoff.keptSessionId);
        return inner.twoFactor.save(record, expectedVersion);
      },
    },
  };
  return {
    store,
    /** Holds the next such write keeping `caller`'s session; `reached` resolves once it is held. */
    hold(caller: Caller): { reached: Promise<void>; release: () => void } {
      let release: () => void = () => undefined;
      const reached = new Promise<void>((resolve) => {
        next = { sessionId: caller.sessionId, reached: resolve, release: new Promise<void>((r) => (release = r)) };
      });
      return { reached, release: () => release() };
    },
  };
}

const stores: [string, () => Promise<Store>][] = [
  [`the store under test (${storageUnderTest})`, () => openTestStore("keep-me-race")],
  ["the MongoDB users adapter on mingo", async () => memoryStoreWithMingoUsers()],
];

describe.each(stores)("two changes that keep their caller, from two sessions, on %s: exactly one wins", (_, makeStore) => {
  it("the owner's Enable lands while another session's RevokeOtherSessions is on its way: that one is refused", async () => {
    const race = holdingKeptWrite(await makeStore());
    await withService(async (s) => {
      const { owner, ownerToken, other, otherToken } = await twoSessions(s, "between@example.com");
      const held = race.hold(other);
      const revoking = outcome(s.ops.sessions.revokeOthers(other));
      await held.reached;
      await ownerTurnsOnTwoFactor(s, owner);
      held.release();
      expect(await revoking).toBe("SESSION_REVOKED");
      await expectLive(s, ownerToken, owner);
      await expectEnded(s, otherToken);
      expect((await s.ops.twoFactor.statusOf(owner.userId)).enabled).toBe(true);
    }, race.store);
  });

  it("the owner's RevokeOtherSessions lands while another session's Enable is on its way: that one is refused and turns nothing on", async () => {
    const race = holdingKeptWrite(await makeStore());
    await withService(async (s) => {
      const { owner, ownerToken, other, otherToken } = await twoSessions(s, "enable-between@example.com");
      const setup = await s.ops.twoFactor.setup(other, { password: "", additionalDevice: false });
      const held = race.hold(other);
      const enabling = outcome(
        s.ops.twoFactor.enable(other, { code: totp(setup.secret, s.clock.now()), deviceName: "", secret: "" }, s.client),
      );
      await held.reached;
      await s.ops.sessions.revokeOthers(owner);
      held.release();
      expect(await enabling).toBe("SESSION_REVOKED");
      await expectLive(s, ownerToken, owner);
      await expectEnded(s, otherToken);
      expect(await s.ops.twoFactor.statusOf(owner.userId)).toMatchObject({ enabled: false, deviceCount: 0 });
    }, race.store);
  });

  it("the owner's ChangePassword lands while another session's Disable is on its way: that one is refused and turns nothing off", async () => {
    const race = holdingKeptWrite(await makeStore());
    await withService(async (s) => {
      const email = "disable-between@example.com";
      const { owner, ownerToken } = await twoSessions(s, email);
      const secret = await ownerTurnsOnTwoFactor(s, owner);
      const other = await signInWithCode(s, email, secret);
      const held = race.hold(other.caller);
      const disabling = outcome(s.ops.twoFactor.disable(other.caller, { code: "", recoveryCode: "", password }, s.client));
      await held.reached;
      await s.ops.accounts.changePassword(owner, password, "the owner's new passphrase", s.client);
      held.release();
      expect(await disabling).toBe("SESSION_REVOKED");
      await expectLive(s, ownerToken, owner);
      await expectEnded(s, other.token);
      expect(await s.ops.twoFactor.statusOf(owner.userId)).toMatchObject({ enabled: true, deviceCount: 1 });
    }, race.store);
  });

  it("the owner's RevokeOtherSessions lands while another session's RemoveDevice is on its way: that one is refused and removes nothing", async () => {
    const race = holdingKeptWrite(await makeStore());
    await withService(async (s) => {
      const email = "remove-device-between@example.com";
      const { owner, ownerToken } = await twoSessions(s, email);
      const secret = await ownerTurnsOnTwoFactor(s, owner);
      const extra = await s.ops.twoFactor.setup(owner, { password, additionalDevice: true });
      const added = await s.ops.twoFactor.addDevice(
        owner,
        { secret: extra.secret, code: totp(extra.secret, s.clock.now()), deviceName: "spare" },
        s.client,
      );
      const other = await signInWithCode(s, email, secret);
      const held = race.hold(other.caller);
      const removing = outcome(s.ops.twoFactor.removeDevice(other.caller, added.id, noReauthentication, s.client));
      await held.reached;
      await s.ops.sessions.revokeOthers(owner);
      held.release();
      expect(await removing).toBe("SESSION_REVOKED");
      await expectLive(s, ownerToken, owner);
      await expectEnded(s, other.token);
      expect(await s.ops.twoFactor.statusOf(owner.userId)).toMatchObject({ enabled: true, deviceCount: 2 });
    }, race.store);
  });

  it("a second-factor reset that keeps no session (an administrator's) ends the caller of a RevokeOtherSessions authenticated before it: refused, and a session opened since stays", async () => {
    await withService(
      async (s) => {
        const email = "reset-then-revoke@example.com";
        const { owner } = await twoSessions(s, email);
        const secret = await ownerTurnsOnTwoFactor(s, owner);
        const other = await signInWithCode(s, email, secret);
        const user = await s.store.users.findByEmail(email);
        if (user === null) throw new Error("no such user");
        // Written to the two-factor record alone: only the read just before the "keep me" write sees it.
        expect(await s.ops.twoFactor.resetBy(user, s.client)).toBe(true);
        const again = await s.ops.signIn.login({ email, password, rememberMe: false }, s.client);
        if (again.state !== "signed_in") throw new Error("expected a session");
        const since = await s.ops.sessions.authenticate({ bearer: again.tokens.accessToken });
        expect(await outcome(s.ops.sessions.revokeOthers(other.caller))).toBe("SESSION_REVOKED");
        await expectLive(s, again.tokens.accessToken, since);
        await expectEnded(s, other.token);
      },
      await makeStore(),
    );
  });

  it("the other order: another session's RevokeOtherSessions lands while the owner's Enable is on its way: the owner's is refused", async () => {
    const race = holdingKeptWrite(await makeStore());
    await withService(async (s) => {
      const { owner, ownerToken, other, otherToken } = await twoSessions(s, "other-first@example.com");
      const setup = await s.ops.twoFactor.setup(owner, { password: "", additionalDevice: false });
      const held = race.hold(owner);
      const enabling = outcome(
        s.ops.twoFactor.enable(owner, { code: totp(setup.secret, s.clock.now()), deviceName: "", secret: "" }, s.client),
      );
      await held.reached;
      await s.ops.sessions.revokeOthers(other);
      held.release();
      // The first to land wins, whoever it was; the one refused made no change of its own.
      expect(await enabling).toBe("SESSION_REVOKED");
      await expectLive(s, otherToken, other);
      await expectEnded(s, ownerToken);
      expect(await s.ops.twoFactor.statusOf(owner.userId)).toMatchObject({ enabled: false, deviceCount: 0 });
    }, race.store);
  });

  it("an AddDevice from a session the owner's RevokeOtherSessions ended after it was authenticated adds nothing", async () => {
    await withService(
      async (s) => {
        const email = "add-device-after@example.com";
        const { owner, ownerToken } = await twoSessions(s, email);
        const secret = await ownerTurnsOnTwoFactor(s, owner);
        const other = await signInWithCode(s, email, secret);
        const extra = await s.ops.twoFactor.setup(other.caller, { password, additionalDevice: true });
        await s.ops.sessions.revokeOthers(owner);
        const adding = s.ops.twoFactor.addDevice(
          other.caller,
          { secret: extra.secret, code: totp(extra.secret, s.clock.now()), deviceName: "" },
          s.client,
        );
        expect(await outcome(adding)).toBe("SESSION_REVOKED");
        await expectLive(s, ownerToken, owner);
        expect(await s.ops.twoFactor.statusOf(owner.userId)).toMatchObject({ enabled: true, deviceCount: 1 });
      },
      await makeStore(),
    );
  });

  it("a RegenerateRecoveryCodes from a session the owner's RevokeOtherSessions ended after it was authenticated makes no codes", async () => {
    await withService(
      async (s) => {
        const email = "regenerate-after@example.com";
        const { owner, ownerToken } = await twoSessions(s, email);
        const secret = await ownerTurnsOnTwoFactor(s, owner);
        const other = await signInWithCode(s, email, secret);
        const before = (await s.store.twoFactor.get(owner.userId))?.recoveryCodeHashes;
        await s.ops.sessions.revokeOthers(owner);
        s.clock.advance(30_000); // a TOTP step of its own
        const regenerating = s.ops.twoFactor.regenerateRecoveryCodes(other.caller, totp(secret, s.clock.now()), s.client);
        expect(await outcome(regenerating)).toBe("SESSION_REVOKED");
        expect((await s.store.twoFactor.get(owner.userId))?.recoveryCodeHashes).toEqual(before);
        await expectLive(s, ownerToken, owner);
      },
      await makeStore(),
    );
  });

  it("a two-factor change whose own write fails after its first leaves the other sessions ended and the factor unchanged", async () => {
    const inner = await makeStore();
    let failNextCutoff = false;
    const store: Store = {
      ...inner,
      kind: inner.kind,
      twoFactor: {
        ...inner.twoFactor,
        save: async (record, expectedVersion) => {
          if (failNextCutoff && record.sessionCutoff.keptSessionId !== null) {
            failNextCutoff = false;
            throw new StorageUnavailableError(new Error("primary stepped down"));
          }
          return inner.twoFactor.save(record, expectedVersion);
        },
      },
    };
    await withService(async (s) => {
      const { owner, ownerToken, otherToken } = await twoSessions(s, "fails-between@example.com");
      const setup = await s.ops.twoFactor.setup(owner, { password: "", additionalDevice: false });
      const enable = () => s.ops.twoFactor.enable(owner, { code: totp(setup.secret, s.clock.now()), deviceName: "", secret: "" }, s.client);
      failNextCutoff = true;
      await expect(enable()).rejects.toThrow(StorageUnavailableError);
      // Ended rather than kept: the user record's cutoff was written first.
      await expectEnded(s, otherToken);
      await expectLive(s, ownerToken, owner);
      expect((await s.ops.twoFactor.statusOf(owner.userId)).enabled).toBe(false);
      // And the owner can simply try again.
      s.clock.advance(30_000);
      await enable();
      expect((await s.ops.twoFactor.statusOf(owner.userId)).enabled).toBe(true);
    }, store);
  });
});
