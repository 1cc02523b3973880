// Known-device tokens (OWASP's "device cookie", NIST SP 800-63B 5.2.2): after a successful
// sign-in (or a completed password reset) the client gets a token naming a device id, the account
// (its id and email), the account's credential generation and an expiry, signed with a key
// derived from the server secret. Presenting it at the next sign-in to that account marks the
// client as a known device, whose wrong passwords are counted apart from strangers' (see
// passwords/check.ts): someone who only knows the address cannot lock the owner's devices out.
//
// The token is a credential for the guessing limit only, never for the account: it opens no
// session and proves nothing but "this client signed in to this account before". Nothing is
// stored. Binding the email lets a sign-in tell, before reading the account, whether a token is
// genuine for the address it names (so a refused guess reads nothing: sign-in/password.ts).
// Binding the generation makes the tokens revocable: a password change or reset, "sign out
// everywhere" and removing a sign-in method raise it (store/port.ts credentialGeneration: the
// session cutoff's generation without the raises of two-factor changes, which void no token),
// which voids every token issued before; a voided or expired token's holder is a stranger again.

import { randomUUID, timingSafeEqual } from "node:crypto";
import { addSeconds, type Clock } from "../clock.ts";
import type { Signer } from "../secrets/server-secrets.ts";
import { credentialGeneration, type UserRecord } from "../store/port.ts";

/** A token issued after a sign-in, and whether the client already held a valid one. */
export interface DeviceGrant {
  token: string;
  deviceId: string;
  expiresAt: Date;
  /** The token presented was a current one of this account (false: a device new to it). */
  known: boolean;
}

/** What a presented token claims, once its signature (for the email given) and expiry are checked. */
export interface DeviceClaim {
  deviceId: string;
  userId: string;
  /** The account's credential generation when the token was issued. */
  generation: number;
}

/** The account a token is issued to, as of the sign-in (or reset) that issues it. */
export interface DeviceOwner {
  id: string;
  email: string;
  generation: number;
}

export interface DeviceTokenDeps {
  signer: Signer;
  clock: Clock;
  /** How long a token stays valid; each sign-in renews it. */
  ttlSeconds: number;
}

const prefix = "d2";
/** Far above any token this server issues: longer input is not even split. */
const maxLength = 256;
const idPattern = /^[A-Za-z0-9-]{1,64}$/;
const numberPattern = /^\d{1,12}$/;

/** The owner a user record stands for now: its tokens bind to the credential generation. */
export const deviceOwner = (user: Pick<UserRecord, "id" | "email" | "sessionCutoff" | "twoFactorCutoffRaises">): DeviceOwner => ({
  id: user.id,
  email: user.email,
  generation: credentialGeneration(user),
});

/** Whether a claim is still honoured by the account: its own, and issued under its current generation. */
export function isCurrentFor(claim: DeviceClaim, owner: Pick<DeviceOwner, "id" | "generation"> | null): boolean {
  return owner !== null && claim.userId === owner.id && claim.generation === owner.generation;
}

export function createDeviceTokens(deps: DeviceTokenDeps) {
  const { signer, clock } = deps;
  // The email goes last: every other field is colon-free, so the signed text is unambiguous.
  const mac = (deviceId: string, userId: string, generation: string, exp: string, email: string) =>
    signer.sign(`device:${deviceId}:${userId}:${generation}:${exp}:${email}`);

  /**
   * The claim of a token with a good signature for this (normalized) email that has not expired;
   * null for anything else, another account's genuine token included. Reads no storage.
   */
  function read(raw: string | undefined, email: string): DeviceClaim | null {
    if (raw === undefined || raw.length === 0 || raw.length > maxLength) return null;
    const [p, deviceId, userId, generation, exp, given, extra] = raw.split(".");
    if (
      p !== prefix ||
      deviceId === undefined ||
      userId === undefined ||
      generation === undefined ||
      exp === undefined ||
      given === undefined ||
      extra !== undefined
    ) {
      return null;
    }
    if (!idPattern.test(deviceId) || !idPattern.test(userId) || !numberPattern.test(generation) || !numberPattern.test(exp)) return null;
    const expected = Buffer.from(mac(deviceId, userId, generation, exp, email));
    const presented = Buffer.from(given);
    if (presented.length !== expected.length || !timingSafeEqual(presented, expected)) return null;
    if (Number(exp) * 1000 <= clock.now().getTime()) return null;
    return { deviceId, userId, generation: Number(generation) };
  }

  /**
   * A fresh token for the owner: the same device id when `presented` is a current token of
   * theirs (`currentFor`, by default the owner as signed in; a change that raised the generation
   * passes the account as it was before).
   */
  function grant(owner: DeviceOwner, presented: DeviceClaim | null, currentFor: DeviceOwner = owner): DeviceGrant {
    const known = presented !== null && isCurrentFor(presented, currentFor);
    const deviceId = known ? presented.deviceId : randomUUID();
    const expSeconds = Math.floor(addSeconds(clock.now(), deps.ttlSeconds).getTime() / 1000);
    const exp = String(expSeconds);
    const generation = String(owner.generation);
    const token = [prefix, deviceId, owner.id, generation, exp, mac(deviceId, owner.id, generation, exp, owner.email)].join(".");
    return { token, deviceId, expiresAt: new Date(expSeconds * 1000), known };
  }

  return {
    read,
    grant,

    /**
     * After a change that raised the owner's generation (voiding every token issued before): the
     * client's own token, if it was current just before, renewed under the new generation (same
     * device id), so the change does not void the device that made it; else null.
     */
    renew(raw: string | undefined, before: DeviceOwner, after: DeviceOwner): DeviceGrant | null {
      const presented = read(raw, before.email);
      return presented !== null && isCurrentFor(presented, before) ? grant(after, presented, before) : null;
    },
  };
}

export type DeviceTokens = ReturnType<typeof createDeviceTokens>;
