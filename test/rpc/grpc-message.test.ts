// grpc-message as the gRPC spec encodes it (PROTOCOL-HTTP2.md, "Percent-Encoded"): printable ASCII
// but '%' as it is, everything else as %XX of its UTF-8 bytes. Connect encodes with
// encodeURIComponent, which also escapes ';', ',', ':', '/' and spaces, and @grpc/grpc-js decodes
// with decodeURI, which leaves %3B and its kin as they are: its users read "the session has
// ended%3B sign in again". A real @grpc/grpc-js client is the oracle.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { grpcMessageEncoded } from "../../src/rpc/protocol-errors.ts";
import { failure, fetchDriver, grpcJsDriver } from "../support/drivers.ts";
import { startHarness, type Harness } from "../support/harness.ts";
import { frame, grpcWebTrailer, h2Request } from "../support/wire.ts";

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ EMAIL_VERIFICATION_REQUIRED: "false" });
});
afterAll(() => h.close());

/** An access token of a session that has ended (signed up, then signed out). */
async function signedOutToken(email: string): Promise<string> {
  const d = fetchDriver(h.url, "grpc-message");
  try {
    const { tokens } = await d.call("AuthService/Register", { email, password: "correct horse battery staple" });
    await d.call("AuthService/Logout", {}, tokens.accessToken);
    return tokens.accessToken as string;
  } finally {
    d.close();
  }
}

describe("grpc-message", () => {
  it("a plain @grpc/grpc-js client reads the message as it was written, ';' and all", async () => {
    const token = await signedOutToken("grpc-message@example.com");
    const g = grpcJsDriver(h.url);
    try {
      const refused = await failure(g.call("AuthService/GetCurrentUser", {}, token));
      expect(refused.reason).toBe("SESSION_REVOKED");
      expect(refused.message).toMatch(/the session has ended; sign in again$/);
    } finally {
      g.close();
    }
  });

  it("a gRPC-Web client's trailer frame carries the message as the spec encodes it", async () => {
    const token = await signedOutToken("grpc-message-web@example.com");
    const res = await fetch(`${h.url}/auth.v1.AuthService/GetCurrentUser`, {
      method: "POST",
      headers: { "content-type": "application/grpc-web+proto", authorization: `Bearer ${token}` },
      body: new Uint8Array(5),
    });
    const trailers = grpcWebTrailer(new Uint8Array(await res.arrayBuffer()));
    expect(trailers["grpc-status"]).toBe("16");
    expect(trailers["grpc-message"]).toBe("the session has ended; sign in again");
  });

  it("a malformed deadline header is named in the answer, over Connect and gRPC", async () => {
    const connect = await fetch(`${h.url}/grpc.health.v1.Health/Check`, {
      method: "POST",
      headers: { "content-type": "application/json", "connect-timeout-ms": "soon" },
      body: "{}",
    });
    expect(connect.status).toBe(400);
    expect(((await connect.json()) as { message: string }).message).toBe("the connect-timeout-ms header is not a valid timeout");
    const grpc = await h2Request(
      h.url,
      "POST",
      "/grpc.health.v1.Health/Check",
      { "content-type": "application/grpc", te: "trailers", "grpc-timeout": "-1S" },
      frame(0, new Uint8Array()),
    );
    expect(grpc.trailers["grpc-status"]).toBe("3");
    // As sent: printable ASCII needs no escape.
    expect(grpc.trailers["grpc-message"]).toBe("the grpc-timeout header is not a valid timeout");
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
