import { randomUUID, timingSafeEqual } from "node:crypto";
import { addSeconds, type Clock } from "../clock.ts";
import { AuthError } from "../errors.ts";
import type { SecurityEvents } from "../events.ts";
import { checkId } from "../input.ts";
import type { Logger } from "../log.ts";
import { createPermissionLookup, type RoleMap } from "../permissions/permissions.ts";
import type { SecretSealer, Signer } from "../secrets/server-secrets.ts";
import type { SessionRecord, Store, TwoFactorRecord, UserPatch, UserRecord, UserUpdateOptions } from "../store/port.ts";
import type { AccessTokens } from "../tokens/access.ts";
import { type DeviceGrant, type DeviceTokens, deviceOwner } from "../tokens/devices.ts";
import { type Caller, type ClientInfo, sessionEnded } from "./caller.ts";
import { keepOnlyCaller, passesBoth } from "./cutoffs.ts";
import { pairIssuer, type TokenPair } from "./pairs.ts";
import { createRefresh } from "./refresh.ts";

export type { TokenPair } from "./pairs.ts";

export interface SessionPolicy {
  refreshTokenTtlSeconds: number;
  refreshTokenTtlRememberMeSeconds: number;
  sessionMaxLifetimeSeconds: number;
  /** Live sessions per user; opening one more revokes the oldest. */
  maxSessionsPerUser: number;
  /** How long a spent refresh token is remembered for reuse detection. */
  refreshReuseDetectionSeconds: number;
  /**
   * How long after a refresh its spent token may be presented again and get the same new pair
   * back instead of revoking the session (0: never). Shorter than the reuse-detection window.
   */
  refreshReuseGraceSeconds: number;
}

export interface SessionsDeps {
  /** Sessions and refresh tokens are this module's; users and two-factor records hold the cutoffs. */
  store: Pick<Store, "sessions" | "refreshTokens" | "users" | "twoFactor">;
  clock: Clock;
  accessTokens: AccessTokens;
  cookieSigner: Signer;
  /** Seals the pair a refresh handed out, kept with the spent token for the grace window. */
  successorSealer: SecretSealer;
  log: Pick<Logger, "info" | "warn">;
  policy: SessionPolicy;
  /** Known-device tokens: RevokeOtherSessions renews the caller's. */
  devices: DeviceTokens;
  /** Hears of refresh-token reuse and of replays within the grace window. */
  events: Pick<SecurityEvents, "refreshReuse" | "refreshGraceReplay">;
  /** What each role may do (ROLES): the permissions in tokens and in every caller. */
  roles: RoleMap;
}

/** What a caller presents: a bearer access token, or the REST session cookie. */
export interface Credential {
  bearer?: string | undefined;
  cookie?: string | undefined;
}

/** A session as a transport may show it. */
export interface SessionView {
  id: string;
  userAgent: string;
  ipAddress: string;
  createdAt: Date;
  lastActiveAt: Date;
  expiresAt: Date;
  /** Whether it is the caller's own. */
  current: boolean;
}

// lastActiveAt is written at most once a minute per session, not on every call.
const touchIntervalMs = 60_000;

/** A live session and its user as read by the same check. */
interface Live {
  session: SessionRecord;
  user: UserRecord;
  twoFactor: TwoFactorRecord | null;
}

