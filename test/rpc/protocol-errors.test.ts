// The RPC adapter's protocol-error rewriting (src/rpc/protocol-errors.ts), unit by unit:
// protocol-level errors Connect raises before our code runs leave with a fixed message and a
// google.rpc.ErrorInfo reason, in each protocol's own
// encoding; everything else passes untouched. Decoded by the tests' one ErrorInfo decoder
// (test/support/error-info.ts, protobufjs), independently of the server's generated code.
import { describe, expect, it } from "vitest";
import { LoginRequestSchema } from "../../gen/auth/v1/auth_service_pb.js";
import { connectErrorBody, patchGrpcTrailer, rewriteGrpcWeb } from "../../src/rpc/protocol-errors.ts";
import { errorInfoFromDetails, statusFromBin, type ErrorInfo } from "../support/error-info.ts";

/** An ErrorInfo's fields as written on the wire: empty ones (no metadata) left out. */
const fields = (info: ErrorInfo | undefined) =>
  info === undefined
    ? undefined
    : { reason: info.reason, domain: info.domain, ...(Object.keys(info.metadata).length > 0 ? { metadata: info.metadata } : {}) };

function decodeStatus(base64: string) {
  const status = statusFromBin(base64);
  return { code: status.code, message: status.message, details: status.details.map((d) => ({ type: d.type, info: fields(d.errorInfo) })) };
}

const max = 65_536;

describe("gRPC trailers", () => {
  it("a decode error (INVALID_ARGUMENT with Connect's message) becomes MALFORMED_REQUEST with a fixed message", () => {
    const trailer = new Headers({
      "grpc-status": "3",
      "grpc-message": encodeURIComponent('cannot decode field password: "hunter2" is not a string'),
    });
    expect(patchGrpcTrailer(trailer, LoginRequestSchema, max)).toBe(true);
    expect(trailer.get("grpc-status")).toBe("3");
    expect(decodeURIComponent(trailer.get("grpc-message") ?? "")).toBe("the request is not a valid auth.v1.LoginRequest");
    expect(decodeStatus(trailer.get("grpc-status-details-bin") ?? "")).toEqual({
      code: 3,
      message: "the request is not a valid auth.v1.LoginRequest",
      details: [{ type: "type.googleapis.com/google.rpc.ErrorInfo", info: { reason: "MALFORMED_REQUEST", domain: "auth.v1" } }],
    });
    expect(JSON.stringify([...trailer])).not.toContain("hunter2");
  });

  it("a malformed timeout header is named as such, not blamed on the request body", () => {
    for (const [message, header] of [
      ["protocol error: invalid grpc timeout value: -1S", "grpc-timeout"],
      ["protocol error: invalid connect timeout value: soon", "connect-timeout-ms"],
    ]) {
      const trailer = new Headers({ "grpc-status": "3", "grpc-message": encodeURIComponent(message as string) });
      expect(patchGrpcTrailer(trailer, LoginRequestSchema, max)).toBe(true);
      expect(decodeURIComponent(trailer.get("grpc-message") ?? "")).toBe(`the ${header} header is not a valid timeout`);
      expect(decodeStatus(trailer.get("grpc-status-details-bin") ?? "").details[0]?.info?.reason).toBe("MALFORMED_REQUEST");
    }
  });

  it("an oversized message (RESOURCE_EXHAUSTED) becomes PAYLOAD_TOO_LARGE naming the limit", () => {
    const trailer = new Headers({ "grpc-status": "8", "grpc-message": "message size 99999 is larger than configured readMaxBytes 65536" });
    expect(patchGrpcTrailer(trailer, LoginRequestSchema, max)).toBe(true);
    expect(decodeStatus(trailer.get("grpc-status-details-bin") ?? "").details[0]?.info?.reason).toBe("PAYLOAD_TOO_LARGE");
    expect(decodeURIComponent(trailer.get("grpc-message") ?? "")).toBe("the request is larger than 65536 bytes");
  });

  it("undecodable binary Protobuf, which Connect calls INTERNAL, is the client's fault: MALFORMED_REQUEST", () => {
    const trailer = new Headers({ "grpc-status": "13", "grpc-message": "parse binary: premature EOF" });
    patchGrpcTrailer(trailer, LoginRequestSchema, max);
    expect(trailer.get("grpc-status")).toBe("3");
    expect(decodeStatus(trailer.get("grpc-status-details-bin") ?? "").details[0]?.info?.reason).toBe("MALFORMED_REQUEST");
  });

  it("leaves OK, our own errors (already carrying details) and other codes untouched", () => {
    for (const headers of [
      { "grpc-status": "0" },
      { "grpc-status": "16", "grpc-message": "x", "grpc-status-details-bin": "AAAA" },
      { "grpc-status": "3", "grpc-message": "ours", "grpc-status-details-bin": "AAAA" },
      { "grpc-status": "4", "grpc-message": "deadline exceeded" },
    ]) {
      const trailer = new Headers(headers);
      expect(patchGrpcTrailer(trailer, LoginRequestSchema, max)).toBe(false);
      expect(Object.fromEntries(trailer)).toEqual(Object.fromEntries(new Headers(headers)));
    }
  });
});

