// Bad input for every TwoFactorService RPC, for CompleteLogin, and for Login's second-factor
// fields: each call must fail with exactly the documented status and reason, leak nothing it was
// sent, and change nothing in storage except the one thing a wrong guess changes (its counter).
// Every case runs over fetch (Connect JSON) and plain @grpc/grpc-js. Bad credentials for the
// TwoFactorService RPCs are covered with every other authenticated RPC in bad-input.test.ts.
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectSafeMessage, titled, type Expected } from "../support/assertions.ts";
import { failure, fetchDriver, grpcJsDriver, type Driver, type Json, type Method } from "../support/drivers.ts";
import { startHarness, type Harness } from "../support/harness.ts";
import { totp, wrongCode } from "../support/totp.ts";
import { tokenHash } from "../../src/tokens/opaque.ts";

let h: Harness;
let setupDriver: Driver;
const drivers: Driver[] = [];

interface User {
  email: string;
  password: string;
  id: string;
  token: string;
}
let tina: User; // 2FA enabled, one device
let uma: User; // no 2FA, nothing pending
let vera: User; // a pending enrolment from Setup
let xena: User; // 2FA enabled, a pending additional-device secret
let wes: User; // a pending enrolment that has expired
let tinaSecret: string;
let veraSecret: string;
let xenaSecret: string;
let xenaPendingSecret: string;
let xenaDeviceId: string;
let tinaDeviceId: string;
let tinaRecovery: string[];
let challenge: string; // a live login challenge for tina
let staleChallenge: string; // issued before tina's password last changed
let expiredChallenge: string;

const users = () => [tina, uma, vera, xena, wes];
const password = "a long enough passphrase";

async function register(email: string): Promise<User> {
  const reg = await setupDriver.call("AuthService/Register", { email, password });
  return { email, password, id: reg.user.id, token: reg.tokens.accessToken };
}

/** Everything a refused call could have touched. */
async function snapshot() {
  await h.server.deps.background.drain();
  const now = h.clock.now();
  const out: Record<string, Json> = {};
  for (const u of users()) {
    out[u.email] = {
      user: await h.store.users.findById(u.id),
      twoFactor: await h.store.twoFactor.get(u.id),
      sessions: await h.store.sessions.listLive(u.id, now),
      password: await h.store.attempts.get(`password:${u.email}`, now),
      // A signed-in caller's wrong password: the known devices' share of the hour (passwords/check.ts).
      ownPassword: await h.store.attempts.get(`password-hour-known:${u.email}`, now),
      secondFactor: await h.store.attempts.get(`2fa:${u.id}`, now),
    };
  }
  out.challenges = await Promise.all(
    [challenge, staleChallenge, expiredChallenge].map((c) => h.store.codes.find(tokenHash(c), "login_challenge", now)),
  );
  return out;
}

interface Case extends Expected {
  name: string;
  method: Method;
  /** Whose access token the call carries (none for Login and CompleteLogin). */
  as?: () => User;
  req: () => Json;
  /**
   * A wrong guess counts one failure on this user's counter (and a right password clears it):
   * strangers' per-account count at Login, the known devices' hourly share for a signed-in proof.
   */
  counts?: { user: () => User; counter: "password" | "ownPassword" | "secondFactor"; clearsPassword?: boolean };
}

async function expectRefused(d: Driver, c: Case): Promise<void> {
  const before = await snapshot();
  const req = c.req();
  const f = await failure(d.call(c.method, req, c.as?.().token));
  expect({ code: f.code, reason: f.reason }).toEqual({ code: c.code, reason: c.reason });
  if (c.field !== undefined) expect(f.metadata.field).toBe(c.field);
  const secrets = [
    password,
    tinaSecret,
    veraSecret,
    xenaSecret,
    ...tinaRecovery,
    ...Object.values(req).filter((v): v is string => typeof v === "string" && v.length >= 6),
  ];
  expectSafeMessage(f.message, secrets);
  const after = await snapshot();
  const expected = structuredClone(before);
  if (c.counts !== undefined) {
    const entry = expected[c.counts.user().email];
    entry[c.counts.counter] = { failures: entry[c.counts.counter].failures + 1, lockedUntil: null };
    if (c.counts.clearsPassword === true) entry.password = { failures: 0, lockedUntil: null };
  }
  expect(after).toEqual(expected);
}

