// The bad-input suite: every RPC of AuthService and SessionService (and every TwoFactorService RPC
// with bad credentials; their other bad input is in two-factor-bad-input.test.ts) is called with the inputs a
// careless or hostile client sends — missing, malformed, oversized and wrongly typed fields, bad
// or foreign credentials, unknown, foreign and expired codes and tokens — and each call must fail
// with exactly the documented status and ErrorInfo reason, leak nothing (no stack, no class
// names, no secret it was sent) and change nothing in storage.
//
// Most cases go through the JSON driver (fetch); a representative subset runs over every client
// kind (Connect gRPC, @grpc/grpc-js, fetch JSON, Connect JSON, gRPC-Web) so every protocol's
// error encoding is proven. The clock is fixed in the main harness; cases that need time to pass
// get a harness of their own.
import { createPrivateKey, generateKeyPairSync, randomBytes, type KeyObject } from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import { decodeProtectedHeader, SignJWT, UnsecuredJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tokenHash } from "../../src/tokens/opaque.ts";
import { connectJsonTransport, grpcTransport, grpcWebTransport, startHarness, type Harness } from "../support/harness.ts";
import { expectSafeMessage, titled, type Expected } from "../support/assertions.ts";
import {
  connectDriver,
  failure,
  fetchDriver,
  grpcCodeName,
  grpcJsDriver,
  rawRpc,
  type RpcFailure,
  type Driver,
  type Json,
  type Method,
} from "../support/drivers.ts";
import { errorInfoFromConnectJson, errorInfoFromStatusBin, type ErrorInfo } from "../support/error-info.ts";

// ---- helpers -----------------------------------------------------------------------------------

/** A client kind: its driver, plus a way to send an arbitrary Authorization header. */
interface Protocol {
  name: string;
  /** Calls through the project's driver (`Authorization: Bearer <token>` when a token is given). */
  call(method: Method, req: Json, token?: string): Promise<Json>;
  /** Calls with exactly this Authorization header value, or none. */
  callAuth(method: Method, req: Json, authorization: string | undefined): Promise<Json>;
  close(): void;
}

/** Every Authorization header, Bearer or not, is sent by the driver itself as a request header. */
function protocol(driver: Driver): Protocol {
  return {
    name: driver.name,
    call: (method, req, token) => driver.call(method, req, token),
    callAuth: (method, req, authorization) =>
      driver.call(method, req, undefined, authorization === undefined ? undefined : { authorization }),
    close: () => driver.close(),
  };
}

type CodePurpose = "email_verification" | "password_reset";

/** What a call watches in storage. */
interface Watch {
  /** Normalized addresses: the user, their live sessions, their password-guessing counter. */
  emails: readonly string[];
  /** Refresh tokens whose stored record (spent or not) must not change. */
  refresh?: readonly string[];
  /** One-time codes that must still be usable afterwards. */
  codes?: ReadonlyArray<readonly [string, CodePurpose]>;
  /** A wrong password for this address: exactly one more failure is counted for it. */
  guess?: string;
  /** A right password for this address: its failure count is forgiven (cleared). */
  forgive?: string;
  /** A signed-in caller's wrong password: one more failure on their session's own counter. */
  sessionGuess?: string;
  /** A signed-in caller's right password: their session's counter is cleared. */
  sessionForgive?: string;
}

/** What a failed call must not have changed: users, sessions, refresh tokens, codes, guesses, mail. */
async function snapshot(h: Harness, watch: Watch) {
  // Mail is delivered after the response; let it land before looking.
  await h.server.deps.background.drain();
  const now = h.clock.now();
  const users: Json[] = [];
  const attempts: Record<string, Json> = {};
  for (const email of watch.emails) {
    const user = await h.store.users.findByEmail(email);
    const sessions = user === null ? [] : await h.store.sessions.listLive(user.id, now);
    const twoFactor = user === null ? null : await h.store.twoFactor.get(user.id);
    users.push({ email, user, sessions, twoFactor });
    attempts[email] = await h.store.attempts.get(`password:${email}`, now);
  }
  for (const id of [watch.sessionGuess, watch.sessionForgive]) {
    if (id !== undefined) attempts[`session ${id}`] = await h.store.attempts.get(`password-session:${id}`, now);
  }
  const refresh: Json[] = [];
  for (const t of watch.refresh ?? []) refresh.push(await h.store.refreshTokens.find(tokenHash(t)));
  const codes: Json[] = [];
  for (const [code, purpose] of watch.codes ?? []) codes.push(await h.store.codes.find(tokenHash(code), purpose, now));
  return {
    users,
    refresh,
    codes,
    attempts,
    mails: h.outbox.mails.map((m) => ({ kind: m.kind, to: m.to, code: "code" in m ? m.code : undefined })),
  };
}

/**
 * Runs a call that must fail with exactly `want`, leak none of `secrets`, and leave the watched
 * users, sessions, refresh tokens and the outbox exactly as they were.
 */
async function expectRejected(
  h: Harness,
  watch: Watch,
  run: () => Promise<unknown>,
  want: Expected,
  secrets: readonly string[] = [],
): Promise<RpcFailure> {
  const all = { ...watch, emails: [...new Set([...watch.emails, ...[watch.guess, watch.forgive].filter((e) => e !== undefined)])] };
  const before = await snapshot(h, all);
  const f = await failure(run());
  expect({ code: f.code, reason: f.reason }).toEqual({ code: want.code, reason: want.reason });
  if (want.field !== undefined) expect(f.metadata.field).toBe(want.field);
  expectSafeMessage(f.message, secrets);
  const after = await snapshot(h, all);
  // The only change a refused call may make: counting a wrong password (or forgiving a right one).
  const expected = structuredClone(before);
  if (watch.guess !== undefined)
    expected.attempts[watch.guess] = { failures: before.attempts[watch.guess].failures + 1, lockedUntil: null };
  if (watch.forgive !== undefined) expected.attempts[watch.forgive] = { failures: 0, lockedUntil: null };
  const session = `session ${watch.sessionGuess}`;
  if (watch.sessionGuess !== undefined) expected.attempts[session] = { failures: before.attempts[session].failures + 1, lockedUntil: null };
  if (watch.sessionForgive !== undefined) expected.attempts[`session ${watch.sessionForgive}`] = { failures: 0, lockedUntil: null };
  expect(after).toEqual(expected);
  return f;
}

/** Flips one base64url character (never to one with the same leading bits). */
function flip(s: string, index: number): string {
  const c = s.charAt(index);
  return s.slice(0, index) + (c === "A" ? "Q" : "A") + s.slice(index + 1);
}

function b64urlJson(v: unknown): string {
  return Buffer.from(JSON.stringify(v)).toString("base64url");
}

interface Signed {
  key: KeyObject | Uint8Array;
  alg: string;
  sub: string;
  sid?: string;
  kid?: string;
  iss?: string;
  aud?: string;
  typ?: string;
  /** Seconds from the harness clock's now to exp (default +900). */
  expIn?: number;
}

async function signAccess(now: Date, o: Signed): Promise<string> {
  const iat = Math.floor(now.getTime() / 1000);
  const claims = o.sid === undefined ? {} : { sid: o.sid };
  return new SignJWT(claims)
    .setProtectedHeader({ alg: o.alg, typ: o.typ ?? "at+jwt", ...(o.kid === undefined ? {} : { kid: o.kid }) })
    .setIssuer(o.iss ?? "authd")
    .setAudience(o.aud ?? "authd")
    .setSubject(o.sub)
    .setIssuedAt(iat)
    .setExpirationTime(iat + (o.expIn ?? 900))
    .setJti(crypto.randomUUID())
    .sign(o.key);
}

const randomOpaque = (bytes = 32) => randomBytes(bytes).toString("base64url");
const emailOfLength = (n: number) => `${"a".repeat(n - "@example.com".length)}@example.com`;
const norm = (email: string) => email.trim().toLowerCase();
/** 129 Unicode code points but 258 UTF-16 units: over the 128 code point limit. */
const password129 = "🔑".repeat(129);
/** 100 code points, 200 UTF-16 units: within the limit however UTF-16 counts it. */
const password100Emoji = "🔒".repeat(100);
const newPassword = "a perfectly fine new passphrase";

interface Account {
  email: string;
  password: string;
  id: string;
}
type Tokens = { accessToken: string; refreshToken: string; sessionId: string };

async function registerVerified(h: Harness, d: Driver, email: string, password: string): Promise<Account> {
  const reg = await d.call("AuthService/Register", { email, password });
  const mail = await h.mail(email, "email_verification");
  await d.call("AuthService/VerifyEmail", { code: mail.code });
  return { email, password, id: reg.user.id };
}

async function login(d: Driver, a: Account, rememberMe = false): Promise<Tokens> {
  return (await d.call("AuthService/Login", { email: a.email, password: a.password, rememberMe })).tokens;
}

const authenticatedRpcs: Method[] = [
  "AuthService/Logout",
  "AuthService/GetCurrentUser",
  "AuthService/UpdateProfile",
  "AuthService/ChangePassword",
  "AuthService/DeleteAccount",
  "AuthService/ListLinkedAccounts",
  "AuthService/UnlinkAccount",
  "SessionService/ListSessions",
  "SessionService/RevokeSession",
  "SessionService/RevokeOtherSessions",
  "TwoFactorService/Setup",
  "TwoFactorService/Enable",
  "TwoFactorService/Verify",
  "TwoFactorService/Disable",
  "TwoFactorService/GetStatus",
  "TwoFactorService/Reset",
  "TwoFactorService/ListDevices",
  "TwoFactorService/AddDevice",
  "TwoFactorService/RemoveDevice",
  "TwoFactorService/RegenerateRecoveryCodes",
];

// ---- the main harness: a fixed clock, shared users --------------------------------------------

let h: Harness;
let other: Harness;
let d: Driver;
let signingKey: KeyObject;
let kid: string;

let alice: Account; // verified; sessions a1 (used to call) and a2; a3 logged out
let bob: Account; // verified; session b1
let carol: Account; // registered, never verified
let dave: Account; // verified; a pending password-reset code
let a1: Tokens;
let a2: Tokens;
let a3: Tokens;
let b1: Tokens;
let d1: Tokens;
let eve: Tokens; // a session on another server (another signing key)
let daveResetCode: string;

