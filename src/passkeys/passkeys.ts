// The PasskeyService operations of a signed-in user: register (after a recent sign-in, the same
// step-up rule as every high-value change), list, rename and remove (never the last sign-in
// method). Signing in with a passkey is the sign-in capability's (sign-in/passkey.ts); the
// ceremonies' checks are relying-party.ts's.
import { randomUUID } from "node:crypto";
import { countSignInMethods, endOtherSessions, keepOneSignInMethod, lastSignInMethod } from "../accounts/sign-in-methods.ts";
import type { Clock } from "../clock.ts";
import { AuthError, invalidArgument } from "../errors.ts";
import { checkId } from "../input.ts";
import type { Logger } from "../log.ts";
import type { Notifier } from "../mail/notifications.ts";
import { requireUser as requireUserOf, type Caller, type ClientInfo, unknownClient } from "../sessions/caller.ts";
import { requireBothCutoffsPass } from "../sessions/cutoffs.ts";
import type { PasskeyRecord, Store } from "../store/port.ts";
import { checkDeviceName } from "../two-factor/inputs.ts";
import type { Reauthentication } from "../two-factor/reauthentication.ts";
import type { TwoFactor } from "../two-factor/two-factor.ts";
import type { CeremonyOptions, RelyingParty } from "./relying-party.ts";

/** What a transport may show of a passkey: never its key. */
export interface PasskeyView {
  id: string;
  name: string;
  credentialId: string;
  transports: string[];
  backupEligible: boolean;
  backedUp: boolean;
  createdAt: Date;
  lastUsedAt: Date | null;
}

export interface PasskeysDeps {
  store: Pick<Store, "users" | "passkeys" | "providerLinks" | "twoFactor">;
  clock: Clock;
  log: Pick<Logger, "info">;
  notifier: Notifier;
}

/** Enough for every device a person owns, few enough to keep the options small. */
const maxPasskeys = 20;

export function passkeyView(p: PasskeyRecord): PasskeyView {
  const { id, name, credentialId, transports, backupEligible, backedUp, createdAt, lastUsedAt } = p;
  return { id, name, credentialId, transports: [...transports], backupEligible, backedUp, createdAt, lastUsedAt };
}

export function createPasskeys(deps: PasskeysDeps, rp: RelyingParty, twoFactor: Pick<TwoFactor, "confirmIdentity">) {
  const { store, clock, log, notifier } = deps;
  const requireUser = (caller: Caller) => requireUserOf(store.users, caller);

  /**
   * The WebAuthn user handle: the one the user's passkeys already carry, else the user's id (a
   * random UUID: no personal data, as WebAuthn asks), so the start and the finish of a first
   * registration agree without storing anything between them.
   */
  function userHandleOf(userId: string, existing: PasskeyRecord[]): string {
    return existing[0]?.userHandle ?? Buffer.from(userId, "utf8").toString("base64url");
  }

  return {
    async startRegistration(caller: Caller, proof: Reauthentication, client: ClientInfo = unknownClient): Promise<CeremonyOptions> {
      rp.requireOn();
      const user = await requireUser(caller);
      await twoFactor.confirmIdentity(caller, user, proof, client);
      const existing = await store.passkeys.listForUser(user.id);
      if (existing.length >= maxPasskeys) {
        throw new AuthError("DEVICE_LIMIT_REACHED", `an account can have at most ${maxPasskeys} passkeys; remove one first`);
      }
      return rp.registrationOptions(user, existing, userHandleOf(user.id, existing));
    },

    async finishRegistration(caller: Caller, input: { credentialJson: string; name: string }, client: ClientInfo): Promise<PasskeyView> {
      rp.requireOn();
      const name = checkDeviceName("name", input.name, "Passkey");
      const user = await requireUser(caller);
      const credential = await rp.verifyRegistration(user.id, input.credentialJson, "credential_json");
      const existing = await store.passkeys.listForUser(user.id);
      const passkey: PasskeyRecord = {
        id: randomUUID(),
        userId: user.id,
        ...credential,
        userHandle: userHandleOf(user.id, existing),
        name,
        createdAt: clock.now(),
        lastUsedAt: null,
      };
      if (!(await store.passkeys.insert(passkey))) {
        throw new AuthError("INVALID_PASSKEY", "this passkey is registered already");
      }
      log.info({ userId: user.id, passkeyId: passkey.id }, "passkey registered");
      notifier.notify(user, "passkey_added", client);
      return passkeyView(passkey);
    },

    async list(caller: Caller): Promise<PasskeyView[]> {
      return (await store.passkeys.listForUser(caller.userId)).map(passkeyView);
    },

    async rename(caller: Caller, rawId: string, rawName: string): Promise<PasskeyView> {
      const id = checkId("passkey_id", rawId);
      if (rawName.trim().length === 0) throw invalidArgument("name", "name is required");
      const name = checkDeviceName("name", rawName, "Passkey");
      const renamed = await store.passkeys.rename(caller.userId, id, name);
      if (renamed === null) throw new AuthError("NOT_FOUND", "no such passkey", { field: "passkey_id" });
      return passkeyView(renamed);
    },

    async remove(caller: Caller, rawId: string, proof: Reauthentication, client: ClientInfo): Promise<void> {
      const id = checkId("passkey_id", rawId);
      const user = await requireUser(caller);
      const passkey = (await store.passkeys.listForUser(user.id)).find((p) => p.id === id);
      if (passkey === undefined) throw new AuthError("NOT_FOUND", "no such passkey", { field: "passkey_id" });
      if ((await countSignInMethods(store, user)) <= 1) throw lastSignInMethod();
      await twoFactor.confirmIdentity(caller, user, proof, client);
      // Not from a session ended since it was authenticated: the owner who ended it keeps the passkey.
      await requireBothCutoffsPass(store, caller);
      if (!(await store.passkeys.delete(user.id, id))) throw new AuthError("NOT_FOUND", "no such passkey", { field: "passkey_id" });
      await keepOneSignInMethod(store, user.id, () => store.passkeys.insert(passkey));
      await endOtherSessions(store, caller, clock.now());
      log.info({ userId: user.id, passkeyId: id }, "passkey removed");
      notifier.notify(user, "passkey_removed", client);
    },
  };
}

export type Passkeys = ReturnType<typeof createPasskeys>;
