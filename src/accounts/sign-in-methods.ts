// The rule every way of removing a way in obeys: an account always keeps at least one sign-in
// method, or its owner could never sign in again. The methods are the password (when set), the
// passkeys and the linked OpenID Connect provider accounts. UnlinkAccount and RemovePasskey both
// ask countSignInMethods, so the rule is written once. ListLinkedAccounts shows the password and
// the providers (passkeys have their own list, PasskeyService.ListPasskeys).
import { AuthError } from "../errors.ts";
import type { ClientInfo } from "../sessions/caller.ts";
import type { ProviderLinkRecord, Store, UserRecord } from "../store/port.ts";
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

/**
 * The address was just proven (a password reset, an email sign-in) on an account where nobody had
 * proven it: the account may have been made by someone else with the address and credentials of
 * theirs (account pre-hijacking), so every passkey and linked provider, all added before the
 * proof, goes, and so does any second factor (kept, the maker's authenticator would lock the owner
 * out; its cutoff is raised). The owner who proved the mailbox adds their own.
 */
export async function dropMethodsAddedUnproven(
  store: Pick<Store, "passkeys" | "providerLinks">,
  secondFactor: Pick<TwoFactor, "resetBy">,
  user: UserRecord,
  client: ClientInfo,
): Promise<void> {
  await store.passkeys.deleteAllForUser(user.id);
  await store.providerLinks.deleteAllForUser(user.id);
  await secondFactor.resetBy(user, client, "as an address nobody had proven was proven");
}

/** The refusal to remove the last one. */
export const lastSignInMethod = () =>
  new AuthError("LAST_SIGN_IN_METHOD", "this is the only way to sign in to the account; add another first");
