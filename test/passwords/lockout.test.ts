// Issue 10, item 5: malicious lockout. Anyone who knew an address could keep its owner out for
// good (10 wrong passwords, repeat). Failures are now counted per client (address, known device)
// and per account, with the account's hourly bound split between strangers and known devices
// (passwords/check.ts), so the owner on a known device, or after a password reset, still gets in,
// while guessing stays capped, exactly, under concurrency.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { failure, fetchDriver, type Driver, type Json } from "../support/drivers.ts";
import { startHarness, TestClock, type Harness } from "../support/harness.ts";
import { Scrape } from "../support/prometheus.ts";
import { outcome, startService, type InProcess } from "../support/service.ts";
import type { Caller } from "../../src/sessions/caller.ts";
import type { AuthError } from "../../src/errors.ts";
import { createMemoryStore } from "../../src/store/memory.ts";

const password = "correct horse battery staple";

/** A client address, as the one trusted proxy reports it. */
const from = (address: string) => ({ "x-forwarded-for": address });
const attacker = (i: number) => from(`198.51.${100 + Math.floor(i / 250)}.${i % 250}`);
const reasonsOf = (results: PromiseSettledResult<unknown>[]) =>
  results.map((r) => (r.status === "rejected" ? (r.reason as { reason: string }).reason : "ok"));
const count = (reasons: string[], reason: string) => reasons.filter((r) => r === reason).length;

/** Runs `n` calls, `width` at a time (all at once when width >= n). */
async function run(n: number, width: number, call: (i: number) => Promise<Json>): Promise<string[]> {
  const reasons: string[] = [];
  for (let start = 0; start < n; start += width) {
    const batch = Array.from({ length: Math.min(width, n - start) }, (_, k) => call(start + k));
    reasons.push(...reasonsOf(await Promise.allSettled(batch)));
  }
  return reasons;
}

