// The rule every way of removing a way in obeys: an account always keeps at least one sign-in
// method, or its owner could never sign in again. The methods are the password (when set) and the
// passkeys; providers linked later count here too. UnlinkAccount and RemovePasskey both ask this
// one function, so the rule is written once.
import { AuthError } from "../errors.ts";
import type { Store, UserRecord } from "../store/port.ts";

/** How many ways the user can sign in by, read from the store now. */
export async function countSignInMethods(store: Pick<Store, "passkeys">, user: UserRecord): Promise<number> {
  const password = user.passwordHash === null ? 0 : 1;
  return password + (await store.passkeys.listForUser(user.id)).length;
}

/** The refusal to remove the last one. */
export const lastSignInMethod = () =>
  new AuthError("LAST_SIGN_IN_METHOD", "this is the only way to sign in to the account; add another first");
