// A pending TOTP secret (from Setup or Reset) lasts TOTP_SETUP_TTL_SECONDS. Once expired it can
// never be confirmed, by Enable or AddDevice, even with its right code and the secret passed
// back, nor when it expires between the read and the write of the confirming call; and it leaves
// the stored record with the next write of that record, whatever that write is for (here a code
// spent by Verify), not only with the next Setup.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Caller } from "../../src/sessions/caller.ts";
import { createMemoryStore } from "../../src/store/memory.ts";
import type { Store } from "../../src/store/port.ts";
import { TestClock } from "../support/harness.ts";
import { outcome, startService, type InProcess } from "../support/service.ts";
import { totp } from "../support/totp.ts";

const password = "correct horse battery staple";
/** TOTP_SETUP_TTL_SECONDS' default: 10 minutes. */
const setupTtlMs = 600_000;

let s: InProcess;
let caller: Caller;
let accessToken: string;
/** Set by a test to run just before the two-factor record is read (the race below). */
let beforeRead: (() => void) | undefined;

beforeEach(async () => {
  const clock = new TestClock();
  const memory = createMemoryStore({ clock });
  const store: Store = {
    ...memory,
    twoFactor: {
      ...memory.twoFactor,
      get: (userId) => {
        beforeRead?.();
        return memory.twoFactor.get(userId);
      },
    },
  };
  s = await startService({ EMAIL_VERIFICATION_REQUIRED: "false" }, store, clock);
  const { tokens } = await s.ops.accounts.register({ email: "pending@example.com", password, displayName: "" }, s.client);
  if (tokens === undefined) throw new Error("expected tokens");
  accessToken = tokens.accessToken;
  caller = await s.ops.sessions.authenticate({ bearer: accessToken });
});
afterEach(async () => {
  beforeRead = undefined;
  await s.close();
});

const stored = () => s.store.twoFactor.get(caller.userId);

/** Turns 2FA on with a first device; returns its secret. */
async function enable(): Promise<string> {
  const { secret } = await s.ops.twoFactor.setup(caller, { password: "", additionalDevice: false });
  await s.ops.twoFactor.enable(caller, { code: totp(secret, s.clock.now()), deviceName: "", secret: "" }, s.client);
  return secret;
}

describe("an expired pending secret", () => {
  it("leaves the record with its next write, whatever that write is for", async () => {
    const first = await enable();
    await s.ops.twoFactor.setup(caller, { password, additionalDevice: true });
    expect((await stored())?.pending.map((p) => p.purpose)).toEqual(["device"]);
    s.clock.advance(setupTtlMs);
    // A code spent: a write of the record that has nothing to do with enrolment.
    await s.ops.twoFactor.verify(caller, totp(first, s.clock.now()));
    const record = await stored();
    expect(record?.devices[0]?.lastUsedAt).toEqual(s.clock.now());
    expect(record?.pending).toEqual([]);
  });

  it("stays while it is live", async () => {
    const first = await enable();
    await s.ops.twoFactor.setup(caller, { password, additionalDevice: true });
    s.clock.advance(setupTtlMs - 1_000);
    await s.ops.twoFactor.verify(caller, totp(first, s.clock.now()));
    expect((await stored())?.pending.map((p) => p.purpose)).toEqual(["device"]);
  });

  it("is never confirmed by Enable, even with its right code and the secret passed back; nothing changes", async () => {
    const { secret } = await s.ops.twoFactor.setup(caller, { password: "", additionalDevice: false });
    s.clock.advance(setupTtlMs);
    const before = await stored();
    const code = totp(secret, s.clock.now());
    expect(await outcome(s.ops.twoFactor.enable(caller, { code, deviceName: "", secret: "" }, s.client))).toBe("TWO_FACTOR_SETUP_REQUIRED");
    expect(await outcome(s.ops.twoFactor.enable(caller, { code, deviceName: "", secret }, s.client))).toBe("TWO_FACTOR_SETUP_REQUIRED");
    expect(await stored()).toEqual(before);
    expect(await s.ops.twoFactor.isEnabled(caller.userId)).toBe(false);
  });

  it("is never confirmed by AddDevice, even with its right code; nothing changes", async () => {
    await enable();
    const { secret } = await s.ops.twoFactor.setup(caller, { password, additionalDevice: true });
    s.clock.advance(setupTtlMs);
    const before = await stored();
    const refused = s.ops.twoFactor.addDevice(caller, { secret, code: totp(secret, s.clock.now()), deviceName: "late" }, s.client);
    expect(await outcome(refused)).toBe("TWO_FACTOR_SETUP_REQUIRED");
    expect(await stored()).toEqual(before);
  });

  it("is never confirmed when it expires between Enable's read and its write", async () => {
    const { secret } = await s.ops.twoFactor.setup(caller, { password: "", additionalDevice: false });
    s.clock.advance(setupTtlMs - 1_000);
    // Enable reads the record (the secret is live), reads its cutoff again before ending the other
    // sessions (two-factor/cutoff.ts), then reads it once more to write: that last read comes when
    // the secret has just expired.
    let reads = 0;
    beforeRead = () => {
      if (++reads === 3) s.clock.advance(1_000);
    };
    const code = totp(secret, s.clock.now());
    expect(await outcome(s.ops.twoFactor.enable(caller, { code, deviceName: "", secret }, s.client))).toBe("TWO_FACTOR_SETUP_REQUIRED");
    expect(reads).toBe(3);
    expect(await s.ops.twoFactor.isEnabled(caller.userId)).toBe(false);
  });
});

describe("an administrator's reset of the second factor", () => {
  it("finds nothing to reset in an expired enrolment: no session ends, no mail is sent", async () => {
    await s.ops.twoFactor.setup(caller, { password: "", additionalDevice: false });
    s.clock.advance(setupTtlMs);
    const user = await s.store.users.findById(caller.userId);
    if (user === null) throw new Error("expected the user");
    expect(await s.ops.twoFactor.resetBy(user, s.client)).toBe(false);
    await s.service.background.drain();
    // The owner's session lives on, and the owner hears of no change.
    await expect(s.ops.sessions.authenticate({ bearer: accessToken })).resolves.toMatchObject({ userId: caller.userId });
    expect(s.outbox.all(user.email, "security_notification")).toEqual([]);
  });
});
