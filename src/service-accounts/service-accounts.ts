// Service accounts: credentials for the services behind authd (see keys.ts for the key format).
// Managing them needs the `service_accounts.manage` permission, held by an admin user or by
// another service account; a caller may grant only permissions it holds itself, so the
// permission to manage service accounts is never a way to more rights than one has. Every
// management call, allowed or not, becomes one audit event (src/audit/), which never holds a key.
//
// A key outlives the session that made it (a password change or sign-out everywhere ends the
// session, not the key): so a user who makes one, by creating an account or rotating its key,
// proves who they are as for other high-value changes (a recent sign-in, or a reauthentication
// proof), and is mailed about it. A stolen access token alone is not enough to make a key.
//
// The permissions an account holds count only while the configuration still knows them: one
// removed from ROLES is held by no account from the next start, as by no user (the record keeps
// it, so a name put back in ROLES gives it back).
import { type AuditLog, withAuditOutcome } from "../audit/audit.ts";
import type { Clock } from "../clock.ts";
import { AuthError, invalidArgument } from "../errors.ts";
import { checkDisplayName, checkId } from "../input.ts";
import { permissions, requirePermission } from "../permissions/permissions.ts";
import { type PageTokens, pageSizeOf } from "../paging/page-tokens.ts";
import type { Notifier } from "../mail/notifications.ts";
import { requireUser, type ClientInfo } from "../sessions/caller.ts";
import type { ServiceAccountCursor, ServiceAccountRecord, Store } from "../store/port.ts";
import { noReauthentication, type Reauthentication } from "../two-factor/reauthentication.ts";
import type { TwoFactor } from "../two-factor/two-factor.ts";
import { accountIdOf, apiKeyHash, isAccountId, keyPrefixOf, matchesHash, newAccountId, newApiKey } from "./keys.ts";
import { auditActorOf, type Principal, principalName, type ServiceCaller } from "./principal.ts";

