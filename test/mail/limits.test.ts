// Mail flooding (issue 10, item 4): 30 reset requests in a second used to send 30 mails to one
// address. Every mail now passes hourly limits per address and per client, and a request over a
// limit is answered exactly as one under it.
import { randomBytes } from "node:crypto";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { deriveServerSecrets } from "../../src/secrets/server-secrets.ts";
import { noReauthentication } from "../../src/two-factor/reauthentication.ts";
import { startHarness, type Harness } from "../support/harness.ts";
import { startService, type InProcess } from "../support/service.ts";

const password = "correct horse battery staple";
const hour = 3_600_000;

describe("over the real server", () => {
  const secret = randomBytes(32);
  let h: Harness;
  const email = "flooded@example.com";

  beforeAll(async () => {
    h = await startHarness({ SERVER_SECRET: secret.toString("hex"), EMAIL_VERIFICATION_REQUIRED: "false" });
    const res = await post("/auth.v1.AuthService/Register", { email, password });
    expect(res.status).toBe(200);
  });
  afterAll(() => h.close());

  async function post(path: string, body: object): Promise<{ status: number; body: string }> {
    const res = await fetch(`${h.url}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: await res.text() };
  }

  it("30 reset requests in a second send 5 mails, and all 30 answers are the same as for an unknown address", async () => {
    const answers = await Promise.all(Array.from({ length: 30 }, () => post("/auth.v1.AuthService/RequestPasswordReset", { email })));
    const unknown = await post("/auth.v1.AuthService/RequestPasswordReset", { email: "nobody@example.com" });
    const legacy = await Promise.all([
      post("/api/v1/auth/forgot-password", { email }),
      post("/api/v1/auth/forgot-password", { email: "nobody@example.com" }),
    ]);
    await h.server.deps.background.drain();

    expect(new Set(answers.map((a) => JSON.stringify(a)))).toEqual(new Set([JSON.stringify(unknown)]));
    expect(unknown.status).toBe(200);
    expect(legacy[0]).toEqual(legacy[1]);
    expect(h.outbox.all(email, "password_reset")).toHaveLength(5);
    // Each refused mail left a line, naming the limit but not the address.
    const refused = h.logs.filter((l) => l.msg === "mail not sent: its hourly limit is reached");
    expect(refused).toHaveLength(26);
    expect(JSON.stringify(refused)).not.toContain(email);
  });

  it("the counters are kept under keyed hashes, not under the address", async () => {
    const keys = deriveServerSecrets(secret).mailLimitKeys;
    const now = h.clock.now();
    expect((await h.store.attempts.get(`mail:address:${keys.keyedHash(email)}`, now)).failures).toBe(5);
    for (const plain of [email, `mail:address:${email}`, `mail:${email}`]) {
      expect((await h.store.attempts.get(plain, now)).failures).toBe(0);
    }
  });

  it("the code mailed last stays valid: a refused request does not replace it", async () => {
    const code = h.outbox.latest(email, "password_reset")?.code ?? "";
    await post("/auth.v1.AuthService/RequestPasswordReset", { email });
    await h.server.deps.background.drain();
    const reset = await post("/auth.v1.AuthService/ResetPassword", { code, newPassword: "a brand new passphrase" });
    expect(reset.status).toBe(200);
  });

  it("an hour later the address gets mail again", async () => {
    h.clock.advance(hour + 1000);
    await post("/auth.v1.AuthService/RequestPasswordReset", { email });
    await h.server.deps.background.drain();
    expect(h.outbox.all(email, "password_reset")).toHaveLength(6);
  });
});

describe("in-process", () => {
  let s: InProcess;
  const other = { ipAddress: "198.51.100.7", userAgent: "another client" };

  beforeEach(async () => {
    s = await startService({ MAIL_MAX_PER_CLIENT_PER_HOUR: "20", EMAIL_VERIFICATION_REQUIRED: "false" });
  });
  afterEach(() => s.close());

  it("one client gets at most MAIL_MAX_PER_CLIENT_PER_HOUR mails sent, across addresses", async () => {
    const emails = Array.from({ length: 30 }, (_, i) => `user${i}@example.com`);
    for (const email of emails) await s.ops.accounts.register({ email, password, displayName: "" }, s.client);
    for (const email of emails) await s.ops.accounts.requestPasswordReset(email, s.client);
    await s.service.background.drain();
    expect(s.outbox.mails).toHaveLength(20);
    // Another client is not held back by the first one's budget.
    await s.ops.accounts.requestPasswordReset("user29@example.com", other);
    await s.service.background.drain();
    expect(s.outbox.mails).toHaveLength(21);
  });

  it("the client's budget is spent the same by requests for unknown addresses: it is no oracle", async () => {
    // An attacker spends their client's budget on one address, then asks for a mail to their own
    // account: whether that mail arrives must not depend on whether the first address exists.
    await s.ops.accounts.register({ email: "target@example.com", password, displayName: "" }, other);
    await s.ops.accounts.register({ email: "attacker-1@example.com", password, displayName: "" }, other);
    await s.ops.accounts.register({ email: "attacker-2@example.com", password, displayName: "" }, other);
    const clients = [
      { ipAddress: "203.0.113.1", userAgent: "probe" },
      { ipAddress: "203.0.113.2", userAgent: "probe" },
    ];
    for (const [i, probed] of ["target@example.com", "unknown@example.com"].entries()) {
      const client = clients[i] ?? s.client;
      for (let n = 0; n < 20; n++) await s.ops.accounts.requestPasswordReset(probed, client);
      await s.ops.accounts.requestPasswordReset(`attacker-${i + 1}@example.com`, client);
    }
    await s.service.background.drain();
    expect(s.outbox.all("attacker-1@example.com", "password_reset")).toHaveLength(0);
    expect(s.outbox.all("attacker-2@example.com", "password_reset")).toHaveLength(0);
  });

  it("an IPv6 client's budget covers its /64", async () => {
    const emails = Array.from({ length: 21 }, (_, i) => `v6-${i}@example.com`);
    for (const email of emails) await s.ops.accounts.register({ email, password, displayName: "" }, other);
    for (const [i, email] of emails.entries()) {
      await s.ops.accounts.requestPasswordReset(email, { ipAddress: `2001:db8:1:2::${(i + 1).toString(16)}`, userAgent: "rotating" });
    }
    await s.service.background.drain();
    expect(s.outbox.mails.filter((m) => m.kind === "password_reset")).toHaveLength(20);
  });

  /** Sends `requests` mails of one kind to a fresh account of a service with `env`; the count that went out. */
  async function mailsSent(env: Record<string, string>, requests: number, kind: "password_reset" | "email_verification") {
    const v = await startService(env);
    try {
      const email = "many@example.com";
      await v.ops.accounts.register({ email, password, displayName: "" }, v.client);
      const request = kind === "password_reset" ? v.ops.accounts.requestPasswordReset : v.ops.accounts.resendVerification;
      for (let i = 0; i < requests; i++) await request(email, v.client);
      await v.service.background.drain();
      return v.outbox.all(email, kind).length;
    } finally {
      await v.close();
    }
  }

  it("verification mails count too: registration and resends share the address's budget", async () => {
    expect(await mailsSent({ MAIL_MAX_PER_ADDRESS_PER_HOUR: "3" }, 5, "email_verification")).toBe(3);
  });

  it("security notifications have a budget of their own, which code requests cannot spend", async () => {
    const { tokens } = await s.ops.accounts.register({ email: "owner@example.com", password, displayName: "" }, s.client);
    for (let i = 0; i < 10; i++) await s.ops.accounts.requestPasswordReset("owner@example.com", s.client);
    const caller = await s.ops.sessions.authenticate({ bearer: tokens?.accessToken });
    await s.ops.accounts.changePassword(caller, password, "another long passphrase", s.client);
    await s.service.background.drain();
    expect(s.outbox.all("owner@example.com", "password_reset")).toHaveLength(5);
    expect(s.outbox.all("owner@example.com", "security_notification").map((m) => m.notification)).toEqual(["password_changed"]);
  });

  it("each kind of notification has its own budget: flooding one kind cannot silence the next", async () => {
    const v = await startService({ MAIL_MAX_NOTIFICATIONS_PER_ADDRESS_PER_HOUR: "2", EMAIL_VERIFICATION_REQUIRED: "false" });
    try {
      const { tokens } = await v.ops.accounts.register({ email: "kinds@example.com", password, displayName: "" }, v.client);
      const caller = await v.ops.sessions.authenticate({ bearer: tokens?.accessToken });
      const passwords = [password, "another long passphrase", "a third long passphrase", "a fourth long passphrase"];
      for (let i = 1; i < passwords.length; i++) {
        await v.ops.accounts.changePassword(caller, passwords[i - 1] ?? "", passwords[i] ?? "", v.client);
      }
      await v.ops.accounts.deleteAccount(caller, noReauthentication, v.client);
      await v.service.background.drain();
      const sent = v.outbox.all("kinds@example.com", "security_notification").map((m) => m.notification);
      expect(sent).toEqual(["password_changed", "password_changed", "account_deleted"]);
    } finally {
      await v.close();
    }
  });

  it("0 turns a limit off", async () => {
    expect(await mailsSent({ MAIL_MAX_PER_ADDRESS_PER_HOUR: "0", EMAIL_VERIFICATION_REQUIRED: "false" }, 12, "password_reset")).toBe(12);
  });
});

describe("an IPv6 client's aggregate (CLIENT_IPV6_AGGREGATE_PREFIX, _MULTIPLE): a /48 is not 65,536 mail budgets", () => {
  let s: InProcess;
  const other = { ipAddress: "198.51.100.7", userAgent: "another client" };
  const emails = Array.from({ length: 30 }, (_, i) => `user${i}@example.com`);

  beforeEach(async () => {
    // 2 requests per /64 and hour, 3 times that (6) per /48.
    s = await startService({
      MAIL_MAX_PER_CLIENT_PER_HOUR: "2",
      CLIENT_IPV6_AGGREGATE_MULTIPLE: "3",
      EMAIL_VERIFICATION_REQUIRED: "false",
      EMAIL_SIGN_IN: "code",
    });
    for (const email of emails) await s.ops.accounts.register({ email, password, displayName: "" }, other);
  });
  afterEach(() => s.close());

  const from = (ipAddress: string) => ({ ipAddress, userAgent: "rotating" });
  const sent = async () => {
    await s.service.background.drain();
    return s.outbox.mails.filter((m) => m.kind === "password_reset" || m.kind === "email_sign_in").length;
  };

  it("requests from 10 /64s of one /48 (resets and email sign-in codes alike) send 6 mails; another /48 and IPv4 are not held", async () => {
    for (let i = 0; i < 10; i++) {
      const client = from(`2001:db8:48:${i.toString(16)}::1`);
      const email = emails[i] ?? "";
      if (i % 2 === 0) await s.ops.accounts.requestPasswordReset(email, client);
      else await s.ops.emailSignIn.request(email, client);
    }
    expect(await sent()).toBe(6);
    // A /64 of it that asked for nothing yet is held too.
    await s.ops.accounts.requestPasswordReset(emails[10] ?? "", from("2001:db8:48:ffff::1"));
    expect(await sent()).toBe(6);
    await s.ops.accounts.requestPasswordReset(emails[11] ?? "", from("2001:db8:49::1"));
    await s.ops.accounts.requestPasswordReset(emails[12] ?? "", from("192.0.2.48"));
    expect(await sent()).toBe(8);
    // An hour later the /48 has its budget back.
    s.clock.advance(hour + 1000);
    await s.ops.accounts.requestPasswordReset(emails[13] ?? "", from("2001:db8:48:1::1"));
    expect(await sent()).toBe(9);
  });

  it("the same 10 requests from one /64 send its own 2, as before; its neighbours still send the rest of the /48's", async () => {
    for (let i = 0; i < 10; i++) await s.ops.accounts.requestPasswordReset(emails[i] ?? "", from(`2001:db8:48:1::${(i + 1).toString(16)}`));
    expect(await sent()).toBe(2);
    for (let i = 10; i < 20; i++) await s.ops.accounts.requestPasswordReset(emails[i] ?? "", from(`2001:db8:48:${i.toString(16)}::1`));
    expect(await sent()).toBe(6);
  });
});