const watched = () => [alice.email, bob.email, carol.email, dave.email];
const refreshWatched = () => [a1.refreshToken, a2.refreshToken, b1.refreshToken, d1.refreshToken];
const codesWatched = (): Array<[string, CodePurpose]> => [
  [daveResetCode, "password_reset"],
  [h.outbox.latest(carol.email, "email_verification")?.code ?? "", "email_verification"],
];
const watchWith = (...emails: string[]): Watch => ({
  emails: [...watched(), ...emails.map(norm)],
  refresh: refreshWatched(),
  codes: codesWatched(),
});

beforeAll(async () => {
  const pem = generateKeyPairSync("ed25519").privateKey.export({ type: "pkcs8", format: "pem" }).toString();
  signingKey = createPrivateKey(pem);
  [h, other] = await Promise.all([
    // This suite makes dozens of wrong guesses at the same few accounts on a clock that does not
    // move; the guessing limit itself is covered by guessing-limits.test.ts. Here it is raised so
    // that no case is answered RATE_LIMITED, and each wrong guess is checked to be counted once.
    // Likewise the same reset mails go to bob once per protocol; the mail limits have their own
    // test (mail/limits.test.ts).
    startHarness({ JWT_PRIVATE_KEY: pem, LOGIN_MAX_FAILURES: "1000", MAIL_MAX_PER_ADDRESS_PER_HOUR: "0" }),
    startHarness({ EMAIL_VERIFICATION_REQUIRED: "false" }),
  ]);
  d = fetchDriver(h.url, "bad-input/setup");
  [alice, bob, dave] = await Promise.all([
    registerVerified(h, d, "alice@example.com", "alice's long passphrase"),
    registerVerified(h, d, "bob@example.com", "bob's long passphrase"),
    registerVerified(h, d, "dave@example.com", "dave's long passphrase"),
  ]);
  const reg = await d.call("AuthService/Register", { email: "carol@example.com", password: "carol's long passphrase" });
  carol = { email: "carol@example.com", password: "carol's long passphrase", id: reg.user.id };
  await h.mail(carol.email, "email_verification");
  a1 = await login(d, alice);
  a2 = await login(d, alice, true);
  a3 = await login(d, alice);
  await d.call("AuthService/Logout", {}, a3.accessToken);
  b1 = await login(d, bob);
  d1 = await login(d, dave);
  await d.call("AuthService/RequestPasswordReset", { email: dave.email });
  daveResetCode = (await h.mail(dave.email, "password_reset")).code;
  const kidHeader = decodeProtectedHeader(a1.accessToken).kid;
  if (kidHeader === undefined) throw new Error("access tokens carry a kid");
  kid = kidHeader;
  eve = (
    await fetchDriver(other.url, "bad-input/other").call("AuthService/Register", {
      email: "eve@example.com",
      password: "eve's long passphrase",
    })
  ).tokens;
});

afterAll(async () => {
  await Promise.all([h?.close(), other?.close()]);
});

// ---- AuthService/Register ----------------------------------------------------------------------

describe("AuthService/Register", () => {
  const ok = { email: "newcomer@example.com", password: "a fine long passphrase", displayName: "Newcomer" };
  const cases: Array<{ name: string; req: Json } & Expected> = [
    { name: "missing email", req: { password: ok.password }, code: "invalid_argument", reason: "INVALID_ARGUMENT", field: "email" },
    { name: "blank email", req: { ...ok, email: "   " }, code: "invalid_argument", reason: "INVALID_ARGUMENT", field: "email" },
    {
      name: "email without @",
      req: { ...ok, email: "newcomer.example.com" },
      code: "invalid_argument",
      reason: "INVALID_ARGUMENT",
      field: "email",
    },
    {
      name: "email with two @",
      req: { ...ok, email: "new@comer@example.com" },
      code: "invalid_argument",
      reason: "INVALID_ARGUMENT",
      field: "email",
    },
    {
      name: "email without a dot in the domain",
      req: { ...ok, email: "newcomer@localhost" },
      code: "invalid_argument",
      reason: "INVALID_ARGUMENT",
      field: "email",
    },
    {
      name: "email without local part",
      req: { ...ok, email: "@example.com" },
      code: "invalid_argument",
      reason: "INVALID_ARGUMENT",
      field: "email",
    },
    {
      name: "email with an inner space",
      req: { ...ok, email: "new comer@example.com" },
      code: "invalid_argument",
      reason: "INVALID_ARGUMENT",
      field: "email",
    },
    {
      name: "email with a NUL byte",
      req: { ...ok, email: "newcomer\u0000@example.com" },
      code: "invalid_argument",
      reason: "INVALID_ARGUMENT",
      field: "email",
    },
    {
      name: "email of 255 characters",
      req: { ...ok, email: emailOfLength(255) },
      code: "invalid_argument",
      reason: "INVALID_ARGUMENT",
      field: "email",
    },
    {
      name: "email of 10,000 characters",
      req: { ...ok, email: emailOfLength(10_000) },
      code: "invalid_argument",
      reason: "INVALID_ARGUMENT",
      field: "email",
    },
    { name: "missing password", req: { email: ok.email }, code: "invalid_argument", reason: "INVALID_ARGUMENT", field: "password" },
    {
      name: "too-short password (7)",
      req: { ...ok, password: "short1!" },
      code: "invalid_argument",
      reason: "WEAK_PASSWORD",
      field: "password",
    },
    {
      name: "common password",
      req: { ...ok, password: "password123" },
      code: "invalid_argument",
      reason: "WEAK_PASSWORD",
      field: "password",
    },
    {
      name: "common password in other case",
      req: { ...ok, password: "PassWord123" },
      code: "invalid_argument",
      reason: "WEAK_PASSWORD",
      field: "password",
    },
    {
      name: "password equal to the email",
      req: { ...ok, password: "NewComer@Example.com" },
      code: "invalid_argument",
      reason: "WEAK_PASSWORD",
      field: "password",
    },
    {
      name: "password equal to the email's local part",
      req: { ...ok, email: "long.local.part@example.com", password: "long.local.part" },
      code: "invalid_argument",
      reason: "WEAK_PASSWORD",
      field: "password",
    },
    {
      name: "password repeating one character",
      req: { ...ok, password: "zzzzzzzzzzzz" },
      code: "invalid_argument",
      reason: "WEAK_PASSWORD",
      field: "password",
    },
    {
      name: "password of 129 code points",
      req: { ...ok, password: password129 },
      code: "invalid_argument",
      reason: "INVALID_ARGUMENT",
      field: "password",
    },
    {
      name: "password of 10,000 characters",
      req: { ...ok, password: "correct horse ".repeat(715).slice(0, 10_000) },
      code: "invalid_argument",
      reason: "INVALID_ARGUMENT",
      field: "password",
    },
    {
      name: "display name of 101 characters",
      req: { ...ok, displayName: "n".repeat(101) },
      code: "invalid_argument",
      reason: "INVALID_ARGUMENT",
      field: "display_name",
    },
    {
      name: "display name of 10,000 characters",
      req: { ...ok, displayName: "n".repeat(10_000) },
      code: "invalid_argument",
      reason: "INVALID_ARGUMENT",
      field: "display_name",
    },
    {
      name: "display name with a control character",
      req: { ...ok, displayName: "New\u0007comer" },
      code: "invalid_argument",
      reason: "INVALID_ARGUMENT",
      field: "display_name",
    },
    {
      name: "display name with a NUL byte",
      req: { ...ok, displayName: "New\u0000comer" },
      code: "invalid_argument",
      reason: "INVALID_ARGUMENT",
      field: "display_name",
    },
    {
      name: "display name with a right-to-left override",
      req: { ...ok, displayName: "\u202Eremocwen" },
      code: "invalid_argument",
      reason: "INVALID_ARGUMENT",
      field: "display_name",
    },
  ];
  it.each(titled(cases))("%s", async (_title, { req, ...want }) => {
    await expectRejected(h, watchWith(String(req.email ?? "")), () => d.call("AuthService/Register", req), want, [
      String(req.password ?? ""),
    ]);
  });

  it.each([
    ["the same address", "alice@example.com"],
    ["the address in another case", "ALICE@Example.COM"],
    ["the address with surrounding spaces", "  Alice@example.com\t"],
  ])("an existing email (%s) → already_exists / EMAIL_EXISTS, and the account keeps its password", async (_label, email) => {
    const password = "a different long passphrase";
    await expectRejected(
      h,
      watchWith(),
      () => d.call("AuthService/Register", { email, password }),
      {
        code: "already_exists",
        reason: "EMAIL_EXISTS",
        field: "email",
      },
      [password],
    );
    // The original password still signs in; the new one does not.
    const f = await failure(d.call("AuthService/Login", { email: alice.email, password }));
    expect(f.reason).toBe("INVALID_CREDENTIALS");
  });
});

// ---- AuthService/Login -------------------------------------------------------------------------

