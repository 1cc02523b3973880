// Email sign-in end to end, through the real server and its test outbox, once per client kind:
// Connect's client over gRPC, Connect JSON (as Connect-Web in a browser), gRPC-Web, plain
// @grpc/grpc-js from the .proto files, and fetch. The rules themselves are proven at the
// operation in email.test.ts.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectDriver, type Driver, failure, fetchDriver, grpcJsDriver, rawRpc } from "../support/drivers.ts";
import { connectJsonTransport, grpcTransport, grpcWebTransport, startHarness, type Harness } from "../support/harness.ts";
import { scrape } from "../support/prometheus.ts";
import { totp } from "../support/totp.ts";

const password = "correct horse battery staple";
const linkUrl = "https://app.example.com/sign-in/email";
let h: Harness;
let drivers: Driver[];

beforeAll(async () => {
  h = await startHarness({ EMAIL_SIGN_IN: "code,link", EMAIL_SIGN_IN_LINK_URL: linkUrl, MAIL_MAX_PER_ADDRESS_PER_HOUR: "0" });
  drivers = [
    connectDriver("connect-grpc", grpcTransport(h.url), "e2e"),
    connectDriver("connect-json", connectJsonTransport(h.url), "e2e"),
    connectDriver("grpc-web", grpcWebTransport(h.url), "e2e"),
    grpcJsDriver(h.url),
    fetchDriver(h.url, "e2e"),
  ];
});
afterAll(async () => {
  for (const d of drivers) d.close();
  await h.close();
});

const byName = (name: string): Driver => {
  const d = drivers.find((x) => x.name === name);
  if (d === undefined) throw new Error(name);
  return d;
};

/** A verified account, registered and verified over the wire. */
async function account(d: Driver, email: string): Promise<void> {
  await d.call("AuthService/Register", { email, password });
  const mail = await h.mail(email, "email_verification");
  await d.call("AuthService/VerifyEmail", { code: mail.code });
}

