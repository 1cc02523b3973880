// The forward-auth operation in-process: the live check decides, the requirement is checked
// before anyone is authenticated, and requirements only add up.
import { describe, expect, it } from "vitest";
import { AuthError } from "../../src/errors.ts";
import { checkRequiredPermissions, createForwardAuth, maxRequiredPermissions } from "../../src/forward-auth/forward-auth.ts";
import type { Caller } from "../../src/sessions/caller.ts";
import type { Credential } from "../../src/sessions/sessions.ts";

const caller: Caller = {
  userId: "u1",
  sessionId: "s1",
  signedInAt: new Date(0),
  generations: { user: 0, twoFactor: 0 },
  roles: ["support", "user"],
  permissions: ["profile.read", "users.read"],
  user: {} as Caller["user"],
  twoFactorEnabled: false,
};

function sessionsSeeing(calls: Credential[], outcome: () => Caller = () => caller) {
  return {
    async authenticate(credential: Credential): Promise<Caller> {
      calls.push(credential);
      return outcome();
    },
  };
}

async function reasonOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    if (err instanceof AuthError) return err.reason;
    throw err;
  }
  throw new Error("expected a refusal");
}

describe("forward auth operation", () => {
  it("answers the live session's identity, asking sessions.authenticate with the credential as given", async () => {
    const calls: Credential[] = [];
    const forward = createForwardAuth({ sessions: sessionsSeeing(calls) });
    const identity = await forward.check({ credential: { bearer: "t" }, requiredPermissions: [] });
    expect(identity).toEqual({ userId: "u1", sessionId: "s1", roles: ["support", "user"], permissions: ["profile.read", "users.read"] });
    expect(calls).toEqual([{ bearer: "t" }]);
  });

  it("passes on the live check's refusal unchanged", async () => {
    const forward = createForwardAuth({
      sessions: sessionsSeeing([], () => {
        throw new AuthError("SESSION_REVOKED", "ended");
      }),
    });
    expect(await reasonOf(forward.check({ credential: { cookie: "c" }, requiredPermissions: [] }))).toBe("SESSION_REVOKED");
  });

  it("refuses a malformed or oversized requirement before authenticating anyone", async () => {
    const calls: Credential[] = [];
    const forward = createForwardAuth({ sessions: sessionsSeeing(calls) });
    for (const bad of [["Users.Read"], ["a b"], ["x".repeat(129)], Array.from({ length: maxRequiredPermissions + 1 }, (_, i) => `p${i}`)]) {
      expect(await reasonOf(forward.check({ credential: { bearer: "t" }, requiredPermissions: bad }))).toBe("INVALID_ARGUMENT");
    }
    expect(calls).toEqual([]);
  });

  it("reads requirements as a set: blanks dropped, duplicates once", () => {
    expect(checkRequiredPermissions([" users.read", "", "users.read ", "audit.read"])).toEqual(["users.read", "audit.read"]);
  });

  it("lets through a caller holding every required permission, and refuses one missing any", async () => {
    const forward = createForwardAuth({ sessions: sessionsSeeing([]) });
    const check = (requiredPermissions: string[]) => forward.check({ credential: { bearer: "t" }, requiredPermissions });
    expect((await check(["users.read"])).userId).toBe("u1");
    expect((await check(["users.read", "profile.read"])).userId).toBe("u1");
    expect(await reasonOf(check(["users.write"]))).toBe("PERMISSION_DENIED");
    expect(await reasonOf(check(["users.read", "users.write"]))).toBe("PERMISSION_DENIED");
  });
});