describe("AuthService/Login", () => {
  // `counts`: the password was checked, so one failure is counted (guess) or the count forgiven.
  const cases: Array<{ name: string; req: () => Json; counts?: "guess" | "forgive" } & Expected> = [
    {
      name: "missing email",
      req: () => ({ password: alice.password }),
      code: "invalid_argument",
      reason: "INVALID_ARGUMENT",
      field: "email",
    },
    {
      name: "missing password",
      req: () => ({ email: alice.email }),
      code: "invalid_argument",
      reason: "INVALID_ARGUMENT",
      field: "password",
    },
    {
      name: "malformed email",
      req: () => ({ email: "alice at example.com", password: alice.password }),
      code: "invalid_argument",
      reason: "INVALID_ARGUMENT",
      field: "email",
    },
    {
      name: "email of 10,000 characters",
      req: () => ({ email: emailOfLength(10_000), password: alice.password }),
      code: "invalid_argument",
      reason: "INVALID_ARGUMENT",
      field: "email",
    },
    {
      name: "password of 129 code points",
      req: () => ({ email: alice.email, password: password129 }),
      code: "invalid_argument",
      reason: "INVALID_ARGUMENT",
      field: "password",
    },
    {
      name: "password of 10,000 characters",
      req: () => ({ email: alice.email, password: "x".repeat(10_000) }),
      code: "invalid_argument",
      reason: "INVALID_ARGUMENT",
      field: "password",
    },
    {
      name: "unknown email",
      counts: "guess",
      req: () => ({ email: "nobody@example.com", password: alice.password }),
      code: "unauthenticated",
      reason: "INVALID_CREDENTIALS",
    },
    {
      name: "wrong password",
      counts: "guess",
      req: () => ({ email: alice.email, password: "not alice's passphrase" }),
      code: "unauthenticated",
      reason: "INVALID_CREDENTIALS",
    },
    {
      name: "right password in the wrong case",
      counts: "guess",
      req: () => ({ email: alice.email, password: alice.password.toUpperCase() }),
      code: "unauthenticated",
      reason: "INVALID_CREDENTIALS",
    },
    // 200 UTF-16 units but 100 code points: counted as code points, so checked, not refused as too long.
    {
      name: "wrong password of 100 emoji",
      counts: "guess",
      req: () => ({ email: alice.email, password: password100Emoji }),
      code: "unauthenticated",
      reason: "INVALID_CREDENTIALS",
    },
    {
      name: "another account's password",
      counts: "guess",
      req: () => ({ email: alice.email, password: bob.password }),
      code: "unauthenticated",
      reason: "INVALID_CREDENTIALS",
    },
    {
      name: "wrong password for an unverified account (no hint that it exists)",
      counts: "guess",
      req: () => ({ email: carol.email, password: "not carol's passphrase" }),
      code: "unauthenticated",
      reason: "INVALID_CREDENTIALS",
    },
    {
      name: "right password for an unverified account",
      counts: "forgive",
      req: () => ({ email: carol.email, password: carol.password }),
      code: "failed_precondition",
      reason: "EMAIL_NOT_VERIFIED",
    },
  ];
  it.each(titled(cases))("%s", async (_title, { req, counts, ...want }) => {
    const r = req();
    const email = norm(String(r.email ?? ""));
    const watch = { ...watchWith(email), ...(counts === undefined ? {} : { [counts]: email }) };
    await expectRejected(h, watch, () => d.call("AuthService/Login", r), want, [String(r.password ?? ""), alice.password]);
  });

  it("unknown email and wrong password give byte-identical answers (status, body, details)", async () => {
    const post = async (body: Json) => {
      const res = await rawRpc(h.url, "AuthService/Login", JSON.stringify(body), { "content-type": "application/json" });
      return { status: res.status, body: res.text };
    };
    const watch = watchWith("nobody@example.com");
    const before = await snapshot(h, watch);
    const unknown = await post({ email: "nobody@example.com", password: "some long passphrase" });
    const wrong = await post({ email: alice.email, password: "some long passphrase" });
    const wrongUnverified = await post({ email: carol.email, password: "some long passphrase" });
    expect(unknown.status).toBe(401);
    expect(wrong).toEqual(unknown);
    expect(wrongUnverified).toEqual(unknown);
    expect(JSON.parse(unknown.body).message).toBe("invalid email or password");
    const after = await snapshot(h, watch);
    // Each wrong guess is counted once, and nothing else changed.
    for (const email of ["nobody@example.com", alice.email, carol.email]) {
      expect(after.attempts[email].failures).toBe(before.attempts[email].failures + 1);
    }
    expect({ ...after, attempts: null }).toEqual({ ...before, attempts: null });
  });
});

// ---- token checks shared by every authenticated RPC -------------------------------------------

describe("every authenticated RPC refuses bad credentials", () => {
  const bodies: Record<string, () => Json> = {
    "AuthService/UpdateProfile": () => ({ displayName: "Mallory" }),
    "AuthService/ChangePassword": () => ({ currentPassword: alice.password, newPassword }),
    "AuthService/UnlinkAccount": () => ({ id: "password" }),
    "SessionService/RevokeSession": () => ({ sessionId: a2.sessionId }),
    "TwoFactorService/Setup": () => ({ password: alice.password }),
    "TwoFactorService/Enable": () => ({ code: "123456" }),
    "TwoFactorService/Verify": () => ({ code: "123456" }),
    "TwoFactorService/Disable": () => ({ password: alice.password }),
    "TwoFactorService/Reset": () => ({ password: alice.password }),
    "TwoFactorService/AddDevice": () => ({ secret: "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", code: "123456", deviceName: "Phone" }),
    "TwoFactorService/RemoveDevice": () => ({ deviceId: "some-device" }),
    "TwoFactorService/RegenerateRecoveryCodes": () => ({ code: "123456" }),
  };
  const credentials: Array<{ name: string; header: () => Promise<string | undefined> | string | undefined } & Expected> = [
    { name: "no Authorization header", header: () => undefined, code: "unauthenticated", reason: "UNAUTHENTICATED" },
    { name: "an empty Bearer header", header: () => "Bearer ", code: "unauthenticated", reason: "UNAUTHENTICATED" },
    {
      name: "a Basic header with the right password",
      header: () => `Basic ${Buffer.from(`${alice.email}:${alice.password}`).toString("base64")}`,
      code: "unauthenticated",
      reason: "UNAUTHENTICATED",
    },
    {
      name: "a valid token under a non-Bearer scheme",
      header: () => `Token ${a1.accessToken}`,
      code: "unauthenticated",
      reason: "UNAUTHENTICATED",
    },
    { name: "a token that is not a JWT", header: () => "Bearer not-a-jwt", code: "unauthenticated", reason: "INVALID_TOKEN" },
    {
      name: "a JWT with a flipped signature character",
      header: () => {
        const [hd, pl, sig] = a1.accessToken.split(".") as [string, string, string];
        return `Bearer ${hd}.${pl}.${flip(sig, 10)}`;
      },
      code: "unauthenticated",
      reason: "INVALID_TOKEN",
    },
    {
      name: "a JWT with a flipped payload character",
      header: () => {
        const [hd, pl, sig] = a1.accessToken.split(".") as [string, string, string];
        return `Bearer ${hd}.${flip(pl, 20)}.${sig}`;
      },
      code: "unauthenticated",
      reason: "INVALID_TOKEN",
    },
    {
      name: "a JWT whose payload was rewritten to another user",
      header: () => {
        const [hd, pl, sig] = a1.accessToken.split(".") as [string, string, string];
        const claims = JSON.parse(Buffer.from(pl, "base64url").toString()) as Json;
        return `Bearer ${hd}.${b64urlJson({ ...claims, sub: bob.id, sid: b1.sessionId })}.${sig}`;
      },
      code: "unauthenticated",
      reason: "INVALID_TOKEN",
    },
    {
      name: "a token issued by another server (another key)",
      header: () => `Bearer ${eve.accessToken}`,
      code: "unauthenticated",
      reason: "INVALID_TOKEN",
    },
    {
      name: "a token with this user's claims and this key's kid, signed by another key",
      header: async () =>
        `Bearer ${await signAccess(h.clock.now(), { key: generateKeyPairSync("ed25519").privateKey, alg: "EdDSA", kid, sub: alice.id, sid: a1.sessionId })}`,
      code: "unauthenticated",
      reason: "INVALID_TOKEN",
    },
    {
      name: "an HS256 token (algorithm confusion)",
      header: async () =>
        `Bearer ${await signAccess(h.clock.now(), { key: new TextEncoder().encode("a shared secret of thirty-two bytes!"), alg: "HS256", kid, sub: alice.id, sid: a1.sessionId })}`,
      code: "unauthenticated",
      reason: "INVALID_TOKEN",
    },
    {
      name: "an unsigned token (alg none)",
      header: () =>
        `Bearer ${new UnsecuredJWT({ sid: a1.sessionId }).setSubject(alice.id).setIssuer("authd").setAudience("authd").setIssuedAt().setExpirationTime("15m").encode()}`,
      code: "unauthenticated",
      reason: "INVALID_TOKEN",
    },
    {
      name: "a token for another audience",
      header: async () =>
        `Bearer ${await signAccess(h.clock.now(), { key: signingKey, alg: "EdDSA", kid, sub: alice.id, sid: a1.sessionId, aud: "another-service" })}`,
      code: "unauthenticated",
      reason: "INVALID_TOKEN",
    },
    {
      name: "a token from another issuer",
      header: async () =>
        `Bearer ${await signAccess(h.clock.now(), { key: signingKey, alg: "EdDSA", kid, sub: alice.id, sid: a1.sessionId, iss: "someone-else" })}`,
      code: "unauthenticated",
      reason: "INVALID_TOKEN",
    },
    {
      name: "a token of another type (typ JWT, e.g. an ID token)",
      header: async () =>
        `Bearer ${await signAccess(h.clock.now(), { key: signingKey, alg: "EdDSA", kid, sub: alice.id, sid: a1.sessionId, typ: "JWT" })}`,
      code: "unauthenticated",
      reason: "INVALID_TOKEN",
    },
    {
      name: "a token without a session claim",
      header: async () => `Bearer ${await signAccess(h.clock.now(), { key: signingKey, alg: "EdDSA", kid, sub: alice.id })}`,
      code: "unauthenticated",
      reason: "INVALID_TOKEN",
    },
    {
      name: "a token of 5,000 characters",
      header: () => `Bearer ${"a".repeat(2000)}.${"b".repeat(2000)}.${"c".repeat(998)}`,
      code: "unauthenticated",
      reason: "INVALID_TOKEN",
    },
    {
      name: "a correctly signed token that expired a minute ago",
      header: async () =>
        `Bearer ${await signAccess(h.clock.now(), { key: signingKey, alg: "EdDSA", kid, sub: alice.id, sid: a1.sessionId, expIn: -60 })}`,
      code: "unauthenticated",
      reason: "TOKEN_EXPIRED",
    },
    {
      name: "the token of a logged-out session",
      header: () => `Bearer ${a3.accessToken}`,
      code: "unauthenticated",
      reason: "SESSION_REVOKED",
    },
    {
      name: "a correctly signed token naming another user's session",
      header: async () =>
        `Bearer ${await signAccess(h.clock.now(), { key: signingKey, alg: "EdDSA", kid, sub: alice.id, sid: b1.sessionId })}`,
      code: "unauthenticated",
      reason: "SESSION_REVOKED",
    },
  ];

  it("control: a token built by this suite's signer with every claim right is accepted", async () => {
    const token = await signAccess(h.clock.now(), { key: signingKey, alg: "EdDSA", kid, sub: alice.id, sid: a1.sessionId });
    expect((await d.call("AuthService/GetCurrentUser", {}, token)).user.email).toBe(alice.email);
  });

  const rows = authenticatedRpcs.flatMap((method) => credentials.map((c) => ({ ...c, method, name: `${method} with ${c.name}` })));
  it.each(titled(rows))("%s", async (_title, { method, header, ...want }) => {
    const authorization = await header();
    const req = bodies[method]?.() ?? {};
    const rawToken = authorization?.replace(/^\S+\s*/, "") ?? "";
    const secrets = [alice.password, a1.accessToken, rawToken, rawToken.split(".")[2] ?? ""];
    await expectRejected(h, watchWith(), () => fetchWithOptionalHeader(method, req, authorization), want, secrets);
  });

  function fetchWithOptionalHeader(method: Method, req: Json, authorization: string | undefined): Promise<Json> {
    return d.call(method, req, undefined, authorization === undefined ? undefined : { authorization });
  }
});

