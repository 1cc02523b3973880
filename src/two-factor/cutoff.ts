// Ending the other sessions of a two-factor change, through the session cutoff of the record.

import { type Caller, sessionEnded } from "../sessions/caller.ts";
import { passesCutoff } from "../sessions/sessions.ts";
import type { TwoFactorRecord } from "../store/port.ts";

/**
 * Ends every session of the record's user but the caller's, in the same write as the change:
 * a crash or failover before the session records are cleaned up cannot leave them usable.
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
 * (RemoveDevice, Disable, a confirmed Reset) has ended since the call was authenticated.
 */
export function requireCallerPasses(record: TwoFactorRecord, caller: Caller): void {
  if (!passesCutoff(record.sessionCutoff, caller.sessionId, caller.generations.twoFactor)) {
    throw sessionEnded();
  }
}
