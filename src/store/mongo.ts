// The MongoDB storage adapter (official `mongodb` driver).
//
// Collections: users (_id = user id, unique email), sessions (_id = session id), refresh_tokens
// (_id = token hash), codes (_id = code hash), attempts (_id = key), two_factor (_id = user id),
// service_accounts (_id = service account id), audit_events (_id = event id), passkeys (_id =
// WebAuthn credential id), provider_links (_id = link id, unique provider account).
// TTL indexes on `expiresAt` purge expired records; every read taking `now` also filters on
// `expiresAt > now`, because TTL deletion is lazy.
//
// Connection: the server starts whether or not MongoDB answers. Until the first connection and
// index check succeed, every call fails at once with StorageUnavailableError (and readiness says
// not ready); a background loop retries with capped exponential backoff. Afterwards the driver
// itself follows the replica set through elections, within the pinned timeouts.
//
// Every driver call goes through `run()` (mongo/connection.ts), which bounds it in time and
// classifies what the driver throws (mongo/errors.ts), so no driver error reaches callers.
//
// This module only composes: each collection's document type, mapping and store live in
// mongo/<kind>.ts.

import type { Collection, Db } from "mongodb";
import type { Store } from "./port.ts";
import { mongoAttempts, type AttemptDoc } from "./mongo/attempts.ts";
import { mongoAudit, type AuditEventDoc } from "./mongo/audit.ts";
import { mongoCodes, type CodeDoc } from "./mongo/codes.ts";
import type { MongoConnectionPlan } from "./mongo/connection-plan.ts";
import { connectMongo, type Limit, type MongoConnectionOptions } from "./mongo/connection.ts";
import { mongoPasskeys, type PasskeyDoc } from "./mongo/passkeys.ts";
import { mongoProviderLinks, type ProviderLinkDoc } from "./mongo/provider-links.ts";
import { mongoRefreshTokens, type RefreshTokenDoc } from "./mongo/refresh-tokens.ts";
import { mongoServiceAccounts, type ServiceAccountDoc } from "./mongo/service-accounts.ts";
import { mongoSessions, type SessionDoc } from "./mongo/sessions.ts";
import { mongoTwoFactor, type TwoFactorDoc } from "./mongo/two-factor.ts";
import { mongoUsers, type UserDoc } from "./mongo/users.ts";

interface Collections {
  db: Db;
  users: Collection<UserDoc>;
  sessions: Collection<SessionDoc>;
  refresh: Collection<RefreshTokenDoc>;
  codes: Collection<CodeDoc>;
  attempts: Collection<AttemptDoc>;
  twoFactor: Collection<TwoFactorDoc>;
  serviceAccounts: Collection<ServiceAccountDoc>;
  audit: Collection<AuditEventDoc>;
  passkeys: Collection<PasskeyDoc>;
  providerLinks: Collection<ProviderLinkDoc>;
}

function collections(db: Db): Collections {
  return {
    db,
    users: db.collection("users"),
    sessions: db.collection("sessions"),
    refresh: db.collection("refresh_tokens"),
    codes: db.collection("codes"),
    attempts: db.collection("attempts"),
    twoFactor: db.collection("two_factor"),
    serviceAccounts: db.collection("service_accounts"),
    audit: db.collection("audit_events"),
    passkeys: db.collection("passkeys"),
    providerLinks: db.collection("provider_links"),
  };
}

/** The store's options are its connection's: database, log and retry backoff. */
export type MongoStoreOptions = MongoConnectionOptions;

export interface MongoStore extends Store {
  readonly kind: "mongodb";
  /**
   * Settles after the first connection attempt: resolves whether or not MongoDB answered (the
   * store then keeps trying in the background), rejects only with IndexConflictError, which no
   * retry can fix.
   */
  readonly started: Promise<void>;
  /** Whether the store has connected and checked its indexes. */
  connected(): boolean;
}

export function createMongoStore(plan: MongoConnectionPlan, opts: MongoStoreOptions = {}): MongoStore {
  const connection = connectMongo(plan, opts, collections);
  const { run } = connection;
  const limit: Limit = { maxTimeMS: plan.operationTimeoutMS };
  return {
    kind: "mongodb",
    started: connection.started,
    connected: () => connection.connected(),
    users: mongoUsers(run, limit),
    sessions: mongoSessions(run, limit),
    refreshTokens: mongoRefreshTokens(run, limit),
    codes: mongoCodes(run, limit),
    attempts: mongoAttempts(run, limit),
    twoFactor: mongoTwoFactor(run, limit),
    serviceAccounts: mongoServiceAccounts(run, limit),
    audit: mongoAudit(run, limit),
    passkeys: mongoPasskeys(run, limit),
    providerLinks: mongoProviderLinks(run, limit),
    ping: () =>
      run(async (c) => {
        await c.db.command({ ping: 1 });
      }),
    close: () => connection.close(),
  };
}