beforeAll(async () => {
  // Wrong guesses are made on purpose, many times, on a clock that does not move: the limits are
  // raised so that none of them locks (the locks are tested in guessing-limits.test.ts).
  h = await startHarness({
    EMAIL_VERIFICATION_REQUIRED: "false",
    LOGIN_MAX_FAILURES: "1000",
    LOGIN_DEVICE_MAX_FAILURES: "1000",
    TWO_FACTOR_MAX_FAILURES: "100",
  });
  setupDriver = fetchDriver(h.url, "2fa-bad-input/setup");
  drivers.push(fetchDriver(h.url, "2fa-bad-input"), grpcJsDriver(h.url));
  const d = setupDriver;
  [tina, uma, vera, xena, wes] = (await Promise.all(["tina", "uma", "vera", "xena", "wes"].map((n) => register(`${n}@example.com`)))) as [
    User,
    User,
    User,
    User,
    User,
  ];
  const enrol = async (u: User) => {
    const s = await d.call("TwoFactorService/Setup", {}, u.token);
    const e = await d.call("TwoFactorService/Enable", { code: totp(s.secret, h.clock.now()) }, u.token);
    return { secret: s.secret as string, deviceId: e.device.id as string, recovery: e.recoveryCodes as string[] };
  };
  const t = await enrol(tina);
  [tinaSecret, tinaDeviceId, tinaRecovery] = [t.secret, t.deviceId, t.recovery];
  const x = await enrol(xena);
  [xenaSecret, xenaDeviceId] = [x.secret, x.deviceId];
  veraSecret = (await d.call("TwoFactorService/Setup", {}, vera.token)).secret;
  await d.call("TwoFactorService/Setup", {}, wes.token);
  h.clock.advance(11 * 60_000); // wes's pending secret (10 minutes) expires...
  for (const u of users()) {
    // ...and every access token stays fresh.
    u.token = (
      await d.call("AuthService/Login", {
        email: u.email,
        password,
        ...(u === tina || u === xena ? { loginCode: totp(u === tina ? tinaSecret : xenaSecret, h.clock.now()) } : {}),
      })
    ).tokens.accessToken;
  }
  veraSecret = (await d.call("TwoFactorService/Setup", {}, vera.token)).secret; // a live one for vera
  xenaPendingSecret = (await d.call("TwoFactorService/Setup", { additionalDevice: true, password }, xena.token)).secret;
  challenge = (await d.call("AuthService/Login", { email: tina.email, password })).secondFactor.challengeToken;
  // Challenges planted in storage (a user has one live challenge at a time, so they go to other
  // users): one issued before xena's password was set, one expired.
  staleChallenge = randomBytes(32).toString("base64url");
  expiredChallenge = randomBytes(32).toString("base64url");
  const xenaRecord = await h.store.users.findById(xena.id);
  const then = new Date((xenaRecord?.passwordUpdatedAt ?? new Date()).getTime() - 1000);
  await h.store.codes.replace({
    codeHash: tokenHash(staleChallenge),
    purpose: "login_challenge",
    userId: xena.id,
    createdAt: then,
    expiresAt: new Date(h.clock.now().getTime() + 60_000),
    rememberMe: false,
  });
  await h.store.codes.replace({
    codeHash: tokenHash(expiredChallenge),
    purpose: "login_challenge",
    userId: uma.id,
    createdAt: then,
    expiresAt: h.clock.now(),
    rememberMe: false,
  });
});

afterAll(async () => {
  for (const d of drivers) d.close();
  await h?.close();
});

