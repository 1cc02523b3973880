// The last sign-in method under concurrency: RemovePasskey and UnlinkAccount (a provider, the
// password) each check that another way in remains, and running at once each sees the other's
// method. Whatever order their reads and writes interleave in, the account keeps one way in and
// the removals that would have taken the last are refused. On the memory store, and with the
// MongoDB users, passkeys and provider-links adapters on mingo (support/mingo-collection.ts).
import { randomUUID } from "node:crypto";
import type { Collection } from "mongodb";
import { afterEach, describe, expect, it } from "vitest";
import { countSignInMethods } from "../../src/accounts/sign-in-methods.ts";
import { createMemoryStore } from "../../src/store/memory.ts";
import { mongoPasskeys, type PasskeyDoc } from "../../src/store/mongo/passkeys.ts";
import { mongoProviderLinks, type ProviderLinkDoc } from "../../src/store/mongo/provider-links.ts";
import type { Store } from "../../src/store/port.ts";
import { noReauthentication } from "../../src/two-factor/reauthentication.ts";
import { TestClock } from "../support/harness.ts";
import { fakeCollection } from "../support/mingo-collection.ts";
import { startService, type InProcess } from "../support/service.ts";
import { SoftwareAuthenticator } from "../support/software-authenticator.ts";

const origin = "https://app.example.com";
const env = { EMAIL_VERIFICATION_REQUIRED: "false", WEBAUTHN_RP_ID: "example.com", WEBAUTHN_ORIGINS: origin };
const password = "correct horse battery staple";

const stores: [string, (clock: TestClock) => Store][] = [
  ["memory", (clock) => createMemoryStore({ clock })],
  [
    "mongodb passkeys and provider links on mingo",
    (clock) => {
      const memory = createMemoryStore({ clock });
      const passkeys = fakeCollection<PasskeyDoc>() as Collection<PasskeyDoc>;
      const providerLinks = fakeCollection<ProviderLinkDoc>() as Collection<ProviderLinkDoc>;
      return {
        ...memory,
        kind: "mongodb",
        passkeys: mongoPasskeys((op) => op({ passkeys }), { maxTimeMS: 1_000 }),
        providerLinks: mongoProviderLinks((op) => op({ providerLinks }), { maxTimeMS: 1_000 }),
      };
    },
  ],
];

let s: InProcess | undefined;
afterEach(() => s?.close());

async function reasonOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return "OK";
  } catch (err) {
    return (err as { reason?: string }).reason ?? String(err);
  }
}

/** An account with a password, a passkey and a provider link, signed in. */
async function account(svc: InProcess, n: number) {
  const email = `race${n}@example.com`;
  const { tokens } = await svc.ops.accounts.register({ email, password, displayName: "" }, svc.client);
  const caller = await svc.ops.sessions.authenticate({ bearer: tokens?.accessToken ?? "" });
  const authenticator = new SoftwareAuthenticator(origin);
  const { optionsJson } = await svc.ops.passkeys.startRegistration(caller, noReauthentication);
  const passkey = await svc.ops.passkeys.finishRegistration(
    caller,
    { credentialJson: authenticator.create(optionsJson), name: "Key" },
    svc.client,
  );
  const linkId = randomUUID();
  const link = { id: linkId, userId: caller.userId, provider: "test", issuer: "https://idp.example", subject: `s${n}`, email };
  await svc.store.providerLinks.insert({ ...link, createdAt: svc.clock.now() });
  return { caller, passkeyId: passkey.id, linkId, authenticator, accessToken: tokens?.accessToken ?? "" };
}

describe.each(stores)("the last sign-in method, removals racing (%s)", (_name, makeStore) => {
  it("a passkey, a provider and the password removed at once: one stays, the rest say LAST_SIGN_IN_METHOD", async () => {
    const clock = new TestClock();
    s = await startService(env, makeStore(clock), clock);
    const svc = s;
    for (let n = 0; n < 5; n++) {
      const { caller, passkeyId, linkId } = await account(svc, n);
      const outcomes = await Promise.all([
        reasonOf(svc.ops.passkeys.remove(caller, passkeyId, noReauthentication, svc.client)),
        reasonOf(svc.ops.accounts.unlinkAccount(caller, linkId, noReauthentication, svc.client)),
        reasonOf(svc.ops.accounts.unlinkAccount(caller, "password", noReauthentication, svc.client)),
      ]);
      const user = await svc.store.users.findById(caller.userId);
      if (user === null) throw new Error("user gone");
      const left = await countSignInMethods(svc.store, user);
      expect(left, JSON.stringify(outcomes)).toBeGreaterThanOrEqual(1);
      expect(outcomes.filter((o) => o === "OK").length, JSON.stringify(outcomes)).toBe(3 - left);
      for (const o of outcomes) expect(["OK", "LAST_SIGN_IN_METHOD"]).toContain(o);
    }
  });

  it("two at once, one of each: never both", async () => {
    const clock = new TestClock();
    s = await startService(env, makeStore(clock), clock);
    const svc = s;
    const { caller, passkeyId, linkId } = await account(svc, 100);
    await svc.ops.accounts.unlinkAccount(caller, "password", noReauthentication, svc.client);
    const outcomes = await Promise.all([
      reasonOf(svc.ops.passkeys.remove(caller, passkeyId, noReauthentication, svc.client)),
      reasonOf(svc.ops.accounts.unlinkAccount(caller, linkId, noReauthentication, svc.client)),
    ]);
    const user = await svc.store.users.findById(caller.userId);
    expect(await countSignInMethods(svc.store, user!)).toBe(1);
    expect(outcomes.filter((o) => o === "OK")).toHaveLength(1);
    expect(outcomes).toContain("LAST_SIGN_IN_METHOD");
  });
});

