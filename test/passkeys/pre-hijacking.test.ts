// The pre-hijacking defence against a passkey sign-in racing the proof of the address: someone
// registered the address unverified and added a passkey; the mailbox's owner resets the password
// (or signs in by email). A passkey sign-in that lands right after the proof's write (which ends
// the other sessions) must not come away with a live session. The hook runs that sign-in inside
// the proof, just after its write, so the interleaving is the same on every run.
import { afterEach, describe, expect, it } from "vitest";
import type { Caller } from "../../src/sessions/caller.ts";
import { createMemoryStore } from "../../src/store/memory.ts";
import type { Store, UserStore } from "../../src/store/port.ts";
import { noReauthentication } from "../../src/two-factor/reauthentication.ts";
import { TestClock } from "../support/harness.ts";
import { startService, type InProcess } from "../support/service.ts";
import { SoftwareAuthenticator } from "../support/software-authenticator.ts";

const origin = "https://app.example.com";
const env = {
  EMAIL_VERIFICATION_REQUIRED: "false",
  WEBAUTHN_RP_ID: "example.com",
  WEBAUTHN_ORIGINS: origin,
  EMAIL_SIGN_IN: "code",
};

let s: InProcess | undefined;
afterEach(() => s?.close());

/** A memory store whose users.update runs `afterProof` once, right after a write that verifies the address. */
function hookedStore(clock: TestClock, afterProof: { run?: () => Promise<void> }): Store {
  const memory = createMemoryStore({ clock });
  const users: UserStore = {
    ...memory.users,
    async update(id, patch, options) {
      const updated = await memory.users.update(id, patch, options);
      const run = afterProof.run;
      if (patch.emailVerified === true && run !== undefined) {
        afterProof.run = undefined;
        await run();
      }
      return updated;
    },
  };
  return { ...memory, users };
}

async function outcome(p: Promise<unknown>): Promise<unknown> {
  try {
    return await p;
  } catch (err) {
    return (err as { reason?: string }).reason ?? err;
  }
}

describe.each(["ResetPassword", "an email sign-in"])("a passkey sign-in racing the address's proof by %s", (how) => {
  it("gets no live session", async () => {
    const clock = new TestClock();
    const afterProof: { run?: () => Promise<void> } = {};
    s = await startService(env, hookedStore(clock, afterProof), clock);
    const svc = s;
    const email = "taken@example.com";
    const { tokens } = await svc.ops.accounts.register({ email, password: "the intruder's passphrase", displayName: "" }, svc.client);
    const intruderCaller: Caller = await svc.ops.sessions.authenticate({ bearer: tokens?.accessToken ?? "" });
    const intruder = new SoftwareAuthenticator(origin);
    const { optionsJson } = await svc.ops.passkeys.startRegistration(intruderCaller, noReauthentication);
    await svc.ops.passkeys.finishRegistration(intruderCaller, { credentialJson: intruder.create(optionsJson), name: "Theirs" }, svc.client);

    let raced: unknown;
    afterProof.run = async () => {
      const started = await svc.ops.passkeySignIn.startSignIn(svc.client);
      const credentialJson = intruder.get(started.optionsJson);
      raced = await outcome(svc.ops.passkeySignIn.finishSignIn({ credentialJson, rememberMe: false }, svc.client));
    };
    if (how === "ResetPassword") {
      await svc.ops.accounts.requestPasswordReset(email, svc.client);
      await svc.service.background.drain();
      const code = svc.outbox.latest(email, "password_reset")?.code ?? "";
      await svc.ops.accounts.resetPassword(code, "the owner's own passphrase", svc.client);
    } else {
      await svc.ops.emailSignIn.request(email, svc.client);
      await svc.service.background.drain();
      const code = svc.outbox.latest(email, "email_sign_in")?.code ?? "";
      await svc.ops.emailSignIn.complete({ email, code, rememberMe: false }, svc.client);
    }
    expect(afterProof.run).toBeUndefined();
    if (typeof raced === "object" && raced !== null && "tokens" in raced) {
      const bearer = (raced as { tokens: { accessToken: string } }).tokens.accessToken;
      expect(await outcome(svc.ops.sessions.authenticate({ bearer }))).toBe("SESSION_REVOKED");
    } else {
      expect(raced).toBe("INVALID_PASSKEY");
    }
  });
});
