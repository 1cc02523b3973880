// The token manager of an app: holds the session's tokens, attaches the access token to calls,
// refreshes it when it expires and signs out when the session cannot go on.
//
// authd's refresh tokens are single-use: presenting one twice revokes the whole session. So a
// refresh is never started twice for one refresh token. All calls that meet an expired token share
// the one refresh in flight, and a call whose token was already replaced by someone else's refresh
// retries with the new token instead of refreshing again.
import { createClient, type Interceptor, type Transport } from "@connectrpc/connect";
import { type AuthdReason, toAuthdError, unauthenticated } from "./errors.ts";
import { AuthService } from "./gen/auth/v1/auth_service_pb.js";
import type { TokenPair } from "./gen/auth/v1/common_pb.js";

/** What a manager keeps of a session (what a TokenStorage stores). */
export interface StoredTokens {
  accessToken: string;
  refreshToken: string;
  /** When the access token expires, in milliseconds since the epoch (0 when unknown). */
  accessTokenExpiresAt: number;
  /** The session's id. */
  sessionId: string;
}

/** Where the tokens live between page loads or restarts. May be synchronous or not. */
export interface TokenStorage {
  load(): StoredTokens | undefined | Promise<StoredTokens | undefined>;
  save(tokens: StoredTokens): void | Promise<void>;
  clear(): void | Promise<void>;
}

/** Keeps the tokens in memory only: gone with the process or page. */
export function memoryTokenStorage(): TokenStorage {
  let held: StoredTokens | undefined;
  return {
    load: () => held,
    save: (t) => {
      held = t;
    },
    clear: () => {
      held = undefined;
    },
  };
}

/** The part of the Web Storage API (localStorage, sessionStorage) a manager uses. */
export interface KeyValueStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

/**
 * Keeps the tokens as JSON under one key of a Web Storage (e.g. `localStorage`). Anything a script
 * on the page can read, an injected script can read too: prefer sessionStorage or memory where
 * cross-site scripting is a concern.
 */
export function webTokenStorage(storage: KeyValueStorage, key = "authd.tokens"): TokenStorage {
  return {
    load() {
      const raw = storage.getItem(key);
      if (raw === null) return undefined;
      try {
        return storedTokensFrom(JSON.parse(raw));
      } catch {
        return undefined;
      }
    },
    save: (t) => storage.setItem(key, JSON.stringify(t)),
    clear: () => storage.removeItem(key),
  };
}

/** What was stored, if it has the shape of StoredTokens. */
function storedTokensFrom(value: unknown): StoredTokens | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const t = value as Partial<StoredTokens>;
  if (typeof t.accessToken !== "string" || typeof t.refreshToken !== "string") return undefined;
  const expiresAt = typeof t.accessTokenExpiresAt === "number" ? t.accessTokenExpiresAt : 0;
  return { accessToken: t.accessToken, refreshToken: t.refreshToken, accessTokenExpiresAt: expiresAt, sessionId: t.sessionId ?? "" };
}

// The few parts of IndexedDB the storage below uses (declared here: the package builds without
// the DOM's types).
interface IdbRequest<T> {
  readonly result: T;
  readonly error: unknown;
  onsuccess: (() => void) | null;
  onerror: (() => void) | null;
}
interface IdbObjectStore {
  get(key: string): IdbRequest<unknown>;
  put(value: unknown, key: string): IdbRequest<unknown>;
  delete(key: string): IdbRequest<unknown>;
}
interface IdbTransaction {
  objectStore(name: string): IdbObjectStore;
  readonly error: unknown;
  oncomplete: (() => void) | null;
  onerror: (() => void) | null;
  onabort: (() => void) | null;
}
interface IdbDatabase {
  readonly objectStoreNames: { contains(name: string): boolean };
  createObjectStore(name: string): unknown;
  transaction(store: string, mode: "readonly" | "readwrite"): IdbTransaction;
}
/** The part of the browser's `indexedDB` this storage uses. */
export interface IdbFactoryLike {
  open(name: string, version?: number): IdbRequest<IdbDatabase> & { onupgradeneeded: (() => void) | null };
}

/**
 * Keeps the tokens in IndexedDB (database "authd" by default), which every tab of the origin sees
 * at once: each save has committed before it resolves. The storage for tabs that share one
 * session with `lock: webLocks()`; localStorage is not enough there, since Chromium hands one
 * tab's write to the other tabs' processes asynchronously, so a tab may still read the refresh
 * token another has just spent.
 */
