// Security notifications (ASVS 6.3.6, issue 10 item 7): every change to how an account is
// protected mails its owner once, after the response, with when and from which client, and with
// no secret, code or token in it.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createBackground } from "../../src/background.ts";
import type { MailLimits } from "../../src/mail/limits.ts";
import { createOutbox, type NotificationKind } from "../../src/mail/mailer.ts";
import { createNotifier } from "../../src/mail/notifications.ts";
import type { Caller } from "../../src/sessions/caller.ts";
import { noReauthentication } from "../../src/two-factor/reauthentication.ts";
import { TestClock, startHarness, type Harness } from "../support/harness.ts";
import { startService, type InProcess } from "../support/service.ts";
import { totp } from "../support/totp.ts";

const password = "correct horse battery staple";
const changed = "another long passphrase";
const afterReset = "the passphrase after a reset";

async function settleMicrotasks(rounds = 50): Promise<void> {
  for (let i = 0; i < rounds; i++) await Promise.resolve();
}

describe("each change mails one notification, with no secret in it", () => {
  let s: InProcess;
  const email = "owner@example.com";
  /** Everything secret the account went through; none may appear in a notification. */
  const secrets: string[] = [password, changed, afterReset];
  const sent: NotificationKind[] = [];

  const notifications = () => s.outbox.all(email, "security_notification");

  /** Runs one change and checks it produced exactly one new notification, of `kind`, after it returned. */
  async function expectNotified<T>(kind: NotificationKind, change: () => Promise<T>): Promise<T> {
    const before = notifications().length;
    const result = await change();
    await settleMicrotasks();
    expect(notifications()).toHaveLength(before); // not yet: it goes out after the response
    await s.service.background.drain();
    expect(
      notifications()
        .slice(before)
        .map((m) => m.notification),
    ).toEqual([kind]);
    sent.push(kind);
    s.clock.advance(30_000); // the next TOTP step, so each code below is fresh
    return result;
  }

  let caller: Caller;

  beforeAll(async () => {
    s = await startService({ EMAIL_VERIFICATION_REQUIRED: "false" });
    const { tokens } = await s.ops.accounts.register({ email, password, displayName: "" }, s.client);
    if (tokens === undefined) throw new Error("expected tokens");
    secrets.push(tokens.accessToken, tokens.refreshToken);
    caller = await s.ops.sessions.authenticate({ bearer: tokens.accessToken });
  });
  afterAll(() => s.close());

  it("password_changed", async () => {
    await expectNotified("password_changed", () => s.ops.accounts.changePassword(caller, password, changed, s.client));
  });

  let secret = "";
  it("two_factor_enabled", async () => {
    secret = (await s.ops.twoFactor.setup(caller, { password: "", additionalDevice: false })).secret;
    secrets.push(secret);
    const enabled = await expectNotified("two_factor_enabled", () =>
      s.ops.twoFactor.enable(caller, { code: totp(secret, s.clock.now()), deviceName: "", secret: "" }, s.client),
    );
    secrets.push(...enabled.recoveryCodes);
  });

  let added = "";
  it("authenticator_added", async () => {
    const extra = (await s.ops.twoFactor.setup(caller, { password: changed, additionalDevice: true })).secret;
    secrets.push(extra);
    const device = await expectNotified("authenticator_added", () =>
      s.ops.twoFactor.addDevice(caller, { secret: extra, code: totp(extra, s.clock.now()), deviceName: "spare" }, s.client),
    );
    added = device.id;
  });

  it("authenticator_removed", async () => {
    await expectNotified("authenticator_removed", () => s.ops.twoFactor.removeDevice(caller, added, noReauthentication, s.client));
  });

  it("recovery_codes_regenerated", async () => {
    const codes = await expectNotified("recovery_codes_regenerated", () =>
      s.ops.twoFactor.regenerateRecoveryCodes(caller, totp(secret, s.clock.now()), s.client),
    );
    secrets.push(...codes);
  });

  it("two_factor_reset (when the replacement is confirmed, not when it starts)", async () => {
    const replacement = (await s.ops.twoFactor.reset(caller, changed)).secret;
    secrets.push(replacement);
    await s.service.background.drain();
    expect(notifications().map((m) => m.notification)).toEqual(sent);
    const enabled = await expectNotified("two_factor_reset", () =>
      s.ops.twoFactor.enable(caller, { code: totp(replacement, s.clock.now()), deviceName: "", secret: "" }, s.client),
    );
    secrets.push(...enabled.recoveryCodes);
  });

  it("two_factor_disabled", async () => {
    await expectNotified("two_factor_disabled", () =>
      s.ops.twoFactor.disable(caller, { code: "", recoveryCode: "", password: changed }, s.client),
    );
  });

  it("password_reset_completed", async () => {
    await s.ops.accounts.requestPasswordReset(email, s.client);
    await s.service.background.drain();
    const code = s.outbox.latest(email, "password_reset")?.code ?? "";
    secrets.push(code);
    await expectNotified("password_reset_completed", () => s.ops.accounts.resetPassword(code, afterReset, s.client));
  });

  it("account_deleted", async () => {
    const signedIn = await expectNotified("new_device_sign_in", () =>
      s.ops.signIn.login({ email, password: afterReset, rememberMe: false }, s.client),
    );
    if (signedIn.state === "second_factor_pending") throw new Error("2FA is off");
    secrets.push(signedIn.device.token);
    secrets.push(signedIn.tokens.accessToken, signedIn.tokens.refreshToken);
    const fresh = await s.ops.sessions.authenticate({ bearer: signedIn.tokens.accessToken });
    await expectNotified("account_deleted", () => s.ops.accounts.deleteAccount(fresh, noReauthentication, s.client));
  });

  it("every notification says when and from which client, and carries no secret", () => {
    const all = notifications();
    expect(all.map((m) => m.notification)).toEqual(sent);
    expect(new Set(sent).size).toBe(10);
    for (const mail of all) {
      const whole = `${mail.subject}\n${mail.text}`;
      expect(mail.text).toContain(s.client.ipAddress);
      expect(mail.text).toContain(s.client.userAgent);
      expect(mail.text).toMatch(/When: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z/);
      expect("code" in mail).toBe(false);
      for (const secretValue of secrets) expect(whole).not.toContain(secretValue);
    }
  });
});

