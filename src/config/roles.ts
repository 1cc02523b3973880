import { AuthError } from "../errors.ts";
import { normalizeEmail } from "../input.ts";
import { defaultRoleMap, parseRoleMap, type RoleMap } from "../permissions/permissions.ts";
import { ConfigError, type Env, list, parsedSecret } from "./parse.ts";

/** ROLES (inline JSON) or ROLES_FILE (a path to it), never both; the built-in map otherwise. */
export function roles(env: Env, readFile: (path: string) => string): RoleMap {
  return parsedSecret(env, "ROLES", readFile, parseRoleMap) ?? defaultRoleMap;
}

/** ADMIN_EMAILS: comma-separated addresses, normalized as sign-in normalizes them. */
export function adminEmails(env: Env): string[] {
  return (list(env, "ADMIN_EMAILS") ?? []).map((raw) => {
    try {
      return normalizeEmail("ADMIN_EMAILS", raw);
    } catch (err) {
      if (err instanceof AuthError) throw new ConfigError("ADMIN_EMAILS", `contains an invalid email address "${raw}"`);
      throw err;
    }
  });
}