export function indexedDbTokenStorage(options: { database?: string; indexedDB?: IdbFactoryLike } = {}): TokenStorage {
  const factory = options.indexedDB ?? (globalThis as { indexedDB?: IdbFactoryLike }).indexedDB;
  const storeName = "tokens";
  let db: Promise<IdbDatabase> | undefined;
  const open = () => {
    db ??= new Promise<IdbDatabase>((resolve, reject) => {
      if (factory === undefined) throw new Error("IndexedDB is not available here");
      const req = factory.open(options.database ?? "authd", 1);
      req.onupgradeneeded = () => {
        if (!req.result.objectStoreNames.contains(storeName)) req.result.createObjectStore(storeName);
      };
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error);
    });
    return db;
  };
  // Resolves once the transaction has committed, with the request's result.
  const run = async (mode: "readonly" | "readwrite", op: (store: IdbObjectStore) => IdbRequest<unknown>): Promise<unknown> => {
    const database = await open();
    return new Promise((resolve, reject) => {
      const tx = database.transaction(storeName, mode);
      const req = op(tx.objectStore(storeName));
      tx.oncomplete = () => resolve(req.result);
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error);
    });
  };
  return {
    load: async () => storedTokensFrom(await run("readonly", (s) => s.get("session"))),
    save: async (t) => {
      await run("readwrite", (s) => s.put({ ...t }, "session"));
    },
    clear: async () => {
      await run("readwrite", (s) => s.delete("session"));
    },
  };
}

/** Reasons after which the session cannot go on: the manager signs out. */
const sessionOverReasons = new Set<string>(["REFRESH_REVOKED", "REFRESH_EXPIRED", "INVALID_REFRESH", "SESSION_REVOKED"]);

export interface TokenManagerOptions {
  /**
   * A transport to authd for RefreshToken (and Logout): one WITHOUT this manager's interceptor.
   */
  transport: Transport;
  /** Default: memory only. */
  storage?: TokenStorage;
  /** Told once each time the session ends: the reason (e.g. "REFRESH_REVOKED") or "SIGNED_OUT". */
  onSignOut?: (reason: string) => void;
  /** Refresh before a call when the access token expires within this many ms; default 5000. */
  refreshMarginMs?: number;
  /** The clock the stored expiry is judged by; default Date.now. */
  now?: () => number;
  /**
   * Runs each refresh under a lock shared by every manager of the same storage, e.g. the tabs of
   * one site sharing indexedDbTokenStorage() (`webLocks()` of `@authd/client/web`). Under it the
   * manager reads the storage again and takes another holder's newer tokens instead of refreshing.
   */
  lock?: <T>(run: () => Promise<T>) => Promise<T>;
}

export interface TokenManager {
  /** A Connect client interceptor: add it to the transport of every client that needs a token. */
  readonly interceptor: Interceptor;
  /** Stores a new session's tokens (Login's, CompleteLogin's). */
  setTokens(pair: TokenPair | StoredTokens): Promise<void>;
  /** The current access token, refreshed first when it is (about to be) expired; undefined when signed out. */
  getAccessToken(): Promise<string | undefined>;
  /**
   * Refreshes now, or joins the refresh already in flight. With `usedAccessToken`, does nothing when
   * the tokens were already replaced since that token was handed out.
   */
  refresh(usedAccessToken?: string): Promise<StoredTokens>;
  /** Forgets the tokens; with `revoke`, first ends the session at authd (Logout). */
  signOut(options?: { revoke?: boolean }): Promise<void>;
}

function fromPair(pair: TokenPair | StoredTokens): StoredTokens {
  if ("accessTokenExpiresAt" in pair) return { ...pair };
  const expire = pair.accessTokenExpireTime;
  return {
    accessToken: pair.accessToken,
    refreshToken: pair.refreshToken,
    accessTokenExpiresAt: expire === undefined ? 0 : Number(expire.seconds) * 1000 + Math.floor(expire.nanos / 1e6),
    sessionId: pair.sessionId,
  };
}