describe("the kinds other capabilities send", () => {
  const unlimited: MailLimits = { admitClient: async () => true, admitAddress: async () => true, admitNotification: async () => true };

  it.each(["email_changed", "new_device_sign_in"] as const)("%s is ready to send", async (kind) => {
    const outbox = createOutbox();
    const background = createBackground({ error: () => {} });
    const notifier = createNotifier({ mailer: outbox, limits: unlimited, background, clock: new TestClock() });
    notifier.notify({ email: "someone@example.com" }, kind, { ipAddress: "203.0.113.9", userAgent: "Agent/1.0" });
    await background.drain();
    const [mail] = outbox.all("someone@example.com", "security_notification");
    expect(mail?.notification).toBe(kind);
    expect(mail?.text).toContain("203.0.113.9");
  });

  it("a user agent cannot add lines, links or a sentence of its own to the mail", async () => {
    const outbox = createOutbox();
    const background = createBackground({ error: () => {} });
    const notifier = createNotifier({ mailer: outbox, limits: unlimited, background, clock: new TestClock() });
    notifier.notify({ email: "someone@example.com" }, "password_changed", {
      ipAddress: "203.0.113.9",
      userAgent: "Agent\r\nBcc: victim@example.com\nClick https://evil.example",
    });
    notifier.notify({ email: "other@example.com" }, "new_device_sign_in", {
      ipAddress: "203.0.113.9",
      userAgent: `this sign-in was our scheduled security check, no action is needed; details at authd-support.example.net/check ${"x".repeat(300)}`,
    });
    await background.drain();
    const text = outbox.latest("someone@example.com", "security_notification")?.text ?? "";
    expect(text.split("\n").filter((l) => l.startsWith("Browser or app"))).toEqual([
      'Browser or app, as it names itself: "Agent Bcc: victim@[link removed] Click [link removed]"',
    ]);
    expect(text.split("\n").some((l) => l.startsWith("Bcc:"))).toBe(false);
    const phishing = outbox.latest("other@example.com", "security_notification")?.text ?? "";
    const line = phishing.split("\n").find((l) => l.startsWith("Browser or app")) ?? "";
    expect(line).not.toMatch(/example\.net/);
    expect(line.length).toBeLessThan(180);
    expect(line).toMatch(/^Browser or app, as it names itself: ".*"$/);
    // A browser's own words pass untouched.
    const chrome = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";
    notifier.notify({ email: "third@example.com" }, "new_device_sign_in", { ipAddress: "203.0.113.9", userAgent: chrome });
    await background.drain();
    expect(outbox.latest("third@example.com", "security_notification")?.text).toContain(`Browser or app, as it names itself: "${chrome}"`);
  });
});

describe("over the transports, the client is the caller's", () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ EMAIL_VERIFICATION_REQUIRED: "false" });
  });
  afterAll(() => h.close());

  async function call(path: string, body: object, headers: Record<string, string> = {}, method = "POST") {
    const res = await fetch(`${h.url}${path}`, {
      method,
      headers: { "content-type": "application/json", "user-agent": "NotifiedAgent/2.0", ...headers },
      body: JSON.stringify(body),
    });
    return (await res.json().catch(() => ({}))) as Record<string, Record<string, string>>;
  }

  it("RPC ChangePassword and REST DELETE /auth/me notify with the request's IP and user agent", async () => {
    const email = "wire@example.com";
    const registered = await call("/auth.v1.AuthService/Register", { email, password });
    const access = registered.tokens?.accessToken ?? "";
    await call(
      "/auth.v1.AuthService/ChangePassword",
      { currentPassword: password, newPassword: changed },
      { authorization: `Bearer ${access}` },
    );
    await call("/auth/me", {}, { authorization: `Bearer ${access}` }, "DELETE");
    await h.server.deps.background.drain();
    const mails = h.outbox.all(email, "security_notification");
    expect(mails.map((m) => m.notification)).toEqual(["password_changed", "account_deleted"]);
    for (const m of mails) {
      expect(m.text).toContain("From IP address: 127.0.0.1");
      expect(m.text).toContain('Browser or app, as it names itself: "NotifiedAgent/2.0"');
    }
  });
});

