// ListLinkedAccounts and UnlinkAccount: the ways in an account has (the password and the linked
// provider accounts; passkeys have PasskeyService), and removing one, never the last
// (sign-in-methods.ts holds that rule, shared with RemovePasskey).
import type { Clock } from "../clock.ts";
import { AuthError } from "../errors.ts";
import { checkId } from "../input.ts";
import type { Logger } from "../log.ts";
import type { Notifier } from "../mail/notifications.ts";
import { requireUser, type Caller, type ClientInfo, sessionEnded } from "../sessions/caller.ts";
import { passesTwoFactorCutoff, requireBothCutoffsPass } from "../sessions/cutoffs.ts";
import type { Store } from "../store/port.ts";
import type { Reauthentication } from "../two-factor/reauthentication.ts";
import type { TwoFactor } from "../two-factor/two-factor.ts";
import {
  countSignInMethods,
  endOtherSessions,
  keepOneSignInMethod,
  lastSignInMethod,
  listSignInMethods,
  passwordMethodId,
  type SignInMethod,
} from "./sign-in-methods.ts";

export interface LinkedAccountsDeps {
  store: Pick<Store, "users" | "passkeys" | "providerLinks" | "twoFactor">;
  clock: Clock;
  /** The fresh proof a removal needs (a recent sign-in, or a reauthentication). */
  twoFactor: Pick<TwoFactor, "confirmIdentity">;
  notifier: Notifier;
  log: Pick<Logger, "info">;
}

export function createLinkedAccounts(deps: LinkedAccountsDeps) {
  const { store, clock, twoFactor, log } = deps;
  const notFound = () => new AuthError("NOT_FOUND", "no such linked account", { field: "id" });

  return {
    async list(caller: Caller): Promise<SignInMethod[]> {
      return listSignInMethods(store, await requireUser(store.users, caller));
    },

    /**
     * Removes a sign-in method, never the last one, and ends the caller's other sessions: in the
     * same write for the password (a challenge it issued is void with them), right after for a
     * provider link (endOtherSessions). The owner is told either way.
     */
    async unlink(caller: Caller, rawId: string, proof: Reauthentication, client: ClientInfo): Promise<void> {
      const id = checkId("id", rawId);
      const user = await requireUser(store.users, caller);
      const methods = await listSignInMethods(store, user);
      if (!methods.some((m) => m.id === id)) throw notFound();
      if ((await countSignInMethods(store, user)) <= 1) throw lastSignInMethod();
      await twoFactor.confirmIdentity(caller, user, proof, client);
      if (id === passwordMethodId) {
        if (!(await passesTwoFactorCutoff(store, caller))) throw sessionEnded();
        // Only over the password checked, and only while the caller's session still passes the
        // cutoff: a security change that ended it since it was authenticated (RevokeOtherSessions,
        // an administrator's sign-out) must not be followed by this removal, whose cutoff keeps
        // the caller and would end the session that made that change.
        const updated = await store.users.update(
          user.id,
          { passwordHash: null, passwordUpdatedAt: null, updatedAt: clock.now() },
          {
            ifPasswordHash: user.passwordHash,
            ifSessionPasses: { sessionId: caller.sessionId, generation: caller.generations.user },
            endSessions: { keep: caller.sessionId },
          },
        );
        if (updated === null) {
          const now = await store.users.findById(user.id);
          if (now !== null && now.passwordHash === user.passwordHash) throw sessionEnded();
          throw notFound();
        }
        // Put back only while no other password was set since (the sessions it ended stay ended).
        const { passwordHash, passwordUpdatedAt } = user;
        await keepOneSignInMethod(store, user.id, () =>
          store.users.update(user.id, { passwordHash, passwordUpdatedAt, updatedAt: clock.now() }, { ifPasswordHash: null }),
        );
      } else {
        const link = (await store.providerLinks.listForUser(user.id)).find((l) => l.id === id);
        if (link === undefined) throw notFound();
        // Not from a session ended since it was authenticated: the owner who ended it keeps the link.
        await requireBothCutoffsPass(store, caller);
        if (!(await store.providerLinks.delete(id, user.id))) throw notFound();
        await keepOneSignInMethod(store, user.id, () => store.providerLinks.insert(link));
        await endOtherSessions(store, caller, clock.now());
      }
      log.info({ userId: user.id, method: id === passwordMethodId ? "password" : "provider" }, "sign-in method removed");
      deps.notifier.notify(user, "sign_in_method_removed", client);
    },
  };
}