describe("with the default limits", () => {
  let h: Harness;
  let d: Driver;
  beforeAll(async () => {
    // Many clients behind one trusted proxy: behind a proxy the connections are not capped per
    // address by default (config.ts), so the test's one loopback address can play them all.
    h = await startHarness({ EMAIL_VERIFICATION_REQUIRED: "false", TRUST_PROXY_HOPS: "1" });
    d = fetchDriver(h.url, "lockout");
  });
  afterAll(() => h.close());

  /** Registers, and signs in once from the owner's own device: returns its known-device token. */
  async function owner(email: string): Promise<string> {
    await d.call("AuthService/Register", { email, password }, undefined, from("203.0.113.7"));
    const first = await d.call("AuthService/Login", { email, password }, undefined, from("203.0.113.7"));
    expect(first.deviceToken.known ?? false).toBe(false); // proto3 JSON omits a false
    return first.deviceToken.token;
  }

  it("1,000 wrong passwords from 1,000 addresses: 10 are checked, and the owner's known device still signs in", async () => {
    const email = "besieged@example.com";
    const device = await owner(email);
    const attack = await run(1000, 25, (i) => d.call("AuthService/Login", { email, password: `guess ${i}` }, undefined, attacker(i)));
    expect(count(attack, "INVALID_CREDENTIALS")).toBe(10);
    expect(count(attack, "RATE_LIMITED")).toBe(990);

    // A stranger, the owner on a new device included, is refused even with the right password ...
    const stranger = await failure(d.call("AuthService/Login", { email, password }, undefined, from("203.0.113.8")));
    expect([stranger.code, stranger.reason]).toEqual(["resource_exhausted", "RATE_LIMITED"]);
    // ... but the owner's known device is not, from any address, and its token is renewed.
    const signedIn = await d.call("AuthService/Login", { email, password, deviceToken: device }, undefined, from("203.0.113.9"));
    expect(signedIn.tokens.accessToken).toBeTruthy();
    expect(signedIn.deviceToken.known).toBe(true);
    // Only the 10 checked guesses reached the account's hourly count of strangers.
    expect((await h.store.attempts.get(`password-hour:${email}`, h.clock.now())).failures).toBe(10);
  });

  it("after a completed password reset the owner signs in from anywhere, though the attacker had locked the account", async () => {
    const email = "reset-out@example.com";
    await d.call("AuthService/Register", { email, password });
    await run(20, 20, (i) => d.call("AuthService/Login", { email, password: `guess ${i}` }, undefined, attacker(i)));
    expect((await failure(d.call("AuthService/Login", { email, password }, undefined, from("203.0.113.20")))).reason).toBe("RATE_LIMITED");

    await d.call("AuthService/RequestPasswordReset", { email });
    const next = "a brand new passphrase";
    await d.call("AuthService/ResetPassword", { code: (await h.mail(email, "password_reset")).code, newPassword: next });
    const signedIn = await d.call("AuthService/Login", { email, password: next }, undefined, from("203.0.113.20"));
    expect(signedIn.tokens.accessToken).toBeTruthy();
    for (const key of [`password:${email}`, `password-hour:${email}`, `password-hour-known:${email}`]) {
      expect(await h.store.attempts.get(key, h.clock.now())).toEqual({ failures: 0, lockedUntil: null });
    }
  });

  it("the reset hands out a known-device token: an attacker who keeps guessing after it cannot keep the owner out", async () => {
    const email = "still-besieged@example.com";
    await d.call("AuthService/Register", { email, password });
    await run(20, 20, (i) => d.call("AuthService/Login", { email, password: `guess ${i}` }, undefined, attacker(i)));
    await d.call("AuthService/RequestPasswordReset", { email });
    const next = "a brand new passphrase";
    const reset = await d.call("AuthService/ResetPassword", { code: (await h.mail(email, "password_reset")).code, newPassword: next });
    expect(reset.deviceToken.token).toBeTruthy();
    // The attacker carries on: the strangers' count locks again within seconds ...
    const again = await run(30, 30, (i) => d.call("AuthService/Login", { email, password: `guess ${i}` }, undefined, attacker(100 + i)));
    expect(count(again, "INVALID_CREDENTIALS")).toBe(10);
    expect((await failure(d.call("AuthService/Login", { email, password: next }, undefined, from("203.0.113.21")))).reason).toBe(
      "RATE_LIMITED",
    );
    // ... but the owner, with the token the reset gave, is a known device and signs in.
    const signedIn = await d.call(
      "AuthService/Login",
      { email, password: next, deviceToken: reset.deviceToken.token },
      undefined,
      from("203.0.113.21"),
    );
    expect(signedIn.tokens.accessToken).toBeTruthy();
    expect(signedIn.deviceToken).toMatchObject({ known: true, deviceId: reset.deviceToken.deviceId });
  });

  it("an unknown address is limited identically: same answers, same RATE_LIMITED, same retry time", async () => {
    const known = "exists@example.com";
    const unknown = "does-not-exist@example.com";
    await d.call("AuthService/Register", { email: known, password });
    const answers = async (email: string) => {
      const reasons = await run(12, 1, (i) => d.call("AuthService/Login", { email, password: `guess ${i}` }, undefined, attacker(500 + i)));
      const last = await failure(d.call("AuthService/Login", { email, password }, undefined, attacker(600)));
      return { reasons, last: [last.code, last.reason, last.message, last.metadata.retry_after_seconds] };
    };
    expect(await answers(unknown)).toEqual(await answers(known));
  });

  it("one address is capped across accounts (LOGIN_ADDRESS_MAX_FAILURES, 100): a sprayer stops, other addresses do not", async () => {
    const spray = await run(110, 10, (i) =>
      d.call("AuthService/Login", { email: `sprayed-${i}@example.com`, password: "Winter2026!" }, undefined, from("192.0.2.66")),
    );
    expect(count(spray, "INVALID_CREDENTIALS")).toBe(100);
    expect(count(spray, "RATE_LIMITED")).toBe(10);
    const other = await failure(
      d.call("AuthService/Login", { email: "sprayed-0@example.com", password: "x-wrong-x" }, undefined, from("192.0.2.67")),
    );
    expect(other.reason).toBe("INVALID_CREDENTIALS");
  });

  it("an IPv6 client is one client across its /64: rotating the low bits buys no fresh budget", async () => {
    // Every call from another address of the same /64.
    const spray = await run(105, 15, (i) =>
      d.call(
        "AuthService/Login",
        { email: `v6-${i}@example.com`, password: "Winter2026!" },
        undefined,
        from(`2001:db8:66:1:${i.toString(16)}::1`),
      ),
    );
    expect(count(spray, "INVALID_CREDENTIALS")).toBe(100);
    expect(count(spray, "RATE_LIMITED")).toBe(5);
    const other = await failure(
      d.call("AuthService/Login", { email: "v6-0@example.com", password: "x-wrong-x" }, undefined, from("2001:db8:66:2::1")),
    );
    expect(other.reason).toBe("INVALID_CREDENTIALS");
  });

  it("a known device has its own limit (LOGIN_DEVICE_MAX_FAILURES, 10): it locks itself, not the owner's other devices", async () => {
    const email = "two-devices@example.com";
    const laptop = await owner(email);
    const phone = (await d.call("AuthService/Login", { email, password })).deviceToken.token;
    const wrong = await run(12, 12, (i) => d.call("AuthService/Login", { email, password: `typo ${i}`, deviceToken: laptop }));
    expect(count(wrong, "INVALID_CREDENTIALS")).toBe(10);
    expect(count(wrong, "RATE_LIMITED")).toBe(2);
    expect((await failure(d.call("AuthService/Login", { email, password, deviceToken: laptop }))).reason).toBe("RATE_LIMITED");
    expect((await d.call("AuthService/Login", { email, password, deviceToken: phone })).tokens.accessToken).toBeTruthy();
    // Strangers' count of the account was never touched.
    expect((await h.store.attempts.get(`password:${email}`, h.clock.now())).failures).toBe(0);
  });
});

