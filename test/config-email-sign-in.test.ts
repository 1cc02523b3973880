// EMAIL_SIGN_IN and its settings: off by default, links only with the page they point to.
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../src/config.ts";

const noFiles = (): string => {
  throw new Error("no files");
};
const load = (env: Record<string, string>) => loadConfig(env, noFiles).emailSignIn;

describe("EMAIL_SIGN_IN", () => {
  it("is off by default and with off", () => {
    expect(load({})).toBeUndefined();
    expect(load({ EMAIL_SIGN_IN: "off" })).toBeUndefined();
  });

  it("code: 6 digits, 10 minutes, 5 wrong codes, 100 in a row per address, no links", () => {
    expect(load({ EMAIL_SIGN_IN: "code" })).toEqual({
      code: true,
      linkUrl: undefined,
      codeTtlSeconds: 600,
      codeDigits: 6,
      codeMaxFailures: 5,
      maxConsecutiveFailures: 100,
    });
  });

  it("code,link needs EMAIL_SIGN_IN_LINK_URL, an http(s) page without a fragment", () => {
    const url = "https://app.example.com/sign-in/email";
    expect(load({ EMAIL_SIGN_IN: "code,link", EMAIL_SIGN_IN_LINK_URL: url })).toMatchObject({ code: true, linkUrl: url });
    expect(load({ EMAIL_SIGN_IN: "link", EMAIL_SIGN_IN_LINK_URL: url })).toMatchObject({ code: false, linkUrl: url });
    for (const local of ["http://localhost:5173/sign-in", "http://127.0.0.1:8081/", "http://[::1]/"]) {
      expect(load({ EMAIL_SIGN_IN: "link", EMAIL_SIGN_IN_LINK_URL: local })).toMatchObject({ linkUrl: local });
    }
    for (const env of [
      { EMAIL_SIGN_IN: "code,link" },
      { EMAIL_SIGN_IN: "link", EMAIL_SIGN_IN_LINK_URL: "ftp://app.example.com/" },
      { EMAIL_SIGN_IN: "link", EMAIL_SIGN_IN_LINK_URL: `${url}#x` },
      { EMAIL_SIGN_IN: "link", EMAIL_SIGN_IN_LINK_URL: "http://app.example.com/sign-in" },
      { EMAIL_SIGN_IN: "code", EMAIL_SIGN_IN_LINK_URL: url },
      { EMAIL_SIGN_IN_LINK_URL: url },
    ]) {
      expect(() => loadConfig(env, noFiles)).toThrow(/EMAIL_SIGN_IN_LINK_URL/);
    }
  });

  it("EMAIL_SIGN_IN_MAX_CONSECUTIVE_FAILURES takes 10 to 1000", () => {
    for (const n of [10, 1000]) {
      expect(load({ EMAIL_SIGN_IN: "code", EMAIL_SIGN_IN_MAX_CONSECUTIVE_FAILURES: String(n) })?.maxConsecutiveFailures).toBe(n);
    }
  });

  it.each([
    ["EMAIL_SIGN_IN", "sms"],
    ["EMAIL_SIGN_IN", "code,"],
    ["EMAIL_SIGN_IN_CODE_TTL_SECONDS", "59"],
    ["EMAIL_SIGN_IN_CODE_TTL_SECONDS", "3601"],
    ["EMAIL_SIGN_IN_CODE_DIGITS", "5"],
    ["EMAIL_SIGN_IN_CODE_DIGITS", "9"],
    ["EMAIL_SIGN_IN_CODE_MAX_FAILURES", "0"],
    ["EMAIL_SIGN_IN_CODE_MAX_FAILURES", "11"],
    ["EMAIL_SIGN_IN_MAX_CONSECUTIVE_FAILURES", "9"],
    ["EMAIL_SIGN_IN_MAX_CONSECUTIVE_FAILURES", "1001"],
  ])("%s=%s stops the start, naming the variable", (name, value) => {
    const env = { EMAIL_SIGN_IN: "code", [name]: value };
    expect(() => loadConfig(env, noFiles)).toThrow(ConfigError);
    expect(() => loadConfig(env, noFiles)).toThrow(name);
  });
});
