// PasskeyService on every protocol: a passwordless sign-in with the software authenticator over
// JSON (fetch), Connect gRPC, gRPC-Web and plain @grpc/grpc-js, then the bad-input suite: every
// authenticated RPC with absent, tampered or expired credentials on every protocol, and missing,
// malformed, oversized, wrongly typed and foreign fields. Each refusal is exactly the documented
// status and reason, leaks nothing it was sent, and changes neither the passkeys nor the sessions.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectRefused as refused, titled, type Expected } from "../support/assertions.ts";
import { connectDriver, type Driver, fetchDriver, grpcJsDriver, type Json, type Method } from "../support/drivers.ts";
import { grpcTransport, grpcWebTransport, startHarness, type Harness } from "../support/harness.ts";
import { SoftwareAuthenticator } from "../support/software-authenticator.ts";

const password = "correct horse battery staple";
const origin = "https://app.example.com";
let h: Harness;
let json: Driver;
let drivers: Driver[];
let token: string;
let expiredToken: string;
let userId: string;
let passkeyId: string;
let foreignPasskeyId: string;
const authenticator = new SoftwareAuthenticator(origin);

/** The user's passkeys and live sessions: what no refused call may change. */
const snapshot = async () => ({
  passkeys: await h.store.passkeys.listForUser(userId),
  sessions: (await h.store.sessions.listLive(userId, h.clock.now())).map((s) => s.id),
});

beforeAll(async () => {
  h = await startHarness({ EMAIL_VERIFICATION_REQUIRED: "false", WEBAUTHN_RP_ID: "example.com", WEBAUTHN_ORIGINS: origin });
  json = fetchDriver(h.url, "bad-input");
  drivers = [
    json,
    connectDriver("connect-grpc", grpcTransport(h.url), "bad-input"),
    connectDriver("grpc-web", grpcWebTransport(h.url), "bad-input"),
    grpcJsDriver(h.url),
  ];
  const register = async (email: string): Promise<Json> => json.call("AuthService/Register", { email, password });
  const stale = await register("stale@example.com");
  expiredToken = stale.tokens.accessToken;
  const other = await register("other@example.com");
  const user = await register("user@example.com");
  userId = user.user.id;
  token = user.tokens.accessToken;
  const add = async (bearer: string, using: SoftwareAuthenticator): Promise<string> => {
    const { optionsJson } = await json.call("PasskeyService/StartPasskeyRegistration", {}, bearer);
    const done = await json.call("PasskeyService/FinishPasskeyRegistration", { credentialJson: using.create(optionsJson) }, bearer);
    return done.passkey.id;
  };
  passkeyId = await add(token, authenticator);
  foreignPasskeyId = await add(other.tokens.accessToken, new SoftwareAuthenticator(origin));
  h.clock.advance(16 * 60_000); // past the 15-minute access token lifetime
  token = (await json.call("AuthService/Login", { email: "user@example.com", password })).tokens.accessToken;
});
afterAll(async () => {
  for (const d of drivers ?? []) d.close();
  await h?.close();
});

const expectRefused = (d: Driver, method: Method, req: Json, credential: string | undefined, expected: Expected): Promise<void> =>
  refused(() => d.call(method, req, credential), expected, [credential ?? "", JSON.stringify(req)], snapshot);

it("a passkey alone signs in on every protocol", async () => {
  for (const d of drivers) {
    const { optionsJson } = await d.call("PasskeyService/StartPasskeySignIn", {});
    const done = await d.call("PasskeyService/FinishPasskeySignIn", { credentialJson: authenticator.get(optionsJson) });
    expect(done.user.id, d.name).toBe(userId);
    const me = await d.call("AuthService/GetCurrentUser", {}, done.tokens.accessToken);
    expect(me.user.email, d.name).toBe("user@example.com");
    expect(done.deviceToken.token, d.name).toEqual(expect.any(String));
  }
  const names = await json.call("PasskeyService/ListPasskeys", {}, token);
  expect(names.passkeys.map((p: Json) => p.name)).toEqual(["Passkey"]);
});

describe("credentials, on every authenticated RPC and every protocol", () => {
  const rpcs = (): Array<[Method, Json]> => [
    ["PasskeyService/StartPasskeyRegistration", {}],
    ["PasskeyService/FinishPasskeyRegistration", { credentialJson: "{}" }],
    ["PasskeyService/ListPasskeys", {}],
    ["PasskeyService/RenamePasskey", { passkeyId, name: "Stolen" }],
    ["PasskeyService/RemovePasskey", { passkeyId }],
  ];
  const cases: Array<{ name: string; credential: () => string | undefined } & Expected> = [
    { name: "no credential", credential: () => undefined, code: "unauthenticated", reason: "UNAUTHENTICATED" },
    { name: "a tampered access token", credential: () => `${token.slice(0, -4)}AAAA`, code: "unauthenticated", reason: "INVALID_TOKEN" },
    { name: "an expired access token", credential: () => expiredToken, code: "unauthenticated", reason: "TOKEN_EXPIRED" },
  ];
  it.each(titled(cases))("%s", async (_title, c) => {
    for (const [method, req] of rpcs()) for (const d of drivers) await expectRefused(d, method, req, c.credential(), c);
  });
});