describe("the account's hourly bound (LOGIN_ACCOUNT_MAX_FAILURES_PER_HOUR, 100)", () => {
  let h: Harness;
  let d: Driver;
  beforeAll(async () => {
    // Every other counter out of the way, so only the hourly bound decides.
    h = await startHarness({
      EMAIL_VERIFICATION_REQUIRED: "false",
      TRUST_PROXY_HOPS: "1",
      MAX_CONNECTIONS_PER_ADDRESS: "0",
      LOGIN_MAX_FAILURES: "1000",
      LOGIN_ADDRESS_MAX_FAILURES: "0",
      LOGIN_DEVICE_MAX_FAILURES: "0",
      // The devices' 200 at once come from one client.
      ARGON2_MAX_PER_CLIENT: "1000000",
    });
    d = fetchDriver(h.url, "hourly");
  });
  afterAll(() => h.close());

  it("holds exactly under concurrency: 50 checks for strangers, 50 for known devices, then nothing for an hour", async () => {
    const email = "hourly@example.com";
    await d.call("AuthService/Register", { email, password });
    const devices: string[] = [];
    for (let i = 0; i < 4; i++)
      devices.push((await d.call("AuthService/Login", { email, password }, undefined, from(`203.0.113.${i}`))).deviceToken.token);

    const strangers = await run(300, 300, (i) => d.call("AuthService/Login", { email, password: `guess ${i}` }, undefined, attacker(i)));
    expect(count(strangers, "INVALID_CREDENTIALS")).toBe(50);
    expect(count(strangers, "RATE_LIMITED")).toBe(250);
    // The strangers' half is spent; the owner's devices still get in.
    expect((await d.call("AuthService/Login", { email, password, deviceToken: devices[0] })).tokens.accessToken).toBeTruthy();

    const fromDevices = await run(200, 200, (i) =>
      d.call("AuthService/Login", { email, password: `typo ${i}`, deviceToken: devices[i % devices.length] }),
    );
    expect(count(fromDevices, "INVALID_CREDENTIALS")).toBe(50);
    expect(count(fromDevices, "RATE_LIMITED")).toBe(150);
    // 100 checked wrong passwords in the hour: the bound is reached, for everyone.
    expect((await failure(d.call("AuthService/Login", { email, password, deviceToken: devices[1] }))).reason).toBe("RATE_LIMITED");
    expect((await failure(d.call("AuthService/Login", { email, password }, undefined, from("203.0.113.99")))).reason).toBe("RATE_LIMITED");

    h.clock.advance(3_600_000);
    expect((await d.call("AuthService/Login", { email, password, deviceToken: devices[1] })).tokens.accessToken).toBeTruthy();
  });
});

