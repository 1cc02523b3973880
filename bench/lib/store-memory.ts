// What the embedded store holds per user, per session and per refresh: the heap after a full
// collection with N of each, against before them. In-process: users inserted as the service
// writes them (with a hash of the production argon2id parameters, computed once: hashing N
// passwords would cost minutes and change nothing held), sessions and refreshes through the
// service's own operations. Needs --expose-gc. Used by bench/soak.ts.
import { randomUUID } from "node:crypto";
import { Writable } from "node:stream";
import { loadConfig } from "../../src/config.ts";
import { createLogger } from "../../src/log.ts";
import { createPasswordHasher, type PasswordHasher } from "../../src/passwords/hasher.ts";
import { composeService } from "../../src/server/compose.ts";
import { createMemoryStore } from "../../src/store/memory.ts";
import { noCutoff } from "../../src/store/port.ts";
import { PASSWORD } from "./service.ts";

export interface StoreMemory {
  users: number;
  sessionsPerUser: number;
  /** A user record (with a production argon2id hash) and the store's indexes of it. */
  bytesPerUser: number;
  /** A session opened by Login: the session, its refresh token and what signing in records. */
  bytesPerSession: number;
  /** One refresh just made: the spent token, its successor, and the pair kept for the reuse grace. */
  bytesPerRefresh: number;
  /** One refresh once REFRESH_REUSE_GRACE_SECONDS have passed: the spent token, remembered for reuse detection. */
  bytesPerRefreshAfterGrace: number;
}

function heapAfterGc(): number {
  const gc = globalThis.gc;
  if (gc === undefined) throw new Error("run with --expose-gc");
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

export async function measureStoreMemory(users: number, sessionsPerUser: number): Promise<StoreMemory> {
  const config = loadConfig({ EMAIL_VERIFICATION_REQUIRED: "false", LOG_LEVEL: "silent", MAX_SESSIONS_PER_USER: "10000" }, () => "");
  const real = await createPasswordHasher(config.argon2);
  const stored = await real.hash("a password of production length and cost");
  const hasher: PasswordHasher = {
    hash: async () => stored,
    verify: async () => true,
    needsRehash: () => false,
    burn: async () => undefined,
  };
  // A clock of our own, to step past the reuse grace window.
  const clock = { t: Date.now(), now: () => new Date(clock.t) };
  const store = createMemoryStore({ clock });
  const service = await composeService(config, {
    store,
    clock,
    hasher,
    mailer: { send: async () => undefined },
    log: createLogger("silent", new Writable({ write: (_c, _e, done) => done() })),
  });
  const { signIn, sessions } = service.operations;
  const client = { ipAddress: "192.0.2.1", userAgent: "store-memory" };
  const email = (i: number) => `user${i}@store-memory.example`;

  const empty = heapAfterGc();
  const now = new Date(clock.t);
  for (let i = 0; i < users; i++) {
    await store.users.insert({
      id: randomUUID(),
      email: email(i),
      emailVerified: true,
      emailVerifiedAt: now,
      displayName: "",
      passwordHash: stored,
      passwordUpdatedAt: now,
      createdAt: now,
      updatedAt: now,
      sessionCutoff: noCutoff,
      twoFactorCutoffRaises: 0,
      roles: ["user"],
      disabledAt: null,
    });
  }
  const registered = heapAfterGc();

  const refreshTokens: string[] = [];
  for (let i = 0; i < users; i++) {
    for (let k = 0; k < sessionsPerUser; k++) {
      const result = await signIn.login({ email: email(i), password: PASSWORD, rememberMe: false }, client);
      if (result.state !== "signed_in") throw new Error("sign-in did not complete");
      refreshTokens.push(result.tokens.refreshToken);
    }
  }
  const signedIn = heapAfterGc();

  const kept: string[] = [];
  for (const token of refreshTokens) kept.push((await sessions.refresh(token)).refreshToken);
  const refreshed = heapAfterGc();
  // The tokens held here, outside the store, weigh on `signedIn` (one list) and `refreshed` (two
  // lists of the same size): weigh them by dropping both, and take them off.
  refreshTokens.length = 0;
  kept.length = 0;
  const storeAfterRefresh = heapAfterGc();
  const heldList = (refreshed - storeAfterRefresh) / 2;
  const storeAfterSignIn = signedIn - heldList;

  clock.t += (config.refreshReuseGraceSeconds + 1) * 1000;
  store.sweep();
  const afterGrace = heapAfterGc();

  const sessionCount = users * sessionsPerUser;
  const result: StoreMemory = {
    users,
    sessionsPerUser,
    bytesPerUser: (registered - empty) / users,
    bytesPerSession: (storeAfterSignIn - registered) / sessionCount,
    bytesPerRefresh: (storeAfterRefresh - storeAfterSignIn) / sessionCount,
    bytesPerRefreshAfterGrace: (afterGrace - storeAfterSignIn) / sessionCount,
  };
  await service.background.drain();
  await store.close();
  return result;
}