// ---- AuthService/RefreshToken -----------------------------------------------------------------

describe("AuthService/RefreshToken", () => {
  const cases: Array<{ name: string; token: () => string | undefined } & Expected> = [
    { name: "missing refresh token", token: () => undefined, code: "invalid_argument", reason: "INVALID_ARGUMENT", field: "refresh_token" },
    { name: "blank refresh token", token: () => "   ", code: "invalid_argument", reason: "INVALID_ARGUMENT", field: "refresh_token" },
    {
      name: "non-base64url refresh token",
      token: () => "not a token!",
      code: "unauthenticated",
      reason: "INVALID_REFRESH",
      field: "refresh_token",
    },
    // An access token is over the 256-character limit for opaque values, so it is refused as over-long.
    {
      name: "an access token presented as refresh token",
      token: () => a1.accessToken,
      code: "invalid_argument",
      reason: "INVALID_ARGUMENT",
      field: "refresh_token",
    },
    {
      name: "a short JWT-shaped refresh token",
      token: () => "eyJh.eyJz.c2ln",
      code: "unauthenticated",
      reason: "INVALID_REFRESH",
      field: "refresh_token",
    },
    {
      name: "refresh token of 300 characters",
      token: () => "A".repeat(300),
      code: "invalid_argument",
      reason: "INVALID_ARGUMENT",
      field: "refresh_token",
    },
    {
      name: "refresh token of 10,000 characters",
      token: () => "A".repeat(10_000),
      code: "invalid_argument",
      reason: "INVALID_ARGUMENT",
      field: "refresh_token",
    },
    {
      name: "unknown well-formed refresh token",
      token: () => randomOpaque(),
      code: "unauthenticated",
      reason: "INVALID_REFRESH",
      field: "refresh_token",
    },
    {
      name: "a real refresh token with one character flipped",
      token: () => flip(a1.refreshToken, 5),
      code: "unauthenticated",
      reason: "INVALID_REFRESH",
      field: "refresh_token",
    },
    { name: "the refresh token of a logged-out session", token: () => a3.refreshToken, code: "unauthenticated", reason: "REFRESH_REVOKED" },
    {
      name: "a refresh token issued by another server",
      token: () => eve.refreshToken,
      code: "unauthenticated",
      reason: "INVALID_REFRESH",
      field: "refresh_token",
    },
  ];
  it.each(titled(cases))("%s", async (_title, { token, ...want }) => {
    const t = token();
    const req = t === undefined ? {} : { refreshToken: t };
    await expectRejected(
      h,
      { emails: watched(), refresh: [...refreshWatched(), a3.refreshToken] },
      () => d.call("AuthService/RefreshToken", req),
      want,
      [t ?? "", a1.refreshToken],
    );
  });
});

// ---- AuthService/UpdateProfile ----------------------------------------------------------------

describe("AuthService/UpdateProfile", () => {
  const cases: Array<{ name: string; displayName: string } & Expected> = [
    {
      name: "display name of 101 characters",
      displayName: "n".repeat(101),
      code: "invalid_argument",
      reason: "INVALID_ARGUMENT",
      field: "display_name",
    },
    {
      name: "display name of 101 emoji",
      displayName: "🙂".repeat(101),
      code: "invalid_argument",
      reason: "INVALID_ARGUMENT",
      field: "display_name",
    },
    {
      name: "display name of 10,000 characters",
      displayName: "n".repeat(10_000),
      code: "invalid_argument",
      reason: "INVALID_ARGUMENT",
      field: "display_name",
    },
    {
      name: "display name with a bell character",
      displayName: "Al\u0007ice",
      code: "invalid_argument",
      reason: "INVALID_ARGUMENT",
      field: "display_name",
    },
    {
      name: "display name with an inner newline",
      displayName: "Alice\nAdmin",
      code: "invalid_argument",
      reason: "INVALID_ARGUMENT",
      field: "display_name",
    },
    {
      name: "display name with a NUL byte",
      displayName: "Alice\u0000",
      code: "invalid_argument",
      reason: "INVALID_ARGUMENT",
      field: "display_name",
    },
    {
      name: "display name with a zero-width joiner",
      displayName: "Al\u200Dice",
      code: "invalid_argument",
      reason: "INVALID_ARGUMENT",
      field: "display_name",
    },
    {
      name: "display name with a right-to-left override",
      displayName: "\u202Eecila",
      code: "invalid_argument",
      reason: "INVALID_ARGUMENT",
      field: "display_name",
    },
  ];
  it.each(titled(cases))("%s", async (_title, { displayName, ...want }) => {
    await expectRejected(h, watchWith(), () => d.call("AuthService/UpdateProfile", { displayName }, a1.accessToken), want, [
      a1.accessToken,
    ]);
  });
});

// ---- AuthService/ChangePassword ---------------------------------------------------------------

describe("AuthService/ChangePassword", () => {
  // `counts`: the current password was checked, under the caller's session (never strangers'
  // counters): a wrong one counts a failure, a right one forgives.
  const cases: Array<{ name: string; req: () => Json; counts?: "sessionGuess" | "sessionForgive" } & Expected> = [
    {
      name: "missing current password",
      req: () => ({ newPassword }),
      code: "invalid_argument",
      reason: "INVALID_ARGUMENT",
      field: "current_password",
    },
    {
      name: "missing new password",
      req: () => ({ currentPassword: alice.password }),
      code: "invalid_argument",
      reason: "INVALID_ARGUMENT",
      field: "new_password",
    },
    {
      name: "wrong current password",
      counts: "sessionGuess",
      req: () => ({ currentPassword: "not alice's passphrase", newPassword }),
      code: "unauthenticated",
      reason: "INVALID_CREDENTIALS",
      field: "current_password",
    },
    {
      name: "wrong current password with a weak new one",
      counts: "sessionGuess",
      req: () => ({ currentPassword: "not alice's passphrase", newPassword: "short" }),
      code: "unauthenticated",
      reason: "INVALID_CREDENTIALS",
      field: "current_password",
    },
    {
      name: "current password of 129 code points",
      req: () => ({ currentPassword: password129, newPassword }),
      code: "invalid_argument",
      reason: "INVALID_ARGUMENT",
      field: "current_password",
    },
    {
      name: "too-short new password",
      counts: "sessionForgive",
      req: () => ({ currentPassword: alice.password, newPassword: "short1!" }),
      code: "invalid_argument",
      reason: "WEAK_PASSWORD",
      field: "new_password",
    },
    {
      name: "common new password",
      counts: "sessionForgive",
      req: () => ({ currentPassword: alice.password, newPassword: "iloveyou1" }),
      code: "invalid_argument",
      reason: "WEAK_PASSWORD",
      field: "new_password",
    },
    {
      name: "new password equal to the email",
      counts: "sessionForgive",
      req: () => ({ currentPassword: alice.password, newPassword: "Alice@Example.com" }),
      code: "invalid_argument",
      reason: "WEAK_PASSWORD",
      field: "new_password",
    },
    {
      name: "new password repeating one character",
      counts: "sessionForgive",
      req: () => ({ currentPassword: alice.password, newPassword: "xxxxxxxxxxxx" }),
      code: "invalid_argument",
      reason: "WEAK_PASSWORD",
      field: "new_password",
    },
    {
      name: "new password of 129 code points",
      counts: "sessionForgive",
      req: () => ({ currentPassword: alice.password, newPassword: password129 }),
      code: "invalid_argument",
      reason: "INVALID_ARGUMENT",
      field: "new_password",
    },
    {
      name: "new password of 10,000 characters",
      counts: "sessionForgive",
      req: () => ({ currentPassword: alice.password, newPassword: "correct horse ".repeat(715).slice(0, 10_000) }),
      code: "invalid_argument",
      reason: "INVALID_ARGUMENT",
      field: "new_password",
    },
  ];
  it.each(titled(cases))("%s", async (_title, { req, counts, ...want }) => {
    const r = req();
    const watch = { ...watchWith(), ...(counts === undefined ? {} : { [counts]: a1.sessionId }) };
    await expectRejected(h, watch, () => d.call("AuthService/ChangePassword", r, a1.accessToken), want, [
      alice.password,
      String(r.currentPassword ?? ""),
      String(r.newPassword ?? ""),
      a1.accessToken,
    ]);
  });
});

// ---- AuthService/VerifyEmail ------------------------------------------------------------------