/** An in-process service whose store records every lookup of an account by email. */
async function serviceCountingLookups(): Promise<{ s: InProcess; lookups: string[] }> {
  const store = createMemoryStore();
  const lookups: string[] = [];
  const findByEmail = store.users.findByEmail.bind(store.users);
  store.users.findByEmail = (email) => {
    lookups.push(email);
    return findByEmail(email);
  };
  return { s: await startService({ EMAIL_VERIFICATION_REQUIRED: "false" }, store), lookups };
}

describe("a refusal reads nothing about the account", () => {
  it("a stranger refused by the limits never looks the address up, so RATE_LIMITED takes the same path for every address", async () => {
    const { s, lookups } = await serviceCountingLookups();
    await s.ops.accounts.register({ email: "looked-up@example.com", password, displayName: "" }, s.client);
    const reason = (email: string) =>
      s.ops.signIn.login({ email, password: "not it at all", rememberMe: false }, s.client).catch((e: AuthError) => e.reason);
    for (const email of ["looked-up@example.com", "never-was@example.com"]) {
      for (let i = 0; i < 10; i++) expect(await reason(email)).toBe("INVALID_CREDENTIALS");
      lookups.length = 0;
      expect(await reason(email)).toBe("RATE_LIMITED");
      expect(lookups).toEqual([]);
    }
    await s.close();
  });

  it("nor does a known device's: locked by its own count, or holding another account's token, it is refused unread", async () => {
    const { s, lookups } = await serviceCountingLookups();
    const tokenOf = async (email: string) => {
      await s.ops.accounts.register({ email, password, displayName: "" }, s.client);
      const signedIn = await s.ops.signIn.login({ email, password, rememberMe: false }, s.client);
      if (signedIn.state !== "signed_in") throw new Error("expected a completed sign-in");
      return signedIn.device.token;
    };
    const own = await tokenOf("device-owner@example.com");
    const other = await tokenOf("someone-else@example.com");
    const reason = (email: string, deviceToken: string) =>
      s.ops.signIn.login({ email, password: "not it at all", rememberMe: false, deviceToken }, s.client).catch((e: AuthError) => e.reason);
    // The account's own device, locked by its own wrong passwords (LOGIN_DEVICE_MAX_FAILURES).
    for (let i = 0; i < 10; i++) expect(await reason("device-owner@example.com", own)).toBe("INVALID_CREDENTIALS");
    lookups.length = 0;
    expect(await reason("device-owner@example.com", own)).toBe("RATE_LIMITED");
    expect(lookups).toEqual([]);
    // Another account's genuine token is a stranger's: refused by the strangers' limits, unread.
    for (const email of ["someone-else-target@example.com", "device-owner@example.com"]) {
      for (let i = 0; i < 10; i++) expect(await reason(email, other)).toBe("INVALID_CREDENTIALS");
      lookups.length = 0;
      expect(await reason(email, other)).toBe("RATE_LIMITED");
      expect(lookups).toEqual([]);
    }
    await s.close();
  });
});

