// Every input check refuses text with a lone surrogate, naming the field.
import addressparser from "nodemailer/lib/addressparser";
import { describe, expect, it } from "vitest";
import { checkDisplayName, checkId, checkOpaque, normalizeEmail } from "../src/input.ts";
import { AuthError } from "../src/errors.ts";
import { wellFormed } from "../src/input.ts";
import { checkNewPassword, checkPresentedPassword } from "../src/passwords/policy.ts";

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
