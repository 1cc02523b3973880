// The password as a first factor: email and password in, the user as read when the password was
// verified out (with its hash upgraded to the current argon2 parameters when it was weaker).
// Unknown email and wrong password are one answer, after the same work (passwords/check.ts).
// Which guessing limits apply depends on the client: a known device of this very account (its
// token's account is the one the email names) is counted apart from strangers.
import type { Clock } from "../clock.ts";
import { AuthError } from "../errors.ts";
import { normalizeEmail } from "../input.ts";
import type { Logger } from "../log.ts";
import type { PasswordCheck } from "../passwords/check.ts";
import type { PasswordHasher } from "../passwords/hasher.ts";
import { checkPresentedPassword } from "../passwords/policy.ts";
import type { UserRecord, UserStore } from "../store/port.ts";
import type { DeviceClaim } from "./devices.ts";

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

    async verify(input: { email: string; password: string }, from: { address: string; device: DeviceClaim | null }): Promise<UserRecord> {
      const user = await users.findByEmail(input.email);
      const knownDeviceId = from.device !== null && user !== null && from.device.userId === user.id ? from.device.deviceId : null;
      const source = { address: from.address, knownDeviceId };
      if (!(await checkPassword(input.email, user, input.password, source)) || user === null || user.passwordHash === null) {
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
