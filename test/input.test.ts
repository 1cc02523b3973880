// Every input check refuses text with a lone surrogate, naming the field.
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
