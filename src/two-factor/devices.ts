// Authenticator devices of an enabled second factor: listing them, adding one (confirming a
// pending secret from Setup) and removing one (a high-value change, behind the step-up check).

import { AuthError } from "../errors.ts";
import { checkId } from "../input.ts";
import type { Logger } from "../log.ts";
import type { Notifier } from "../mail/notifications.ts";
import type { Caller, ClientInfo } from "../sessions/caller.ts";
import type { TotpDeviceRecord, TwoFactorRecord, UserRecord } from "../store/port.ts";
import { cutOffOtherSessions, requireCallerPasses } from "./cutoff.ts";
import { checkCode, checkDeviceName, checkSecret } from "./inputs.ts";
import type { PendingSecrets } from "./pending.ts";
import type { Reauthentication } from "./reauthentication.ts";
import type { TwoFactorRecords } from "./record.ts";

export interface Device {
  id: string;
  name: string;
  createdAt: Date;
  lastUsedAt: Date | null;
}

export interface DevicesDeps {
  records: TwoFactorRecords;
  log: Pick<Logger, "info">;
  notifier: Notifier;
  pending: Pick<PendingSecrets, "pendingFor" | "confirmPending">;
  requireUser: (caller: Caller) => Promise<UserRecord>;
  /** The user's record, refused when the second factor is off. */
  requireEnabled: (userId: string) => Promise<TwoFactorRecord>;
  /** The step-up check of high-value changes (step-up.ts). */
  confirmIdentity: (caller: Caller, user: UserRecord, proof: Reauthentication, client: ClientInfo) => Promise<void>;
  /** Marks the records of sessions a cutoff has already ended as revoked, and counts them. */
  revokeOthers: (caller: Caller) => Promise<number>;
  /** The first write of a change that keeps the caller's session and ends the others (cutoff.ts). */
  endOthers: (caller: Caller) => Promise<void>;
  /** SESSION_REVOKED unless the user's cutoff, read now, lets the caller through (cutoff.ts). */
  requireUserPasses: (caller: Caller) => Promise<void>;
}

const maxDevices = 10;

export function deviceView(d: TotpDeviceRecord): Device {
  return { id: d.id, name: d.name, createdAt: d.createdAt, lastUsedAt: d.lastUsedAt };
}

export function createDevices(deps: DevicesDeps) {
  const { load, mutate } = deps.records;
  const { requireUser, requireEnabled, confirmIdentity, revokeOthers, endOthers, requireUserPasses } = deps;
  const { pendingFor, confirmPending } = deps.pending;

  return {
    async listDevices(caller: Caller): Promise<Device[]> {
      return (await load(caller.userId)).devices.map(deviceView);
    },

    async addDevice(caller: Caller, input: { secret: string; code: string; deviceName: string }, client: ClientInfo): Promise<Device> {
      const secret = checkSecret("secret", input.secret);
      const code = checkCode("code", input.code);
      const name = checkDeviceName("device_name", input.deviceName);
      const user = await requireUser(caller);
      const record = await requireEnabled(user.id);
      if (record.devices.length >= maxDevices) {
        throw new AuthError("DEVICE_LIMIT_REACHED", `an account can have at most ${maxDevices} devices`);
      }
      const pending = pendingFor(record, "device", secret);
      const device = await confirmPending(
        user.id,
        pending,
        code,
        (next, created) => {
          // No device joins from a session the owner's two-factor change has just ended.
          requireCallerPasses(next, caller);
          if (next.enabledAt === null) {
            throw new AuthError("TWO_FACTOR_NOT_ENABLED", "two-factor authentication is not enabled for this account");
          }
          if (next.devices.length >= maxDevices) {
            throw new AuthError("DEVICE_LIMIT_REACHED", `an account can have at most ${maxDevices} devices`);
          }
          next.devices.push(created);
          return deviceView(created);
        },
        name,
        // Nor from one a change of the user record (a new password, RevokeOtherSessions) has ended.
        () => requireUserPasses(caller),
      );
      deps.log.info({ userId: user.id, deviceId: device.id }, "authenticator device added");
      deps.notifier.notify(user, "authenticator_added", client);
      return device;
    },

    async removeDevice(caller: Caller, rawId: string, proof: Reauthentication, client: ClientInfo): Promise<number> {
      const id = checkId("device_id", rawId);
      const user = await requireUser(caller);
      const removable = (record: TwoFactorRecord): number => {
        const index = record.devices.findIndex((d) => d.id === id);
        if (index === -1) throw new AuthError("NOT_FOUND", "no such device", { field: "device_id" });
        if (record.devices.length === 1) {
          throw new AuthError("LAST_DEVICE", "the last device cannot be removed; disable two-factor authentication instead");
        }
        return index;
      };
      // Refusals that need no proof come first, so a proof is never spent on a removal that fails.
      removable(await requireEnabled(caller.userId));
      await confirmIdentity(caller, user, proof, client);
      await endOthers(caller);
      await mutate(caller.userId, (record) => {
        record.devices.splice(removable(record), 1);
        cutOffOtherSessions(record, caller);
        return { next: record, result: undefined };
      });
      deps.log.info({ userId: caller.userId, deviceId: id }, "authenticator device removed");
      deps.notifier.notify(user, "authenticator_removed", client);
      return revokeOthers(caller);
    },
  };
}
