// The role map (ROLES / ROLES_FILE) and the permission check every admin operation makes.
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config.ts";
import { AuthError } from "../../src/errors.ts";
import {
  createPermissionLookup,
  defaultRoleMap,
  legacyRole,
  parseRoleMap,
  permissionsOf,
  requirePermission,
} from "../../src/permissions/permissions.ts";

const noFiles = (p: string): string => {
  throw new Error(`no such file ${p}`);
};

describe("the role map", () => {
  it("defaults to user (nothing) and admin (the admin permissions)", () => {
    const { roles } = loadConfig({}, noFiles);
    expect(roles).toBe(defaultRoleMap);
    expect(Object.fromEntries(roles)).toEqual({
      user: [],
      admin: ["users.read", "users.write", "audit.read", "service_accounts.manage", "tokens.introspect"],
    });
  });

  it("is read from ROLES or from the file ROLES_FILE names, permissions de-duplicated and sorted", () => {
    const text = '{"user": ["profile.read"], "support": ["users.read", "audit.read", "users.read"]}';
    const inline = loadConfig({ ROLES: text }, noFiles).roles;
    expect(Object.fromEntries(inline)).toEqual({ user: ["profile.read"], support: ["audit.read", "users.read"] });
    const fromFile = loadConfig({ ROLES_FILE: "/etc/authd/roles.json" }, (p) => {
      expect(p).toBe("/etc/authd/roles.json");
      return text;
    }).roles;
    expect(fromFile).toEqual(inline);
  });

  it.each([
    ["not JSON", "{user: []}", /ROLES is not valid JSON/],
    ["an array", '["user"]', /ROLES must be a JSON object from role name/],
    ["no user role", '{"admin": ["users.read"]}', /ROLES must define the role "user"/],
    ["a bad role name", '{"user": [], "Admin!": []}', /ROLES has an invalid role name "Admin!"/],
    ["a permission list that is not a list", '{"user": "users.read"}', /role "user" must map to a list/],
    ["a permission that is not a string", '{"user": [1]}', /role "user" has an invalid permission 1/],
    ["a permission with spaces", '{"user": ["users read"]}', /role "user" has an invalid permission "users read"/],
  ])("refuses to start with %s, naming the variable", (_what, text, message) => {
    expect(() => loadConfig({ ROLES: text }, noFiles)).toThrow(ConfigError);
    expect(() => loadConfig({ ROLES: text }, noFiles)).toThrow(message);
  });

  it("refuses a map whose names could not all fit in an access token, which a user of every role must still be able to use", async () => {
    const many = Object.fromEntries(
      Array.from({ length: 30 }, (_, i) => [`role-${i}`, Array.from({ length: 10 }, (_, j) => `app.resource-${i}-${j}.read`)]),
    );
    expect(() => loadConfig({ ROLES: JSON.stringify({ user: [], ...many }) }, noFiles)).toThrow(/together they must fit in 2048/);
    // The largest map that is accepted gives tokens that verify: every role at once.
    const { createAccessTokens } = await import("../../src/tokens/access.ts");
    const { loadKeyRing } = await import("../../src/tokens/keys.ts");
    const fits = Object.fromEntries(
      Array.from({ length: 7 }, (_, i) => [`role-${i}`, Array.from({ length: 10 }, (_, j) => `app.resource-${i}-${j}.read`)]),
    );
    const map = loadConfig({ ROLES: JSON.stringify({ user: [], ...fits }) }, noFiles).roles;
    const roles = [...map.keys()];
    const tokens = createAccessTokens(
      (await loadKeyRing({})).ring,
      { issuer: "authd", audience: "authd", ttlSeconds: 900, cacheSize: 0 },
      { now: () => new Date() },
    );
    const { token } = await tokens.issue({ userId: "usr_1", sessionId: "ses_1", roles, permissions: permissionsOf(roles, map) });
    expect((await tokens.verify(token)).permissions).toHaveLength(70);
  });

  it("names ROLES_FILE when the file is bad or unreadable, and refuses both at once", () => {
    expect(() => loadConfig({ ROLES_FILE: "/r.json" }, () => "[]")).toThrow(/^invalid configuration: ROLES_FILE must be a JSON object/);
    expect(() => loadConfig({ ROLES_FILE: "/nope.json" }, noFiles)).toThrow(/ROLES_FILE cannot be read: \/nope.json/);
    expect(() => loadConfig({ ROLES: '{"user": []}', ROLES_FILE: "/r.json" }, noFiles)).toThrow(/ROLES_FILE cannot be combined with ROLES/);
  });
});

describe("permissions", () => {
  const map = parseRoleMap('{"user": ["profile.read"], "admin": ["users.read", "users.write"], "support": ["users.read"]}');

  it("are the union of what the roles grant, sorted, each once; an unknown role grants nothing", () => {
    expect(permissionsOf(["user"], map)).toEqual(["profile.read"]);
    expect(permissionsOf(["support", "admin", "user"], map)).toEqual(["profile.read", "users.read", "users.write"]);
    expect(permissionsOf(["removed-since"], map)).toEqual([]);
    expect(permissionsOf([], map)).toEqual([]);
  });

  it("the lookup the live check uses gives the same answers, remembered per combination and bounded", () => {
    const lookup = createPermissionLookup(map, 2);
    const first = lookup(["admin", "user"]);
    expect(first).toEqual(permissionsOf(["admin", "user"], map));
    expect(lookup(["admin", "user"])).toBe(first);
    expect(Object.isFrozen(first)).toBe(true);
    expect(lookup(["support"])).toEqual(["users.read"]);
    // A third combination starts afresh: still right, a new array.
    expect(lookup(["user"])).toEqual(["profile.read"]);
    const again = lookup(["admin", "user"]);
    expect(again).toEqual(first);
    expect(again).not.toBe(first);
  });

  it("requirePermission passes a caller who holds it and refuses others with PERMISSION_DENIED", () => {
    expect(() => requirePermission({ permissions: ["users.read"] }, "users.read")).not.toThrow();
    let thrown: unknown;
    try {
      requirePermission({ permissions: ["users.read"] }, "users.write");
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(AuthError);
    expect(thrown).toMatchObject({ reason: "PERMISSION_DENIED", status: "permission_denied" });
    expect((thrown as Error).message).toContain("users.write");
  });

  it("the legacy REST shapes show one role: the first other than user, else user", () => {
    expect(legacyRole(["user"])).toBe("user");
    expect(legacyRole([])).toBe("user");
    expect(legacyRole(["admin", "user"])).toBe("admin");
  });
});