export interface ServiceAccountsDeps {
  store: Pick<Store, "serviceAccounts" | "users">;
  clock: Clock;
  audit: Pick<AuditLog, "record">;
  /** Signs ListServiceAccounts' page tokens (AIP-158: opaque and tamper-proof): AdminService's. */
  pageTokens: PageTokens;
  /** Every permission name the configuration knows: what a service account may be given, and holds. */
  knownPermissions: ReadonlySet<string>;
  /** The step-up check of a user who makes a key. */
  twoFactor: Pick<TwoFactor, "confirmIdentity">;
  /** Mails the user who made a key. */
  notifier: Notifier;
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
// lastUsedAt is written at most once a minute per account, not on every call (as for sessions).
const touchIntervalMs = 60_000;
/** Compared against when the id names no account, so that an unknown id costs what a known one does. */
const absentHash = apiKeyHash("authd_sk_absent");

/** The account as it stands under the configuration: only the permissions it still knows. */
function viewOf(a: ServiceAccountRecord, known: ReadonlySet<string>): ServiceAccountView {
  return {
    id: a.id,
    name: a.name,
    permissions: a.permissions.filter((p) => known.has(p)),
    createdBy: a.createdBy,
    createdAt: a.createdAt,
    lastUsedAt: a.lastUsedAt,
    revokedAt: a.revokedAt,
    keyCreatedAt: a.keyCreatedAt,
    keyPrefix: keyPrefixOf(a.id),
  };
}

const pageKind = "service_accounts";

function cursorOf(pageTokens: PageTokens, pageToken: string): ServiceAccountCursor | undefined {
  const opened = pageTokens.open(pageKind, "", pageToken);
  if (opened === null) return undefined;
  const { t, id } = opened as { t?: unknown; id?: unknown };
  if (typeof t !== "number" || !Number.isSafeInteger(t) || typeof id !== "string" || !isAccountId(id)) {
    throw invalidArgument("page_token", "page_token is malformed");
  }
  return { createdAt: new Date(t), id };
}

/** The account id of a request: one this service could have made, else NOT_FOUND without a read. */
function accountIdFrom(raw: string): string {
  const id = checkId("service_account_id", raw);
  if (!isAccountId(id)) throw new AuthError("NOT_FOUND", "no such service account", { field: "service_account_id" });
  return id;
}

export function createServiceAccounts(deps: ServiceAccountsDeps) {
  const { store, clock, knownPermissions } = deps;
  const view = (a: ServiceAccountRecord) => viewOf(a, knownPermissions);

  /**
   * A user making a key proves who they are (see the header); a service's key is its proof. Run
   * after every other check of the call, so that a refused call spends no guess.
   */
  async function confirmKeyMaker(actor: Principal, proof: Reauthentication, client: ClientInfo): Promise<void> {
    if (actor.kind !== "user") return;
    await deps.twoFactor.confirmIdentity(actor, await requireUser(store.users, actor), proof, client);
  }

  /** Mails the user who made a key (a service has no mailbox; the audit log has the event). */
  async function tellKeyMaker(actor: Principal, client: ClientInfo): Promise<void> {
    if (actor.kind !== "user") return;
    const user = await store.users.findById(actor.userId);
    if (user !== null) deps.notifier.notify(user, "service_account_key_issued", client);
  }

  /**
   * Runs one management call: the permission check, then `run`, and an audit event whatever
   * happens (the account it was about, when known, and what changed in `detail`).
   */
  async function audited<T>(
    call: { actor: Principal; client: ClientInfo; action: string; accountId?: string },
    run: () => Promise<{ result: T; accountId?: string; detail?: string }>,
  ): Promise<T> {
    let account = call.accountId;
    let detail = "";
    return withAuditOutcome(
      async () => {
        requirePermission(call.actor, permissions.serviceAccountsManage);
        const done = await run();
        account = done.accountId ?? account;
        detail = done.detail ?? "";
        return done.result;
      },
      (outcome) => {
        // An id a client sent is recorded only when it could be one of ours.
        const about = account !== undefined && isAccountId(account) ? `service_account=${account}` : "";
        return deps.audit.record({
          actor: auditActorOf(call.actor),
          action: call.action,
          targetUserId: null,
          client: { ipAddress: call.client.ipAddress, userAgent: call.client.userAgent },
          outcome,
          detail: [about, detail].filter((d) => d !== "").join(" "),
        });
      },
    );
  }

  /** The requested permissions, each known and held by the actor; sorted, each once. */
  function grantable(actor: Principal, requested: readonly string[]): string[] {
    if (requested.length > maxPermissions) throw invalidArgument("permissions", `at most ${maxPermissions} permissions`);
    const unique = [...new Set(requested)].sort();
    for (const p of unique) {
      if (!knownPermissions.has(p)) throw invalidArgument("permissions", `"${p.slice(0, 64)}" is not a configured permission`);
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
   * PERMISSION_DENIED unless the actor holds every permission of the account, as at creation
   * (grantable): a new key would put the account's powers in the actor's hands, and revoking it
   * would let a lesser manager cut off a service it could never have made. Permissions the
   * configuration no longer knows count for nothing (no one could hold them).
   */
  async function withinReach(actor: Principal, id: string): Promise<void> {
    const account = await store.serviceAccounts.findById(id);
    // Before any proof is asked for: an unknown or revoked account spends no guess.
    if (account === null || account.revokedAt !== null)
      throw new AuthError("NOT_FOUND", "no such active service account", { field: "service_account_id" });
    const missing = view(account).permissions.find((p) => !actor.permissions.includes(p));
    if (missing !== undefined) {
      throw new AuthError(
        "PERMISSION_DENIED",
        `only a caller holding every permission of the account may change it; "${missing}" is not one`,
      );
    }
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
    return account !== null && matches && account.revokedAt === null ? view(account) : null;
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
    async create(
      actor: Principal,
      input: { name: string; permissions: readonly string[]; reauthentication?: Reauthentication },
      client: ClientInfo,
    ): Promise<IssuedKey> {
      return audited({ actor, client, action: "service_accounts.create" }, async () => {
        const name = checkDisplayName("name", input.name);
        if (name.length === 0) throw invalidArgument("name", "name is required");
        if ([...name].length > maxNameLength) throw invalidArgument("name", `name must be at most ${maxNameLength} characters`);
        const granted = grantable(actor, input.permissions);
        await confirmKeyMaker(actor, input.reauthentication ?? noReauthentication, client);
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
        await tellKeyMaker(actor, client);
        return { result: { account: view(record), apiKey }, accountId: id, detail: `permissions=${granted.join(",")}` };
      });
    },

    async list(actor: Principal, input: { pageSize: number; pageToken: string }, client: ClientInfo): Promise<ServiceAccountPage> {
      return audited({ actor, client, action: "service_accounts.list" }, async () => {
        const size = pageSizeOf(input.pageSize);
        const after = cursorOf(deps.pageTokens, input.pageToken);
        // One more than asked: whether it comes back says whether there is a next page.
        const found = await store.serviceAccounts.list(size + 1, after);
        const page = found.slice(0, size);
        const last = page[page.length - 1];
        const nextPageToken =
          found.length > size && last !== undefined
            ? deps.pageTokens.issue(pageKind, "", { t: last.createdAt.getTime(), id: last.id })
            : "";
        return { result: { accounts: page.map(view), nextPageToken } };
      });
    },

    async revoke(actor: Principal, rawId: string, client: ClientInfo): Promise<ServiceAccountView> {
      return audited({ actor, client, action: "service_accounts.revoke", accountId: rawId }, async () => {
        const id = accountIdFrom(rawId);
        await withinReach(actor, id);
        const revoked = await store.serviceAccounts.revoke(id, clock.now());
        if (revoked === null) throw new AuthError("NOT_FOUND", "no such active service account", { field: "service_account_id" });
        return { result: view(revoked) };
      });
    },

    async rotateKey(actor: Principal, rawId: string, proof: Reauthentication, client: ClientInfo): Promise<IssuedKey> {
      return audited({ actor, client, action: "service_accounts.rotate_key", accountId: rawId }, async () => {
        const id = accountIdFrom(rawId);
        await withinReach(actor, id);
        await confirmKeyMaker(actor, proof, client);
        const apiKey = newApiKey(id);
        const rotated = await store.serviceAccounts.replaceKey(id, apiKeyHash(apiKey), clock.now());
        if (rotated === null) throw new AuthError("NOT_FOUND", "no such active service account", { field: "service_account_id" });
        await tellKeyMaker(actor, client);
        return { result: { account: view(rotated), apiKey } };
      });
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
      return callerOf(account === null || account.revokedAt !== null ? null : view(account));
    },
  };
}

export type ServiceAccounts = ReturnType<typeof createServiceAccounts>;
