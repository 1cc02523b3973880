// The password as a first factor: email and password in, the user as read when the password was
// verified out (with its hash upgraded to the current argon2 parameters when it was weaker).
// Unknown email and wrong password are one answer, after the same work (passwords/check.ts).
// Which guessing limits apply depends on the client: a known device of this very account (its
// token is genuine for the email and still current for the account) is counted apart from strangers.
import type { Clock } from "../clock.ts";
import { AuthError } from "../errors.ts";
import { normalizeEmail } from "../input.ts";
import type { Logger } from "../log.ts";
import type { GuessSource, PasswordCheck } from "../passwords/check.ts";
import type { PasswordHasher } from "../passwords/hasher.ts";
import { checkPresentedPassword } from "../passwords/policy.ts";
import type { UserRecord, UserStore } from "../store/port.ts";
import { type DeviceClaim, deviceOwner, isCurrentFor } from "../tokens/devices.ts";

export interface PasswordFactorDeps {
  users: UserStore;
  hasher: PasswordHasher;
  clock: Clock;
  log: Pick<Logger, "info">;
}

/** Checks the shapes first (so bad input costs nothing), then returns a verifier for them. */
export function passwordFactor(deps: PasswordFactorDeps, checkPassword: PasswordCheck) {
  const { users, hasher, clock, log } = deps;
  return {
    parse(input: { email: string; password: string }) {
      return { email: normalizeEmail("email", input.email), password: checkPresentedPassword("password", input.password) };
    },

    async verify(
      input: { email: string; password: string },
      from: { address: string; device: DeviceClaim | null; requestId?: string | undefined },
    ): Promise<UserRecord> {
      const read: { user: UserRecord | null } = { user: null };
      const lookup = async () => {
        read.user = await users.findByEmail(input.email);
        return read.user;
      };
      // A token genuine for this email (tokens/devices.ts checks that without reading the account) is
      // counted on its device before the lookup; whether the account still honours it is known
      // only after, and a voided one is counted as a stranger's. Any other client is a stranger,
      // whose limits all come before the lookup. Either way a refusal by the limits that need no
      // account reads nothing about it, so it takes the same time whether or not it exists.
      const { address, device } = from;
      const source: GuessSource =
        device === null
          ? { kind: "stranger", address }
          : {
              kind: "device",
              address,
              deviceId: device.deviceId,
              isCurrentFor: (user) => isCurrentFor(device, user === null ? null : deviceOwner(user)),
            };
      const ok = await checkPassword(input.email, lookup, input.password, source);
      const user = read.user;
      if (!ok || user === null || user.passwordHash === null) {
        // Whose account was guessed at, by its id: never the email, which a stranger may have typed
        // a password into. Written whether or not there is an account, so that the work does not
        // tell them apart; the access-log line of the request says the same refusal without whose.
        log.info({ userId: user?.id, clientIp: address, requestId: from.requestId }, "sign-in refused: wrong password");
        throw new AuthError("INVALID_CREDENTIALS", "invalid email or password");
      }
      if (!hasher.needsRehash(user.passwordHash)) return user;
      // Conditional on the hash just verified: a password changed meanwhile is not overwritten.
      const upgraded = await users.update(
        user.id,
        { passwordHash: await hasher.hash(input.password), updatedAt: clock.now() },
        { ifPasswordHash: user.passwordHash },
      );
      if (upgraded === null) return user;
      log.info({ userId: user.id }, "password hash upgraded to current parameters");
      return upgraded;
    },
  };
}
