// Known-device tokens (OWASP's "device cookie", NIST SP 800-63B 5.2.2): after a successful
// sign-in the client gets a token naming a device id, the account and an expiry, signed with a
// key derived from the server secret. Presenting it at the next sign-in to that account marks the
// client as a known device, whose wrong passwords are counted apart from strangers' (see
// passwords/check.ts): someone who only knows the address cannot lock the owner's devices out.
//
// The token is a credential for the guessing limit only, never for the account: it opens no
// session and proves nothing but "this client signed in to this account before". Nothing is
// stored; a token is valid until it expires (a stolen one gives a thief the known-device budget,
// which the account's hourly bound still caps).

import { randomUUID, timingSafeEqual } from "node:crypto";
import { addSeconds, type Clock } from "../clock.ts";
import type { Signer } from "../secrets/server-secrets.ts";

/** A token issued after a sign-in, and whether the client already held a valid one. */
export interface DeviceGrant {
  token: string;
  deviceId: string;
  expiresAt: Date;
  /** The token presented with the sign-in was valid for this account (false: a new device). */
  known: boolean;
}

/** What a presented token claims, once its signature and expiry are checked. */
export interface DeviceClaim {
  deviceId: string;
  userId: string;
}

export interface DeviceTokenDeps {
  signer: Signer;
  clock: Clock;
  /** How long a token stays valid; each sign-in renews it. */
  ttlSeconds: number;
}

const prefix = "d1";
/** Far above any token this server issues: longer input is not even split. */
const maxLength = 256;
const idPattern = /^[A-Za-z0-9-]{1,64}$/;

export function createDeviceTokens(deps: DeviceTokenDeps) {
  const { signer, clock } = deps;
  const mac = (deviceId: string, userId: string, exp: string) => signer.sign(`device:${deviceId}:${userId}:${exp}`);

  /** The claim of a token with a good signature that has not expired; null for anything else. */
  function read(raw: string | undefined): DeviceClaim | null {
    if (raw === undefined || raw.length === 0 || raw.length > maxLength) return null;
    const [p, deviceId, userId, exp, given, extra] = raw.split(".");
    if (p !== prefix || deviceId === undefined || userId === undefined || exp === undefined || given === undefined || extra !== undefined) {
      return null;
    }
    if (!idPattern.test(deviceId) || !idPattern.test(userId) || !/^\d{1,12}$/.test(exp)) return null;
    const expected = Buffer.from(mac(deviceId, userId, exp));
    const presented = Buffer.from(given);
    if (presented.length !== expected.length || !timingSafeEqual(presented, expected)) return null;
    if (Number(exp) * 1000 <= clock.now().getTime()) return null;
    return { deviceId, userId };
  }

  return {
    read,

    /** A fresh token for a signed-in user: the same device id when the presented one was theirs. */
    grant(userId: string, claim: DeviceClaim | null): DeviceGrant {
      const known = claim !== null && claim.userId === userId;
      const deviceId = known ? claim.deviceId : randomUUID();
      const expSeconds = Math.floor(addSeconds(clock.now(), deps.ttlSeconds).getTime() / 1000);
      const exp = String(expSeconds);
      const expiresAt = new Date(expSeconds * 1000);
      return { token: [prefix, deviceId, userId, exp, mac(deviceId, userId, exp)].join("."), deviceId, expiresAt, known };
    },
  };
}

export type DeviceTokens = ReturnType<typeof createDeviceTokens>;