describe("a signed-in caller's password proofs are counted under the session, not the strangers' limits", () => {
  let s: InProcess;
  beforeAll(async () => {
    s = await startService({ EMAIL_VERIFICATION_REQUIRED: "false" });
  });
  afterAll(() => s.close());

  async function session(email: string): Promise<Caller> {
    const signedIn = await s.ops.signIn.login({ email, password, rememberMe: false }, s.client);
    if (signedIn.state !== "signed_in") throw new Error("expected a completed sign-in");
    return s.ops.sessions.authenticate({ bearer: signedIn.tokens.accessToken });
  }
  const strangersLock = async (email: string) => {
    for (let i = 0; i < 11; i++) {
      await s.ops.signIn
        .login({ email, password: `guess ${i}`, rememberMe: false }, { ...s.client, ipAddress: `198.51.100.${i}` })
        .catch(() => undefined);
    }
    const refused = await s.ops.signIn.login({ email, password, rememberMe: false }, s.client).catch((e: AuthError) => e.reason);
    expect(refused).toBe("RATE_LIMITED");
  };

  it("strangers who locked the account do not stop its signed-in owner proving the password", async () => {
    const email = "signed-in-owner@example.com";
    await s.ops.accounts.register({ email, password, displayName: "" }, s.client);
    const caller = await session(email);
    await strangersLock(email);
    // A proof of two-factor.ts (setup with the password), ChangePassword, and a re-authenticated
    // DeleteAccount (confirmIdentity): each checks the right password, locked strangers or not.
    expect((await s.ops.twoFactor.setup(caller, { password, additionalDevice: false, passwordRequired: true })).secret).toBeTruthy();
    const next = "an entirely new passphrase";
    await s.ops.accounts.changePassword(caller, password, next, s.client);
    await s.ops.accounts.deleteAccount(caller, { password: next, code: "", recoveryCode: "" }, s.client);
    expect(await s.store.users.findByEmail(email)).toBeNull();
  });

  it("each session has its own limit (LOGIN_DEVICE_MAX_FAILURES) and the known devices' hourly share; strangers' counts stay untouched", async () => {
    const email = "fumbling-owner@example.com";
    await s.ops.accounts.register({ email, password, displayName: "" }, s.client);
    const [tab, phone] = [await session(email), await session(email)];
    const change = (caller: Caller, current: string) =>
      s.ops.accounts.changePassword(caller, current, "an entirely new passphrase", s.client).then(
        () => "ok",
        (e: AuthError) => e.reason,
      );
    for (let i = 0; i < 10; i++) expect(await change(tab, `typo ${i}`)).toBe("INVALID_CREDENTIALS");
    expect(await change(tab, password)).toBe("RATE_LIMITED");
    expect((await s.store.attempts.get(`password:${email}`, s.clock.now())).failures).toBe(0);
    expect((await s.store.attempts.get(`password-hour:${email}`, s.clock.now())).failures).toBe(0);
    expect((await s.store.attempts.get(`password-hour-known:${email}`, s.clock.now())).failures).toBe(10);
    // The other session, and a sign-in from anywhere, are not held by the first session's typos.
    expect((await s.ops.twoFactor.setup(phone, { password, additionalDevice: false, passwordRequired: true })).secret).toBeTruthy();
    expect((await s.ops.signIn.login({ email, password, rememberMe: false }, { ...s.client, ipAddress: "203.0.113.50" })).state).toBe(
      "signed_in",
    );
  });
});

