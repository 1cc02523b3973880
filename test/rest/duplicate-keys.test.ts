// The scan for a member named twice in a JSON object (src/rest/duplicate-keys.ts), over hand-picked
// texts, hostile ones (deep nesting, long escaped names, huge member counts) and random trees
// whose duplicates are known by construction: the oracle is the tree, not a second scanner.
import { afterEach, describe, expect, it, vi } from "vitest";
import { hasDuplicateKey } from "../../src/rest/duplicate-keys.ts";

/** The scan of a text JSON.parse accepts (the only texts it is given). */
function scan(json: string): boolean {
  JSON.parse(json);
  return hasDuplicateKey(json);
}

afterEach(() => vi.restoreAllMocks());

describe("a member named twice", () => {
  it.each([
    ["at the top", '{"email":"a@x","email":"victim@y"}'],
    ["with whitespace everywhere", ' {\n\t"email" : "a@x" ,\r\n "email":"b@y" } '],
    ["in a nested object", '{"user":{"id":"1","id":"2"}}'],
    ["in an object inside an array", '{"list":[1,{"a":1,"b":2,"a":3}]}'],
    ["after a nested object closed", '{"a":{"b":1},"c":2,"a":3}'],
    ["spelled with a \\u escape", '{"a":1,"\\u0061":2}'],
    ["spelled with two different escapes", '{"\\u002f":1,"\\/":2}'],
    ["with escaped upper-case hex", '{"\\u00e9":1,"\\u00E9":2}'],
    ["as a lone surrogate escape", '{"\\ud800":1,"\\uD800":2}'],
    ["with an escaped quote in it", '{"a\\"b":1,"a\\"b":2}'],
    ["ending in an escaped backslash", '{"a\\\\":1,"a\\\\":2}'],
    ["empty", '{"":1,"":2}'],
    ["__proto__", '{"__proto__":{},"__proto__":[]}'],
    ["with null values", '{"a":null,"a":null}'],
  ])("%s is found", (_what, json) => {
    expect(scan(json)).toBe(true);
  });
});

describe("names that only look alike", () => {
  it.each([
    ["the same name in sibling objects", '{"x":{"a":1},"y":{"a":1}}'],
    ["the same name in the objects of an array", '[{"a":1},{"a":1}]'],
    ["a name and a nested one", '{"a":{"a":{"a":1}}}'],
    ["a name after a nested object with it", '{"x":{"b":1},"b":2}'],
    ["a name after an array of objects with it", '{"x":[{"b":1}],"b":2}'],
    ["a value equal to a name", '{"a":"a","b":"a"}'],
    ["strings in an array", '{"a":["a","a","a"]}'],
    ["names differing in case", '{"a":1,"A":2}'],
    ["names that are equal numbers", '{"1":1,"01":2,"1.0":3}'],
    ["a value holding JSON text with duplicates", '{"note":"{\\"a\\":1,\\"a\\":2}"}'],
    ["a value holding braces and commas", '{"a":"{,\\"","b":"}]:,"}'],
    ["a backslash then u, not an escape", '{"\\\\u0061":1,"a":2}'],
    ["a trailing backslash in one name", '{"a\\\\":1,"a":2}'],
    ["NFC and NFD spellings", '{"\\u00e9":1,"e\\u0301":2}'],
    ["scalars and empty containers", '{"a":true,"b":false,"c":null,"d":-1.5e3,"e":{},"f":[]}'],
  ])("%s is no duplicate", (_what, json) => {
    expect(scan(json)).toBe(false);
  });

  it.each([
    ["a string", '"a"'],
    ["a number", "1"],
    ["an array", "[1,[2,[3]]]"],
    ["null", "null"],
  ])("%s is no object", (_w, json) => {
    expect(scan(json)).toBe(false);
  });
});