describe("fields", () => {
  const invalid = (field: string) => ({ code: "invalid_argument", reason: "INVALID_ARGUMENT", field });
  const malformed = { code: "invalid_argument", reason: "MALFORMED_REQUEST" };
  const wrongPasskey = { code: "unauthenticated", reason: "INVALID_PASSKEY" };
  const wrongChallenge = { code: "unauthenticated", reason: "INVALID_CHALLENGE" };
  const notFound = { code: "not_found", reason: "NOT_FOUND", field: "passkey_id" };
  /** A well-formed assertion over a challenge this server never issued. */
  const forged = () => authenticator.get(JSON.stringify({ challenge: "A".repeat(43), rpId: "example.com" }));
  const cases: Array<{ name: string; method: Method; req: () => Json; anonymous?: boolean } & Expected> = [
    {
      name: "FinishPasskeyRegistration without a credential",
      method: "PasskeyService/FinishPasskeyRegistration",
      req: () => ({}),
      ...invalid("credential_json"),
    },
    {
      name: "FinishPasskeyRegistration with text that is not JSON",
      method: "PasskeyService/FinishPasskeyRegistration",
      req: () => ({ credentialJson: "{nope" }),
      ...invalid("credential_json"),
    },
    {
      name: "FinishPasskeyRegistration with an oversized credential",
      method: "PasskeyService/FinishPasskeyRegistration",
      req: () => ({ credentialJson: JSON.stringify({ id: "x", response: {}, pad: "x".repeat(40_000) }) }),
      ...invalid("credential_json"),
    },
    {
      name: "FinishPasskeyRegistration with a credential that is a number",
      method: "PasskeyService/FinishPasskeyRegistration",
      req: () => ({ credentialJson: 5 }),
      ...malformed,
    },
    {
      name: "FinishPasskeyRegistration with an unissued challenge",
      method: "PasskeyService/FinishPasskeyRegistration",
      req: () => ({
        credentialJson: new SoftwareAuthenticator(origin).create(
          JSON.stringify({ challenge: "B".repeat(43), rp: { id: "example.com" }, user: { id: "dXNlcg" } }),
        ),
      }),
      ...wrongPasskey,
    },
    {
      name: "FinishPasskeyRegistration with a name too long",
      method: "PasskeyService/FinishPasskeyRegistration",
      req: () => ({ credentialJson: "{}", name: "n".repeat(65) }),
      ...invalid("name"),
    },
    { name: "RenamePasskey without an id", method: "PasskeyService/RenamePasskey", req: () => ({ name: "x" }), ...invalid("passkey_id") },
    {
      name: "RenamePasskey with a malformed id",
      method: "PasskeyService/RenamePasskey",
      req: () => ({ passkeyId: "a b", name: "x" }),
      ...invalid("passkey_id"),
    },
    { name: "RenamePasskey without a name", method: "PasskeyService/RenamePasskey", req: () => ({ passkeyId }), ...invalid("name") },
    {
      name: "RenamePasskey of someone else's passkey",
      method: "PasskeyService/RenamePasskey",
      req: () => ({ passkeyId: foreignPasskeyId, name: "Mine" }),
      ...notFound,
    },
    {
      name: "RemovePasskey of someone else's passkey",
      method: "PasskeyService/RemovePasskey",
      req: () => ({ passkeyId: foreignPasskeyId }),
      ...notFound,
    },
    {
      name: "RemovePasskey of an unknown id",
      method: "PasskeyService/RemovePasskey",
      req: () => ({ passkeyId: "f".repeat(36) }),
      ...notFound,
    },
    {
      name: "RemovePasskey from an old sign-in without a proof",
      method: "PasskeyService/RemovePasskey",
      req: () => ({ passkeyId }),
      code: "unauthenticated",
      reason: "REAUTHENTICATION_REQUIRED",
    },
    {
      name: "FinishPasskeySignIn with a forged assertion",
      method: "PasskeyService/FinishPasskeySignIn",
      req: () => ({ credentialJson: forged() }),
      anonymous: true,
      ...wrongPasskey,
    },
    {
      name: "FinishPasskeySignIn without a credential",
      method: "PasskeyService/FinishPasskeySignIn",
      req: () => ({}),
      anonymous: true,
      ...invalid("credential_json"),
    },
    {
      name: "StartPasskeySecondFactor with a forged challenge",
      method: "PasskeyService/StartPasskeySecondFactor",
      req: () => ({ challengeToken: "A".repeat(43) }),
      anonymous: true,
      ...wrongChallenge,
    },
    {
      name: "FinishPasskeySecondFactor with a forged challenge",
      method: "PasskeyService/FinishPasskeySecondFactor",
      req: () => ({ challengeToken: "A".repeat(43), credentialJson: forged() }),
      anonymous: true,
      ...wrongChallenge,
    },
  ];
  it.each(titled(cases))("%s", async (_title, c) => {
    // RemovePasskey's step-up: the token's session signed in more than REAUTH_MAX_AGE_SECONDS ago.
    if (c.reason === "REAUTHENTICATION_REQUIRED") h.clock.advance(11 * 60_000);
    await expectRefused(json, c.method, c.req(), c.anonymous === true ? undefined : token, c);
  });
});