describe("AuthService/VerifyEmail", () => {
  const cases: Array<{ name: string; value: () => string | undefined } & Expected> = [
    { name: "missing code", value: () => undefined, code: "invalid_argument", reason: "INVALID_ARGUMENT", field: "code" },
    { name: "blank code", value: () => "   ", code: "invalid_argument", reason: "INVALID_ARGUMENT", field: "code" },
    { name: "non-base64url code", value: () => "abc$%^&*()", code: "invalid_argument", reason: "INVALID_CODE", field: "code" },
    { name: "code with an inner space", value: () => "abc def", code: "invalid_argument", reason: "INVALID_CODE", field: "code" },
    { name: "code of 300 characters", value: () => "A".repeat(300), code: "invalid_argument", reason: "INVALID_ARGUMENT", field: "code" },
    {
      name: "code of 10,000 characters",
      value: () => "A".repeat(10_000),
      code: "invalid_argument",
      reason: "INVALID_ARGUMENT",
      field: "code",
    },
    { name: "unknown well-formed code", value: () => randomOpaque(20), code: "invalid_argument", reason: "INVALID_CODE", field: "code" },
    {
      name: "the real code with one character flipped",
      value: () => flip(h.outbox.latest(carol.email, "email_verification")?.code ?? "", 3),
      code: "invalid_argument",
      reason: "INVALID_CODE",
      field: "code",
    },
    {
      name: "a password-reset code used as verification code",
      value: () => daveResetCode,
      code: "invalid_argument",
      reason: "INVALID_CODE",
      field: "code",
    },
  ];
  it.each(titled(cases))("%s", async (_title, { value, ...want }) => {
    const v = value();
    const req = v === undefined ? {} : { code: v };
    await expectRejected(h, watchWith(), () => d.call("AuthService/VerifyEmail", req), want, [daveResetCode]);
  });
});

// ---- AuthService/ResendVerificationEmail and AuthService/RequestPasswordReset ----------------

describe.each([
  ["AuthService/ResendVerificationEmail" as Method, "email_verification" as const],
  ["AuthService/RequestPasswordReset" as Method, "password_reset" as const],
])("%s", (method, kind) => {
  const cases: Array<{ name: string; req: Json } & Expected> = [
    { name: "missing email", req: {}, code: "invalid_argument", reason: "INVALID_ARGUMENT", field: "email" },
    { name: "blank email", req: { email: " \t " }, code: "invalid_argument", reason: "INVALID_ARGUMENT", field: "email" },
    {
      name: "malformed email",
      req: { email: "carol(at)example.com" },
      code: "invalid_argument",
      reason: "INVALID_ARGUMENT",
      field: "email",
    },
    {
      name: "email with a control character",
      req: { email: "carol\u0007@example.com" },
      code: "invalid_argument",
      reason: "INVALID_ARGUMENT",
      field: "email",
    },
    {
      name: "email of 10,000 characters",
      req: { email: emailOfLength(10_000) },
      code: "invalid_argument",
      reason: "INVALID_ARGUMENT",
      field: "email",
    },
  ];
  it.each(titled(cases, ", and no mail"))("%s", async (_title, { req, ...want }) => {
    await expectRejected(h, watchWith(), () => d.call(method, req), want);
  });

  it("answers an unknown address exactly like a known one, and only the known one gets a mail", async () => {
    // The known address is one the operation mails: an unverified account (carol) for the
    // verification mail, any account (alice, bob) for the reset mail. A verified account (alice)
    // asking for a verification mail is answered the same way, and gets none.
    const known = kind === "email_verification" ? carol.email : bob.email;
    const mailed = kind === "email_verification" ? [carol.email] : [alice.email, bob.email];
    const post = async (email: string) => {
      const res = await rawRpc(h.url, method, JSON.stringify({ email }), { "content-type": "application/json" });
      return { status: res.status, contentType: res.contentType, body: res.text };
    };
    const unknownEmail = `nobody.${kind}@example.com`;
    const before = await snapshot(h, { emails: [...watched(), unknownEmail] });
    const unknown = await post(unknownEmail);
    const verified = await post(alice.email);
    const knownAnswer = await post(`  ${known.toUpperCase()} `);
    expect(unknown).toEqual({ status: 200, contentType: "application/json", body: "{}" });
    expect(verified).toEqual(unknown);
    expect(knownAnswer).toEqual(unknown);
    const after = await snapshot(h, { emails: [...watched(), unknownEmail] });
    const newMails = after.mails.slice(before.mails.length);
    expect(newMails.map((m) => [m.kind, m.to]).sort()).toEqual(mailed.map((to) => [kind, to]));
    expect(await h.store.users.findByEmail(unknownEmail)).toBeNull();
    // Users and sessions are untouched (the known one's code was replaced, which is the point).
    expect(after.users).toEqual(before.users);
  });
});

// ---- AuthService/ResetPassword ----------------------------------------------------------------

describe("AuthService/ResetPassword", () => {
  const cases: Array<{ name: string; req: () => Json } & Expected> = [
    { name: "missing code", req: () => ({ newPassword }), code: "invalid_argument", reason: "INVALID_ARGUMENT", field: "code" },
    { name: "blank code", req: () => ({ code: "  ", newPassword }), code: "invalid_argument", reason: "INVALID_ARGUMENT", field: "code" },
    {
      name: "non-base64url code",
      req: () => ({ code: "<script>", newPassword }),
      code: "invalid_argument",
      reason: "INVALID_CODE",
      field: "code",
    },
    {
      name: "code of 300 characters",
      req: () => ({ code: "A".repeat(300), newPassword }),
      code: "invalid_argument",
      reason: "INVALID_ARGUMENT",
      field: "code",
    },
    {
      name: "unknown well-formed code",
      req: () => ({ code: randomOpaque(20), newPassword }),
      code: "invalid_argument",
      reason: "INVALID_CODE",
      field: "code",
    },
    {
      name: "the real code with one character flipped",
      req: () => ({ code: flip(daveResetCode, 3), newPassword }),
      code: "invalid_argument",
      reason: "INVALID_CODE",
      field: "code",
    },
    {
      name: "a verification code used as reset code",
      req: () => ({ code: h.outbox.latest(carol.email, "email_verification")?.code ?? "", newPassword }),
      code: "invalid_argument",
      reason: "INVALID_CODE",
      field: "code",
    },
    {
      name: "valid code, missing new password",
      req: () => ({ code: daveResetCode }),
      code: "invalid_argument",
      reason: "INVALID_ARGUMENT",
      field: "new_password",
    },
    {
      name: "valid code, too-short new password",
      req: () => ({ code: daveResetCode, newPassword: "short1!" }),
      code: "invalid_argument",
      reason: "WEAK_PASSWORD",
      field: "new_password",
    },
    {
      name: "valid code, common new password",
      req: () => ({ code: daveResetCode, newPassword: "letmein123" }),
      code: "invalid_argument",
      reason: "WEAK_PASSWORD",
      field: "new_password",
    },
    {
      name: "valid code, new password repeating one character",
      req: () => ({ code: daveResetCode, newPassword: "qqqqqqqqqq" }),
      code: "invalid_argument",
      reason: "WEAK_PASSWORD",
      field: "new_password",
    },
    {
      name: "valid code, new password of 129 code points",
      req: () => ({ code: daveResetCode, newPassword: password129 }),
      code: "invalid_argument",
      reason: "INVALID_ARGUMENT",
      field: "new_password",
    },
  ];
  it.each(titled(cases, " (and the valid code is not burnt)"))("%s", async (_title, { req, ...want }) => {
    const r = req();
    await expectRejected(h, watchWith(), () => d.call("AuthService/ResetPassword", r), want, [String(r.newPassword ?? ""), daveResetCode]);
  });
});

describe("AuthService/ResetPassword applies the whole policy, including the account's email", () => {
  let erin: Account;
  let e1: Tokens;
  beforeAll(async () => {
    erin = await registerVerified(h, d, "erin.longname@example.com", "erin's long passphrase");
    e1 = await login(d, erin);
  });
  it.each([
    ["the account's email", "Erin.Longname@example.com"],
    ["the email's local part", "erin.longname"],
  ])("a new password equal to %s → invalid_argument / WEAK_PASSWORD, nothing changed", async (_label, password) => {
    await d.call("AuthService/RequestPasswordReset", { email: erin.email });
    await h.server.deps.background.drain();
    const code = (await h.mail(erin.email, "password_reset")).code;
    await expectRejected(
      h,
      { emails: [erin.email], refresh: [e1.refreshToken] },
      () => d.call("AuthService/ResetPassword", { code, newPassword: password }),
      {
        code: "invalid_argument",
        reason: "WEAK_PASSWORD",
        field: "new_password",
      },
      [password, code],
    );
  });
});

// ---- AuthService/UnlinkAccount ----------------------------------------------------------------

describe("AuthService/UnlinkAccount", () => {
  const cases: Array<{ name: string; req: Json } & Expected> = [
    { name: "missing id", req: {}, code: "invalid_argument", reason: "INVALID_ARGUMENT", field: "id" },
    { name: "blank id", req: { id: "   " }, code: "invalid_argument", reason: "INVALID_ARGUMENT", field: "id" },
    { name: "unknown id", req: { id: "google-123" }, code: "not_found", reason: "NOT_FOUND", field: "id" },
    { name: "the last sign-in method", req: { id: "password" }, code: "failed_precondition", reason: "LAST_SIGN_IN_METHOD" },
    { name: "id of 10,000 characters", req: { id: "g".repeat(10_000) }, code: "invalid_argument", reason: "INVALID_ARGUMENT", field: "id" },
  ];
  it.each(titled(cases))("%s", async (_title, { req, ...want }) => {
    await expectRejected(h, watchWith(), () => d.call("AuthService/UnlinkAccount", req, a1.accessToken), want, [a1.accessToken]);
  });
});

// ---- SessionService/RevokeSession --------------------------------------------------------------