describe("hostile texts (no recursion, each character read once)", () => {
  const depth = 1_000_000;

  it("a million nested objects, the duplicate in the innermost", () => {
    const json = `${'{"a":'.repeat(depth)}{"b":1,"b":2}${"}".repeat(depth)}`;
    expect(scan(json)).toBe(true);
  });

  it("a million nested objects, the duplicate at the top after they close", () => {
    const json = `{"a":${'{"a":'.repeat(depth)}1${"}".repeat(depth)},"a":2}`;
    expect(scan(json)).toBe(true);
    expect(scan(`{"b":${'{"a":'.repeat(depth)}1${"}".repeat(depth)},"a":2}`)).toBe(false);
  });

  it("a million nested arrays around one object", () => {
    expect(scan(`${"[".repeat(depth)}{"a":1,"a":2}${"]".repeat(depth)}`)).toBe(true);
    expect(scan(`${"[".repeat(depth)}{"a":1,"b":2}${"]".repeat(depth)}`)).toBe(false);
  });

  it("names of a megabyte of escapes are decoded once each", () => {
    const escapes = '\\\\\\u0061\\"'.repeat(100_000); // \\ \u0061 \" : 1 MiB of escapes
    const parse = vi.spyOn(JSON, "parse");
    expect(hasDuplicateKey(`{"${escapes}":1,"${escapes}x":2}`)).toBe(false);
    expect(parse).toHaveBeenCalledTimes(2);
    expect(hasDuplicateKey(`{"${escapes}":1,"x":2,"${escapes}":3}`)).toBe(true);
    expect(parse).toHaveBeenCalledTimes(4);
  });

  it("a value of a megabyte of escaped quotes is skipped without decoding", () => {
    const parse = vi.spyOn(JSON, "parse");
    expect(hasDuplicateKey(`{"a":"${'\\"'.repeat(500_000)}","b":1}`)).toBe(false);
    expect(parse).not.toHaveBeenCalled();
  });

  it("200,000 distinct members, then one repeated", () => {
    const members = Array.from({ length: 200_000 }, (_, i) => `"k${i}":${i}`).join(",");
    expect(scan(`{${members}}`)).toBe(false);
    expect(scan(`{${members},"k199999":0}`)).toBe(true);
    expect(scan(`{${members},"\\u006b0":0}`)).toBe(true);
  });

  it("half a million empty objects and arrays", () => {
    expect(scan(`[${"{},[],".repeat(250_000)}{}]`)).toBe(false);
  });

  it("text JSON.parse never saw (an unclosed string) ends the scan instead of looping", () => {
    expect(typeof hasDuplicateKey('{"a":1,"a')).toBe("boolean");
    expect(typeof hasDuplicateKey('{"a":"\\')).toBe("boolean");
  });
});

describe("random trees, duplicates known by construction", () => {
  /** A small deterministic generator (mulberry32), so that a failure can be replayed. */
  function random(seed: number): () => number {
    let a = seed;
    return () => {
      a = (a + 0x6d2b79f5) | 0;
      let t = Math.imul(a ^ (a >>> 15), 1 | a);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }

  /** A JSON string literal of `s`, each character written plainly or escaped at random. */
  function literal(s: string, next: () => number): string {
    let out = '"';
    for (const ch of s) {
      const hex = ch.charCodeAt(0).toString(16).padStart(4, "0");
      const plain = ch === '"' || ch === "\\" ? `\\${ch}` : ch < " " ? `\\u${hex}` : ch;
      out += next() < 0.3 ? `\\u${next() < 0.5 ? hex : hex.toUpperCase()}` : plain;
    }
    return `${out}"`;
  }

  const alphabet = ["a", "b", "A", '"', "\\", "{", "}", ":", ",", "[", "é", "\n", " "];

  /** A value as JSON text, and whether some object in it names a member twice. */
  function value(next: () => number, depth: number): { json: string; duplicate: boolean } {
    const pick = next();
    if (depth > 5 || pick < 0.35) {
      const name = Array.from({ length: Math.floor(next() * 3) }, () => alphabet[Math.floor(next() * alphabet.length)]).join("");
      return next() < 0.5 ? { json: literal(name, next), duplicate: false } : { json: String(Math.floor(next() * 100)), duplicate: false };
    }
    const count = Math.floor(next() * 5);
    const children = Array.from({ length: count }, () => value(next, depth + 1));
    let duplicate = children.some((c) => c.duplicate);
    if (pick < 0.55) return { json: `[${children.map((c) => c.json).join(",")}]`, duplicate };
    const names = children.map(() => Array.from({ length: Math.floor(next() * 2) }, () => alphabet[Math.floor(next() * 3)]).join(""));
    if (new Set(names).size !== names.length) duplicate = true;
    const members = children.map((c, i) => `${literal(names[i] ?? "", next)}${next() < 0.5 ? " : " : ":"}${c.json}`);
    return { json: `{${members.join(",")}}`, duplicate };
  }

  it("5,000 trees: the scan agrees with how each was built", () => {
    const next = random(20250601);
    let duplicates = 0;
    for (let n = 0; n < 5000; n++) {
      const { json, duplicate } = value(next, 0);
      expect(scan(json), json).toBe(duplicate);
      if (duplicate) duplicates++;
    }
    // Both answers are exercised, not just one.
    expect(duplicates).toBeGreaterThan(500);
    expect(duplicates).toBeLessThan(4500);
  });
});
