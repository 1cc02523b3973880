// Security changes that span documents survive a failure halfway. Each change writes its session
// cutoff in the same single-document write as the credential change; the bulk revocation after it
// is only cleanup. Here that cleanup always fails (as if the process died or MongoDB stepped down
// right after the credential write), and the other sessions must still be refused, over bearer
// tokens, refresh tokens and the REST session cookie alike.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { StorageUnavailableError } from "../../src/store/errors.ts";
import type { Store } from "../../src/store/port.ts";
import { failure, fetchDriver, type Driver, type Json } from "../support/drivers.ts";
import { createGate, startHarness, type Gate, type Harness } from "../support/harness.ts";
import { rest, sessionCookie } from "../support/rest.ts";
import { openTestStore } from "../support/stores.ts";
import { totp } from "../support/totp.ts";

const password = "correct horse battery staple";
let h: Harness;
let d: Driver;
let cleanupCalls = 0;
/** Holds the next password write (users.update with a new hash) until released. */
let passwordWriteGate: Gate | undefined;
/** Holds the next write that ends the other sessions without a password (RevokeOtherSessions). */
let othersCutoffWriteGate: Gate | undefined;
/** Holds the n-th two-factor record read from now on. */
let twoFactorReadGate: { gate: Gate; remaining: number } | undefined;

beforeAll(async () => {
  const inner = await openTestStore("cutoff");
  // The cleanup step never happens: every bulk revocation fails as an outage would.
  const store: Store = {
    ...inner,
    kind: inner.kind,
    users: {
      ...inner.users,
      update: async (id, patch, options) => {
        const g = patch.passwordHash !== undefined ? passwordWriteGate : undefined;
        if (g !== undefined) {
          passwordWriteGate = undefined;
          await g.pass();
        }
        const o = patch.passwordHash === undefined && typeof options?.endSessions?.keep === "string" ? othersCutoffWriteGate : undefined;
        if (o !== undefined) {
          othersCutoffWriteGate = undefined;
          await o.pass();
        }
        return inner.users.update(id, patch, options);
      },
    },
    twoFactor: {
      ...inner.twoFactor,
      get: async (userId) => {
        if (twoFactorReadGate !== undefined && --twoFactorReadGate.remaining === 0) {
          const { gate } = twoFactorReadGate;
          twoFactorReadGate = undefined;
          await gate.pass();
        }
        return inner.twoFactor.get(userId);
      },
    },
    sessions: {
      ...inner.sessions,
      revokeAllForUser: async () => {
        cleanupCalls++;
        throw new StorageUnavailableError(new Error("primary stepped down"));
      },
    },
  };
  h = await startHarness({ EMAIL_VERIFICATION_REQUIRED: "false", SESSION_COOKIE_SECURE: "false" }, store);
  d = fetchDriver(h.url, "cutoff");
});
afterAll(() => h.close());

interface Signed {
  tokens: Json;
  cookie: string;
}

/** Signs in twice over RPC and once over REST (cookie): three sessions of one account. */
async function threeSessions(email: string, pw = password, code?: () => string): Promise<{ mine: Json; other: Json; browser: Signed }> {
  const login = async () => {
    const res = await d.call("AuthService/Login", { email, password: pw, ...(code === undefined ? {} : { loginCode: code() }) });
    return res.tokens;
  };
  const mine = await login();
  if (code !== undefined) h.clock.advance(30_000); // the next code is a new TOTP step
  const other = await login();
  if (code !== undefined) h.clock.advance(30_000);
  const res = await rest(h, "POST", "/auth/login", { body: { email, password: pw, ...(code === undefined ? {} : { loginCode: code() }) } });
  expect(res.status).toBe(200);
  return { mine, other, browser: { tokens: res.body, cookie: sessionCookie(res) } };
}

async function expectEnded(other: Json, browser: Signed): Promise<void> {
  const bearer = await failure(d.call("AuthService/GetCurrentUser", {}, other.accessToken));
  expect([bearer.code, bearer.reason]).toEqual(["unauthenticated", "SESSION_REVOKED"]);
  const refresh = await failure(d.call("AuthService/RefreshToken", { refreshToken: other.refreshToken }));
  expect([refresh.code, refresh.reason]).toEqual(["unauthenticated", "REFRESH_REVOKED"]);
  const viaCookie = await rest(h, "GET", "/auth/me", { cookie: browser.cookie });
  expect(viaCookie.status).toBe(401);
}

async function expectAlive(tokens: Json): Promise<void> {
  expect((await d.call("AuthService/GetCurrentUser", {}, tokens.accessToken)).user).toBeTruthy();
}