describe("SessionService/RevokeSession", () => {
  const cases: Array<{ name: string; id: () => string | undefined } & Expected> = [
    { name: "missing session id", id: () => undefined, code: "invalid_argument", reason: "INVALID_ARGUMENT", field: "session_id" },
    { name: "blank session id", id: () => "  ", code: "invalid_argument", reason: "INVALID_ARGUMENT", field: "session_id" },
    {
      name: "malformed session id",
      id: () => "../../etc/passwd",
      code: "invalid_argument",
      reason: "INVALID_ARGUMENT",
      field: "session_id",
    },
    {
      name: "session id with a NUL byte",
      id: () => `${a2.sessionId}\u0000`,
      code: "invalid_argument",
      reason: "INVALID_ARGUMENT",
      field: "session_id",
    },
    {
      name: "session id of 129 characters",
      id: () => "a".repeat(129),
      code: "invalid_argument",
      reason: "INVALID_ARGUMENT",
      field: "session_id",
    },
    {
      name: "session id of 10,000 characters",
      id: () => "a".repeat(10_000),
      code: "invalid_argument",
      reason: "INVALID_ARGUMENT",
      field: "session_id",
    },
    { name: "unknown session id", id: () => crypto.randomUUID(), code: "not_found", reason: "NOT_FOUND", field: "session_id" },
    { name: "the caller's own logged-out session", id: () => a3.sessionId, code: "not_found", reason: "NOT_FOUND", field: "session_id" },
    { name: "another user's session", id: () => b1.sessionId, code: "not_found", reason: "NOT_FOUND", field: "session_id" },
  ];
  it.each(titled(cases))("%s", async (_title, { id, ...want }) => {
    const v = id();
    const req = v === undefined ? {} : { sessionId: v };
    await expectRejected(h, watchWith(), () => d.call("SessionService/RevokeSession", req, a1.accessToken), want, [a1.accessToken]);
  });

  it("another user's session id is answered exactly like an unknown one, and that session keeps working", async () => {
    const unknown = await expectRejected(
      h,
      watchWith(),
      () => d.call("SessionService/RevokeSession", { sessionId: crypto.randomUUID() }, a1.accessToken),
      { code: "not_found", reason: "NOT_FOUND" },
    );
    const foreign = await expectRejected(
      h,
      watchWith(),
      () => d.call("SessionService/RevokeSession", { sessionId: b1.sessionId }, a1.accessToken),
      { code: "not_found", reason: "NOT_FOUND" },
    );
    expect({ message: foreign.message, metadata: foreign.metadata }).toEqual({ message: unknown.message, metadata: unknown.metadata });
    expect((await d.call("AuthService/GetCurrentUser", {}, b1.accessToken)).user.email).toBe(bob.email);
    const bobs = await h.store.sessions.listLive(bob.id, h.clock.now());
    expect(bobs.map((s) => s.id)).toContain(b1.sessionId);
  });
});

// ---- decode errors: raised by Connect before the service's code runs ---------------------------

// The decoded ErrorInfo's reason and domain (both undefined when the error carried none).
interface DecodedInfo {
  reason: string | undefined;
  domain: string | undefined;
}

const decoded = (info: ErrorInfo | undefined): DecodedInfo => ({ reason: info?.reason, domain: info?.domain });

/** A gRPC-Web answer's status, from its trailer frame (or headers, for a trailers-only answer). */
async function grpcWebPost(
  url: string,
  method: Method,
  frameBody: Uint8Array,
): Promise<{ status: number; grpcStatus: string | undefined; message: string; info: DecodedInfo }> {
  const res = await fetch(`${url}/auth.v1.${method}`, {
    method: "POST",
    headers: { "content-type": "application/grpc-web+proto" },
    body: frameBody,
  });
  const body = new Uint8Array(await res.arrayBuffer());
  const trailers: Record<string, string> = {};
  for (const [k, v] of res.headers) if (k.startsWith("grpc-")) trailers[k] = v;
  let i = 0;
  while (i + 5 <= body.length) {
    const flags = body[i] ?? 0;
    const len = new DataView(body.buffer, body.byteOffset + i + 1, 4).getUint32(0);
    if ((flags & 0x80) !== 0) {
      for (const line of Buffer.from(body.subarray(i + 5, i + 5 + len))
        .toString("utf8")
        .split("\r\n")) {
        const colon = line.indexOf(":");
        if (colon > 0) trailers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
    }
    i += 5 + len;
  }
  return {
    status: res.status,
    grpcStatus: trailers["grpc-status"],
    message: decodeURIComponent(trailers["grpc-message"] ?? ""),
    info: decoded(errorInfoFromStatusBin(trailers["grpc-status-details-bin"])),
  };
}

function envelope(payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(5 + payload.length);
  new DataView(out.buffer).setUint32(1, payload.length);
  out.set(payload, 5);
  return out;
}

/** Raw bytes over gRPC with @grpc/grpc-js (no serialization of ours in the way). */
function grpcJsRawBytes(url: string, method: Method, payload: Buffer): Promise<{ code: string; message: string; info: DecodedInfo }> {
  const client = new grpc.Client(new URL(url).host, grpc.credentials.createInsecure());
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(
      `/auth.v1.${method}`,
      (b: Buffer) => b,
      (b: Buffer) => b,
      payload,
      new grpc.Metadata(),
      (err) => {
        client.close();
        if (err === null) return reject(new Error("expected the call to fail, but it succeeded"));
        const bin = err.metadata.get("grpc-status-details-bin")[0];
        const info = decoded(errorInfoFromStatusBin(bin === undefined ? undefined : Buffer.from(bin)));
        resolve({ code: grpcCodeName(err.code), message: err.details, info });
      },
    );
  });
}

/** Field 2 (password) of LoginRequest as a 70,000-byte string: a well-formed but oversized message. */
const oversizedLoginProto = () =>
  Buffer.concat([
    Buffer.from([0x0a, 0x11]),
    Buffer.from("alice@example.com"),
    Buffer.from([0x12, 0xf0, 0xa2, 0x04]),
    Buffer.alloc(70_000, 0x61),
  ]);
const garbageProto = () => Buffer.from([0xff, 0xff, 0xff, 0x01, 0x02]);

// Connect rejects these before any handler or interceptor runs. The contract still applies: every
// error carries an ErrorInfo in domain auth.v1 — MALFORMED_REQUEST (invalid_argument) for a body
// that does not decode, PAYLOAD_TOO_LARGE (resource_exhausted) for one over the 64 KiB limit —
// and its message echoes nothing the client sent.
const malformed = { code: "invalid_argument", reason: "MALFORMED_REQUEST" } as const;
const tooLarge = { code: "resource_exhausted", reason: "PAYLOAD_TOO_LARGE" } as const;

describe("decode errors raised by the protocol layer", () => {
  const json = { "content-type": "application/json" };
  const watch = () => watchWith("decoded@example.com");

  async function expectDecodeError(
    method: Method,
    body: string | Uint8Array,
    headers: Record<string, string>,
    httpStatus: number,
    want: Expected,
    secrets: string[] = [],
  ) {
    const before = await snapshot(h, watch());
    const res = await rawRpc(h.url, method, body, headers);
    const parsed = JSON.parse(res.text) as Json;
    const info = decoded(errorInfoFromConnectJson(parsed));
    expect({ status: res.status, code: parsed.code, reason: info.reason }).toEqual({
      status: httpStatus,
      code: want.code,
      reason: want.reason,
    });
    expect(info.domain).toBe("auth.v1");
    expectSafeMessage(String(parsed.message), secrets);
    expect(await snapshot(h, watch())).toEqual(before);
    return parsed;
  }

  describe("Connect protocol, JSON (fetch)", () => {
    it.each([
      ["a number for the email", "AuthService/Login", '{"email": 123, "password": "a long passphrase"}'],
      [
        "a string for rememberMe",
        "AuthService/Login",
        '{"email": "alice@example.com", "password": "a long passphrase", "rememberMe": "yes"}',
      ],
      ["an array for the email", "AuthService/Login", '{"email": ["alice@example.com"], "password": "a long passphrase"}'],
      ["an object for the email", "AuthService/Login", '{"email": {"address": "alice@example.com"}, "password": "a long passphrase"}'],
      [
        "a number for the display name (Register)",
        "AuthService/Register",
        '{"email": "decoded@example.com", "password": "a long passphrase", "displayName": 5}',
      ],
      ["a boolean for the refresh token", "AuthService/RefreshToken", '{"refreshToken": true}'],
      ["a JSON array as the body", "AuthService/Login", "[]"],
      ["a JSON string as the body", "AuthService/Login", '"alice@example.com"'],
      ["JSON null as the body", "AuthService/Login", "null"],
      ["an empty body", "AuthService/Login", ""],
      ["truncated JSON", "AuthService/Login", '{"email": "alice@example.com", "password": "a long passphrase"'],
      ["not JSON at all", "AuthService/Register", "email=decoded@example.com&password=x"],
    ] as Array<[string, Method, string]>)("%s (%s) → HTTP 400, invalid_argument / MALFORMED_REQUEST", async (_label, method, body) => {
      await expectDecodeError(method, body, json, 400, malformed, ["a long passphrase"]);
    });

    it.each([
      ["UpdateProfile with a number for the display name", "AuthService/UpdateProfile", '{"displayName": 7}'],
      ["RevokeSession with a number for the session id", "SessionService/RevokeSession", '{"sessionId": 42}'],
      [
        "ChangePassword with a number for the new password",
        "AuthService/ChangePassword",
        '{"currentPassword": "alice\'s long passphrase", "newPassword": 7}',
      ],
    ] as Array<[string, Method, string]>)(
      "authenticated: %s → HTTP 400, invalid_argument / MALFORMED_REQUEST",
      async (_label, method, body) => {
        await expectDecodeError(method, body, { ...json, authorization: `Bearer ${a1.accessToken}` }, 400, malformed, [
          alice.password,
          a1.accessToken,
        ]);
      },
    );

    it("a body above the 64 KiB limit → HTTP 429, resource_exhausted / PAYLOAD_TOO_LARGE", async () => {
      const body = JSON.stringify({ email: "decoded@example.com", password: "p".repeat(70_000) });
      await expectDecodeError("AuthService/Register", body, json, 429, tooLarge, ["p".repeat(64)]);
    });

    it("an unsupported content type → HTTP 415", async () => {
      const res = await rawRpc(h.url, "AuthService/Login", JSON.stringify({ email: alice.email, password: alice.password }), {
        "content-type": "text/plain",
      });
      expect(res.status).toBe(415);
      expect(res.text).not.toContain(alice.password);
    });

    it("does not echo a password sent with the wrong JSON type", async () => {
      await expectDecodeError("AuthService/Login", '{"email": "alice@example.com", "password": 918273645}', json, 400, malformed, [
        "918273645",
      ]);
    });

    it("does not echo a password from a malformed JSON body", async () => {
      const parsed = await expectDecodeError(
        "AuthService/Login",
        '{"email": "alice@example.com", "password": hunter2-secret-value}',
        json,
        400,
        malformed,
        ["hunter2-secret-value"],
      );
      expect(String(parsed.message)).not.toMatch(/hunter2/);
    });
  });

  describe("Connect protocol, binary (fetch)", () => {
    const proto = { "content-type": "application/proto" };
    it("bytes that are not a protobuf message → HTTP 400, invalid_argument / MALFORMED_REQUEST", async () => {
      await expectDecodeError("AuthService/Login", garbageProto(), proto, 400, malformed);
    });
    it("a truncated protobuf message → HTTP 400, invalid_argument / MALFORMED_REQUEST", async () => {
      await expectDecodeError("AuthService/Login", Buffer.from([0x0a, 0x11, 0x61, 0x6c]), proto, 400, malformed);
    });
    it("a message above the 64 KiB limit → HTTP 429, resource_exhausted / PAYLOAD_TOO_LARGE", async () => {
      await expectDecodeError("AuthService/Login", oversizedLoginProto(), proto, 429, tooLarge);
    });
  });

  describe("gRPC (@grpc/grpc-js and Connect's gRPC client)", () => {
    it("bytes that are not a protobuf message → invalid_argument / MALFORMED_REQUEST", async () => {
      const before = await snapshot(h, watch());
      const r = await grpcJsRawBytes(h.url, "AuthService/Login", garbageProto());
      expect({ code: r.code, ...r.info }).toEqual({ ...malformed, domain: "auth.v1" });
      expectSafeMessage(r.message, []);
      expect(await snapshot(h, watch())).toEqual(before);
    });
    it("a message above the 64 KiB limit (raw bytes) → resource_exhausted / PAYLOAD_TOO_LARGE", async () => {
      const r = await grpcJsRawBytes(h.url, "AuthService/Login", oversizedLoginProto());
      expect({ code: r.code, ...r.info }).toEqual({ ...tooLarge, domain: "auth.v1" });
      expectSafeMessage(r.message, []);
    });
    it.each([
      ["connect-grpc", (url: string) => connectDriver("connect-grpc", grpcTransport(url), "bad-input/connect-grpc")],
      ["grpc-js", (url: string) => grpcJsDriver(url)],
      ["connect-json", (url: string) => connectDriver("connect-json", connectJsonTransport(url), "bad-input/connect-json")],
      ["grpc-web", (url: string) => connectDriver("grpc-web", grpcWebTransport(url), "bad-input/grpc-web")],
    ])("an oversized but well-formed Register over %s → resource_exhausted / PAYLOAD_TOO_LARGE, no account", async (_name, make) => {
      const driver = make(h.url);
      try {
        const password = `${"long passphrase ".repeat(4375)}`;
        await expectRejected(h, watch(), () => driver.call("AuthService/Register", { email: "decoded@example.com", password }), tooLarge, [
          password,
        ]);
      } finally {
        driver.close();
      }
    });
  });

  describe("gRPC-Web (fetch)", () => {
    it("bytes that are not a protobuf message → grpc-status 3, MALFORMED_REQUEST", async () => {
      const r = await grpcWebPost(h.url, "AuthService/Login", envelope(garbageProto()));
      expect({ status: r.status, grpcStatus: r.grpcStatus, ...r.info }).toEqual({
        status: 200,
        grpcStatus: "3",
        reason: "MALFORMED_REQUEST",
        domain: "auth.v1",
      });
      expectSafeMessage(r.message, []);
    });
    it("an incomplete envelope → grpc-status 3, MALFORMED_REQUEST", async () => {
      const r = await grpcWebPost(h.url, "AuthService/Login", new Uint8Array([0, 0, 0]));
      expect({ status: r.status, grpcStatus: r.grpcStatus, ...r.info }).toEqual({
        status: 200,
        grpcStatus: "3",
        reason: "MALFORMED_REQUEST",
        domain: "auth.v1",
      });
      expectSafeMessage(r.message, []);
    });
    it("a message above the 64 KiB limit → grpc-status 8, PAYLOAD_TOO_LARGE", async () => {
      const r = await grpcWebPost(h.url, "AuthService/Login", envelope(oversizedLoginProto()));
      expect({ status: r.status, grpcStatus: r.grpcStatus, ...r.info }).toEqual({
        status: 200,
        grpcStatus: "8",
        reason: "PAYLOAD_TOO_LARGE",
        domain: "auth.v1",
      });
      expectSafeMessage(r.message, []);
    });
  });
});

