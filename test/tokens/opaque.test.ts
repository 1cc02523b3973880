import { describe, expect, it } from "vitest";
import { tokenHash } from "../../src/tokens/opaque.ts";

describe("tokenHash", () => {
  // Stored hashes must not change with how they are computed: FIPS 180-2's SHA-256 vectors.
  it("is SHA-256 in lower-case hex", () => {
    expect(tokenHash("abc")).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    expect(tokenHash("")).toBe("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  });

  it("hashes a string's UTF-8 bytes", () => {
    // "é" is c3 a9 in UTF-8 (e9 in latin1); the figure is sha256sum's of those two bytes.
    expect(tokenHash("é")).toBe("4a99557e4033c3539de2eb65472017cad5f9557f7a0625a09f1c3f6e2ba69c4c");
  });
});
