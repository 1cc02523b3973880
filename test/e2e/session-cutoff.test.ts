// Security changes that span documents survive a failure halfway. Each change writes its session
// cutoff in the same single-document write as the credential change; the bulk revocation after it
// is only cleanup. Here that cleanup always fails (as if the process died or MongoDB stepped down
// right after the credential write), and the other sessions must still be refused, over bearer
// tokens, refresh tokens and the REST session cookie alike.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { StorageUnavailableError } from "../../src/store/errors.ts";
import type { Store } from "../../src/store/port.ts";
import { failure, fetchDriver, type Driver, type Json } from "../support/drivers.ts";
import { startHarness, type Harness } from "../support/harness.ts";
import { rest, sessionCookie } from "../support/rest.ts";
import { openTestStore } from "../support/stores.ts";
import { totp } from "../support/totp.ts";

const password = "correct horse battery staple";
let h: Harness;
let d: Driver;
let cleanupCalls = 0;

beforeAll(async () => {
  const inner = await openTestStore("cutoff");
  // The cleanup step never happens: every bulk revocation fails as an outage would.
  const store: Store = {
    ...inner,
    kind: inner.kind,
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
    const res = await d.call("AuthService/ChangePassword", { currentPassword: password, newPassword: "a brand new passphrase" }, mine.accessToken);
    expect(cleanupCalls).toBe(before + 1); // the cleanup was attempted, and failed
    expect(res.revokedSessionCount ?? 0).toBe(0); // it could not mark them; the cutoff ended them
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
      const added = await d.call("TwoFactorService/AddDevice", { secret: extra.secret, code: totp(extra.secret, h.clock.now()) }, mine.accessToken);
      // Removing the added device is a security change: whoever held it loses their sessions.
      await d.call("TwoFactorService/RemoveDevice", { deviceId: added.device.id }, mine.accessToken);
      await expectEnded(other, browser);
      await expectAlive(mine);
    });
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