// ---- a representative subset over every client kind -------------------------------------------

const protocolFactories: Array<[string, (url: string) => Protocol]> = [
  ["fetch-json", (url) => protocol(fetchDriver(url, "bad-input/fetch"))],
  ["connect-grpc", (url) => protocol(connectDriver("connect-grpc", grpcTransport(url), "bad-input/connect-grpc"))],
  ["grpc-js", (url) => protocol(grpcJsDriver(url))],
  ["connect-json", (url) => protocol(connectDriver("connect-json", connectJsonTransport(url), "bad-input/connect-json"))],
  ["grpc-web", (url) => protocol(connectDriver("grpc-web", grpcWebTransport(url), "bad-input/grpc-web"))],
];

describe.each(protocolFactories)("the same bad input over %s", (_name, make) => {
  let p: Protocol;
  beforeAll(() => {
    p = make(h.url);
  });
  afterAll(() => p.close());
  const reject = (run: () => Promise<unknown>, want: Expected, secrets: string[] = [], ...emails: string[]) =>
    expectRejected(h, watchWith(...emails), run, want, secrets);
  /** A refused call whose password check counts one failure (guess) or forgives them (forgive). */
  const rejectCounting = (
    counts: { guess: string } | { forgive: string } | { sessionGuess: string } | { sessionForgive: string },
    run: () => Promise<unknown>,
    want: Expected,
    secrets: string[] = [],
  ) => expectRejected(h, { ...watchWith(), ...counts }, run, want, secrets);

  it("Register: malformed email, common password, too-long display name", async () => {
    const password = "a fine long passphrase";
    await reject(
      () => p.call("AuthService/Register", { email: "not-an-email", password }),
      { code: "invalid_argument", reason: "INVALID_ARGUMENT", field: "email" },
      [password],
      "not-an-email",
    );
    await reject(
      () => p.call("AuthService/Register", { email: "proto@example.com", password: "Password123" }),
      { code: "invalid_argument", reason: "WEAK_PASSWORD", field: "password" },
      ["Password123"],
      "proto@example.com",
    );
    await reject(
      () => p.call("AuthService/Register", { email: "proto@example.com", password, displayName: "n".repeat(101) }),
      { code: "invalid_argument", reason: "INVALID_ARGUMENT", field: "display_name" },
      [password],
      "proto@example.com",
    );
  });

  it("Register: an existing email in another case → already_exists / EMAIL_EXISTS", async () => {
    const password = "another long passphrase";
    await reject(
      () => p.call("AuthService/Register", { email: " BOB@example.COM", password }),
      { code: "already_exists", reason: "EMAIL_EXISTS", field: "email" },
      [password],
    );
  });

  it("Login: unknown email and wrong password fail identically; an over-long password is refused", async () => {
    const password = "some long passphrase";
    const unknown = await rejectCounting(
      { guess: "nobody@example.com" },
      () => p.call("AuthService/Login", { email: "nobody@example.com", password }),
      { code: "unauthenticated", reason: "INVALID_CREDENTIALS" },
      [password],
    );
    const wrong = await rejectCounting(
      { guess: alice.email },
      () => p.call("AuthService/Login", { email: alice.email, password }),
      { code: "unauthenticated", reason: "INVALID_CREDENTIALS" },
      [password, alice.password],
    );
    expect({ message: wrong.message, metadata: wrong.metadata }).toEqual({ message: unknown.message, metadata: unknown.metadata });
    await reject(
      () => p.call("AuthService/Login", { email: alice.email, password: password129 }),
      { code: "invalid_argument", reason: "INVALID_ARGUMENT", field: "password" },
      [password129],
    );
  });

  it("RefreshToken: unknown, non-base64url and over-long tokens", async () => {
    await reject(() => p.call("AuthService/RefreshToken", { refreshToken: randomOpaque() }), {
      code: "unauthenticated",
      reason: "INVALID_REFRESH",
      field: "refresh_token",
    });
    await reject(() => p.call("AuthService/RefreshToken", { refreshToken: "not a token!" }), {
      code: "unauthenticated",
      reason: "INVALID_REFRESH",
      field: "refresh_token",
    });
    await reject(() => p.call("AuthService/RefreshToken", { refreshToken: "A".repeat(300) }), {
      code: "invalid_argument",
      reason: "INVALID_ARGUMENT",
      field: "refresh_token",
    });
  });

  it("VerifyEmail and ResetPassword: malformed and unknown codes", async () => {
    await reject(() => p.call("AuthService/VerifyEmail", { code: "abc$%^" }), {
      code: "invalid_argument",
      reason: "INVALID_CODE",
      field: "code",
    });
    await reject(() => p.call("AuthService/VerifyEmail", {}), { code: "invalid_argument", reason: "INVALID_ARGUMENT", field: "code" });
    await reject(
      () => p.call("AuthService/ResetPassword", { code: randomOpaque(20), newPassword }),
      { code: "invalid_argument", reason: "INVALID_CODE", field: "code" },
      [newPassword],
    );
    await reject(
      () => p.call("AuthService/ResetPassword", { code: daveResetCode, newPassword: "short" }),
      { code: "invalid_argument", reason: "WEAK_PASSWORD", field: "new_password" },
      [daveResetCode],
    );
  });

  it("GetCurrentUser: no token, a Basic header, a tampered token, a foreign token, an expired token, a revoked session", async () => {
    const [hd, pl, sig] = a1.accessToken.split(".") as [string, string, string];
    const expired = await signAccess(h.clock.now(), { key: signingKey, alg: "EdDSA", kid, sub: alice.id, sid: a1.sessionId, expIn: -60 });
    const secrets = [a1.accessToken, alice.password, sig];
    const cases: Array<[string | undefined, Expected]> = [
      [undefined, { code: "unauthenticated", reason: "UNAUTHENTICATED" }],
      [
        `Basic ${Buffer.from(`${alice.email}:${alice.password}`).toString("base64")}`,
        { code: "unauthenticated", reason: "UNAUTHENTICATED" },
      ],
      [`Bearer ${hd}.${pl}.${flip(sig, 10)}`, { code: "unauthenticated", reason: "INVALID_TOKEN" }],
      [`Bearer ${eve.accessToken}`, { code: "unauthenticated", reason: "INVALID_TOKEN" }],
      [`Bearer ${expired}`, { code: "unauthenticated", reason: "TOKEN_EXPIRED" }],
      [`Bearer ${a3.accessToken}`, { code: "unauthenticated", reason: "SESSION_REVOKED" }],
    ];
    for (const [authorization, want] of cases) {
      await reject(() => p.callAuth("AuthService/GetCurrentUser", {}, authorization), want, [...secrets, eve.accessToken, expired]);
    }
  });

  it("UpdateProfile, ChangePassword, UnlinkAccount: invalid field values", async () => {
    await reject(() => p.call("AuthService/UpdateProfile", { displayName: "Al\u0007ice" }, a1.accessToken), {
      code: "invalid_argument",
      reason: "INVALID_ARGUMENT",
      field: "display_name",
    });
    // A signed-in caller's password counts under their session, never on strangers' counters.
    await rejectCounting(
      { sessionGuess: a1.sessionId },
      () => p.call("AuthService/ChangePassword", { currentPassword: "not alice's passphrase", newPassword }, a1.accessToken),
      { code: "unauthenticated", reason: "INVALID_CREDENTIALS", field: "current_password" },
      [newPassword, "not alice's passphrase"],
    );
    await rejectCounting(
      { sessionForgive: a1.sessionId },
      () => p.call("AuthService/ChangePassword", { currentPassword: alice.password, newPassword: "password1" }, a1.accessToken),
      { code: "invalid_argument", reason: "WEAK_PASSWORD", field: "new_password" },
      [alice.password],
    );
    await reject(() => p.call("AuthService/UnlinkAccount", { id: "password" }, a1.accessToken), {
      code: "failed_precondition",
      reason: "LAST_SIGN_IN_METHOD",
    });
  });

  it("RevokeSession: another user's session is NOT_FOUND exactly like an unknown one, and keeps working", async () => {
    const unknown = await reject(() => p.call("SessionService/RevokeSession", { sessionId: crypto.randomUUID() }, a1.accessToken), {
      code: "not_found",
      reason: "NOT_FOUND",
      field: "session_id",
    });
    const foreign = await reject(() => p.call("SessionService/RevokeSession", { sessionId: b1.sessionId }, a1.accessToken), {
      code: "not_found",
      reason: "NOT_FOUND",
      field: "session_id",
    });
    expect({ message: foreign.message, metadata: foreign.metadata }).toEqual({ message: unknown.message, metadata: unknown.metadata });
    expect((await p.call("AuthService/GetCurrentUser", {}, b1.accessToken)).user.email).toBe(bob.email);
    await reject(() => p.call("SessionService/RevokeSession", { sessionId: "../x" }, a1.accessToken), {
      code: "invalid_argument",
      reason: "INVALID_ARGUMENT",
      field: "session_id",
    });
  });

  it("ResendVerificationEmail and RequestPasswordReset: malformed email refused; unknown email answered like a known one", async () => {
    await reject(() => p.call("AuthService/ResendVerificationEmail", { email: "carol" }), {
      code: "invalid_argument",
      reason: "INVALID_ARGUMENT",
      field: "email",
    });
    await reject(() => p.call("AuthService/RequestPasswordReset", { email: emailOfLength(10_000) }), {
      code: "invalid_argument",
      reason: "INVALID_ARGUMENT",
      field: "email",
    });
    const before = await snapshot(h, { emails: watched() });
    const unknown = await p.call("AuthService/RequestPasswordReset", { email: "nobody@example.com" });
    const known = await p.call("AuthService/RequestPasswordReset", { email: bob.email });
    expect(known).toEqual(unknown);
    const after = await snapshot(h, { emails: watched() });
    expect(after.mails.slice(before.mails.length).map((m) => [m.kind, m.to])).toEqual([["password_reset", bob.email]]);
    expect(after.users).toEqual(before.users);
  });
});

