// The rule every way of removing a way in obeys: an account always keeps at least one sign-in
// method, or its owner could never sign in again. The methods are the password (when set), the
// passkeys and the linked OpenID Connect provider accounts. UnlinkAccount and RemovePasskey both
// ask countSignInMethods, so the rule is written once. ListLinkedAccounts shows the password and
// the providers (passkeys have their own list, PasskeyService.ListPasskeys).
import { AuthError } from "../errors.ts";
import type { Caller, ClientInfo } from "../sessions/caller.ts";
import { keepOnlyCaller } from "../sessions/cutoffs.ts";
import type { ProviderLinkRecord, Store, UserPatch, UserRecord } from "../store/port.ts";
import type { TwoFactor } from "../two-factor/two-factor.ts";

/** One way in, as ListLinkedAccounts shows it. */
export interface SignInMethod {
  /** What UnlinkAccount takes: "password", or the provider link's id. */
  id: string;
  /** "password", or the configured provider id (e.g. "google"). */
  provider: string;
  /** The email for the password; the provider's subject for a provider. */
  providerAccountId: string;
  /** The email address the method goes with (the provider's, for a provider; may be ""). */
  email: string;
  createdAt: Date;
}

export const passwordMethodId = "password";

export const providerMethod = (link: ProviderLinkRecord): SignInMethod => ({
  id: link.id,
  provider: link.provider,
  providerAccountId: link.subject,
  email: link.email,
  createdAt: link.createdAt,
});

/** The password (when set), then the linked providers, oldest first. */
export async function listSignInMethods(store: Pick<Store, "providerLinks">, user: UserRecord): Promise<SignInMethod[]> {
  const methods: SignInMethod[] = [];
  if (user.passwordHash !== null) {
    methods.push({
      id: passwordMethodId,
      provider: "password",
      providerAccountId: user.email,
      email: user.email,
      createdAt: user.passwordUpdatedAt ?? user.createdAt,
    });
  }
  for (const link of await store.providerLinks.listForUser(user.id)) methods.push(providerMethod(link));
  return methods;
}

/** How many ways the user can sign in by, read from the store now. */
export async function countSignInMethods(store: Pick<Store, "passkeys" | "providerLinks">, user: UserRecord): Promise<number> {
  const [linked, passkeys] = await Promise.all([listSignInMethods(store, user), store.passkeys.listForUser(user.id)]);
  return linked.length + passkeys.length;
}

/**
 * The re-check after a removal, which makes the rule hold under concurrency. The check before a
 * removal cannot see another removal running beside it (RemovePasskey and UnlinkAccount at once,
 * each counting the other's method), so once removed, the methods are counted again from the
 * store (the user re-read: the password may have gone too); with none left, this removal is put
 * back and refused. Of removals that raced, the one counting last sees every removal made before
 * its count, so it finds none left unless one was put back: the account never stays without a
 * way in.
 */
export async function keepOneSignInMethod(
  store: Pick<Store, "users" | "passkeys" | "providerLinks">,
  userId: string,
  restore: () => Promise<unknown>,
): Promise<void> {
  const user = await store.users.findById(userId);
  if (user === null || (await countSignInMethods(store, user)) > 0) return;
  await restore();
  throw lastSignInMethod();
}

/** The patch that marks the address proven, keeping when it was first proven. */
export function addressProven(user: UserRecord, now: Date): Pick<UserPatch, "emailVerified" | "emailVerifiedAt"> {
  return { emailVerified: true, emailVerifiedAt: user.emailVerifiedAt ?? now };
}

/**
 * The owner just proved the mailbox (a password reset, an email sign-in). A way in added before
 * the address was first proven was added by whoever made the account, who may not own the address
 * (account pre-hijacking): those passkeys and linked providers go.
 *
 * The second factor goes only while the address was never proven (or with `everything`): kept,
 * the maker's authenticator would lock the owner out. Once the address is proven it stays, even
 * if turned on before: it may be the owner's (where EMAIL_VERIFICATION_REQUIRED is off, owners
 * enrol before they verify), and a mailbox alone must never be a way round a second factor.
 *
 * A VerifyEmail proves the address but drops nothing (whoever redeems the code may be the maker);
 * what was added before it goes at the owner's next reset or email sign-in. What the maker adds
 * after it, signing in with their password, is not told apart from the owner's and stays: the
 * verification mail tells an owner who did not make the account to reset the password instead.
 * Returns whether a passkey or link went (the second factor's reset ends the sessions itself).
 */
export async function dropMethodsAddedUnproven(
  store: Pick<Store, "passkeys" | "providerLinks">,
  secondFactor: Pick<TwoFactor, "resetBy">,
  user: UserRecord,
  client: ClientInfo,
  everything = false,
): Promise<boolean> {
  const provenAt = everything ? null : user.emailVerifiedAt;
  const unproven = (added: Date) => provenAt === null || added < provenAt;
  let dropped = false;
  for (const passkey of await store.passkeys.listForUser(user.id)) {
    if (unproven(passkey.createdAt)) dropped = (await store.passkeys.delete(user.id, passkey.id)) || dropped;
  }
  for (const link of await store.providerLinks.listForUser(user.id)) {
    if (unproven(link.createdAt)) dropped = (await store.providerLinks.delete(link.id, user.id)) || dropped;
  }
  if (provenAt === null) await secondFactor.resetBy(user, client, "as the owner proved an address nobody had proven");
  return dropped;
}

/**
 * After a passkey or provider link was removed: every session but the caller's ends, as removing
 * the password ends them. A session does not record how it was opened, and one opened with the
 * removed way in (stolen, perhaps: the reason to remove it) must not outlive it.
 */
export async function endOtherSessions(store: Pick<Store, "users" | "twoFactor">, caller: Caller, now: Date): Promise<void> {
  // Only while the caller's session still passes both cutoffs. A security change that ended it
  // since it was authenticated (a new password, a second factor turned on) has ended every other
  // session but its own already; keeping the caller's now would end that one instead.
  await keepOnlyCaller(store, caller, { updatedAt: now });
}

/** The refusal to remove the last one. */
export const lastSignInMethod = () =>
  new AuthError("LAST_SIGN_IN_METHOD", "this is the only way to sign in to the account; add another first");
