// grpc-message as the gRPC spec encodes it (PROTOCOL-HTTP2.md, "Percent-Encoded"): printable ASCII
// but '%' as it is, everything else as %XX of its UTF-8 bytes. Connect encodes with
// encodeURIComponent, which also escapes ';', ',', ':', '/' and spaces, and @grpc/grpc-js decodes
// with decodeURI, which leaves %3B and its kin as they are: its users read "the session has
// ended%3B sign in again". A real @grpc/grpc-js client is the oracle.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { grpcMessageEncoded } from "../../src/rpc/protocol-errors.ts";
import { failure, fetchDriver, grpcJsDriver } from "../support/drivers.ts";
import { startHarness, type Harness } from "../support/harness.ts";

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ EMAIL_VERIFICATION_REQUIRED: "false" });
});
afterAll(() => h.close());

describe("grpc-message", () => {
  it("a plain @grpc/grpc-js client reads the message as it was written, ';' and all", async () => {
    const d = fetchDriver(h.url, "grpc-message");
    const { tokens } = await d.call("AuthService/Register", {
      email: "grpc-message@example.com",
      password: "correct horse battery staple",
    });
    await d.call("AuthService/Logout", {}, tokens.accessToken);
    d.close();
    const g = grpcJsDriver(h.url);
    try {
      const refused = await failure(g.call("AuthService/GetCurrentUser", {}, tokens.accessToken));
      expect(refused.reason).toBe("SESSION_REVOKED");
      expect(refused.message).toMatch(/the session has ended; sign in again$/);
    } finally {
      g.close();
    }
  });

  it("encodes only what the spec asks, and any percent-decoder reads it back", () => {
    for (const message of [
      "the session has ended; sign in again",
      "a/b:c,d?e&f=g+h$i#j",
      'unknown service "é%€😀"',
      "tab\there\nnewline",
    ]) {
      const encoded = grpcMessageEncoded(message);
      expect(encoded).toMatch(/^[\x20-\x7e]*$/);
      expect(decodeURIComponent(encoded)).toBe(message);
    }
    expect(grpcMessageEncoded("a; b, c: d")).toBe("a; b, c: d");
    expect(grpcMessageEncoded("100% é")).toBe("100%25 %C3%A9");
  });
});