/** Asks for a sign-in mail and waits for a new one. */
async function signInMail(d: Driver, email: string) {
  const before = h.outbox.all(email, "email_sign_in").length;
  await d.call("EmailSignInService/RequestEmailSignIn", { email });
  for (let i = 0; i < 200 && h.outbox.all(email, "email_sign_in").length === before; i++) await new Promise((r) => setTimeout(r, 10));
  const mail = h.outbox.latest(email, "email_sign_in");
  if (mail === undefined || h.outbox.all(email, "email_sign_in").length === before) throw new Error("no sign-in mail");
  return { code: mail.code, token: new URL(mail.link ?? "").hash.replace(/^#token=/, "") };
}

describe.each(["connect-grpc", "connect-json", "grpc-web", "grpc-js", "fetch-json"])("over %s", (name) => {
  const email = `${name}@example.com`;

  it("a mailed code signs in once, and the session works", async () => {
    const d = byName(name);
    await account(d, email);
    const { code } = await signInMail(d, email);
    const res = await d.call("EmailSignInService/CompleteEmailSignIn", { email, code });
    expect(res.user.email).toBe(email);
    // A device new to the account (JSON leaves out a false `known`).
    expect([typeof res.deviceToken.token, res.deviceToken.known ?? false]).toEqual(["string", false]);
    const me = await d.call("AuthService/GetCurrentUser", {}, res.tokens.accessToken);
    expect(me.user.email).toBe(email);
    const again = await failure(d.call("EmailSignInService/CompleteEmailSignIn", { email, code }));
    expect([again.code, again.reason]).toEqual(["invalid_argument", "INVALID_CODE"]);
  });

  it("the link's token signs in once (the page sends it; nothing happens on a GET)", async () => {
    const d = byName(name);
    const { token } = await signInMail(d, email);
    const res = await d.call("EmailSignInService/CompleteEmailSignIn", { linkToken: token, rememberMe: true });
    expect(res.user.email).toBe(email);
    const again = await failure(d.call("EmailSignInService/CompleteEmailSignIn", { linkToken: token }));
    expect([again.code, again.reason]).toEqual(["invalid_argument", "INVALID_CODE"]);
  });
});

describe("over the wire", () => {
  it("RequestEmailSignIn answers byte for byte the same for a known and an unknown address", async () => {
    await account(byName("fetch-json"), "known@example.com");
    const ask = async (email: string) => {
      const a = await rawRpc(h.url, "EmailSignInService/RequestEmailSignIn", JSON.stringify({ email }), {
        "content-type": "application/json",
      });
      const headers = [...a.headers.entries()].filter(([k]) => !["date", "x-request-id"].includes(k));
      return { status: a.status, text: a.text, headers };
    };
    const known = await ask("known@example.com");
    expect(known).toEqual(await ask("nobody@example.com"));
    expect([known.status, known.text]).toEqual([200, "{}"]);
    await h.mail("known@example.com", "email_sign_in");
    expect(h.outbox.latest("nobody@example.com", "email_sign_in")).toBeUndefined();
  });

  it("a page fetching the link's URL spends nothing: the token is in the fragment, which no request carries", async () => {
    const d = byName("connect-json");
    await account(d, "scanned@example.com");
    const mail = await signInMail(d, "scanned@example.com");
    const link = h.outbox.latest("scanned@example.com", "email_sign_in")?.link ?? "";
    // What a scanner requests: the URL without its fragment (fetch, like every HTTP client, drops it).
    expect(new URL(link).search).toBe("");
    expect(link.startsWith(`${linkUrl}#token=`)).toBe(true);
    const res = await d.call("EmailSignInService/CompleteEmailSignIn", { linkToken: mail.token });
    expect(res.user.email).toBe("scanned@example.com");
  });

  it("an account with two-factor authentication gets Login's challenge; CompleteLogin finishes", async () => {
    const d = byName("connect-grpc");
    const email = "two-factor@example.com";
    await account(d, email);
    const login = await d.call("AuthService/Login", { email, password });
    const access = login.tokens.accessToken;
    const setup = await d.call("TwoFactorService/Setup", {}, access);
    await d.call("TwoFactorService/Enable", { code: totp(setup.secret, h.clock.now()) }, access);
    h.clock.advance(30_000);
    const { code } = await signInMail(d, email);
    const first = await d.call("EmailSignInService/CompleteEmailSignIn", { email, code });
    expect(first.tokens).toBeUndefined();
    expect(first.deviceToken).toBeUndefined();
    const done = await d.call("AuthService/CompleteLogin", {
      challengeToken: first.secondFactor.challengeToken,
      code: totp(setup.secret, h.clock.now()),
    });
    expect(done.user.twoFactorEnabled).toBe(true);
    expect((await d.call("AuthService/GetCurrentUser", {}, done.tokens.accessToken)).user.email).toBe(email);
  });

  it("bad input: the exact status and reason, on every client", async () => {
    for (const d of drivers) {
      const cases: Array<[object, string, string]> = [
        [{ email: "" }, "invalid_argument", "INVALID_ARGUMENT"],
        [{ email: "a@example.com", code: "12" }, "invalid_argument", "INVALID_CODE"],
        [{ linkToken: "%%%" }, "invalid_argument", "INVALID_CODE"],
        [{ linkToken: "x".repeat(5000) }, "invalid_argument", "INVALID_ARGUMENT"],
        [{ email: "a@example.com", code: "123456", linkToken: "abc" }, "invalid_argument", "INVALID_ARGUMENT"],
      ];
      for (const [req, code, reason] of cases) {
        const f = await failure(d.call("EmailSignInService/CompleteEmailSignIn", req));
        expect([d.name, f.code, f.reason]).toEqual([d.name, code, reason]);
      }
      const f = await failure(d.call("EmailSignInService/RequestEmailSignIn", { email: "not an address" }));
      expect([d.name, f.code, f.reason]).toEqual([d.name, "invalid_argument", "INVALID_ARGUMENT"]);
    }
  });
});

describe("switched off (the default)", () => {
  it("both RPCs answer FAILED_PRECONDITION / SIGN_IN_METHOD_DISABLED", async () => {
    const off = await startHarness();
    const d = grpcJsDriver(off.url);
    try {
      for (const [method, req] of [
        ["EmailSignInService/RequestEmailSignIn", { email: "a@example.com" }],
        ["EmailSignInService/CompleteEmailSignIn", { email: "a@example.com", code: "123456" }],
      ] as const) {
        const f = await failure(d.call(method, req));
        expect([f.code, f.reason]).toEqual(["failed_precondition", "SIGN_IN_METHOD_DISABLED"]);
      }
    } finally {
      d.close();
      await off.close();
    }
  });
});

describe("metrics", () => {
  it("count CompleteEmailSignIn as the sign-in step email, and its mails by kind", async () => {
    const token = "m".repeat(32);
    const on = await startHarness({ EMAIL_SIGN_IN: "code", METRICS_TOKEN: token, EMAIL_VERIFICATION_REQUIRED: "false" });
    const d = fetchDriver(on.url, "metrics");
    try {
      await d.call("AuthService/Register", { email: "m@example.com", password });
      await d.call("EmailSignInService/RequestEmailSignIn", { email: "m@example.com" });
      const { code } = await on.mail("m@example.com", "email_sign_in");
      await failure(
        d.call("EmailSignInService/CompleteEmailSignIn", { email: "m@example.com", code: code === "000000" ? "111111" : "000000" }),
      );
      await d.call("EmailSignInService/CompleteEmailSignIn", { email: "m@example.com", code });
      const m = await scrape(`${on.url}/metrics`, token);
      expect(m.value("authd_sign_ins_total", { step: "email", outcome: "signed_in" })).toBe(1);
      expect(m.value("authd_sign_ins_total", { step: "email", outcome: "invalid_code" })).toBe(1);
      expect(m.value("authd_mails_total", { kind: "email_sign_in", result: "sent" })).toBe(1);
      expect(m.text).not.toContain(code);
    } finally {
      d.close();
      await on.close();
    }
  });
});
