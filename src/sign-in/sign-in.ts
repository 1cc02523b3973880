// The sign-in operations the transports call: Login (password, optionally with its second factor
// in the same call) and CompleteLogin (the second step). See flow.ts for the states.
import type { ClientInfo } from "../sessions/caller.ts";
import type { SignedIn, SignInFlow, SignInResult } from "./flow.ts";
import type { passwordFactor } from "./password.ts";

export interface LoginInput {
  email: string;
  password: string;
  rememberMe: boolean;
  /** For accounts with 2FA: a TOTP code or a recovery code, to sign in in one call. */
  loginCode?: string;
  recoveryCode?: string;
}

export function createSignIn(flow: SignInFlow, password: ReturnType<typeof passwordFactor>) {
  return {
    async login(input: LoginInput, client: ClientInfo): Promise<SignInResult> {
      const credentials = password.parse(input);
      const proof = flow.checkProof({ code: input.loginCode, recoveryCode: input.recoveryCode }, "login_code", "recovery_code");
      const checked = await password.verify(credentials);
      return flow.afterFirstFactor(checked, { rememberMe: input.rememberMe, proof }, client);
    },

    completeLogin(challengeToken: string, proof: { code?: string; recoveryCode?: string }, client: ClientInfo): Promise<SignedIn> {
      return flow.completeSecondFactor(challengeToken, proof, client);
    },
  };
}

export type SignIn = ReturnType<typeof createSignIn>;
