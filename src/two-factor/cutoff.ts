// Ending the other sessions of a two-factor change, and refusing a change from a session a
// security change has ended.
//
// A user's sessions must pass two cutoffs, in two documents: the user record's and the two-factor
// record's. A change that keeps the caller's session and ends the others (Enable, Disable,
// RemoveDevice, a confirmed Reset) makes two writes, in this order:
//  1. endOthersFirst: the user record's cutoff raised keeping the caller, only while the caller
//     still passes it (keepOnlyCaller). Every change that keeps its caller, in either record, makes
//     this write, so it orders them: of two such changes from two sessions (the owner's and a
//     thief's), the first to land has ended the other's session and the other's write is refused,
//     whichever of the two records each change is about. It comes after every check and proof,
//     right before the change's own write: a change refused here leaves the second factor as it
//     was (but for a code spent to prove it), and a wrong code or password ends no session.
//  2. the change itself, in the two-factor record's compare-and-set, with that record's cutoff
//     raised keeping the caller too (cutOffOtherSessions): it also ends a session opened between
//     the two writes, under a second factor not yet changed.
// A crash or failure between the two leaves the other sessions ended and the second factor
// unchanged (the caller may try again): never a change made with the other sessions alive. The
// reverse order would leave a window after the change in which another session's "keep me" write
// could still land: both sessions ended, the owner signed out everywhere.

import type { Clock } from "../clock.ts";
import { type Caller, sessionEnded } from "../sessions/caller.ts";
import { keepOnlyCaller, passesCutoff, passesUserCutoff } from "../sessions/cutoffs.ts";
import type { Store, TwoFactorRecord } from "../store/port.ts";

/**
 * The first write of a two-factor change that keeps the caller's session and ends the others (see
 * above): SESSION_REVOKED, with nothing written, unless the caller's session still passes both
 * cutoffs. Called once the change has been proven, right before its own write.
 */
export async function endOthersFirst(store: Pick<Store, "users" | "twoFactor">, clock: Clock, caller: Caller): Promise<void> {
  const raised = await keepOnlyCaller(store, caller, { updatedAt: clock.now() }, { twoFactorChange: true });
  if (raised === null) throw sessionEnded();
}

/**
 * The second write's part: ends every session of the record's user but the caller's, in the same
 * write as the change, so that a crash or failover before the session records are cleaned up
 * cannot leave them usable.
 */
export function cutOffOtherSessions(record: TwoFactorRecord, caller: Caller): void {
  // Only a session this record still lets through may be the one kept: a change that lands after
  // a concurrent one ended the caller's session must not revive it (and end the other's).
  requireCallerPasses(record, caller);
  record.sessionCutoff = { generation: record.sessionCutoff.generation + 1, keptSessionId: caller.sessionId };
}

/**
 * SESSION_REVOKED unless the record's cutoff still lets the caller's session through: a change
 * written in the same compare-and-set does not land from a session a concurrent two-factor change
 * (RemoveDevice, Disable, a confirmed Reset) has ended since the call was authenticated. The user
 * record's cutoff is another document: a change that keeps the caller has checked it in its first
 * write (endOthersFirst), one that does not reads it just before (requireUserCutoffPasses).
 */
export function requireCallerPasses(record: TwoFactorRecord, caller: Caller): void {
  if (!passesCutoff(record.sessionCutoff, caller.sessionId, caller.generations.twoFactor)) {
    throw sessionEnded();
  }
}

/**
 * SESSION_REVOKED unless the user record's cutoff, read now, still lets the caller's session
 * through: a change that ends no session (AddDevice) does not land from a session that a password
 * change, RevokeOtherSessions or the like has ended since the call was authenticated. Read just
 * before the change's write, not in it: one that lands in between is not seen (to be ordered by it,
 * the change would have to end the other sessions, as endOthersFirst does).
 */
export async function requireUserCutoffPasses(store: Pick<Store, "users">, caller: Caller): Promise<void> {
  if (!(await passesUserCutoff(store, caller))) throw sessionEnded();
}
