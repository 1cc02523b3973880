// `npm run admin -- grant <email>`: the grant itself over the memory store, and the command's
// refusals (its usage, and the embedded store it cannot reach) as an operator meets them.
import { spawnSync } from "node:child_process";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { grantAdmin } from "../../src/admin/bootstrap.ts";
import { repoRoot } from "../support/harness.ts";
import { startService, type InProcess } from "../support/service.ts";

const password = "correct horse battery staple";

describe("grantAdmin", () => {
  let s: InProcess;
  const grant = (email: string, allowUnverified = false) =>
    grantAdmin({ users: s.store.users, clock: s.clock, audit: s.service.audit }, email, { allowUnverified });
  beforeAll(async () => {
    s = await startService({ EMAIL_VERIFICATION_REQUIRED: "false" });
  });
  afterAll(() => s.close());

  it("grants a verified account the admin role, once, and audits it", async () => {
    const { user } = await s.ops.accounts.register({ email: "ops@example.com", password, displayName: "" }, s.client);
    await s.store.users.update(user.id, { emailVerified: true });
    expect(await grant(" OPS@example.com ")).toEqual({ outcome: "granted", userId: user.id, roles: ["admin", "user"] });
    expect((await s.store.users.findById(user.id))?.roles).toEqual(["admin", "user"]);
    expect(await grant("ops@example.com")).toMatchObject({ outcome: "already_admin" });
    const events = await s.store.audit.list({ targetUserId: user.id, before: null, limit: 5, now: s.clock.now() });
    expect(events.map((e) => [e.action, e.actor.kind, e.client.userAgent])).toEqual([["cli.grant_admin", "system", "npm run admin"]]);
    // The new admin's very next call has the permissions.
    const login = await s.ops.signIn.login({ email: "ops@example.com", password, rememberMe: false }, s.client);
    if (login.state !== "signed_in") throw new Error("not signed in");
    expect((await s.ops.sessions.authenticate({ bearer: login.tokens.accessToken })).permissions).toContain("users.write");
  });

  it("refuses an unknown address, and an unverified one unless told otherwise", async () => {
    await expect(grant("nobody@example.com")).rejects.toThrow("no account has the email address nobody@example.com");
    const { user } = await s.ops.accounts.register({ email: "unverified@example.com", password, displayName: "" }, s.client);
    await expect(grant("unverified@example.com")).rejects.toThrow(/is not verified; verify it first, or pass --unverified/);
    expect((await s.store.users.findById(user.id))?.roles).toEqual(["user"]);
    expect((await grant("unverified@example.com", true)).outcome).toBe("granted");
  });
});

describe("the command", () => {
  const run = (args: string[], env: Record<string, string> = {}) =>
    spawnSync(process.execPath, [path.join(repoRoot, "scripts/admin.ts"), ...args], {
      encoding: "utf8",
      env: { PATH: process.env["PATH"] ?? "", ...env },
      timeout: 60_000,
    });

  it("prints its usage for anything but grant <email>", () => {
    for (const args of [
      ["revoke", "a@example.com"],
      ["grant", "a@example.com", "extra"],
    ]) {
      const res = run(args);
      expect([res.status, res.stderr.trim()]).toEqual([64, "usage: npm run admin -- grant <email> [--unverified]"]);
    }
  }, 60_000);

  it("needs MongoDB: the embedded store lives in the server process", () => {
    const res = run(["grant", "a@example.com"]);
    expect(res.status).toBe(78);
    expect(res.stderr).toMatch(/MONGODB_URI is not set: .*use ADMIN_EMAILS/);
  }, 60_000);

  it("stops on bad configuration, naming the variable", () => {
    const res = run(["grant", "a@example.com"], { ROLES: "[]" });
    expect([res.status, res.stderr.trim()]).toEqual([78, expect.stringMatching(/^invalid configuration: ROLES must be a JSON object/)]);
  }, 60_000);
});
