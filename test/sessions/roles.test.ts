// Roles reach callers and tokens: the caller's roles and permissions come from the user record
// the live check reads on every call (a change counts at once), and the token's claims from the
// record at issue (a change reaches them at the next refresh).
import { decodeJwt } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startService, type InProcess } from "../support/service.ts";

const password = "correct horse battery staple";
const roles = '{"user": ["profile.read"], "admin": ["users.read", "users.write"], "support": ["users.read"]}';

describe("roles in callers and tokens", () => {
  let s: InProcess;
  beforeAll(async () => {
    s = await startService({ EMAIL_VERIFICATION_REQUIRED: "false", ROLES: roles });
  });
  afterAll(() => s.close());

  it("a new account has the role user: in the record, the caller, the token and GetCurrentUser's view", async () => {
    const { user, tokens } = await s.ops.accounts.register({ email: "new@example.com", password, displayName: "" }, s.client);
    expect(user.roles).toEqual(["user"]);
    expect((await s.store.users.findById(user.id))!.roles).toEqual(["user"]);
    const claims = decodeJwt(tokens!.accessToken);
    expect([claims["roles"], claims["permissions"]]).toEqual([["user"], ["profile.read"]]);
    const caller = await s.ops.sessions.authenticate({ bearer: tokens!.accessToken });
    expect([caller.roles, caller.permissions]).toEqual([["user"], ["profile.read"]]);
    expect((await s.ops.accounts.getUser(caller)).roles).toEqual(["user"]);
  });

  it("the caller carries the user record the live check read, without its password hash", async () => {
    const { user, tokens } = await s.ops.accounts.register({ email: "hash@example.com", password, displayName: "Ada" }, s.client);
    expect((await s.store.users.findById(user.id))!.passwordHash).toMatch(/^\$argon2id\$/);
    const caller = await s.ops.sessions.authenticate({ bearer: tokens!.accessToken });
    expect(caller.user).toMatchObject({ id: user.id, email: "hash@example.com", displayName: "Ada" });
    expect(caller.user).not.toHaveProperty("passwordHash");
    expect(JSON.stringify(caller)).not.toContain("argon2");
    // The answer is the record as it is now: a change before the call shows in it.
    await s.store.users.update(user.id, { displayName: "Ada L." });
    const later = await s.ops.sessions.authenticate({ bearer: tokens!.accessToken });
    expect((await s.ops.accounts.getUser(later)).displayName).toBe("Ada L.");
  });

  it("a change of roles counts at once for the live check, and in tokens from the next refresh", async () => {
    const { user, tokens } = await s.ops.accounts.register({ email: "promoted@example.com", password, displayName: "" }, s.client);
    await s.store.users.update(user.id, { roles: ["support", "user"] });
    // The same, older token: its claims still say user, but the caller is read from the record.
    expect(decodeJwt(tokens!.accessToken)["roles"]).toEqual(["user"]);
    const caller = await s.ops.sessions.authenticate({ bearer: tokens!.accessToken });
    expect([caller.roles, caller.permissions]).toEqual([
      ["support", "user"],
      ["profile.read", "users.read"],
    ]);
    const refreshed = await s.ops.sessions.refresh(tokens!.refreshToken);
    const claims = decodeJwt(refreshed.accessToken);
    expect([claims["roles"], claims["permissions"]]).toEqual([
      ["support", "user"],
      ["profile.read", "users.read"],
    ]);
    // Taken away again: the next call has nothing more than a user, whatever the token says.
    await s.store.users.update(user.id, { roles: ["user"] });
    const demoted = await s.ops.sessions.authenticate({ bearer: refreshed.accessToken });
    expect([demoted.roles, demoted.permissions]).toEqual([["user"], ["profile.read"]]);
  });

  it("a role the configuration no longer defines grants nothing", async () => {
    const { user, tokens } = await s.ops.accounts.register({ email: "legacy@example.com", password, displayName: "" }, s.client);
    await s.store.users.update(user.id, { roles: ["retired"] });
    const caller = await s.ops.sessions.authenticate({ bearer: tokens!.accessToken });
    expect([caller.roles, caller.permissions]).toEqual([["retired"], []]);
  });
});