const now = () => h.clock.now();
const malformedCodes = [
  { label: "an empty code", value: "" },
  { label: "5 digits", value: "12345" },
  { label: "7 digits", value: "1234567" },
  { label: "letters", value: "abcdef" },
  { label: "a recovery code where a TOTP code belongs", value: "abcd-efgh-2345" },
  { label: "a 10,000-character code", value: "1".repeat(10_000) },
];

const cases: Case[] = [
  // ---- Setup ----
  {
    name: "Setup while enabled without a password",
    method: "TwoFactorService/Setup",
    as: () => tina,
    req: () => ({}),
    code: "invalid_argument",
    reason: "INVALID_ARGUMENT",
    field: "password",
  },
  {
    name: "Setup for an additional device without a password (a token alone cannot add a device)",
    method: "TwoFactorService/Setup",
    as: () => tina,
    req: () => ({ additionalDevice: true }),
    code: "invalid_argument",
    reason: "INVALID_ARGUMENT",
    field: "password",
  },
  {
    name: "Setup for an additional device with a wrong password",
    method: "TwoFactorService/Setup",
    as: () => tina,
    req: () => ({ additionalDevice: true, password: "not the password" }),
    code: "unauthenticated",
    reason: "INVALID_CREDENTIALS",
    field: "password",
    counts: { user: () => tina, counter: "ownPassword" },
  },
  {
    name: "Setup while enabled with a wrong password",
    method: "TwoFactorService/Setup",
    as: () => tina,
    req: () => ({ password: "not the password" }),
    code: "unauthenticated",
    reason: "INVALID_CREDENTIALS",
    field: "password",
    counts: { user: () => tina, counter: "ownPassword" },
  },
  {
    name: "Setup (not enabled) with a wrong password creates no pending secret",
    method: "TwoFactorService/Setup",
    as: () => uma,
    req: () => ({ password: "not the password" }),
    code: "unauthenticated",
    reason: "INVALID_CREDENTIALS",
    counts: { user: () => uma, counter: "ownPassword" },
  },
  {
    name: "Setup with a 129-code-point password",
    method: "TwoFactorService/Setup",
    as: () => tina,
    req: () => ({ password: "🔑".repeat(129) }),
    code: "invalid_argument",
    reason: "INVALID_ARGUMENT",
    field: "password",
  },
  // ---- Enable ----
  ...malformedCodes.map(
    (m): Case => ({
      name: `Enable with ${m.label}`,
      method: "TwoFactorService/Enable",
      as: () => vera,
      req: () => ({ code: m.value }),
      code: "invalid_argument",
      reason: "INVALID_ARGUMENT",
      field: "code",
    }),
  ),
  {
    name: "Enable with a 65-character device name",
    method: "TwoFactorService/Enable",
    as: () => vera,
    req: () => ({ code: totp(veraSecret, now()), deviceName: "d".repeat(65) }),
    code: "invalid_argument",
    reason: "INVALID_ARGUMENT",
    field: "device_name",
  },
  {
    name: "Enable with a control character in the device name",
    method: "TwoFactorService/Enable",
    as: () => vera,
    req: () => ({ code: totp(veraSecret, now()), deviceName: "Phone\u0000" }),
    code: "invalid_argument",
    reason: "INVALID_ARGUMENT",
    field: "device_name",
  },
  {
    name: "Enable with a secret that is not base32",
    method: "TwoFactorService/Enable",
    as: () => vera,
    req: () => ({ code: totp(veraSecret, now()), secret: "not base32!" }),
    code: "invalid_argument",
    reason: "INVALID_ARGUMENT",
    field: "secret",
  },
  {
    name: "Enable with a 200-character secret",
    method: "TwoFactorService/Enable",
    as: () => vera,
    req: () => ({ code: totp(veraSecret, now()), secret: "A".repeat(200) }),
    code: "invalid_argument",
    reason: "INVALID_ARGUMENT",
    field: "secret",
  },
  {
    name: "Enable with a valid secret this server never issued (and its right code)",
    method: "TwoFactorService/Enable",
    as: () => vera,
    req: () => ({ code: totp("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", now()), secret: "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP" }),
    code: "invalid_argument",
    reason: "INVALID_ARGUMENT",
    field: "secret",
  },
  {
    name: "Enable with another user's pending secret and its right code",
    method: "TwoFactorService/Enable",
    as: () => uma,
    req: () => ({ code: totp(veraSecret, now()), secret: veraSecret }),
    code: "failed_precondition",
    reason: "TWO_FACTOR_SETUP_REQUIRED",
  },
  {
    name: "Enable with nothing pending",
    method: "TwoFactorService/Enable",
    as: () => uma,
    req: () => ({ code: "123456" }),
    code: "failed_precondition",
    reason: "TWO_FACTOR_SETUP_REQUIRED",
  },
  {
    name: "Enable with an expired pending secret",
    method: "TwoFactorService/Enable",
    as: () => wes,
    req: () => ({ code: "123456" }),
    code: "failed_precondition",
    reason: "TWO_FACTOR_SETUP_REQUIRED",
  },
  {
    name: "Enable while already enabled",
    method: "TwoFactorService/Enable",
    as: () => tina,
    req: () => ({ code: totp(tinaSecret, now(), 1) }),
    code: "failed_precondition",
    reason: "TWO_FACTOR_ALREADY_ENABLED",
  },
  {
    name: "Enable with a wrong code",
    method: "TwoFactorService/Enable",
    as: () => vera,
    req: () => ({ code: wrongCode(veraSecret, now()) }),
    code: "unauthenticated",
    reason: "INVALID_TWO_FACTOR_CODE",
    counts: { user: () => vera, counter: "secondFactor" },
  },
  // ---- Verify ----
  ...malformedCodes.map(
    (m): Case => ({
      name: `Verify with ${m.label}`,
      method: "TwoFactorService/Verify",
      as: () => tina,
      req: () => ({ code: m.value }),
      code: "invalid_argument",
      reason: "INVALID_ARGUMENT",
      field: "code",
    }),
  ),
  {
    name: "Verify without 2FA",
    method: "TwoFactorService/Verify",
    as: () => uma,
    req: () => ({ code: "123456" }),
    code: "failed_precondition",
    reason: "TWO_FACTOR_NOT_ENABLED",
  },
  {
    name: "Verify with a wrong code",
    method: "TwoFactorService/Verify",
    as: () => tina,
    req: () => ({ code: wrongCode(tinaSecret, now()) }),
    code: "unauthenticated",
    reason: "INVALID_TWO_FACTOR_CODE",
    counts: { user: () => tina, counter: "secondFactor" },
  },
  {
    name: "Verify with another user's current code",
    method: "TwoFactorService/Verify",
    as: () => tina,
    req: () => ({ code: totp(xenaSecret, now(), 1) }),
    code: "unauthenticated",
    reason: "INVALID_TWO_FACTOR_CODE",
    counts: { user: () => tina, counter: "secondFactor" },
  },
  {
    // Refused, but not counted: a double-submitted valid code is not a guess (issue 10, item 11).
    name: "Verify with the code already spent at sign-in (replay)",
    method: "TwoFactorService/Verify",
    as: () => tina,
    req: () => ({ code: totp(tinaSecret, now()) }),
    code: "unauthenticated",
    reason: "INVALID_TWO_FACTOR_CODE",
  },
  // ---- Disable ----
  {
    name: "Disable with no proof",
    method: "TwoFactorService/Disable",
    as: () => tina,
    req: () => ({}),
    code: "invalid_argument",
    reason: "INVALID_ARGUMENT",
  },
  {
    name: "Disable with two proofs",
    method: "TwoFactorService/Disable",
    as: () => tina,
    req: () => ({ password, code: "123456" }),
    code: "invalid_argument",
    reason: "INVALID_ARGUMENT",
  },
  {
    name: "Disable with all three proofs",
    method: "TwoFactorService/Disable",
    as: () => tina,
    req: () => ({ password, code: "123456", recoveryCode: tinaRecovery[0] }),
    code: "invalid_argument",
    reason: "INVALID_ARGUMENT",
  },
  {
    name: "Disable without 2FA",
    method: "TwoFactorService/Disable",
    as: () => uma,
    req: () => ({ password }),
    code: "failed_precondition",
    reason: "TWO_FACTOR_NOT_ENABLED",
  },
  {
    name: "Disable with a wrong password",
    method: "TwoFactorService/Disable",
    as: () => tina,
    req: () => ({ password: "not the password" }),
    code: "unauthenticated",
    reason: "INVALID_CREDENTIALS",
    counts: { user: () => tina, counter: "ownPassword" },
  },
  ...malformedCodes.slice(1, 4).map(
    (m): Case => ({
      name: `Disable with ${m.label}`,
      method: "TwoFactorService/Disable",
      as: () => tina,
      req: () => ({ code: m.value }),
      code: "invalid_argument",
      reason: "INVALID_ARGUMENT",
      field: "code",
    }),
  ),
  {
    name: "Disable with a wrong code",
    method: "TwoFactorService/Disable",
    as: () => tina,
    req: () => ({ code: wrongCode(tinaSecret, now()) }),
    code: "unauthenticated",
    reason: "INVALID_TWO_FACTOR_CODE",
    counts: { user: () => tina, counter: "secondFactor" },
  },
  {
    name: "Disable with a wrong recovery code",
    method: "TwoFactorService/Disable",
    as: () => tina,
    req: () => ({ recoveryCode: "aaaa-bbbb-cccc" }),
    code: "unauthenticated",
    reason: "INVALID_TWO_FACTOR_CODE",
    counts: { user: () => tina, counter: "secondFactor" },
  },
  {
    name: "Disable with a recovery code of 65 characters",
    method: "TwoFactorService/Disable",
    as: () => tina,
    req: () => ({ recoveryCode: "a".repeat(65) }),
    code: "invalid_argument",
    reason: "INVALID_ARGUMENT",
    field: "recovery_code",
  },
  // ---- Reset ----
  {
    name: "Reset without 2FA",
    method: "TwoFactorService/Reset",
    as: () => uma,
    req: () => ({ password }),
    code: "failed_precondition",
    reason: "TWO_FACTOR_NOT_ENABLED",
  },
  {
    name: "Reset without a password",
    method: "TwoFactorService/Reset",
    as: () => tina,
    req: () => ({}),
    code: "invalid_argument",
    reason: "INVALID_ARGUMENT",
    field: "password",
  },
  {
    name: "Reset with a wrong password",
    method: "TwoFactorService/Reset",
    as: () => tina,
    req: () => ({ password: "not the password" }),
    code: "unauthenticated",
    reason: "INVALID_CREDENTIALS",
    counts: { user: () => tina, counter: "ownPassword" },
  },
  // ---- AddDevice ----
  {
    name: "AddDevice without a secret",
    method: "TwoFactorService/AddDevice",
    as: () => xena,
    req: () => ({ code: "123456" }),
    code: "invalid_argument",
    reason: "INVALID_ARGUMENT",
    field: "secret",
  },
  ...malformedCodes.slice(0, 4).map(
    (m): Case => ({
      name: `AddDevice with ${m.label}`,
      method: "TwoFactorService/AddDevice",
      as: () => xena,
      req: () => ({ secret: xenaPendingSecret, code: m.value }),
      code: "invalid_argument",
      reason: "INVALID_ARGUMENT",
      field: "code",
    }),
  ),
  {
    name: "AddDevice with a 65-character name",
    method: "TwoFactorService/AddDevice",
    as: () => xena,
    req: () => ({ secret: xenaPendingSecret, code: totp(xenaPendingSecret, now()), deviceName: "n".repeat(65) }),
    code: "invalid_argument",
    reason: "INVALID_ARGUMENT",
    field: "device_name",
  },
  {
    name: "AddDevice without 2FA",
    method: "TwoFactorService/AddDevice",
    as: () => uma,
    req: () => ({ secret: xenaPendingSecret, code: "123456" }),
    code: "failed_precondition",
    reason: "TWO_FACTOR_NOT_ENABLED",
  },
  {
    name: "AddDevice with no additional-device secret pending",
    method: "TwoFactorService/AddDevice",
    as: () => tina,
    req: () => ({ secret: xenaPendingSecret, code: totp(xenaPendingSecret, now()) }),
    code: "failed_precondition",
    reason: "TWO_FACTOR_SETUP_REQUIRED",
  },
  {
    name: "AddDevice with a secret this server never issued",
    method: "TwoFactorService/AddDevice",
    as: () => xena,
    req: () => ({ secret: "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", code: totp("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", now()) }),
    code: "invalid_argument",
    reason: "INVALID_ARGUMENT",
    field: "secret",
  },
  {
    name: "AddDevice with the secret of a device already added",
    method: "TwoFactorService/AddDevice",
    as: () => xena,
    req: () => ({ secret: xenaSecret, code: totp(xenaSecret, now(), 1) }),
    code: "invalid_argument",
    reason: "INVALID_ARGUMENT",
    field: "secret",
  },
  {
    name: "AddDevice with a wrong code",
    method: "TwoFactorService/AddDevice",
    as: () => xena,
    req: () => ({ secret: xenaPendingSecret, code: wrongCode(xenaPendingSecret, now()) }),
    code: "unauthenticated",
    reason: "INVALID_TWO_FACTOR_CODE",
    counts: { user: () => xena, counter: "secondFactor" },
  },
  // ---- RemoveDevice ----
  {
    name: "RemoveDevice without an id",
    method: "TwoFactorService/RemoveDevice",
    as: () => xena,
    req: () => ({}),
    code: "invalid_argument",
    reason: "INVALID_ARGUMENT",
    field: "device_id",
  },
  {
    name: "RemoveDevice with a malformed id",
    method: "TwoFactorService/RemoveDevice",
    as: () => xena,
    req: () => ({ deviceId: "../../etc/passwd" }),
    code: "invalid_argument",
    reason: "INVALID_ARGUMENT",
    field: "device_id",
  },
  {
    name: "RemoveDevice with a 300-character id",
    method: "TwoFactorService/RemoveDevice",
    as: () => xena,
    req: () => ({ deviceId: "a".repeat(300) }),
    code: "invalid_argument",
    reason: "INVALID_ARGUMENT",
    field: "device_id",
  },
  {
    name: "RemoveDevice with an unknown id",
    method: "TwoFactorService/RemoveDevice",
    as: () => tina,
    req: () => ({ deviceId: "00000000-0000-0000-0000-000000000000" }),
    code: "not_found",
    reason: "NOT_FOUND",
    field: "device_id",
  },
  {
    name: "RemoveDevice with another user's device id (same answer as unknown)",
    method: "TwoFactorService/RemoveDevice",
    as: () => tina,
    req: () => ({ deviceId: xenaDeviceId }),
    code: "not_found",
    reason: "NOT_FOUND",
    field: "device_id",
  },
  {
    name: "RemoveDevice of the last device",
    method: "TwoFactorService/RemoveDevice",
    as: () => tina,
    req: () => ({ deviceId: tinaDeviceId }),
    code: "failed_precondition",
    reason: "LAST_DEVICE",
  },
  {
    name: "RemoveDevice without 2FA",
    method: "TwoFactorService/RemoveDevice",
    as: () => uma,
    req: () => ({ deviceId: tinaDeviceId }),
    code: "failed_precondition",
    reason: "TWO_FACTOR_NOT_ENABLED",
  },
  // ---- RegenerateRecoveryCodes ----
  ...malformedCodes.map(
    (m): Case => ({
      name: `RegenerateRecoveryCodes with ${m.label}`,
      method: "TwoFactorService/RegenerateRecoveryCodes",
      as: () => tina,
      req: () => ({ code: m.value }),
      code: "invalid_argument",
      reason: "INVALID_ARGUMENT",
      field: "code",
    }),
  ),
  {
    name: "RegenerateRecoveryCodes without 2FA",
    method: "TwoFactorService/RegenerateRecoveryCodes",
    as: () => uma,
    req: () => ({ code: "123456" }),
    code: "failed_precondition",
    reason: "TWO_FACTOR_NOT_ENABLED",
  },
  {
    name: "RegenerateRecoveryCodes with a wrong code",
    method: "TwoFactorService/RegenerateRecoveryCodes",
    as: () => tina,
    req: () => ({ code: wrongCode(tinaSecret, now()) }),
    code: "unauthenticated",
    reason: "INVALID_TWO_FACTOR_CODE",
    counts: { user: () => tina, counter: "secondFactor" },
  },
  // ---- CompleteLogin ----
  {
    name: "CompleteLogin without a challenge",
    method: "AuthService/CompleteLogin",
    req: () => ({ code: "123456" }),
    code: "invalid_argument",
    reason: "INVALID_ARGUMENT",
    field: "challenge_token",
  },
  {
    name: "CompleteLogin with a malformed challenge",
    method: "AuthService/CompleteLogin",
    req: () => ({ challengeToken: "not a token!", code: "123456" }),
    code: "unauthenticated",
    reason: "INVALID_CHALLENGE",
  },
  {
    name: "CompleteLogin with an unknown challenge",
    method: "AuthService/CompleteLogin",
    req: () => ({ challengeToken: randomBytes(32).toString("base64url"), code: totp(tinaSecret, now(), 1) }),
    code: "unauthenticated",
    reason: "INVALID_CHALLENGE",
  },
  {
    name: "CompleteLogin with an access token as the challenge (too long to be one)",
    method: "AuthService/CompleteLogin",
    req: () => ({ challengeToken: tina.token, code: totp(tinaSecret, now(), 1) }),
    code: "invalid_argument",
    reason: "INVALID_ARGUMENT",
    field: "challenge_token",
  },
  {
    name: "CompleteLogin with an expired challenge",
    method: "AuthService/CompleteLogin",
    req: () => ({ challengeToken: expiredChallenge, code: "123456" }),
    code: "unauthenticated",
    reason: "INVALID_CHALLENGE",
  },
  {
    name: "CompleteLogin with a challenge older than the password",
    method: "AuthService/CompleteLogin",
    req: () => ({ challengeToken: staleChallenge, code: totp(xenaSecret, now(), 1) }),
    code: "unauthenticated",
    reason: "INVALID_CHALLENGE",
  },
  {
    name: "CompleteLogin without a code",
    method: "AuthService/CompleteLogin",
    req: () => ({ challengeToken: challenge }),
    code: "invalid_argument",
    reason: "INVALID_ARGUMENT",
    field: "code",
  },
  {
    name: "CompleteLogin with both a code and a recovery code",
    method: "AuthService/CompleteLogin",
    req: () => ({ challengeToken: challenge, code: "123456", recoveryCode: tinaRecovery[0] }),
    code: "invalid_argument",
    reason: "INVALID_ARGUMENT",
    field: "code",
  },
  ...malformedCodes.slice(1).map(
    (m): Case => ({
      name: `CompleteLogin with ${m.label}`,
      method: "AuthService/CompleteLogin",
      req: () => ({ challengeToken: challenge, code: m.value }),
      code: "invalid_argument",
      reason: "INVALID_ARGUMENT",
      field: "code",
    }),
  ),
  {
    name: "CompleteLogin with a wrong code (the challenge survives)",
    method: "AuthService/CompleteLogin",
    req: () => ({ challengeToken: challenge, code: wrongCode(tinaSecret, now()) }),
    code: "unauthenticated",
    reason: "INVALID_TWO_FACTOR_CODE",
    counts: { user: () => tina, counter: "secondFactor" },
  },
  {
    name: "CompleteLogin with another user's current code",
    method: "AuthService/CompleteLogin",
    req: () => ({ challengeToken: challenge, code: totp(xenaSecret, now(), 1) }),
    code: "unauthenticated",
    reason: "INVALID_TWO_FACTOR_CODE",
    counts: { user: () => tina, counter: "secondFactor" },
  },
  {
    name: "CompleteLogin with a wrong recovery code",
    method: "AuthService/CompleteLogin",
    req: () => ({ challengeToken: challenge, recoveryCode: "zzzz-zzzz-zzzz" }),
    code: "unauthenticated",
    reason: "INVALID_TWO_FACTOR_CODE",
    counts: { user: () => tina, counter: "secondFactor" },
  },
  // ---- Login's second-factor fields ----
  ...malformedCodes.slice(1, 4).map(
    (m): Case => ({
      name: `Login with ${m.label} as login_code (checked before the password)`,
      method: "AuthService/Login",
      req: () => ({ email: tina.email, password, loginCode: m.value }),
      code: "invalid_argument",
      reason: "INVALID_ARGUMENT",
      field: "login_code",
    }),
  ),
  {
    name: "Login with both login_code and recovery_code",
    method: "AuthService/Login",
    req: () => ({ email: tina.email, password, loginCode: "123456", recoveryCode: tinaRecovery[0] }),
    code: "invalid_argument",
    reason: "INVALID_ARGUMENT",
    field: "login_code",
  },
  {
    name: "Login with a 65-character recovery code",
    method: "AuthService/Login",
    req: () => ({ email: tina.email, password, recoveryCode: "a".repeat(65) }),
    code: "invalid_argument",
    reason: "INVALID_ARGUMENT",
    field: "recovery_code",
  },
  {
    name: "Login with a wrong password and a right code (the code is not checked)",
    method: "AuthService/Login",
    req: () => ({ email: tina.email, password: "not the password", loginCode: totp(tinaSecret, now(), 1) }),
    code: "unauthenticated",
    reason: "INVALID_CREDENTIALS",
    counts: { user: () => tina, counter: "password" },
  },
  {
    name: "Login with the right password and a wrong code",
    method: "AuthService/Login",
    req: () => ({ email: tina.email, password, loginCode: wrongCode(tinaSecret, now()) }),
    code: "unauthenticated",
    reason: "INVALID_TWO_FACTOR_CODE",
    counts: { user: () => tina, counter: "secondFactor", clearsPassword: true },
  },
  {
    name: "Login with the right password and a wrong recovery code",
    method: "AuthService/Login",
    req: () => ({ email: tina.email, password, recoveryCode: "zzzz-zzzz-zzzz" }),
    code: "unauthenticated",
    reason: "INVALID_TWO_FACTOR_CODE",
    counts: { user: () => tina, counter: "secondFactor", clearsPassword: true },
  },
];

