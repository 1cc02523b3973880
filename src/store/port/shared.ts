// What more than one kind of record holds: the session cutoff, carried by users and by two-factor
// records alike. Part of the storage port; the rules every adapter honours are in ../port.ts.

/**
 * Ends sessions without touching them: every session records the generation it was opened under,
 * and a session whose generation is older than its user's current one is refused, unless it is
 * the one the change kept (the caller's own). Raising the generation is written in the same
 * single-document update as the security change that requires it, so the sessions end even if
 * the process dies or MongoDB fails over before the session records are cleaned up.
 */
export interface SessionCutoff {
  generation: number;
  /** The session the latest change let through (the one that made it); null for none. */
  keptSessionId: string | null;
}

export const noCutoff: SessionCutoff = { generation: 0, keptSessionId: null };
