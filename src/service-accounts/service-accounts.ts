// Service accounts: credentials for the services behind authd (see keys.ts for the key format).
// Managing them needs the `service_accounts.manage` permission, held by an admin user or by
// another service account; a caller may grant only permissions it holds itself, so the
// permission to manage service accounts is never a way to more rights than one has.
import type { Clock } from "../clock.ts";
import { AuthError, invalidArgument } from "../errors.ts";
import { checkDisplayName, checkId } from "../input.ts";
import type { Logger } from "../log.ts";
import { permissions, requirePermission } from "../permissions/permissions.ts";
import type { ServiceAccountCursor, ServiceAccountRecord, Store } from "../store/port.ts";
import { accountIdOf, apiKeyHash, isAccountId, keyPrefixOf, matchesHash, newAccountId, newApiKey } from "./keys.ts";
import { type Principal, principalName, type ServiceCaller } from "./principal.ts";

export interface ServiceAccountsDeps {
  store: Pick<Store, "serviceAccounts">;
  clock: Clock;
  log: Pick<Logger, "info">;
  /** Every permission name the configuration knows: what a service account may be given. */
  knownPermissions: ReadonlySet<string>;
}

/** A service account as a transport may show it: never its key or the key's hash. */
export interface ServiceAccountView {
  id: string;
  name: string;
  permissions: string[];
  createdBy: string;
  createdAt: Date;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
  keyCreatedAt: Date;
  /** `authd_sk_<id>_`: the public start of its keys. */
  keyPrefix: string;
}

/** A new key and the account it belongs to: the only time the key is ever shown. */
export interface IssuedKey {
  account: ServiceAccountView;
  apiKey: string;
}

export interface ServiceAccountPage {
  accounts: ServiceAccountView[];
  /** Empty on the last page. */
  nextPageToken: string;
}

const maxNameLength = 100;
const maxPermissions = 200;
const defaultPageSize = 50;
const maxPageSize = 100;
// lastUsedAt is written at most once a minute per account, not on every call (as for sessions).
const touchIntervalMs = 60_000;
/** Compared against when the id names no account, so that an unknown id costs what a known one does. */
const absentHash = apiKeyHash("authd_sk_absent");

function viewOf(a: ServiceAccountRecord): ServiceAccountView {
  return {
    id: a.id,
    name: a.name,
    permissions: [...a.permissions],
    createdBy: a.createdBy,
    createdAt: a.createdAt,
    lastUsedAt: a.lastUsedAt,
    revokedAt: a.revokedAt,
    keyCreatedAt: a.keyCreatedAt,
    keyPrefix: keyPrefixOf(a.id),
  };
}

function pageTokenOf(last: ServiceAccountRecord): string {
  return Buffer.from(JSON.stringify({ t: last.createdAt.getTime(), id: last.id }), "utf8").toString("base64url");
}

function cursorOf(pageToken: string): ServiceAccountCursor | undefined {
  if (pageToken === "") return undefined;
  const bad = () => invalidArgument("page_token", "page_token is not one this service gave");
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(pageToken, "base64url").toString("utf8"));
  } catch {
    throw bad();
  }
  const { t, id } = (parsed ?? {}) as { t?: unknown; id?: unknown };
  if (typeof t !== "number" || !Number.isSafeInteger(t) || typeof id !== "string" || !isAccountId(id)) throw bad();
  return { createdAt: new Date(t), id };
}

function pageSizeOf(raw: number): number {
  if (!Number.isInteger(raw) || raw < 0 || raw > maxPageSize) {
    throw invalidArgument("page_size", `page_size must be between 0 and ${maxPageSize}`);
  }
  return raw === 0 ? defaultPageSize : raw;
}

/** The account id of a request: one this service could have made, else NOT_FOUND without a read. */
function accountIdFrom(raw: string): string {
  const id = checkId("service_account_id", raw);
  if (!isAccountId(id)) throw new AuthError("NOT_FOUND", "no such service account", { field: "service_account_id" });
  return id;
}