describe("the other sessions end even when the cleanup after a security change fails", () => {
  it("ChangePassword: the change stands, the caller stays signed in, every other session is refused", async () => {
    const email = "cut-change@example.com";
    await d.call("AuthService/Register", { email, password });
    const { mine, other, browser } = await threeSessions(email);
    const before = cleanupCalls;
    const res = await d.call(
      "AuthService/ChangePassword",
      { currentPassword: password, newPassword: "a brand new passphrase" },
      mine.accessToken,
    );
    expect(cleanupCalls).toBe(before + 1); // the cleanup was attempted, and failed
    expect(res.revokedSessionCount ?? 0).toBe(0); // it could not mark them; the cutoff ended them
    await expectEnded(other, browser);
    await expectAlive(mine);
    // Listing shows only what is live: the ended sessions' records were never marked, yet they are gone.
    const listed = await d.call("SessionService/ListSessions", {}, mine.accessToken);
    expect(listed.sessions.map((s: { id: string }) => s.id)).toEqual([mine.sessionId]);
  });

  it("RevokeOtherSessions: the change stands, the caller stays signed in and keeps its device, every other session is refused", async () => {
    const email = "cut-revoke-others@example.com";
    await d.call("AuthService/Register", { email, password });
    const { mine, other, browser } = await threeSessions(email);
    const device = (await d.call("AuthService/Login", { email, password })).deviceToken;
    const before = cleanupCalls;
    const res = await d.call("SessionService/RevokeOtherSessions", { deviceToken: device.token }, mine.accessToken);
    expect(cleanupCalls).toBe(before + 1); // the cleanup was attempted, and failed
    expect(res.revokedCount ?? 0).toBe(0); // it could not mark them; the cutoff ended them
    // The raised generation voided the device token sent: the answer is the only place its renewal is.
    expect(res.deviceToken).toMatchObject({ known: true, deviceId: device.deviceId });
    await expectEnded(other, browser);
    await expectAlive(mine);
  });

  it("ResetPassword: every session is refused, including the one that asked", async () => {
    const email = "cut-reset@example.com";
    await d.call("AuthService/Register", { email, password });
    const { mine, other, browser } = await threeSessions(email);
    await d.call("AuthService/RequestPasswordReset", { email });
    const mail = await h.mail(email, "password_reset");
    await d.call("AuthService/ResetPassword", { code: mail.code, newPassword: "reset to this passphrase" });
    await expectEnded(other, browser);
    await expectEnded(mine, browser);
  });

  describe("two-factor changes", () => {
    async function enrolled(email: string) {
      await d.call("AuthService/Register", { email, password });
      const first = (await d.call("AuthService/Login", { email, password })).tokens;
      const setup = await d.call("TwoFactorService/Setup", {}, first.accessToken);
      const enable = await d.call("TwoFactorService/Enable", { code: totp(setup.secret, h.clock.now()) }, first.accessToken);
      h.clock.advance(30_000);
      const code = () => totp(setup.secret, h.clock.now());
      return { secret: setup.secret as string, recovery: enable.recoveryCodes as string[], code };
    }

    it("Enable: sessions opened before 2FA was turned on are refused", async () => {
      const email = "cut-enable@example.com";
      await d.call("AuthService/Register", { email, password });
      const { mine, other, browser } = await threeSessions(email);
      const setup = await d.call("TwoFactorService/Setup", {}, mine.accessToken);
      await d.call("TwoFactorService/Enable", { code: totp(setup.secret, h.clock.now()) }, mine.accessToken);
      await expectEnded(other, browser);
      await expectAlive(mine);
    });

    it("Disable", async () => {
      const email = "cut-disable@example.com";
      const { code } = await enrolled(email);
      const { mine, other, browser } = await threeSessions(email, password, code);
      await d.call("TwoFactorService/Disable", { password }, mine.accessToken);
      await expectEnded(other, browser);
      await expectAlive(mine);
    });

    it("Reset confirmed by Enable", async () => {
      const email = "cut-reset-2fa@example.com";
      const { code } = await enrolled(email);
      const { mine, other, browser } = await threeSessions(email, password, code);
      const fresh = await d.call("TwoFactorService/Reset", { password }, mine.accessToken);
      await d.call("TwoFactorService/Enable", { code: totp(fresh.secret, h.clock.now()) }, mine.accessToken);
      await expectEnded(other, browser);
      await expectAlive(mine);
    });

    it("RemoveDevice", async () => {
      const email = "cut-device@example.com";
      const { code } = await enrolled(email);
      const { mine, other, browser } = await threeSessions(email, password, code);
      const extra = await d.call("TwoFactorService/Setup", { password, additionalDevice: true }, mine.accessToken);
      const added = await d.call(
        "TwoFactorService/AddDevice",
        { secret: extra.secret, code: totp(extra.secret, h.clock.now()) },
        mine.accessToken,
      );
      // Removing the added device is a security change: whoever held it loses their sessions.
      await d.call("TwoFactorService/RemoveDevice", { deviceId: added.device.id }, mine.accessToken);
      await expectEnded(other, browser);
      await expectAlive(mine);
    });
  });
});