describe("a sign-in from a device new to the account notifies its owner", () => {
  let s: InProcess;
  const email = "traveller@example.com";
  const newDeviceNotices = () => s.outbox.all(email, "security_notification").filter((m) => m.notification === "new_device_sign_in");

  beforeAll(async () => {
    s = await startService({ EMAIL_VERIFICATION_REQUIRED: "false" });
    await s.ops.accounts.register({ email, password, displayName: "" }, s.client);
  });
  afterAll(() => s.close());

  async function login(deviceToken?: string) {
    const result = await s.ops.signIn.login({ email, password, rememberMe: false, deviceToken }, s.client);
    await s.service.background.drain();
    return result;
  }

  it("without the account's device token: notified; with it: not; with another account's: notified", async () => {
    const first = await login();
    if (first.state !== "signed_in") throw new Error("2FA is off");
    expect(first.device.known).toBe(false);
    expect(newDeviceNotices()).toHaveLength(1);
    expect(newDeviceNotices()[0]?.text).not.toContain(first.device.token);

    const again = await login(first.device.token);
    expect(again.state === "signed_in" && again.device.known).toBe(true);
    expect(newDeviceNotices()).toHaveLength(1);

    const { tokens } = await s.ops.accounts.register({ email: "other@example.com", password, displayName: "" }, s.client);
    expect(tokens).toBeDefined();
    const others = await s.ops.signIn.login({ email: "other@example.com", password, rememberMe: false }, s.client);
    if (others.state !== "signed_in") throw new Error("2FA is off");
    await login(others.device.token);
    expect(newDeviceNotices()).toHaveLength(2);
  });

  it("a second step completed on a new device notifies too; a pending one does not", async () => {
    const signedIn = await login();
    if (signedIn.state !== "signed_in") throw new Error("2FA is off");
    const caller = await s.ops.sessions.authenticate({ bearer: signedIn.tokens.accessToken });
    const { secret } = await s.ops.twoFactor.setup(caller, { password: "", additionalDevice: false });
    await s.ops.twoFactor.enable(caller, { code: totp(secret, s.clock.now()), deviceName: "", secret: "" }, s.client);
    s.clock.advance(30_000);
    const before = newDeviceNotices().length;
    const pending = await login();
    expect(pending.state).toBe("second_factor_pending");
    expect(newDeviceNotices()).toHaveLength(before);
    if (pending.state !== "second_factor_pending") return;
    const done = await s.ops.signIn.completeLogin(pending.challenge.token, { code: totp(secret, s.clock.now()) }, s.client);
    await s.service.background.drain();
    expect(done.device.known).toBe(false);
    expect(newDeviceNotices()).toHaveLength(before + 1);
  });
});

describe("a recovery code used", () => {
  it("mails the owner once, from the client that used it, without the code; a TOTP code does not", async () => {
    const s = await startService({ EMAIL_VERIFICATION_REQUIRED: "false" });
    const email = "recovering@example.com";
    const { tokens } = await s.ops.accounts.register({ email, password, displayName: "" }, s.client);
    const caller = await s.ops.sessions.authenticate({ bearer: tokens?.accessToken });
    const { secret } = await s.ops.twoFactor.setup(caller, { password: "", additionalDevice: false });
    const { recoveryCodes } = await s.ops.twoFactor.enable(
      caller,
      { code: totp(secret, s.clock.now()), deviceName: "", secret: "" },
      s.client,
    );
    s.clock.advance(30_000);
    // A known device, so that the sign-ins below tell of nothing else.
    const first = await s.ops.signIn.login({ email, password, rememberMe: false, loginCode: totp(secret, s.clock.now()) }, s.client);
    if (first.state !== "signed_in") throw new Error("not signed in");
    const deviceToken = first.device.token;
    await s.service.background.drain();
    const before = s.outbox.all(email, "security_notification").length;

    s.clock.advance(30_000);
    await s.ops.signIn.login({ email, password, rememberMe: false, loginCode: totp(secret, s.clock.now()), deviceToken }, s.client);
    const elsewhere = { ipAddress: "198.51.100.4", userAgent: "RecoveringAgent/1.0" };
    await s.ops.signIn.login({ email, password, rememberMe: false, recoveryCode: recoveryCodes[0], deviceToken }, elsewhere);
    await s.service.background.drain();
    const sent = s.outbox.all(email, "security_notification").slice(before);
    expect(sent.map((m) => m.notification)).toEqual(["recovery_code_used"]);
    expect(sent[0]?.text).toContain("198.51.100.4");
    expect(sent[0]?.text).not.toContain(recoveryCodes[0] ?? "-");
    await s.close();
  });
});
