// A user's sessions pass two cutoffs, in two documents: the user record's (a new password,
// RevokeOtherSessions, a removed sign-in method, a disabled account) and the two-factor record's
// (the second factor turned on or off, a device removed, a reset). What a session must pass, and
// the one write that orders every change keeping its caller's session (keepOnlyCaller).
import type { SessionCutoff, SessionRecord, Store, TwoFactorRecord, UserPatch, UserRecord } from "../store/port.ts";
import { type Caller, sessionEnded } from "./caller.ts";

/** A session opened under an older generation than the record's cutoff has ended, unless kept. */
export function passesCutoff(cutoff: SessionCutoff, sessionId: string, generation: number): boolean {
  return generation >= cutoff.generation || cutoff.keptSessionId === sessionId;
}

/**
 * Whether the caller's session still passes its user's two-factor cutoff, as the record reads now.
 * Every change that keeps the caller's session and ends the others, whichever record it changes,
 * raises the user record's cutoff in a write conditional on it (keepOnlyCaller), so two such
 * changes are ordered by that one document. What only the two-factor record's cutoff says is read
 * just before: a reset of the second factor that keeps no session (an administrator's, or the
 * first proof of the address) raises that cutoff alone, and so did every two-factor change of a
 * release before this one (a replica of one may still be running). Such a change landing between
 * this read and the write is not seen; it ended every session, the caller's included, so the
 * caller's write can end sessions but keeps none alive.
 */
export async function passesTwoFactorCutoff(store: Pick<Store, "twoFactor">, caller: Caller): Promise<boolean> {
  const record = await store.twoFactor.get(caller.userId);
  return record === null || passesCutoff(record.sessionCutoff, caller.sessionId, caller.generations.twoFactor);
}

/** Whether the caller's session still passes its user's own cutoff, as the record reads now. */
export async function passesUserCutoff(store: Pick<Store, "users">, caller: Caller): Promise<boolean> {
  const user = await store.users.findById(caller.userId);
  return user !== null && passesCutoff(user.sessionCutoff, caller.sessionId, caller.generations.user);
}

/**
 * SESSION_REVOKED unless the caller's session still passes both cutoffs, as they read now: a change
 * from a session a security change has ended since the call was authenticated (the proofs before
 * it take a while: argon2, a passkey) changes nothing. A read just before the change, for what no
 * write of the change can be conditional on (a record of another kind): one store round trip is
 * left open.
 */
export async function requireBothCutoffsPass(store: Pick<Store, "users" | "twoFactor">, caller: Caller): Promise<void> {
  if (!(await passesUserCutoff(store, caller)) || !(await passesTwoFactorCutoff(store, caller))) throw sessionEnded();
}

/**
 * The write of every change that keeps the caller's session and ends the others (RevokeOtherSessions,
 * a removed sign-in method, and with `twoFactorChange` Enable, Disable and RemoveDevice, whose own
 * write comes after it): `patch`, with the user's cutoff raised keeping only the caller's session,
 * only while that session still passes the cutoff, in one conditional single-document write. Of
 * two such changes from two sessions, the first to land has ended the other's session, so the
 * other's write is refused: exactly one of them wins, whichever records they change, on any store.
 * Null (nothing written) when the caller no longer passes its user's cutoff or the two-factor one
 * (read just before: passesTwoFactorCutoff).
 */
export async function keepOnlyCaller(
  store: Pick<Store, "users" | "twoFactor">,
  caller: Caller,
  patch: UserPatch,
  options: { twoFactorChange?: boolean } = {},
): Promise<UserRecord | null> {
  if (!(await passesTwoFactorCutoff(store, caller))) return null;
  return store.users.update(caller.userId, patch, {
    ifSessionPasses: { sessionId: caller.sessionId, generation: caller.generations.user },
    endSessions: { keep: caller.sessionId, ...(options.twoFactorChange === true && { twoFactorChange: true }) },
  });
}

/** Whether a session passes both cutoffs of its user (a missing two-factor record has none). */
export function passesBoth(session: SessionRecord, user: UserRecord, twoFactor: TwoFactorRecord | null): boolean {
  return (
    passesCutoff(user.sessionCutoff, session.id, session.generations.user) &&
    (twoFactor === null || passesCutoff(twoFactor.sessionCutoff, session.id, session.generations.twoFactor))
  );
}
