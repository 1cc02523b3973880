// Steps several documents' routes take the same way: reading a login or a registration from the
// body, the second login step, the session cookie, and the proof that disables 2FA.

import { AuthError } from "../errors.ts";
import type { TokenPair } from "../sessions/sessions.ts";
import type { LoginResult, SignedInOnDevice } from "../sign-in/sign-in.ts";
import type { Operations, RouteInput } from "./declaration.ts";

export function login(input: RouteInput, ops: Operations, codeField: string, rememberField = "rememberMe"): Promise<LoginResult> {
  return ops.signIn.login(
    {
      email: input.body.str("email"),
      password: input.body.str("password"),
      rememberMe: input.body.bool(rememberField),
      loginCode: input.body.str(codeField),
      recoveryCode: input.body.str("recoveryCode"),
      deviceToken: input.deviceToken,
    },
    input.client,
  );
}

export function complete(
  ops: Operations,
  challenge: string,
  code: string,
  input: Pick<RouteInput, "client" | "deviceToken">,
): Promise<SignedInOnDevice> {
  return ops.signIn.completeLogin(challenge, { code }, input.client, input.deviceToken);
}

/** The cookie follows the session: as long as it can live with remember_me, for the browser session otherwise. */
export const cookieOf = (t: TokenPair, rememberMe: boolean) => ({ sessionId: t.sessionId, rememberMe, expiresAt: t.refreshTokenExpiresAt });

export function register(input: RouteInput, ops: Operations, nameField: string) {
  return ops.accounts.register(
    { email: input.body.str("email"), password: input.body.str("password"), displayName: input.body.str(nameField) },
    input.client,
  );
}

/** A proof for Disable: the password, a TOTP code (under any of the documents' names) or a recovery code. */
export function disableProof(input: RouteInput) {
  const code = input.body.str("code");
  const otp = input.body.str("otp");
  // One proof under two names: taking one of them would run another request than a layer in front
  // that reads the other sees (a wrong code there, 2FA turned off here).
  if (code !== "" && otp !== "") {
    throw new AuthError("INVALID_ARGUMENT", "code is given under two names (code, otp)", { field: "code" });
  }
  return { password: input.body.str("password"), code: code || otp, recoveryCode: input.body.str("recoveryCode") };
}
