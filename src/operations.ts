// The operations every transport calls: one implementation per operation, built by
// server/compose.ts. Transports import this type, never the composition.
import type { Accounts } from "./accounts/accounts.ts";
import type { Admin } from "./admin/admin.ts";
import type { Federation } from "./federation/federation.ts";
import type { ForwardAuth } from "./forward-auth/forward-auth.ts";
import type { TokenIntrospection } from "./introspection/introspection.ts";
import type { Principals } from "./service-accounts/principal.ts";
import type { ServiceAccounts } from "./service-accounts/service-accounts.ts";
import type { Passkeys } from "./passkeys/passkeys.ts";
import type { Sessions } from "./sessions/sessions.ts";
import type { EmailSignIn } from "./sign-in/email.ts";
import type { PasskeySignIn } from "./sign-in/passkey.ts";
import type { SignIn } from "./sign-in/sign-in.ts";
import type { TwoFactor } from "./two-factor/two-factor.ts";

export interface Operations {
  accounts: Accounts;
  sessions: Sessions;
  twoFactor: TwoFactor;
  signIn: SignIn;
  /** Passwordless sign-in by a mailed code or link (off unless EMAIL_SIGN_IN). */
  emailSignIn: EmailSignIn;
  /** Passkeys: a signed-in user's (register, list, rename, remove) and signing in with one. */
  passkeys: Passkeys;
  passkeySignIn: PasskeySignIn;
  /** Sign-in with OpenID Connect providers, and linking them (no providers when off). */
  federation: Federation;
  /** Who is calling, user or service, for the calls that accept both. */
  principals: Principals;
  serviceAccounts: ServiceAccounts;
  introspection: TokenIntrospection;
  forwardAuth: ForwardAuth;
  admin: Admin;
}
