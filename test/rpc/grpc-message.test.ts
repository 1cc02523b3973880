// grpc-message as the gRPC spec encodes it (PROTOCOL-HTTP2.md, "Percent-Encoded"): printable ASCII
// but '%' as it is, everything else as %XX of its UTF-8 bytes. Connect encodes with
// encodeURIComponent, which also escapes ';', ',', ':', '/' and spaces, and @grpc/grpc-js decodes
// with decodeURI, which leaves %3B and its kin as they are: its users read "the session has
// ended%3B sign in again". A real @grpc/grpc-js client is the oracle.
import http2 from "node:http2";
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

  it("a gRPC-Web client's trailer frame carries the message as the spec encodes it", async () => {
    const d = fetchDriver(h.url, "grpc-message-web");
    const { tokens } = await d.call("AuthService/Register", {
      email: "grpc-message-web@example.com",
      password: "correct horse battery staple",
    });
    await d.call("AuthService/Logout", {}, tokens.accessToken);
    d.close();
    const res = await fetch(`${h.url}/auth.v1.AuthService/GetCurrentUser`, {
      method: "POST",
      headers: { "content-type": "application/grpc-web+proto", authorization: `Bearer ${tokens.accessToken}` },
      body: new Uint8Array(5),
    });
    const body = Buffer.from(await res.arrayBuffer());
    const trailers: Record<string, string> = {};
    for (let i = 0; i + 5 <= body.length; i += 5 + body.readUInt32BE(i + 1)) {
      if (((body[i] ?? 0) & 0x80) === 0) continue;
      for (const line of body
        .subarray(i + 5, i + 5 + body.readUInt32BE(i + 1))
        .toString("utf8")
        .split("\r\n")) {
        const colon = line.indexOf(":");
        if (colon > 0) trailers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
    }
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
    const session = http2.connect(h.url);
    try {
      const stream = session.request({
        ":method": "POST",
        ":path": "/grpc.health.v1.Health/Check",
        "content-type": "application/grpc",
        te: "trailers",
        "grpc-timeout": "-1S",
      });
      stream.end(Buffer.from([0, 0, 0, 0, 0]));
      stream.resume();
      const trailers = await new Promise<http2.IncomingHttpHeaders>((resolve) => stream.once("trailers", resolve));
      expect(trailers["grpc-status"]).toBe("3");
      expect(trailers["grpc-message"]).toBe("the grpc-timeout header is not a valid timeout");
    } finally {
      session.close();
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