describe.each(["fetch-json", "grpc-js"])("two-factor bad input over %s", (driverName) => {
  it.each(titled(cases))("%s", async (_title, c) => {
    const d = drivers.find((x) => x.name === driverName);
    if (d === undefined) throw new Error(`no driver ${driverName}`);
    await expectRefused(d, c);
  });
});

describe("after all the refused calls", () => {
  it("every enrolment still works: tina's code and challenge, vera's pending secret, xena's pending device", async () => {
    const d = setupDriver;
    h.clock.advance(30_000);
    const done = await d.call("AuthService/CompleteLogin", { challengeToken: challenge, code: totp(tinaSecret, now()) });
    expect(done.tokens.accessToken).toBeTruthy();
    const enabled = await d.call("TwoFactorService/Enable", { code: totp(veraSecret, now()) }, vera.token);
    expect(enabled.recoveryCodes).toHaveLength(10);
    const added = await d.call(
      "TwoFactorService/AddDevice",
      { secret: xenaPendingSecret, code: totp(xenaPendingSecret, now()) },
      xena.token,
    );
    expect(added.device.name).toBe("Authenticator");
    const status = await d.call("TwoFactorService/GetStatus", {}, tina.token);
    expect(status.recoveryCodesRemaining).toBe(10);
  });
});