describe("Connect unary error bodies", () => {
  it("rewrites Connect's invalid_argument into a fixed message with ErrorInfo, status 400", () => {
    const out = connectErrorBody(
      Buffer.from(JSON.stringify({ code: "invalid_argument", message: "unexpected token in JSON: s3cret" })),
      LoginRequestSchema,
      max,
    );
    expect(out?.status).toBe(400);
    const body = JSON.parse(out?.body.toString() ?? "{}") as {
      code: string;
      message: string;
      details: Array<{ type: string; value: string }>;
    };
    expect([body.code, body.message]).toEqual(["invalid_argument", "the request is not a valid auth.v1.LoginRequest"]);
    expect(
      body.details.map((d) => [d.type, fields(errorInfoFromDetails([{ type: d.type, value: Buffer.from(d.value, "base64") }]))]),
    ).toEqual([["google.rpc.ErrorInfo", { reason: "MALFORMED_REQUEST", domain: "auth.v1" }]]);
    expect(out?.body.toString()).not.toContain("s3cret");
  });

  it("resource_exhausted becomes 429 PAYLOAD_TOO_LARGE; bodies with our ErrorInfo, other codes and non-JSON pass", () => {
    expect(
      connectErrorBody(Buffer.from(JSON.stringify({ code: "resource_exhausted", message: "too big" })), LoginRequestSchema, max)?.status,
    ).toBe(429);
    expect(
      connectErrorBody(
        Buffer.from(JSON.stringify({ code: "invalid_argument", details: [{ type: "google.rpc.ErrorInfo", value: "" }] })),
        LoginRequestSchema,
        max,
      ),
    ).toBeUndefined();
    expect(
      connectErrorBody(Buffer.from(JSON.stringify({ code: "unauthenticated", message: "x" })), LoginRequestSchema, max),
    ).toBeUndefined();
    expect(connectErrorBody(Buffer.from("not json"), LoginRequestSchema, max)).toBeUndefined();
  });
});

describe("gRPC-Web trailer frames", () => {
  const frame = (flag: number, payload: string) => {
    const bytes = Buffer.from(payload, "utf8");
    const out = Buffer.alloc(5 + bytes.length);
    out[0] = flag;
    out.writeUInt32BE(bytes.length, 1);
    bytes.copy(out, 5);
    return new Uint8Array(out);
  };
  async function collect(chunks: Uint8Array[]) {
    async function* source() {
      yield* chunks;
    }
    const out: Buffer[] = [];
    for await (const c of rewriteGrpcWeb(source(), LoginRequestSchema, max)) out.push(Buffer.from(c));
    return out;
  }

  it("rewrites the trailer frame of a protocol error and passes data frames as they are", async () => {
    const data = frame(0x00, "payload");
    const [first, second] = await collect([data, frame(0x80, "grpc-status: 3\r\ngrpc-message: bad%20input%3A%20hunter2\r\n")]);
    expect(first).toEqual(Buffer.from(data));
    expect(second?.[0]).toBe(0x80);
    expect(second?.readUInt32BE(1)).toBe((second?.length ?? 0) - 5);
    const lines = Object.fromEntries(
      (second?.subarray(5).toString("utf8") ?? "")
        .split("\r\n")
        .filter((l) => l !== "")
        .map((l) => [l.slice(0, l.indexOf(":")), l.slice(l.indexOf(":") + 1).trim()]),
    );
    expect(lines["grpc-status"]).toBe("3");
    expect(decodeStatus(lines["grpc-status-details-bin"] ?? "").details[0]?.info?.reason).toBe("MALFORMED_REQUEST");
    expect(second?.toString("utf8")).not.toContain("hunter2");
  });

  it("re-encodes an application error's grpc-message as the gRPC spec does, and leaves the rest", async () => {
    const [out] = await collect([frame(0x80, "grpc-status: 16\r\ngrpc-message: the%20session%20has%20ended%3B%20sign%20in%20again\r\n")]);
    expect(out?.readUInt32BE(1)).toBe((out?.length ?? 0) - 5);
    expect(out?.subarray(5).toString("utf8")).toBe("grpc-message: the session has ended; sign in again\r\ngrpc-status: 16\r\n");
  });

  it("leaves an OK trailer frame byte for byte", async () => {
    const ok = frame(0x80, "grpc-status: 0\r\n");
    expect(await collect([ok])).toEqual([Buffer.from(ok)]);
  });
});