// ---- after all of the above: what was valid still works ----------------------------------------

describe("after all the bad input, the valid credentials and codes still work", () => {
  it("alice's and bob's sessions and passwords are intact", async () => {
    for (const t of [a1, a2]) expect((await d.call("AuthService/GetCurrentUser", {}, t.accessToken)).user.email).toBe(alice.email);
    expect((await d.call("AuthService/GetCurrentUser", {}, b1.accessToken)).user.email).toBe(bob.email);
    const me = await d.call("AuthService/GetCurrentUser", {}, a1.accessToken);
    expect(me.user.displayName ?? "").toBe("");
    await login(d, alice);
    await login(d, bob);
  });

  it("carol's latest verification code still verifies her", async () => {
    const code = h.outbox.latest(carol.email, "email_verification")?.code;
    expect(code).toBeDefined();
    expect((await d.call("AuthService/VerifyEmail", { code })).user.emailVerified).toBe(true);
  });

  it("dave's reset code was not burnt by the refused attempts", async () => {
    await d.call("AuthService/ResetPassword", { code: daveResetCode, newPassword });
    expect((await failure(d.call("AuthService/GetCurrentUser", {}, d1.accessToken))).reason).toBe("SESSION_REVOKED");
    await login(d, { ...dave, password: newPassword });
  });
});

// ---- registration switched off ----------------------------------------------------------------

describe("registration disabled", () => {
  let hd: Harness;
  let ps: Protocol[];
  beforeAll(async () => {
    hd = await startHarness({ REGISTRATION_ENABLED: "false" });
    ps = protocolFactories.map(([, make]) => make(hd.url));
  });
  afterAll(async () => {
    for (const p of ps ?? []) p.close();
    await hd?.close();
  });

  it.each(protocolFactories.map(([name], i) => [name, i] as const))(
    "Register over %s → permission_denied / REGISTRATION_DISABLED, no account, no mail",
    async (_name, i) => {
      const p = ps[i];
      if (p === undefined) throw new Error("protocol missing");
      const email = `closed.${i}@example.com`;
      const password = "a fine long passphrase";
      await expectRejected(
        hd,
        { emails: [email] },
        () => p.call("AuthService/Register", { email, password, displayName: "Closed" }),
        {
          code: "permission_denied",
          reason: "REGISTRATION_DISABLED",
        },
        [password],
      );
      expect(hd.outbox.mails).toHaveLength(0);
    },
  );
});

// ---- expiry: one harness whose clock moves ------------------------------------------------------

describe("expired tokens and codes (own harness, moving clock)", () => {
  let hc: Harness;
  let dc: Driver;
  let ps: Protocol[];
  let vera: Account; // registered, never verified
  let veraCode: string;
  let rita: Account; // verified, signed in, asked for a reset
  let r1: Tokens;
  let ritaCode: string;
  const minute = 60_000;
  let elapsed = 0;
  const advanceTo = (ms: number) => {
    hc.clock.advance(ms - elapsed);
    elapsed = ms;
  };
  const watchC = () => ({ emails: [vera.email, rita.email], refresh: [r1.refreshToken] });

  beforeAll(async () => {
    hc = await startHarness();
    dc = fetchDriver(hc.url, "bad-input/clock");
    ps = protocolFactories.map(([, make]) => make(hc.url));
    const reg = await dc.call("AuthService/Register", { email: "vera@example.com", password: "vera's long passphrase" });
    vera = { email: "vera@example.com", password: "vera's long passphrase", id: reg.user.id };
    veraCode = (await hc.mail(vera.email, "email_verification")).code;
    rita = await registerVerified(hc, dc, "rita@example.com", "rita's long passphrase");
    r1 = await login(dc, rita);
    await dc.call("AuthService/RequestPasswordReset", { email: rita.email });
    ritaCode = (await hc.mail(rita.email, "password_reset")).code;
  });
  afterAll(async () => {
    for (const p of ps ?? []) p.close();
    await hc?.close();
  });

  it("after 16 minutes the access token is refused by every authenticated RPC → unauthenticated / TOKEN_EXPIRED", async () => {
    advanceTo(16 * minute);
    const bodies: Record<string, Json> = {
      "AuthService/UpdateProfile": { displayName: "Rita" },
      "AuthService/ChangePassword": { currentPassword: rita.password, newPassword },
      "AuthService/UnlinkAccount": { id: "password" },
      "SessionService/RevokeSession": { sessionId: r1.sessionId },
    };
    for (const method of authenticatedRpcs) {
      await expectRejected(
        hc,
        watchC(),
        () => dc.call(method, bodies[method] ?? {}, r1.accessToken),
        { code: "unauthenticated", reason: "TOKEN_EXPIRED" },
        [r1.accessToken, rita.password],
      );
    }
    for (const p of ps) {
      await expectRejected(
        hc,
        watchC(),
        () => p.call("AuthService/GetCurrentUser", {}, r1.accessToken),
        { code: "unauthenticated", reason: "TOKEN_EXPIRED" },
        [r1.accessToken],
      );
    }
  });

  it("after 1 hour the password-reset code is refused → invalid_argument / INVALID_CODE, password and sessions unchanged", async () => {
    advanceTo(60 * minute + 1000);
    for (const p of ps) {
      await expectRejected(
        hc,
        watchC(),
        () => p.call("AuthService/ResetPassword", { code: ritaCode, newPassword }),
        { code: "invalid_argument", reason: "INVALID_CODE", field: "code" },
        [ritaCode, newPassword],
      );
    }
  });

  it("after 24 hours the verification code is refused → invalid_argument / INVALID_CODE, the address stays unverified", async () => {
    advanceTo(24 * 60 * minute + 1000);
    for (const p of ps) {
      await expectRejected(
        hc,
        watchC(),
        () => p.call("AuthService/VerifyEmail", { code: veraCode }),
        { code: "invalid_argument", reason: "INVALID_CODE", field: "code" },
        [veraCode],
      );
    }
    expect((await hc.store.users.findByEmail(vera.email))?.emailVerified).toBe(false);
  });

  it("after 7 days the refresh token is refused → unauthenticated / REFRESH_EXPIRED, and is not spent", async () => {
    advanceTo(7 * 24 * 60 * minute + 1000);
    for (const p of ps) {
      await expectRejected(
        hc,
        watchC(),
        () => p.call("AuthService/RefreshToken", { refreshToken: r1.refreshToken }),
        { code: "unauthenticated", reason: "REFRESH_EXPIRED" },
        [r1.refreshToken],
      );
    }
    expect((await hc.store.refreshTokens.find(tokenHash(r1.refreshToken)))?.consumedAt).toBeNull();
  });
});