export function createSessions(deps: SessionsDeps) {
  const { store, clock, accessTokens, policy } = deps;
  const cookieMac = (sessionId: string) => deps.cookieSigner.sign(`session:${sessionId}`);
  const ttlFor = (rememberMe: boolean) => (rememberMe ? policy.refreshTokenTtlRememberMeSeconds : policy.refreshTokenTtlSeconds);

  const permissionsFor = createPermissionLookup(deps.roles);

  const callerOf = ({ session, user, twoFactor }: Live): Caller => {
    const { passwordHash: _, ...profile } = user;
    return {
      userId: session.userId,
      sessionId: session.id,
      signedInAt: session.createdAt,
      generations: { ...session.generations },
      roles: user.roles,
      permissions: permissionsFor(user.roles),
      user: profile,
      twoFactorEnabled: twoFactor !== null && twoFactor.enabledAt !== null,
    };
  };

  const issuePair = pairIssuer({ store, clock, accessTokens, permissionsFor });

  /**
   * The session if it is live now: not revoked or expired, its user still exists, and no security
   * change (password, second factor) has cut it off since it was opened. The cutoffs are read on
   * every call, so a change ends other sessions at once even if their records were never updated.
   */
  async function liveSession(sessionId: string, userId: string | undefined, now: Date): Promise<Live | null> {
    // With the user known (bearer token, refresh record) all three reads go out at once.
    const [session, user, twoFactor] =
      userId === undefined
        ? await store.sessions
            .findLive(sessionId, now)
            .then(async (found) =>
              found === null
                ? [null, null, null]
                : ([found, ...(await Promise.all([store.users.findById(found.userId), store.twoFactor.get(found.userId)]))] as const),
            )
        : await Promise.all([store.sessions.findLive(sessionId, now), store.users.findById(userId), store.twoFactor.get(userId)]);
    // A disabled account's sessions were ended when it was disabled; refusing here as well keeps a
    // session opened in a race with the disable (or restored from a backup) from living on.
    if (session === null || user === null || session.userId !== user.id || user.disabledAt !== null) return null;
    return passesBoth(session, user, twoFactor) ? { session, user, twoFactor } : null;
  }

  /**
   * The user's sessions that are live now, cutoffs included: a session a security change ended
   * but whose record the cleanup never marked is neither listed nor counted.
   */
  async function liveSessionsOf(userId: string, now: Date): Promise<SessionRecord[]> {
    const [sessions, user, twoFactor] = await Promise.all([
      store.sessions.listLive(userId, now),
      store.users.findById(userId),
      store.twoFactor.get(userId),
    ]);
    if (user === null) return [];
    return sessions.filter((s) => passesBoth(s, user, twoFactor));
  }

  async function viewsOf(userId: string, currentId: string | null): Promise<SessionView[]> {
    const sessions = await liveSessionsOf(userId, clock.now());
    return sessions.map((s) => ({
      id: s.id,
      userAgent: s.userAgent,
      ipAddress: s.ipAddress,
      createdAt: s.createdAt,
      lastActiveAt: s.lastActiveAt,
      expiresAt: s.expiresAt,
      current: s.id === currentId,
    }));
  }

  /**
   * Ends one session of the user (false if it was not live): revoked, and its refresh tokens
   * remembered (a refresh with one refused as REFRESH_REVOKED) only as long as a spent one is, the
   * reuse-detection window, not for the rest of their 7 or 30 days: a client signing in and out in
   * a loop would otherwise leave one behind each time, for a month.
   */
  async function endSession(sessionId: string, userId: string, now: Date): Promise<boolean> {
    const revoked = await store.sessions.revoke(sessionId, userId, now);
    if (revoked) await store.refreshTokens.expireSession(sessionId, userId, addSeconds(now, policy.refreshReuseDetectionSeconds));
    return revoked;
  }

  /**
   * As endSession does for its session's refresh tokens, for every session of the user but
   * `exceptId` (ended together by a security change). A failure costs storage for a while, not
   * the change, which has landed: logged, not thrown.
   */
  async function forgetRefreshTokensOf(userId: string, now: Date, exceptId?: string): Promise<void> {
    try {
      await store.refreshTokens.expireAllForUser(userId, addSeconds(now, policy.refreshReuseDetectionSeconds), exceptId);
    } catch (err) {
      deps.log.warn({ err, userId }, "could not shorten the refresh tokens of the sessions a security change ended");
    }
  }

  /**
   * Cleans up after a security change whose cutoff has already ended the user's other sessions:
   * marks their records revoked, and counts them for the caller (0 if the cleanup failed).
   */
  async function cleanUpAfterCutoff(userId: string, exceptId?: string): Promise<number> {
    try {
      const now = clock.now();
      const revoked = await store.sessions.revokeAllForUser(userId, now, exceptId);
      await forgetRefreshTokensOf(userId, now, exceptId);
      return revoked;
    } catch (err) {
      // The change itself has landed and its cutoff already refuses those sessions; failing the
      // call now would only tell the user a change that happened did not.
      deps.log.warn({ err, userId }, "session cleanup after a security change failed; the cutoff still ends them");
      return 0;
    }
  }

  /**
   * Keeps at most `maxSessionsPerUser` live sessions: the oldest beyond it are revoked. Asked
   * first, and counted no further than one past the cap: every sign-in comes through here, and
   * listing (and, in MongoDB, reading) all of a user's sessions each time cost a sign-in more the
   * more sessions the user held (1.7 ms of the main thread's CPU per Login with 300 sessions;
   * counting them all, still 6 % of it). The question leaves out no live session, so at or under
   * the cap there is nothing to revoke.
   */
  async function enforceSessionCap(userId: string, now: Date): Promise<void> {
    if (!(await store.sessions.moreLiveThan(userId, now, policy.maxSessionsPerUser))) return;
    const live = await liveSessionsOf(userId, now);
    for (const old of live.slice(policy.maxSessionsPerUser)) {
      await endSession(old.id, userId, now);
      deps.log.info({ userId, sessionId: old.id }, "session limit reached: oldest session revoked");
    }
  }

  const refresh = createRefresh({
    store,
    clock,
    successorSealer: deps.successorSealer,
    log: deps.log,
    events: deps.events,
    policy,
    ttlFor,
    liveSession,
    issuePair,
    endSession,
  });

  return {
    /**
     * Opens a session for a user who has just proven who they are. `user` and
     * `twoFactorGeneration` are as read before the proof was checked: a security change that
     * landed meanwhile has raised a cutoff past them, and the new session is born ended.
     */
    async open(user: UserRecord, client: ClientInfo, rememberMe: boolean, twoFactorGeneration: number): Promise<TokenPair> {
      const now = clock.now();
      const session: SessionRecord = {
        id: randomUUID(),
        userId: user.id,
        userAgent: client.userAgent,
        ipAddress: client.ipAddress,
        rememberMe,
        createdAt: now,
        lastActiveAt: now,
        expiresAt: addSeconds(now, ttlFor(rememberMe)),
        revokedAt: null,
        generations: { user: user.sessionCutoff.generation, twoFactor: twoFactorGeneration },
      };
      await store.sessions.insert(session);
      await enforceSessionCap(user.id, now);
      return issuePair(session, user, session.expiresAt);
    },

    /**
     * Turns a credential into a caller: a bearer access token (which must verify), or the REST
     * session cookie (the session id with a MAC, so it names a session without storing anything
     * new). Either way the session must be live now (liveSession), so revocation takes effect on
     * the very next call. The bearer token wins when a request carries both.
     */
    async authenticate(credential: Credential): Promise<Caller> {
      const now = clock.now();
      let live: Live | null;
      if (credential.bearer !== undefined && credential.bearer.length > 0) {
        const claims = await accessTokens.verify(credential.bearer);
        live = await liveSession(claims.sessionId, claims.userId, now);
      } else if (credential.cookie !== undefined) {
        const [sessionId, mac, extra] = credential.cookie.split(".");
        const expected = sessionId === undefined ? "" : cookieMac(sessionId);
        const given = Buffer.from(mac ?? "");
        if (
          sessionId === undefined ||
          extra !== undefined ||
          given.length !== expected.length ||
          !timingSafeEqual(given, Buffer.from(expected))
        ) {
          throw new AuthError("INVALID_TOKEN", "the session cookie is invalid");
        }
        live = await liveSession(sessionId, undefined, now);
      } else {
        throw new AuthError("UNAUTHENTICATED", "an access token is required as an Authorization Bearer header");
      }
      if (live === null) throw sessionEnded();
      const { session } = live;
      if (now.getTime() - session.lastActiveAt.getTime() > touchIntervalMs) await store.sessions.touch(session.id, now);
      return callerOf(live);
    },

    /** The browser session cookie's value for a session (see authenticate). */
    cookieFor(sessionId: string): string {
      return `${sessionId}.${cookieMac(sessionId)}`;
    },

    /** Spends a refresh token for a new pair, or answers a spent one (refresh.ts). */
    refresh,

    async list(caller: Caller): Promise<SessionView[]> {
      return viewsOf(caller.userId, caller.sessionId);
    },

    /** A user's live sessions as an administrator sees them (none is the caller's). */
    async listOf(userId: string): Promise<SessionView[]> {
      return viewsOf(userId, null);
    },

    /**
     * Ends every session of the user at once: the cutoff is raised (keeping none) in the same
     * single-document write as `patch` (e.g. disabling the account), then the records are cleaned
     * up. Null when there is no such user, or when `condition` (the roles as read) no longer holds,
     * and then nothing is written.
     */
    async endAllOf(
      userId: string,
      patch: UserPatch,
      condition: Pick<UserUpdateOptions, "ifRoles"> = {},
    ): Promise<{ user: UserRecord; revokedCount: number } | null> {
      const user = await store.users.update(userId, patch, { ...condition, endSessions: { keep: null } });
      if (user === null) return null;
      return { user, revokedCount: await cleanUpAfterCutoff(userId) };
    },

    /** Revokes one of the caller's sessions; someone else's id is reported exactly like an unknown one. */
    async revoke(caller: Caller, rawId: string): Promise<void> {
      const id = checkId("session_id", rawId);
      const revoked = await endSession(id, caller.userId, clock.now());
      if (!revoked) throw new AuthError("NOT_FOUND", "no such session", { field: "session_id" });
    },

    /**
     * "Sign out everywhere else": raises the user's cutoff keeping only the caller's session, so
     * the others end at once (as after a password change), and every known-device token issued
     * before is void (tokens/devices.ts signs the generation): a lost device stops counting as
     * the owner's. The caller's own token (`deviceToken`), if it was current, is renewed; none is
     * minted, since a session alone (perhaps a stolen access token) proves no password.
     */
    async revokeOthers(caller: Caller, deviceToken?: string): Promise<{ revokedCount: number; device: DeviceGrant | null }> {
      // Only while the caller's session still passes the cutoffs: a security change (a new password,
      // a second factor turned on) that ended it after it was authenticated must not be undone by
      // keeping it now, nor the session that made that change ended.
      const raised = await keepOnlyCaller(store, caller, { updatedAt: clock.now() });
      if (raised === null) throw sessionEnded();
      const after = deviceOwner(raised);
      // The update raised the generation by exactly one, atomically: the one before is this.
      const device = deps.devices.renew(deviceToken, { ...after, generation: after.generation - 1 }, after);
      // The change has landed: a failed cleanup must not hide it, nor lose the renewed token.
      const revokedCount = await cleanUpAfterCutoff(caller.userId, caller.sessionId);
      return { revokedCount, device };
    },

    async logout(caller: Caller): Promise<void> {
      await endSession(caller.sessionId, caller.userId, clock.now());
    },

    /** Ends one session of the user (a sign-in that must not stand after all). */
    async end(sessionId: string, userId: string): Promise<void> {
      await endSession(sessionId, userId, clock.now());
    },

    /** Removes every session and refresh token of a user whose account is being deleted. */
    async forget(userId: string): Promise<void> {
      // Sessions first, so that no call can slip through while the rest is removed.
      await store.sessions.deleteAllForUser(userId);
      await store.refreshTokens.deleteAllForUser(userId);
    },

    /** After a security change whose cutoff has already ended them (see cleanUpAfterCutoff). */
    revokeAllOf: cleanUpAfterCutoff,
  };
}

export type Sessions = ReturnType<typeof createSessions>;