describe("an IPv6 client's aggregate (CLIENT_IPV6_AGGREGATE_PREFIX, _MULTIPLE): a /48 is not 65,536 budgets", () => {
  // 4 wrong passwords per /64, 3 times that (12) per /48; the account's counters out of the way,
  // so that only the client's decide (each guess is for another account anyway: spraying).
  const env = {
    EMAIL_VERIFICATION_REQUIRED: "false",
    LOGIN_ADDRESS_MAX_FAILURES: "4",
    CLIENT_IPV6_AGGREGATE_MULTIPLE: "3",
    LOGIN_MAX_FAILURES: "0",
    LOGIN_ACCOUNT_MAX_FAILURES_PER_HOUR: "0",
    METRICS_TOKEN: "a-metrics-token-for-the-test",
  };
  let s: InProcess;
  beforeEach(async () => {
    s = await startService(env);
  });
  afterEach(() => s.close());

  const guess = (i: number, ipAddress: string, guessed = "Winter2026!") =>
    outcome(
      s.ops.signIn.login({ email: `sprayed-${i}@example.com`, password: guessed, rememberMe: false }, { ipAddress, userAgent: "sprayer" }),
    );
  const failures = async (network: string) => (await s.store.attempts.get(`password-address:${network}`, s.clock.now())).failures;

  it("20 guesses from 20 /64s of one /48: 12 are checked, then every /64 of it is refused; another /48 and IPv4 are not", async () => {
    const reasons: string[] = [];
    for (let i = 0; i < 20; i++) reasons.push(await guess(i, `2001:db8:48:${i.toString(16)}::1`));
    expect(reasons.slice(0, 12)).toEqual(Array(12).fill("INVALID_CREDENTIALS"));
    expect(reasons.slice(12)).toEqual(Array(8).fill("RATE_LIMITED"));
    // A /64 of it that never guessed is refused too, before its own count.
    expect(await guess(20, "2001:db8:48:ffff::1")).toBe("RATE_LIMITED");
    expect(await failures("2001:db8:48:ffff::/64")).toBe(1);
    expect(await failures("2001:db8:48::/48")).toBe(12);
    // The lock is reported as the aggregate's (the /64s each guessed once: none of theirs locked).
    const m = new Scrape((await s.service.metrics?.scrape()) ?? "");
    expect(m.value("authd_lockouts_total", { factor: "password", scope: "address_aggregate" })).toBe(1);
    expect(m.value("authd_lockouts_total", { factor: "password", scope: "address" })).toBe(0);
    // Another /48 of the same /32, and an IPv4 client, have their own budgets.
    expect(await guess(21, "2001:db8:49::1")).toBe("INVALID_CREDENTIALS");
    expect(await guess(22, "192.0.2.48")).toBe("INVALID_CREDENTIALS");
    // The lock lasts LOGIN_LOCK_SECONDS, as the /64's does.
    s.clock.advance(900_000);
    expect(await guess(23, "2001:db8:48:1::1")).toBe("INVALID_CREDENTIALS");
  });

  it("the same 20 guesses from one /64 behave as before: its own 4, and its neighbours keep the rest of the /48's", async () => {
    const reasons: string[] = [];
    for (let i = 0; i < 20; i++) reasons.push(await guess(i, `2001:db8:48:1::${(i + 1).toString(16)}`));
    expect(reasons.slice(0, 4)).toEqual(Array(4).fill("INVALID_CREDENTIALS"));
    expect(reasons.slice(4)).toEqual(Array(16).fill("RATE_LIMITED"));
    // Refused by its own count, a guess spends nothing of the aggregate.
    expect(await failures("2001:db8:48::/48")).toBe(4);
    for (let i = 0; i < 4; i++) expect(await guess(30 + i, "2001:db8:48:2::1")).toBe("INVALID_CREDENTIALS");
    expect(await guess(34, "2001:db8:48:2::1")).toBe("RATE_LIMITED");
  });

  it("a right password takes its count back from the aggregate too; a known device signs in while the /48 is locked", async () => {
    const email = "org-member@example.com";
    await s.ops.accounts.register({ email, password, displayName: "" }, { ipAddress: "198.51.100.1", userAgent: "laptop" });
    const member = { ipAddress: "2001:db8:48:77::1", userAgent: "laptop" };
    const first = await s.ops.signIn.login({ email, password, rememberMe: false }, member);
    if (first.state !== "signed_in") throw new Error("expected a completed sign-in");
    expect(await failures("2001:db8:48::/48")).toBe(0);

    for (let i = 0; i < 12; i++) await guess(i, `2001:db8:48:${i.toString(16)}::1`);
    expect(await outcome(s.ops.signIn.login({ email, password, rememberMe: false }, member))).toBe("RATE_LIMITED");
    // Known devices never take the client's counters: the member's device still signs in.
    const known = { email, password, rememberMe: false, deviceToken: first.device.token };
    expect(await outcome(s.ops.signIn.login(known, member))).toBe("OK");
  });

  it("CLIENT_IPV6_AGGREGATE_MULTIPLE 0 counts the /64s alone", async () => {
    await s.close();
    s = await startService({ ...env, CLIENT_IPV6_AGGREGATE_MULTIPLE: "0" });
    for (let i = 0; i < 20; i++) expect(await guess(i, `2001:db8:48:${i.toString(16)}::1`)).toBe("INVALID_CREDENTIALS");
  });

  it("an IPv4 client's guess takes one client counter, as before: the aggregate's write is an IPv6 client's alone", async () => {
    const clock = new TestClock();
    const store = createMemoryStore({ clock });
    const counted: string[] = [];
    const fail = store.attempts.fail.bind(store.attempts);
    store.attempts.fail = (key, now, policy) => {
      if (key.startsWith("password-address:")) counted.push(key);
      return fail(key, now, policy);
    };
    const v = await startService(env, store, clock);
    const login = (ipAddress: string) =>
      outcome(
        v.ops.signIn.login({ email: "nobody@example.com", password: "Winter2026!", rememberMe: false }, { ipAddress, userAgent: "t" }),
      );
    expect(await login("192.0.2.7")).toBe("INVALID_CREDENTIALS");
    expect(await login("::ffff:192.0.2.7")).toBe("INVALID_CREDENTIALS");
    expect(counted).toEqual(["password-address:192.0.2.7", "password-address:192.0.2.7"]);
    counted.length = 0;
    expect(await login("2001:db8:48:1::1")).toBe("INVALID_CREDENTIALS");
    expect(counted).toEqual(["password-address:2001:db8:48:1::/64", "password-address:2001:db8:48::/48"]);
    await v.close();
  });
});
