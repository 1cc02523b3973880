// The signed-in caller proving who they are again: the password before changes of the second
// factor, and the step-up check of high-value changes (reauthentication.ts says why).

import type { Clock } from "../clock.ts";
import { AuthError, invalidArgument } from "../errors.ts";
import type { PasswordCheck } from "../passwords/check.ts";
import { checkPresentedPassword } from "../passwords/policy.ts";
import type { Caller, ClientInfo } from "../sessions/caller.ts";
import type { UserRecord } from "../store/port.ts";
import type { FactorProofs } from "./proof.ts";
import { isGiven, signedInRecently, type Reauthentication } from "./reauthentication.ts";
import type { TwoFactorRecords } from "./record.ts";

export interface StepUpDeps {
  clock: Clock;
  records: Pick<TwoFactorRecords, "load">;
  checkPassword: PasswordCheck;
  /** How long after signing in high-value changes need no fresh proof (see reauthentication.ts). */
  reauthMaxAgeSeconds: number;
  proofs: Pick<FactorProofs, "checkProof" | "prove">;
}

export function createStepUp(deps: StepUpDeps) {
  const { clock, checkPassword } = deps;
  const { load } = deps.records;
  const { checkProof, prove } = deps.proofs;

  /**
   * The signed-in caller's password, counted under their session (passwords/check.ts), not
   * strangers' limits; `client` is the request's, whose network's share of the hashing queue it takes.
   */
  async function passwordProof(caller: Caller, user: UserRecord, raw: string, client: ClientInfo, field = "password"): Promise<void> {
    const password = checkPresentedPassword(field, raw);
    const from = { kind: "session", sessionId: caller.sessionId, address: client.ipAddress } as const;
    if (!(await checkPassword(user.email, user, password, from))) {
      throw new AuthError("INVALID_CREDENTIALS", "the password is wrong", { field });
    }
  }

  /**
   * Lets a high-value change through when the session signed in recently, or when the request
   * proves the password (if the account has one) and, with 2FA on, a second factor. Every part is
   * checked for shape before any is checked for truth, and the password before the second factor,
   * so a wrong password never spends a code. Both run under their usual guessing limits.
   */
  async function confirmIdentity(caller: Caller, user: UserRecord, proof: Reauthentication, client: ClientInfo): Promise<void> {
    if (!isGiven(proof)) {
      if (signedInRecently(caller.signedInAt, clock.now(), deps.reauthMaxAgeSeconds)) return;
      throw new AuthError(
        "REAUTHENTICATION_REQUIRED",
        "this change needs a recent sign-in: sign in again, or send the password (and a second-factor code) with it",
      );
    }
    const hasPassword = user.passwordHash !== null;
    if (hasPassword && proof.password.length === 0) {
      throw invalidArgument("reauthentication.password", "reauthentication.password is required");
    }
    const record = await load(user.id);
    const factor =
      record.enabledAt === null
        ? undefined
        : checkProof({ code: proof.code, recoveryCode: proof.recoveryCode }, "reauthentication.code", "reauthentication.recovery_code");
    if (!hasPassword && factor === undefined) {
      // Nothing this account can prove here (no password, no second factor): only a new sign-in.
      throw new AuthError("REAUTHENTICATION_REQUIRED", "this change needs a recent sign-in: sign in again");
    }
    if (hasPassword) await passwordProof(caller, user, proof.password, client, "reauthentication.password");
    if (factor !== undefined) await prove(user, factor, client);
  }

  return { passwordProof, confirmIdentity };
}