export function createTokenManager(opts: TokenManagerOptions): TokenManager {
  const auth = createClient(AuthService, opts.transport);
  const storage = opts.storage ?? memoryTokenStorage();
  const now = opts.now ?? Date.now;
  const margin = opts.refreshMarginMs ?? 5000;
  let current: StoredTokens | undefined;
  let loading: Promise<void> | undefined;
  let inflight: Promise<StoredTokens> | undefined;
  // Bumped by every sign-in and sign-out: a refresh that finishes after one must not bring back
  // the tokens it replaced.
  let generation = 0;
  // The access token of the session that ended last and why: a call still carrying it, which
  // meets its expiry after the sign-out, fails with that reason like the calls before it.
  let ended: { accessToken: string; reason: AuthdReason | undefined } | undefined;

  const load = () => {
    loading ??= Promise.resolve(storage.load()).then((t) => {
      current ??= t;
    });
    return loading;
  };

  async function endSession(reason: string): Promise<void> {
    const hadSession = current !== undefined;
    if (current !== undefined) {
      ended = { accessToken: current.accessToken, reason: sessionOverReasons.has(reason) ? (reason as AuthdReason) : undefined };
    }
    generation++;
    current = undefined;
    inflight = undefined;
    await storage.clear();
    if (hadSession) opts.onSignOut?.(reason);
  }

  async function runRefresh(used: StoredTokens, gen: number): Promise<StoredTokens> {
    try {
      const lock = opts.lock;
      const next = lock === undefined ? await spend(used, gen) : await lock(() => spendUnlessDone(used, gen));
      if (gen !== generation) throw unauthenticated("UNAUTHENTICATED", "signed out during the refresh");
      if (next === undefined) {
        await endSession("SIGNED_OUT");
        throw unauthenticated("UNAUTHENTICATED", "signed out elsewhere");
      }
      current = next;
      return next;
    } catch (err) {
      const e = toAuthdError(err);
      if (e !== undefined && sessionOverReasons.has(e.reason) && gen === generation) await endSession(e.reason);
      throw e ?? err;
    }
  }

  /** Spends the refresh token; keeps and stores the new pair unless a sign-in or sign-out came first. */
  async function spend(used: StoredTokens, gen: number): Promise<StoredTokens> {
    const res = await auth.refreshToken({ refreshToken: used.refreshToken });
    if (res.tokens === undefined) throw unauthenticated("INVALID_REFRESH", "the refresh answered no tokens");
    const next = fromPair(res.tokens);
    if (gen !== generation) throw unauthenticated("UNAUTHENTICATED", "signed out during the refresh");
    current = next;
    await storage.save(next);
    return next;
  }

  /**
   * Under the lock shared with the other managers of this storage: one of them (another tab) may
   * have refreshed, or signed out, while this one waited. Their tokens (or none) then stand.
   */
  async function spendUnlessDone(used: StoredTokens, gen: number): Promise<StoredTokens | undefined> {
    const latest = await storage.load();
    if (latest === undefined || latest.refreshToken !== used.refreshToken) return latest;
    return spend(used, gen);
  }

  async function refresh(usedAccessToken?: string): Promise<StoredTokens> {
    await load();
    if (inflight !== undefined) return inflight;
    if (current === undefined) {
      const reason = usedAccessToken !== undefined && ended?.accessToken === usedAccessToken ? ended.reason : undefined;
      throw reason === undefined ? unauthenticated("UNAUTHENTICATED", "not signed in") : unauthenticated(reason, "the session has ended");
    }
    if (usedAccessToken !== undefined && current.accessToken !== usedAccessToken) return current;
    const flight = runRefresh(current, generation).finally(() => {
      if (inflight === flight) inflight = undefined;
    });
    inflight = flight;
    return flight;
  }

  async function getAccessToken(): Promise<string | undefined> {
    await load();
    if (inflight !== undefined) return (await inflight).accessToken;
    if (current === undefined) return undefined;
    const expiresAt = current.accessTokenExpiresAt;
    if (expiresAt !== 0 && now() >= expiresAt - margin) return (await refresh(current.accessToken)).accessToken;
    return current.accessToken;
  }

  const interceptor: Interceptor = (next) => async (req) => {
    if (req.header.has("authorization")) return next(req);
    const token = await getAccessToken();
    if (token === undefined) return next(req);
    // The session this call speaks for: a sign-in or sign-out meanwhile makes its failure old news.
    const gen = generation;
    req.header.set("authorization", `Bearer ${token}`);
    try {
      return await next(req);
    } catch (err) {
      const e = toAuthdError(err);
      if (e === undefined) throw err;
      if (sessionOverReasons.has(e.reason) && gen === generation) await endSession(e.reason);
      // A streaming request's messages may be consumed already: only unary calls are sent again.
      if (e.reason !== "TOKEN_EXPIRED" || req.stream) throw e;
      const fresh = await refresh(token);
      req.header.set("authorization", `Bearer ${fresh.accessToken}`);
      return await next(req);
    }
  };

  return {
    interceptor,
    async setTokens(pair) {
      await load();
      generation++;
      inflight = undefined;
      current = fromPair(pair);
      await storage.save(current);
    },
    getAccessToken,
    refresh,
    async signOut(options = {}) {
      await load();
      const held = current;
      if (options.revoke === true && held !== undefined) {
        try {
          await auth.logout({}, { headers: { authorization: `Bearer ${held.accessToken}` } });
        } catch {
          // The session may be over already (expired token, revoked): forgetting it is what is left.
        }
      }
      await endSession("SIGNED_OUT");
    },
  };
}