export function createServiceAccounts(deps: ServiceAccountsDeps) {
  const { store, clock, log } = deps;
  const manage = (actor: Principal) => requirePermission(actor, permissions.serviceAccountsManage);

  /** The requested permissions, each known and held by the actor; sorted, each once. */
  function grantable(actor: Principal, requested: readonly string[]): string[] {
    if (requested.length > maxPermissions) throw invalidArgument("permissions", `at most ${maxPermissions} permissions`);
    const unique = [...new Set(requested)].sort();
    for (const p of unique) {
      if (!deps.knownPermissions.has(p)) throw invalidArgument("permissions", `"${p}" is not a configured permission`);
    }
    for (const p of unique) {
      if (!actor.permissions.includes(p)) {
        throw new AuthError("PERMISSION_DENIED", `a service account can be given only permissions its creator holds; "${p}" is not one`, {
          field: "permissions",
        });
      }
    }
    return unique;
  }

  /**
   * The active account whose current key this is, or null: for any other key (malformed, unknown
   * id, wrong secret, rotated away, revoked). Nothing is written.
   */
  async function inspect(key: string): Promise<ServiceAccountView | null> {
    const id = accountIdOf(key);
    if (id === null) return null;
    const account = await store.serviceAccounts.findById(id);
    const matches = matchesHash(key, account?.keyHash ?? absentHash);
    return account !== null && matches && account.revokedAt === null ? viewOf(account) : null;
  }

  /** The caller an active account is (its use recorded about once a minute); INVALID_TOKEN for none. */
  async function callerOf(account: ServiceAccountView | null): Promise<ServiceCaller> {
    if (account === null) throw new AuthError("INVALID_TOKEN", "the service credential is invalid or revoked");
    const now = clock.now();
    if (account.lastUsedAt === null || now.getTime() - account.lastUsedAt.getTime() > touchIntervalMs) {
      await store.serviceAccounts.touch(account.id, now);
    }
    return { kind: "service", accountId: account.id, name: account.name, permissions: account.permissions };
  }

  return {
    async create(actor: Principal, input: { name: string; permissions: readonly string[] }): Promise<IssuedKey> {
      manage(actor);
      const name = checkDisplayName("name", input.name);
      if (name.length === 0) throw invalidArgument("name", "name is required");
      if ([...name].length > maxNameLength) throw invalidArgument("name", `name must be at most ${maxNameLength} characters`);
      const granted = grantable(actor, input.permissions);
      const now = clock.now();
      const id = newAccountId();
      const apiKey = newApiKey(id);
      const record: ServiceAccountRecord = {
        id,
        name,
        permissions: granted,
        keyHash: apiKeyHash(apiKey),
        keyCreatedAt: now,
        createdBy: principalName(actor),
        createdAt: now,
        lastUsedAt: null,
        revokedAt: null,
      };
      await store.serviceAccounts.insert(record);
      log.info(
        { event: "service_account.created", serviceAccountId: id, name, permissions: granted, by: record.createdBy },
        "service account created",
      );
      return { account: viewOf(record), apiKey };
    },

    async list(actor: Principal, input: { pageSize: number; pageToken: string }): Promise<ServiceAccountPage> {
      manage(actor);
      const size = pageSizeOf(input.pageSize);
      const after = cursorOf(input.pageToken);
      // One more than asked: whether it comes back says whether there is a next page.
      const found = await store.serviceAccounts.list(size + 1, after);
      const page = found.slice(0, size);
      const last = page[page.length - 1];
      return { accounts: page.map(viewOf), nextPageToken: found.length > size && last !== undefined ? pageTokenOf(last) : "" };
    },

    async revoke(actor: Principal, rawId: string): Promise<ServiceAccountView> {
      manage(actor);
      const id = accountIdFrom(rawId);
      const revoked = await store.serviceAccounts.revoke(id, clock.now());
      if (revoked === null) throw new AuthError("NOT_FOUND", "no such active service account", { field: "service_account_id" });
      log.info({ event: "service_account.revoked", serviceAccountId: id, by: principalName(actor) }, "service account revoked");
      return viewOf(revoked);
    },

    async rotateKey(actor: Principal, rawId: string): Promise<IssuedKey> {
      manage(actor);
      const id = accountIdFrom(rawId);
      const apiKey = newApiKey(id);
      const rotated = await store.serviceAccounts.replaceKey(id, apiKeyHash(apiKey), clock.now());
      if (rotated === null) throw new AuthError("NOT_FOUND", "no such active service account", { field: "service_account_id" });
      log.info({ event: "service_account.key_rotated", serviceAccountId: id, by: principalName(actor) }, "service account key rotated");
      return { account: viewOf(rotated), apiKey };
    },

    inspect,

    /**
     * A service calling with its key: the caller it is, checked against the stored record on every
     * call, so a revocation or rotation counts on the very next one. INVALID_TOKEN for any key that
     * is not an active account's current one, without saying which it was.
     */
    async authenticate(key: string): Promise<ServiceCaller> {
      return callerOf(await inspect(key));
    },

    /**
     * A service calling with a TLS client certificate that the configured client CA verified,
     * naming the account by its id (the certificate's subject CN): the CA vouches for the name, and
     * the account must be active now. Any other name gets the same INVALID_TOKEN as a bad key.
     */
    async authenticateCertificate(certifiedId: string): Promise<ServiceCaller> {
      const account = isAccountId(certifiedId) ? await store.serviceAccounts.findById(certifiedId) : null;
      return callerOf(account === null || account.revokedAt !== null ? null : viewOf(account));
    },
  };
}

export type ServiceAccounts = ReturnType<typeof createServiceAccounts>;