describe("security changes racing each other", () => {
  it("a second-factor challenge from before a password reset cannot be completed after it", async () => {
    const email = "race-challenge@example.com";
    await d.call("AuthService/Register", { email, password });
    const first = (await d.call("AuthService/Login", { email, password })).tokens;
    const setup = await d.call("TwoFactorService/Setup", {}, first.accessToken);
    await d.call("TwoFactorService/Enable", { code: totp(setup.secret, h.clock.now()) }, first.accessToken);
    h.clock.advance(30_000);
    // Someone with the old password (and the authenticator) gets a challenge...
    const challenge = (await d.call("AuthService/Login", { email, password })).secondFactor.challengeToken;
    // ...the owner resets the password (in the same second: no timestamp can tell them apart)...
    await d.call("AuthService/RequestPasswordReset", { email });
    await d.call("AuthService/ResetPassword", {
      code: (await h.mail(email, "password_reset")).code,
      newPassword: "the owner's reset passphrase",
    });
    // ...and the challenge is void.
    const f = await failure(d.call("AuthService/CompleteLogin", { challengeToken: challenge, code: totp(setup.secret, h.clock.now()) }));
    expect([f.code, f.reason]).toEqual(["unauthenticated", "INVALID_CHALLENGE"]);
  });

  it("a ChangePassword that passed its checks before the owner's reset does not overwrite it or survive it", async () => {
    const email = "race-overwrite@example.com";
    await d.call("AuthService/Register", { email, password });
    const attacker = (await d.call("AuthService/Login", { email, password })).tokens;
    passwordWriteGate = createGate();
    const held = passwordWriteGate;
    const attack = d.call(
      "AuthService/ChangePassword",
      { currentPassword: password, newPassword: "the attacker's passphrase" },
      attacker.accessToken,
    );
    await held.reached;
    // The owner's reset lands while the attacker's write waits.
    await d.call("AuthService/RequestPasswordReset", { email });
    const resetCode = (await h.mail(email, "password_reset")).code;
    const reset = d.call("AuthService/ResetPassword", { code: resetCode, newPassword: "the owner's reset passphrase" });
    await reset;
    held.release();
    const f = await failure(attack);
    expect([f.code, f.reason]).toEqual(["unauthenticated", "INVALID_CREDENTIALS"]);
    expect((await d.call("AuthService/Login", { email, password: "the owner's reset passphrase" })).tokens.accessToken).toBeTruthy();
    expect((await failure(d.call("AuthService/GetCurrentUser", {}, attacker.accessToken))).reason).toBe("SESSION_REVOKED");
  });

  it("a two-factor change whose caller was cut off meanwhile neither proceeds nor keeps that caller", async () => {
    const email = "race-keep@example.com";
    await d.call("AuthService/Register", { email, password });
    const owner = (await d.call("AuthService/Login", { email, password })).tokens;
    const setup = await d.call("TwoFactorService/Setup", {}, owner.accessToken);
    await d.call("TwoFactorService/Enable", { code: totp(setup.secret, h.clock.now()) }, owner.accessToken);
    const devices: string[] = [];
    for (let i = 0; i < 2; i++) {
      h.clock.advance(30_000);
      const extra = await d.call("TwoFactorService/Setup", { password, additionalDevice: true }, owner.accessToken);
      devices.push(
        (await d.call("TwoFactorService/AddDevice", { secret: extra.secret, code: totp(extra.secret, h.clock.now()) }, owner.accessToken))
          .device.id,
      );
    }
    h.clock.advance(30_000);
    const attacker = (await d.call("AuthService/Login", { email, password, loginCode: totp(setup.secret, h.clock.now()) })).tokens;
    // The attacker's RemoveDevice is authenticated, then held at its next read of the record...
    twoFactorReadGate = { gate: createGate(), remaining: 2 };
    const held = twoFactorReadGate.gate;
    const attack = d.call("TwoFactorService/RemoveDevice", { deviceId: devices[0] }, attacker.accessToken);
    await held.reached;
    // ...while the owner removes another device, which ends the attacker's session.
    await d.call("TwoFactorService/RemoveDevice", { deviceId: devices[1] }, owner.accessToken);
    held.release();
    const f = await failure(attack);
    expect([f.code, f.reason]).toEqual(["unauthenticated", "SESSION_REVOKED"]);
    await expectAlive(owner);
    expect((await d.call("TwoFactorService/ListDevices", {}, owner.accessToken)).devices.map((x: { id: string }) => x.id)).toContain(
      devices[0],
    );
  });

  it("an AddDevice whose caller was cut off meanwhile by a two-factor change does not add the device", async () => {
    const email = "race-add-device@example.com";
    await d.call("AuthService/Register", { email, password });
    const owner = (await d.call("AuthService/Login", { email, password })).tokens;
    const setup = await d.call("TwoFactorService/Setup", {}, owner.accessToken);
    await d.call("TwoFactorService/Enable", { code: totp(setup.secret, h.clock.now()) }, owner.accessToken);
    h.clock.advance(30_000);
    const second = await d.call("TwoFactorService/Setup", { password, additionalDevice: true }, owner.accessToken);
    const ownersSecond = (
      await d.call("TwoFactorService/AddDevice", { secret: second.secret, code: totp(second.secret, h.clock.now()) }, owner.accessToken)
    ).device.id;
    h.clock.advance(30_000);
    const attacker = (await d.call("AuthService/Login", { email, password, loginCode: totp(setup.secret, h.clock.now()) })).tokens;
    const extra = await d.call("TwoFactorService/Setup", { password, additionalDevice: true }, attacker.accessToken);
    // The attacker's AddDevice is authenticated, then held at its next read of the record...
    twoFactorReadGate = { gate: createGate(), remaining: 2 };
    const held = twoFactorReadGate.gate;
    const attack = d.call(
      "TwoFactorService/AddDevice",
      { secret: extra.secret, code: totp(extra.secret, h.clock.now()) },
      attacker.accessToken,
    );
    await held.reached;
    // ...while the owner removes a device, which ends every other session, the attacker's too.
    await d.call("TwoFactorService/RemoveDevice", { deviceId: ownersSecond }, owner.accessToken);
    held.release();
    const f = await failure(attack);
    expect([f.code, f.reason]).toEqual(["unauthenticated", "SESSION_REVOKED"]);
    await expectAlive(owner);
    expect((await d.call("TwoFactorService/ListDevices", {}, owner.accessToken)).devices).toHaveLength(1);
  });

  it("a RevokeOtherSessions whose caller was cut off meanwhile neither ends the others nor keeps that caller", async () => {
    const email = "race-revoke-others@example.com";
    await d.call("AuthService/Register", { email, password });
    const owner = (await d.call("AuthService/Login", { email, password })).tokens;
    const attacker = (await d.call("AuthService/Login", { email, password })).tokens;
    // The attacker's RevokeOtherSessions is authenticated, then held at its write...
    othersCutoffWriteGate = createGate();
    const held = othersCutoffWriteGate;
    const attack = d.call("SessionService/RevokeOtherSessions", {}, attacker.accessToken);
    await held.reached;
    // ...while the owner changes the password, which ends the attacker's session.
    await d.call("AuthService/ChangePassword", { currentPassword: password, newPassword: "the owner's new passphrase" }, owner.accessToken);
    held.release();
    const f = await failure(attack);
    expect([f.code, f.reason]).toEqual(["unauthenticated", "SESSION_REVOKED"]);
    await expectAlive(owner);
    expect((await failure(d.call("AuthService/GetCurrentUser", {}, attacker.accessToken))).reason).toBe("SESSION_REVOKED");
    const refresh = await failure(d.call("AuthService/RefreshToken", { refreshToken: attacker.refreshToken }));
    expect(refresh.reason).toBe("REFRESH_REVOKED");
  });
});

