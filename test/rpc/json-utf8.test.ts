// A Connect JSON request whose bytes are not UTF-8 is refused (INVALID_ARGUMENT /
// MALFORMED_REQUEST), never read with the bad bytes replaced by U+FFFD: JSON text is UTF-8 (RFC
// 8259), and a layer in front that reads the bytes otherwise would see another request than the
// one acted on. Protobuf's binary decoding already refuses such strings (proto3 validates UTF-8),
// and REST refuses such bodies (rest/). Both places a JSON request is decoded: the unary fast path
// (a plain request) and Connect's own handler (a gzip-compressed one, which the fast path leaves to
// it). Nothing is stored. A byte-order mark is refused too, as REST refuses it.
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { errorInfoFromConnectJson } from "../support/error-info.ts";
import { startHarness, type Harness } from "../support/harness.ts";

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ EMAIL_VERIFICATION_REQUIRED: "false" });
});
afterAll(() => h.close());

/** A Register body whose display name holds `bad` between two letters. */
function registerBody(email: string, bad: number[]): Buffer {
  const [head, tail] = JSON.stringify({ email, password: "correct horse battery staple", displayName: "N|N" }).split("|");
  return Buffer.concat([Buffer.from(head ?? ""), Buffer.from(bad), Buffer.from(tail ?? "")]);
}

const register = (body: Uint8Array, headers: Record<string, string> = {}) =>
  fetch(`${h.url}/auth.v1.AuthService/Register`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body,
  });

// 0xFF; a lone continuation byte; a surrogate as CESU-8 writes it; an overlong "/".
const invalid: Array<[string, number[]]> = [
  ["0xFF", [0xff]],
  ["a stray continuation byte", [0x80]],
  ["a surrogate (ED A0 80)", [0xed, 0xa0, 0x80]],
  ["an overlong '/' (C0 AF)", [0xc0, 0xaf]],
];

describe("Connect JSON requests that are not UTF-8", () => {
  for (const [name, bytes] of invalid) {
    for (const [path, headers, encode] of [
      ["the fast path", {}, (b: Buffer) => b],
      ["Connect's handler (gzip)", { "content-encoding": "gzip" }, (b: Buffer) => gzipSync(b)],
    ] as const) {
      it(`${name}, through ${path}: MALFORMED_REQUEST, nothing stored`, async () => {
        const email = `utf8-${invalid.findIndex(([n]) => n === name)}-${path.length}@example.com`;
        const res = await register(encode(registerBody(email, bytes)), headers);
        expect(res.status).toBe(400);
        const error = (await res.json()) as { code: string };
        expect(error.code).toBe("invalid_argument");
        expect(errorInfoFromConnectJson(error)?.reason).toBe("MALFORMED_REQUEST");
        expect(await h.store.users.findByEmail(email)).toBeNull();
      });
    }
  }

  it("valid UTF-8 is read as before", async () => {
    const body = registerBody("utf8-ok@example.com", [...Buffer.from("é😀")]);
    const ok = await register(body);
    expect(ok.status).toBe(200);
    expect((await h.store.users.findByEmail("utf8-ok@example.com"))?.displayName).toBe("Né😀N");
  });

  // RFC 8259 lets a reader ignore a byte-order mark or refuse it; REST's JSON.parse refuses it, and
  // readers that differ would again read two requests.
  it("a byte-order mark before the JSON: MALFORMED_REQUEST, nothing stored", async () => {
    const res = await register(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), registerBody("utf8-bom@example.com", [])]));
    expect(res.status).toBe(400);
    expect(errorInfoFromConnectJson(await res.json())?.reason).toBe("MALFORMED_REQUEST");
    expect(await h.store.users.findByEmail("utf8-bom@example.com")).toBeNull();
  });
});
