// The sign-in operations the transports call: Login (password, optionally with its second factor
// in the same call) and CompleteLogin (the second step). See flow.ts for the states. Both take the
// client's known-device token, if it has one (tokens/devices.ts), and a completed sign-in hands out a
// renewed or new one. A sign-in from a device new to the account notifies its owner (ASVS 6.3.6):
// a thief with the password signs in without the owner's token, so the owner hears of it.
import type { Logger } from "../log.ts";
import type { Notifier } from "../mail/notifications.ts";
import type { ClientInfo } from "../sessions/caller.ts";
import type { UserRecord } from "../store/port.ts";
import type { DeviceGrant, DeviceTokens } from "../tokens/devices.ts";
import type { SecondFactorPending, SignedIn, SignInFlow } from "./flow.ts";
import type { passwordFactor } from "./password.ts";

export interface LoginInput {
  email: string;
  password: string;
  rememberMe: boolean;
  /** For accounts with 2FA: a TOTP code or a recovery code, to sign in in one call. */
  loginCode?: string;
  recoveryCode?: string;
  /** The known-device token from an earlier sign-in, if the client kept one. */
  deviceToken?: string | undefined;
}

/** Signed in, with the client's known-device token (`device.known` false: a device new to the account). */
export type SignedInOnDevice = SignedIn & { device: DeviceGrant };
export type LoginResult = SignedInOnDevice | SecondFactorPending;

/**
 * The last step of every completed sign-in, whatever its first factor: the device's token for it,
 * and a notice to the owner when the device is new to the account.
 */
export function onDeviceStep(devices: DeviceTokens, notifier: Notifier, log: Pick<Logger, "info">) {
  return (result: SignedIn, presented: string | undefined, client: ClientInfo): SignedInOnDevice => {
    const { id, email } = result.account;
    const device = devices.grant({ id, email, generation: result.userGeneration }, devices.read(presented, email));
    if (!device.known) notifier.notify(result.account, "new_device_sign_in", client);
    // Who signed in, from where, into which session: the access-log line of the same request id
    // says by which call (and so which factors), but names no account.
    log.info(
      {
        userId: id,
        sessionId: result.tokens.sessionId,
        knownDevice: device.known,
        clientIp: client.ipAddress,
        requestId: client.requestId,
      },
      "signed in",
    );
    return { ...result, device };
  };
}

export type DeviceStep = ReturnType<typeof onDeviceStep>;

export function createSignIn(
  flow: SignInFlow,
  password: ReturnType<typeof passwordFactor>,
  devices: DeviceTokens,
  notifier: Notifier,
  log: Pick<Logger, "info">,
) {
  const onDevice = onDeviceStep(devices, notifier, log);

  return {
    async login(input: LoginInput, client: ClientInfo): Promise<LoginResult> {
      const credentials = password.parse(input);
      const proof = flow.checkProof({ code: input.loginCode, recoveryCode: input.recoveryCode }, "login_code", "recovery_code");
      const device = devices.read(input.deviceToken, credentials.email);
      const checked = await password.verify(credentials, { address: client.ipAddress, device, requestId: client.requestId });
      const result = await flow.afterFirstFactor(checked, { rememberMe: input.rememberMe, proof }, client);
      if (result.state !== "signed_in") return result;
      return onDevice(result, input.deviceToken, client);
    },

    /**
     * A first factor proved elsewhere (a provider's ID token, src/federation/): the same flow as a
     * password from there on, so an account with a second factor gets the same challenge.
     */
    async afterProvider(checked: UserRecord, rememberMe: boolean, client: ClientInfo, deviceToken?: string): Promise<LoginResult> {
      const result = await flow.afterFirstFactor(checked, { rememberMe, proof: undefined }, client);
      if (result.state !== "signed_in") return result;
      return onDevice(result, deviceToken, client);
    },

    async completeLogin(
      challengeToken: string,
      proof: { code?: string; recoveryCode?: string },
      client: ClientInfo,
      deviceToken?: string,
    ): Promise<SignedInOnDevice> {
      return onDevice(await flow.completeSecondFactor(challengeToken, proof, client), deviceToken, client);
    },
  };
}

export type SignIn = ReturnType<typeof createSignIn>;