describe("refresh and bearer checks read the user", () => {
  it("a session whose user record is gone is refused, and its refresh token too", async () => {
    const email = "vanished@example.com";
    const tokens = (await d.call("AuthService/Register", { email, password })).tokens;
    const user = (await h.store.users.findByEmail(email))!;
    await h.store.users.delete(user.id); // only the user record: its sessions remain stored
    const bearer = await failure(d.call("AuthService/GetCurrentUser", {}, tokens.accessToken));
    expect(bearer.reason).toBe("SESSION_REVOKED");
    const refresh = await failure(d.call("AuthService/RefreshToken", { refreshToken: tokens.refreshToken }));
    expect(refresh.reason).toBe("REFRESH_REVOKED");
  });
});

describe("cookies where they cannot be Secure (SESSION_COOKIE_SECURE=false)", () => {
  it("the known-device cookie is plain `device`: browsers refuse a __Host- cookie that is not Secure", async () => {
    const email = "plain-device-cookie@example.com";
    await d.call("AuthService/Register", { email, password });
    const res = await rest(h, "POST", "/auth/login", { body: { email, password } });
    const device = res.headers.getSetCookie().find((c) => c.includes("device=")) ?? "";
    expect(device).toMatch(/^device=d2\.[\w.-]+; Max-Age=\d+; Path=\/; HttpOnly; SameSite=Lax$/);
  });
});
