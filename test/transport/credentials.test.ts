// bearerFrom reads the Authorization header in steps for speed; the regular expression it replaced
// is the oracle: for every header, both give the same token or both give none.
import { describe, expect, it } from "vitest";
import { bearerFrom, cookieCount } from "../../src/transport/credentials.ts";

const byRegex = (header: string) => /^Bearer[ ]+([^\s]+)\s*$/i.exec(header)?.[1];

// A small deterministic generator (xorshift32), so a failure names a header that can be rerun.
function random(seed: number) {
  let x = seed;
  return (n: number) => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) % n;
  };
}

// What can matter: each letter of the scheme in both cases, other letters, the spaces the
// expression tells apart (space, tab, the Unicode ones, the line breaks), characters that are not
// whitespace though they look it (U+0085, U+200B), a lone surrogate and a token's own characters.
const pieces = [
  "B",
  "b",
  "e",
  "E",
  "a",
  "A",
  "r",
  "R",
  "x",
  " ",
  "\t",
  "\n",
  "\r",
  "\v",
  "\f",
  "\u00a0",
  "\u1680",
  "\u2003",
  "\u2028",
  "\u2029",
  "\u202f",
  "\u205f",
  "\u3000",
  "\ufeff",
  "\u0085",
  "\u200b",
  "\ud800",
  "é",
  ".",
  "-",
  "_",
  "eyJ0",
  "Bearer",
  "bearer ",
  "BEARER  ",
];

describe("bearerFrom", () => {
  it("gives what the regular expression gives, for 200,000 seeded random headers", () => {
    const next = random(0x5eed);
    let tokens = 0;
    for (let i = 0; i < 200_000; i++) {
      const starts = ["Bearer ", "bearer", "BEARER   ", "Bearer\t", "Bearer"];
      let header = next(3) === 0 ? "" : (starts[next(starts.length)] ?? "");
      const count = next(8);
      for (let j = 0; j < count; j++) header += pieces[next(pieces.length)] ?? "";
      const expected = byRegex(header);
      if (expected !== undefined) tokens++;
      if (bearerFrom(header) !== expected) expect([header, bearerFrom(header)]).toEqual([header, expected]);
    }
    // The headers reach both outcomes many times over, so the comparison says something.
    expect(tokens).toBeGreaterThan(10_000);
  });

  it("reads the usual and the edge headers as the expression does", () => {
    const token = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ1In0.c2lnbmF0dXJl";
    const cases: [string, string | undefined][] = [
      [`Bearer ${token}`, token],
      [`bearer ${token}`, token],
      [`BeArEr    ${token}  \t`, token],
      [`Bearer ${token}\u3000`, token],
      [`Bearer\t${token}`, undefined],
      [`Bearer${token}`, undefined],
      [`Bearer ${token} x`, undefined],
      [`Bearer ${token}\u0085`, `${token}\u0085`],
      [`Basic ${token}`, undefined],
      [" Bearer x", undefined],
      ["Bearer ", undefined],
      ["Bearer", undefined],
      ["Bear", undefined],
      ["", undefined],
    ];
    for (const [header, expected] of cases) {
      expect([header, bearerFrom(header)]).toEqual([header, expected]);
      expect([header, byRegex(header)]).toEqual([header, expected]);
    }
    expect(bearerFrom(undefined)).toBeUndefined();
    expect(bearerFrom(null)).toBeUndefined();
    // Not a string (the types rule it out): none, and no code of the value's runs.
    let ran = false;
    const sneaky = {
      toString() {
        ran = true;
        return "Bearer x";
      },
    };
    expect(bearerFrom(sneaky as unknown as string)).toBeUndefined();
    expect(ran).toBe(false);
  });
});

describe("cookieCount", () => {
  it("counts the cookies of exactly that name", () => {
    expect(cookieCount(undefined, "session")).toBe(0);
    expect(cookieCount("", "session")).toBe(0);
    expect(cookieCount("session=a.b", "session")).toBe(1);
    expect(cookieCount("other=1; session=a.b", "session")).toBe(1);
    expect(cookieCount("session=x.y; other=1;  session = a.b", "session")).toBe(2);
    expect(cookieCount("sessionid=1; my_session=2; session", "session")).toBe(0);
    expect(cookieCount("other=session=1", "session")).toBe(0);
  });
});