// A way in removed takes the sessions it may have opened with it (a session does not record how
// it was opened): every session but the caller's ends, whichever method went.
describe("removing a way in ends the caller's other sessions", () => {
  it.each(["passkey", "provider", "password"] as const)("removing the %s", async (method) => {
    s = await startService(env);
    const svc = s;
    const { caller, passkeyId, linkId, authenticator, accessToken } = await account(
      svc,
      100 + ["passkey", "provider", "password"].indexOf(method),
    );
    // Another session, as one opened with the passkey (by whoever holds it) would be.
    const start = await svc.ops.passkeySignIn.startSignIn(svc.client);
    const other = await svc.ops.passkeySignIn.finishSignIn(
      { credentialJson: authenticator.get(start.optionsJson), rememberMe: true },
      svc.client,
    );

    if (method === "passkey") await svc.ops.passkeys.remove(caller, passkeyId, noReauthentication, svc.client);
    else await svc.ops.accounts.unlinkAccount(caller, method === "provider" ? linkId : "password", noReauthentication, svc.client);

    expect(await reasonOf(svc.ops.sessions.authenticate({ bearer: other.tokens.accessToken }))).toBe("SESSION_REVOKED");
    expect(await reasonOf(svc.ops.sessions.refresh(other.tokens.refreshToken))).not.toBe("OK");
    expect(await reasonOf(svc.ops.sessions.authenticate({ bearer: accessToken }))).toBe("OK");
  });
});

// A removal authenticated before a security change that ended its session (the caller it holds
// carries the generation from before): it must not land. The password's removal is one write with
// a cutoff that keeps the caller, so landing it would end the session that made the change (and
// revive the caller's where the change's cleanup had not yet marked it revoked): it must be
// conditional on the caller passing the cutoff, as endOtherSessions (passkey, provider) is.
describe.each(stores)("removing the password from a session cut off meanwhile (%s)", (_name, makeStore) => {
  const cutoffs = {
    "the owner's RevokeOtherSessions": async (svc: InProcess, owner: string) => {
      await svc.ops.sessions.revokeOthers(await svc.ops.sessions.authenticate({ bearer: owner }));
    },
    "an administrator's SignOutEverywhere": async (svc: InProcess, owner: string) => {
      const { userId } = await svc.ops.sessions.authenticate({ bearer: owner });
      await svc.ops.sessions.endAllOf(userId, { updatedAt: svc.clock.now() });
    },
  };

  it.each(Object.keys(cutoffs) as (keyof typeof cutoffs)[])(
    "after %s: SESSION_REVOKED, the password stays, no session revived",
    async (what) => {
      const clock = new TestClock();
      s = await startService(env, makeStore(clock), clock);
      const svc = s;
      const { caller, accessToken } = await account(svc, 200 + Object.keys(cutoffs).indexOf(what));
      const signedIn = await svc.ops.signIn.login({ email: caller.user.email, password, rememberMe: false }, svc.client);
      if (signedIn.state !== "signed_in") throw new Error("expected a session");
      // The attacker's UnlinkAccount has been authenticated (`caller`); then the change lands.
      await cutoffs[what](svc, signedIn.tokens.accessToken);

      expect(await reasonOf(svc.ops.accounts.unlinkAccount(caller, "password", noReauthentication, svc.client))).toBe("SESSION_REVOKED");
      expect((await svc.store.users.findById(caller.userId))?.passwordHash).not.toBeNull();
      expect(await reasonOf(svc.ops.sessions.authenticate({ bearer: accessToken }))).toBe("SESSION_REVOKED");
      const ownerAfter = what === "the owner's RevokeOtherSessions" ? "OK" : "SESSION_REVOKED";
      expect(await reasonOf(svc.ops.sessions.authenticate({ bearer: signedIn.tokens.accessToken }))).toBe(ownerAfter);
    },
  );

  // A passkey or a provider link is another record than the user's: the cutoffs are read just
  // before it is removed, so such a removal removes nothing either.
  it.each(["passkey", "provider"] as const)(
    "after the owner's RevokeOtherSessions, removing the %s: SESSION_REVOKED, it stays",
    async (method) => {
      const clock = new TestClock();
      s = await startService(env, makeStore(clock), clock);
      const svc = s;
      const { caller, passkeyId, linkId } = await account(svc, 210 + ["passkey", "provider"].indexOf(method));
      const signedIn = await svc.ops.signIn.login({ email: caller.user.email, password, rememberMe: false }, svc.client);
      if (signedIn.state !== "signed_in") throw new Error("expected a session");
      await cutoffs["the owner's RevokeOtherSessions"](svc, signedIn.tokens.accessToken);

      const removing =
        method === "passkey"
          ? svc.ops.passkeys.remove(caller, passkeyId, noReauthentication, svc.client)
          : svc.ops.accounts.unlinkAccount(caller, linkId, noReauthentication, svc.client);
      expect(await reasonOf(removing)).toBe("SESSION_REVOKED");
      expect((await svc.store.passkeys.listForUser(caller.userId)).map((p) => p.id)).toEqual([passkeyId]);
      expect((await svc.store.providerLinks.listForUser(caller.userId)).map((l) => l.id)).toEqual([linkId]);
      expect(await reasonOf(svc.ops.sessions.authenticate({ bearer: signedIn.tokens.accessToken }))).toBe("OK");
    },
  );
});
