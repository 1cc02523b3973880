// What the log alone tells of the security events an incident is investigated from (OWASP ASVS 5.0
// V16.3): each completed sign-in, each wrong password, and a guessing limit that locks, for passwords and second
// factors, named by the account's id and the client's address. The metrics count these too, but without whose they are, and they are
// off by default; this server runs without them. No line carries the email, a password or a code.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { failure, fetchDriver, type Driver } from "../support/drivers.ts";
import { startHarness, type Harness } from "../support/harness.ts";
import { rest } from "../support/rest.ts";
import { totp, wrongCode } from "../support/totp.ts";

const password = "correct horse battery staple";
const wrong = "not the password at all";
const alice = "alice.security-log@example.com";
const bob = "bob.security-log@example.com";
const nobody = "nobody.security-log@example.com";
const carol = "carol.security-log@example.com";
const dave = "dave.security-log@example.com";
const stranger = "stranger.security-log@example.com";

let h: Harness;
let connect: Driver;
/** Everything secret or personal a test sent or received: none may appear in these lines. */
const secrets = new Set<string>([alice, bob, nobody, carol, dave, stranger, password, wrong]);

beforeAll(async () => {
  h = await startHarness({ EMAIL_VERIFICATION_REQUIRED: "false", LOGIN_MAX_FAILURES: "3", TWO_FACTOR_MAX_FAILURES: "2" });
  connect = fetchDriver(h.url, "security-log-test");
});
afterAll(() => h?.close());

/** The session id an access token names (its `sid` claim). */
const sessionOf = (accessToken: string): string =>
  (JSON.parse(Buffer.from(accessToken.split(".")[1] ?? "", "base64url").toString("utf8")) as { sid: string }).sid;

const lockLines = () => h.logs.filter((l) => l.msg === "guessing limit reached: a lock starts");

function expectNoSecrets(lines: Array<Record<string, unknown>>): void {
  const text = JSON.stringify(lines);
  for (const secret of secrets) expect(text).not.toContain(secret);
}

describe("the security log", () => {
  it("writes each completed sign-in: whose, into which session, from where, under which request", async () => {
    const { user } = await connect.call("AuthService/Register", { email: carol, password });
    const overRpc = await connect.call("AuthService/Login", { email: carol, password }, undefined, { "x-request-id": "sign-in-rpc" });
    const overRest = await rest(h, "POST", "/api/v1/auth/login", {
      body: { email: carol, password },
      headers: { "x-request-id": "sign-in-rest" },
    });
    expect(overRest.status).toBe(200);
    const restToken: string = overRest.body.data.accessToken;
    for (const secret of [overRpc.tokens.accessToken, overRpc.tokens.refreshToken, restToken, overRest.body.data.refreshToken])
      secrets.add(secret);

    const signedIn = (requestId: string) => h.logs.filter((l) => l.msg === "signed in" && l.requestId === requestId);
    expect(signedIn("sign-in-rpc")).toEqual([
      expect.objectContaining({
        level: "info",
        userId: user.id,
        sessionId: sessionOf(overRpc.tokens.accessToken),
        clientIp: "127.0.0.1",
        knownDevice: false,
      }),
    ]);
    expect(signedIn("sign-in-rest")).toEqual([
      expect.objectContaining({ level: "info", userId: user.id, sessionId: sessionOf(restToken), clientIp: "127.0.0.1" }),
    ]);
    expectNoSecrets(h.logs.filter((l) => l.msg === "signed in"));
  });

  it("writes each wrong password, with the account's id when there is an account", async () => {
    const { user } = await connect.call("AuthService/Register", { email: dave, password });
    for (const [email, requestId] of [
      [dave, "wrong-password-known"],
      [stranger, "wrong-password-unknown"],
    ] as const) {
      const refused = await failure(
        connect.call("AuthService/Login", { email, password: wrong }, undefined, { "x-request-id": requestId }),
      );
      expect(refused.reason).toBe("INVALID_CREDENTIALS");
    }
    const refused = (requestId: string) => h.logs.filter((l) => l.msg === "sign-in refused: wrong password" && l.requestId === requestId);
    expect(refused("wrong-password-known")).toEqual([expect.objectContaining({ level: "info", userId: user.id, clientIp: "127.0.0.1" })]);
    expect(refused("wrong-password-unknown")).toEqual([expect.objectContaining({ level: "info", clientIp: "127.0.0.1" })]);
    expect(refused("wrong-password-unknown")[0]).not.toHaveProperty("userId");
    expectNoSecrets(h.logs.filter((l) => l.msg === "sign-in refused: wrong password"));
  });

  it("writes the lock a wrong password sets, with the account's id and the client's address", async () => {
    const { user } = await connect.call("AuthService/Register", { email: alice, password });
    for (let i = 0; i < 3; i++) {
      expect((await failure(connect.call("AuthService/Login", { email: alice, password: wrong }))).reason).toBe("INVALID_CREDENTIALS");
    }
    expect((await failure(connect.call("AuthService/Login", { email: alice, password }))).reason).toBe("RATE_LIMITED");
    // Guesses at an address no account has lock the same way, and their line names no account.
    for (let i = 0; i < 3; i++) await failure(connect.call("AuthService/Login", { email: nobody, password: wrong }));

    const lines = lockLines();
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({ level: "warn", factor: "password", scopes: ["account"], userId: user.id, clientIp: "127.0.0.1" });
    expect(lines[1]).toMatchObject({ level: "warn", factor: "password", scopes: ["account"], clientIp: "127.0.0.1" });
    expect(lines[1]).not.toHaveProperty("userId");
    expectNoSecrets(lines);
  });

  it("writes the lock wrong second-factor codes set, with the account's id", async () => {
    const registered = await connect.call("AuthService/Register", { email: bob, password });
    const bobToken: string = registered.tokens.accessToken;
    const setup = await connect.call("TwoFactorService/Setup", {}, bobToken);
    const enabled = await connect.call("TwoFactorService/Enable", { code: totp(setup.secret, h.clock.now()) }, bobToken);
    h.clock.advance(30_000);
    const pending = await connect.call("AuthService/Login", { email: bob, password });
    const challengeToken: string = pending.secondFactor.challengeToken;
    for (const secret of [bobToken, setup.secret, challengeToken, ...enabled.recoveryCodes]) secrets.add(secret);
    const code = wrongCode(setup.secret, h.clock.now());
    secrets.add(code);
    const before = lockLines().length;
    for (let i = 0; i < 2; i++) {
      expect((await failure(connect.call("AuthService/CompleteLogin", { challengeToken, code }))).reason).toBe("INVALID_TWO_FACTOR_CODE");
    }
    expect((await failure(connect.call("AuthService/CompleteLogin", { challengeToken, code }))).reason).toBe("TWO_FACTOR_LOCKED");

    const lines = lockLines().slice(before);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: "warn", factor: "second_factor", userId: registered.user.id });
    expectNoSecrets(lines);
  });
});
