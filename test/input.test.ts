// Every input check refuses text with a lone surrogate, naming the field.
import addressparser from "nodemailer/lib/addressparser";
import { afterEach, describe, expect, it, vi } from "vitest";
import { checkDisplayName, checkId, checkOpaque, normalizeEmail } from "../src/input.ts";
import { AuthError } from "../src/errors.ts";
import { wellFormed } from "../src/input.ts";
import { checkNewPassword, checkPresentedPassword } from "../src/passwords/policy.ts";
import { checkDeviceName } from "../src/two-factor/inputs.ts";

function refusal(run: () => unknown): [string, string | undefined] {
  try {
    run();
  } catch (err) {
    if (err instanceof AuthError) return [err.reason, err.field];
    throw err;
  }
  throw new Error("accepted");
}

describe("lone surrogates", () => {
  it.each(["\ud800", "a\udbffb", "\udc00z", "ok\ud83d"])("%j is refused", (bad) => {
    expect(refusal(() => wellFormed("f", bad))).toEqual(["INVALID_ARGUMENT", "f"]);
    expect(refusal(() => normalizeEmail("email", `a${bad}@example.com`))).toEqual(["INVALID_ARGUMENT", "email"]);
    expect(refusal(() => checkDisplayName("display_name", bad))).toEqual(["INVALID_ARGUMENT", "display_name"]);
    expect(refusal(() => checkOpaque("code", `abc${bad}`, "INVALID_CODE"))).toEqual(["INVALID_ARGUMENT", "code"]);
    expect(refusal(() => checkId("session_id", bad))).toEqual(["INVALID_ARGUMENT", "session_id"]);
    expect(refusal(() => checkNewPassword("password", `long enough ${bad}`, { email: "a@b.c", displayName: "" }))).toEqual([
      "INVALID_ARGUMENT",
      "password",
    ]);
    expect(refusal(() => checkPresentedPassword("password", bad))).toEqual(["INVALID_ARGUMENT", "password"]);
  });

  it("well-formed text passes, astral characters (surrogate pairs) included", () => {
    expect(wellFormed("f", "Ada 🔐 Lovelace")).toBe("Ada 🔐 Lovelace");
    expect(checkDisplayName("display_name", "Ada 🔐")).toBe("Ada 🔐");
  });
});

// Canonical reordering (ICU's, under String.prototype.normalize) is an insertion sort: combining
// marks whose classes come in descending order cost the square of their number. 32,000 of them
// (64 kB of UTF-8, a body under MAX_BODY_BYTES) took 0.6-0.9 s of the event loop per Login. So a
// string too long to fit its bound once normalized is refused before it is normalized, and the
// bound before normalizing is wide enough that anything the normalized bound admits still passes.
describe("oversized text is refused before it is normalized", () => {
  const marks = `a${"\u0300".repeat(16_000)}${"\u0316".repeat(16_000)}`;
  afterEach(() => vi.restoreAllMocks());

  it.each([
    ["password (Login)", "password", () => checkPresentedPassword("password", marks)],
    ["new password", "password", () => checkNewPassword("password", marks, { email: "a@b.c", displayName: "" })],
    ["display name", "display_name", () => checkDisplayName("display_name", marks)],
    ["device name", "device_name", () => checkDeviceName("device_name", marks)],
  ])("%s", (_what, field, run) => {
    const normalize = vi.spyOn(String.prototype, "normalize");
    expect(refusal(run)).toEqual(["INVALID_ARGUMENT", field]);
    expect(normalize).not.toHaveBeenCalled();
  });

  it("text that normalizes within the bound passes, however much longer it was written", () => {
    // U+1FA2 (ᾢ) decomposes to four code points, the most any character does: 512 code points in,
    // 128 out. Hangul syllables are three jamo each.
    const omegas = "\u03c9\u0313\u0300\u0345".repeat(128);
    expect([...checkPresentedPassword("password", omegas)].length).toBe(128);
    const pairs = "\u03c9\u0313\u0300\u0345\u03b1\u0313\u0300\u0345".repeat(64);
    expect(checkNewPassword("password", pairs, { email: "a@b.c", displayName: "" })).toBe("\u1fa2\u1f82".repeat(64));
    expect(checkDisplayName("display_name", `  ${"\u1100\u1161\u11a8".repeat(100)}  `)).toBe("\uac01".repeat(100));
    expect(checkDeviceName("device_name", ` ${"\u03c9\u0313\u0300\u0345".repeat(64)} `)).toBe("\u1fa2".repeat(64));
  });
});

// The oracle is the mail library itself: every address accepted must be, to nodemailer's own
// parser, exactly one address and that one; every variant that it would deliver to someone else's
// inbox (a display name, a list, a group, a comment) must be refused, so nobody can open many
// accounts (many mail budgets) that all mail one victim.
describe("email addresses", () => {
  const accepted = [
    "ada@example.com",
    "o'brien+tag@example.co.uk",
    "first.last@sub.example-domain.org",
    "x@y.zz",
    "ü@bücher.de",
    "a!#$%&*/=?^_`{|}~-b@example.com",
  ];
  it.each(accepted)("%s is accepted, and the mail library reads it as that one address", (email) => {
    expect(normalizeEmail("email", email)).toBe(email.toLowerCase());
    expect(addressparser(email)).toEqual([{ address: email, name: "" }]);
  });

  const refused = [
    "x1<victim@example.com>",
    "a,victim@example.com",
    "victim@example.com;x.y",
    "a(b)c@example.com",
    "a:b@example.com",
    '"a b"@example.com',
    "a@[1.2.3.4]",
    "victim@example.com,other@example.com",
    "a..b@example.com",
    ".a@example.com",
    "a.@example.com",
    "a@-example.com",
    "a@example-.com",
    "a@example..com",
    "a@example",
    "a@@example.com",
    "a\\b@example.com",
  ];
  it.each(refused)("%s is refused", (email) => {
    expect(refusal(() => normalizeEmail("email", email))).toEqual(["INVALID_ARGUMENT", "email"]);
  });
});
