// Roles and the permissions they grant. A user holds roles (stored on the user record); what a
// role may do is configuration (ROLES or ROLES_FILE), parsed once at start-up into a RoleMap, so
// changing what "admin" means needs a restart but no database change. Operations ask for a
// permission, never for a role: a deployment may grant `users.read` to a "support" role without
// any code knowing that role.
import { AuthError } from "../errors.ts";
import { defaultRole } from "../store/port.ts";

export { defaultRole };

/** Role name → the permissions it grants. Every map has the default role, `user`. */
export type RoleMap = ReadonlyMap<string, readonly string[]>;

/** The role ADMIN_EMAILS grants. */
export const adminRole = "admin";

/** Permissions the service itself checks; a deployment may grant more for its own services. */
export const permissions = {
  usersRead: "users.read",
  usersWrite: "users.write",
  auditRead: "audit.read",
  serviceAccountsManage: "service_accounts.manage",
  /** TokenService.IntrospectToken and POST /oauth2/introspect (src/introspection/). */
  tokensIntrospect: "tokens.introspect",
} as const;

/** The map used when neither ROLES nor ROLES_FILE is set. */
export const defaultRoleMap: RoleMap = new Map<string, readonly string[]>([
  [defaultRole, []],
  [
    adminRole,
    [permissions.usersRead, permissions.usersWrite, permissions.auditRead, permissions.serviceAccountsManage, permissions.tokensIntrospect],
  ],
]);

/**
 * Every permission name the service knows: its own and every one the role map grants. What a
 * service account may be given (src/service-accounts/), so that a typo is refused, not stored.
 */
export function permissionNames(map: RoleMap): ReadonlySet<string> {
  return new Set([...Object.values(permissions), ...[...map.values()].flat()]);
}

// Names travel in tokens and HTTP headers (forward auth): a conservative alphabet keeps them safe
// there without escaping.
const roleName = /^[a-z][a-z0-9_-]{0,63}$/;
const permissionName = /^[a-z][a-z0-9_.:-]{0,127}$/;
const maxRoles = 100;
const maxPermissionsPerRole = 200;
/** Room in an access token for the roles and permissions claims (see parseRoleMap). */
const maxClaimCharacters = 2048;

/** Whether a string can name a role (the alphabet of ROLES' keys). */
export const isRoleName = (name: string): boolean => roleName.test(name);

/**
 * Parses the role map's JSON text: an object from role name to an array of permission names,
 * which must include the default role. Throws an Error whose message says what is wrong.
 */
export function parseRoleMap(text: string): RoleMap {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new Error('is not valid JSON (expected e.g. {"user": [], "admin": ["users.read"]})');
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new Error('must be a JSON object from role name to a list of permissions, e.g. {"user": [], "admin": ["users.read"]}');
  }
  const entries = Object.entries(value);
  if (entries.length > maxRoles) throw new Error(`must define at most ${maxRoles} roles`);
  const map = new Map<string, readonly string[]>();
  for (const [role, granted] of entries) {
    if (!roleName.test(role)) throw new Error(`has an invalid role name "${role}" (lower-case letters, digits, _ and -, 64 at most)`);
    if (!Array.isArray(granted) || granted.length > maxPermissionsPerRole) {
      throw new Error(`role "${role}" must map to a list of at most ${maxPermissionsPerRole} permission names`);
    }
    for (const p of granted) {
      if (typeof p !== "string" || !permissionName.test(p)) {
        throw new Error(`role "${role}" has an invalid permission ${JSON.stringify(p)} (lower-case letters, digits, _ . : and -)`);
      }
    }
    map.set(role, [...new Set(granted as string[])].sort());
  }
  if (!map.has(defaultRole)) throw new Error(`must define the role "${defaultRole}", which every new account has`);
  // A user holding every role carries every name in each access token, whose verification refuses
  // anything over 4096 characters (tokens/access.ts): the names must leave room for the rest.
  const all = [...map.keys(), ...new Set([...map.values()].flat())];
  if (JSON.stringify(all).length > maxClaimCharacters) {
    throw new Error(
      `names ${all.length} roles and permissions, ${JSON.stringify(all).length} characters of JSON; together they must fit in ${maxClaimCharacters} (they travel in every access token)`,
    );
  }
  return map;
}

/**
 * The permissions the roles grant together, sorted, each once. A role the map no longer defines
 * (removed from the configuration since it was given) grants nothing.
 */
export function permissionsOf(roles: readonly string[], map: RoleMap): string[] {
  const granted = new Set<string>();
  for (const role of roles) for (const p of map.get(role) ?? []) granted.add(p);
  return [...granted].sort();
}

/**
 * permissionsOf, remembered per combination of roles (frozen, shared): the live check asks on
 * every authenticated call, and accounts share a handful of combinations. Bounded: past
 * `maxEntries` combinations it starts afresh.
 */
export function createPermissionLookup(map: RoleMap, maxEntries = 1024): (roles: readonly string[]) => readonly string[] {
  const known = new Map<string, readonly string[]>();
  return (roles) => {
    // Role names never hold a line feed (isRoleName), so the joined names tell combinations apart.
    const key = roles.join("\n");
    let found = known.get(key);
    if (found === undefined) {
      found = Object.freeze(permissionsOf(roles, map));
      if (known.size >= maxEntries) known.clear();
      known.set(key, found);
    }
    return found;
  };
}

/** Roles as stored: each once, in a stable order (the default role never needs to be repeated). */
export function normalizeRoles(roles: readonly string[]): string[] {
  return [...new Set(roles)].sort();
}

/**
 * The roles a user should have once ADMIN_EMAILS is applied, or null when nothing changes. Only
 * a verified address is promoted: anyone may register any address, and with verification off an
 * unverified account proves nothing about who holds the mailbox.
 */
export function promotedRoles(
  user: { email: string; emailVerified: boolean; roles: readonly string[] },
  adminEmails: readonly string[],
): string[] | null {
  if (!user.emailVerified || !adminEmails.includes(user.email) || user.roles.includes(adminRole)) return null;
  return normalizeRoles([...user.roles, adminRole]);
}

/** Whoever is calling, as far as permissions go (a signed-in user, later a service account). */
export interface Permitted {
  readonly permissions: readonly string[];
}

/** Throws PERMISSION_DENIED unless the caller holds the permission. */
export function requirePermission(caller: Permitted, permission: string): void {
  if (!caller.permissions.includes(permission)) {
    throw new AuthError("PERMISSION_DENIED", `this call needs the permission "${permission}"`);
  }
}

/**
 * The one role the legacy REST shapes show (auth-router's and root-auth-totp's `role`): the first
 * role other than the default, else the default.
 */
export function legacyRole(roles: readonly string[]): string {
  return roles.find((r) => r !== defaultRole) ?? defaultRole;
}
