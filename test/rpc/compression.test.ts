// Compression and deadlines a client controls (issue 10, item 14). A body that does not
// decompress is the client's error on every protocol (INVALID_ARGUMENT / MALFORMED_REQUEST, HTTP
// 400 on Connect), never INTERNAL; an encoding the server does not offer is UNIMPLEMENTED as the
// specifications say; REST takes no compressed body (415). A deadline longer than a Node timer
// holds is clamped: the call is not cut after 1 ms and no TimeoutOverflowWarning reaches the
// server's output, whose every stdout line stays JSON.
import { brotliCompressSync, gzipSync } from "node:zlib";
import { create, toBinary } from "@bufbuild/protobuf";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LoginRequestSchema, RequestPasswordResetRequestSchema } from "../../gen/auth/v1/auth_service_pb.js";
import { clampDeadline, maxDeadlineMs } from "../../src/rpc/compression.ts";
import { errorInfoFromConnectJson, errorInfoFromStatusBin } from "../support/error-info.ts";
import { startHarness, type Harness } from "../support/harness.ts";
import { startMain } from "../support/main-process.ts";
import { frame, grpcStatusOf, grpcWebTrailer, h2Request } from "../support/wire.ts";

const path = "/auth.v1.AuthService/RequestPasswordReset";
const message = toBinary(RequestPasswordResetRequestSchema, create(RequestPasswordResetRequestSchema, { email: "zip@example.com" }));
const json = Buffer.from(JSON.stringify({ email: "zip@example.com" }));
const junk = Buffer.from("this is not compressed at all");
const truncated = (b: Buffer) => b.subarray(0, b.length - 8);

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ MAX_BODY_BYTES: "4096" });
});
afterAll(() => h?.close());

/** [name, encoding, compressed-flag payload] of bodies that must not decompress. */
const broken: Array<[string, string, Buffer]> = [
  ["gzip junk", "gzip", junk],
  ["truncated gzip", "gzip", truncated(gzipSync(message))],
  ["br junk", "br", junk],
  ["truncated br", "br", truncated(brotliCompressSync(Buffer.alloc(2000, 7)))],
];

describe("gRPC (HTTP/2)", () => {
  const call = (headers: Record<string, string>, body: Buffer) =>
    h2Request(h.url, "POST", path, { "content-type": "application/grpc", te: "trailers", ...headers }, body);

  it.each(broken)("%s → INVALID_ARGUMENT / MALFORMED_REQUEST", async (_name, encoding, payload) => {
    const status = grpcStatusOf(await call({ "grpc-encoding": encoding }, frame(1, payload)));
    expect(status.code).toBe(3);
    expect(status.message).toBe("the request body could not be decompressed");
    expect(errorInfoFromStatusBin(status.detailsBin)?.reason).toBe("MALFORMED_REQUEST");
  });

  it("a compressed frame with no grpc-encoding → INVALID_ARGUMENT / MALFORMED_REQUEST", async () => {
    const status = grpcStatusOf(await call({}, frame(1, gzipSync(message))));
    expect(status.code).toBe(3);
    expect(errorInfoFromStatusBin(status.detailsBin)?.reason).toBe("MALFORMED_REQUEST");
  });

  it("good gzip and br are accepted; zstd and deflate are UNIMPLEMENTED", async () => {
    expect(grpcStatusOf(await call({ "grpc-encoding": "gzip" }, frame(1, gzipSync(message)))).code).toBe(0);
    expect(grpcStatusOf(await call({ "grpc-encoding": "br" }, frame(1, brotliCompressSync(message)))).code).toBe(0);
    for (const encoding of ["zstd", "deflate"]) {
      expect(grpcStatusOf(await call({ "grpc-encoding": encoding }, frame(1, junk))).code).toBe(12);
    }
  });

  it("a body that inflates past MAX_BODY_BYTES → RESOURCE_EXHAUSTED / PAYLOAD_TOO_LARGE", async () => {
    const status = grpcStatusOf(await call({ "grpc-encoding": "gzip" }, frame(1, gzipSync(Buffer.alloc(1 << 20)))));
    expect(status.code).toBe(8);
    expect(errorInfoFromStatusBin(status.detailsBin)?.reason).toBe("PAYLOAD_TOO_LARGE");
  });
});

describe("gRPC-Web", () => {
  it.each(broken)("%s → INVALID_ARGUMENT / MALFORMED_REQUEST in the trailer frame", async (_name, encoding, payload) => {
    const res = await fetch(`${h.url}${path}`, {
      method: "POST",
      headers: { "content-type": "application/grpc-web+proto", "grpc-encoding": encoding },
      body: frame(1, payload),
    });
    expect(res.status).toBe(200);
    const trailer = grpcWebTrailer(new Uint8Array(await res.arrayBuffer()));
    expect(trailer["grpc-status"]).toBe("3");
    expect(errorInfoFromStatusBin(trailer["grpc-status-details-bin"])?.reason).toBe("MALFORMED_REQUEST");
  });
});

describe("Connect", () => {
  const connectBroken: Array<[string, string, Buffer]> = [
    ["gzip junk", "gzip", junk],
    ["truncated gzip", "gzip", truncated(gzipSync(json))],
    ["br junk", "br", junk],
  ];
  it.each(connectBroken)("%s → HTTP 400 invalid_argument / MALFORMED_REQUEST", async (_name, encoding, body) => {
    const res = await fetch(`${h.url}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json", "content-encoding": encoding },
      body,
    });
    expect(res.status).toBe(400);
    const answer = (await res.json()) as { code?: string };
    expect(answer.code).toBe("invalid_argument");
    expect(errorInfoFromConnectJson(answer)?.reason).toBe("MALFORMED_REQUEST");
  });

  it("zstd → HTTP 501 unimplemented, naming what is supported", async () => {
    const res = await fetch(`${h.url}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json", "content-encoding": "zstd" },
      body: junk,
    });
    expect(res.status).toBe(501);
    expect(((await res.json()) as { message: string }).message).toContain("gzip,br");
  });
});

describe("REST", () => {
  it("a compressed body → 415 UNSUPPORTED_MEDIA_TYPE with Accept-Encoding: identity", async () => {
    for (const [encoding, body] of [
      ["gzip", gzipSync(json)],
      ["br", junk],
      ["zstd", junk],
    ] as const) {
      const res = await fetch(`${h.url}/api/v1/auth/forgot-password`, {
        method: "POST",
        headers: { "content-type": "application/json", "content-encoding": encoding },
        body,
      });
      expect(res.status).toBe(415);
      expect(res.headers.get("accept-encoding")).toBe("identity");
      expect(((await res.json()) as { code: string }).code).toBe("UNSUPPORTED_MEDIA_TYPE");
    }
  });
});

describe("deadlines", () => {
  it("clamps grpc-timeout and connect-timeout-ms to what a timer holds, and leaves the rest alone", () => {
    const header = new Headers({ "grpc-timeout": "99999999H", "connect-timeout-ms": "9999999999" });
    clampDeadline(header);
    expect(Number(header.get("grpc-timeout")?.slice(0, -1)) * 1000).toBeLessThanOrEqual(maxDeadlineMs);
    expect(header.get("connect-timeout-ms")).toBe(String(maxDeadlineMs));
    const fine = new Headers({ "grpc-timeout": "5S", "connect-timeout-ms": "100" });
    clampDeadline(fine);
    expect([fine.get("grpc-timeout"), fine.get("connect-timeout-ms")]).toEqual(["5S", "100"]);
    const bad = new Headers({ "grpc-timeout": "1X" });
    clampDeadline(bad);
    expect(bad.get("grpc-timeout")).toBe("1X");
  });

  it("the real server answers calls with huge deadlines in full, and its output stays JSON lines", async () => {
    // The production process, production hasher: a Login takes tens of milliseconds, so a deadline
    // that fired after 1 ms (what Node does with an overflowing timer) would show.
    const server = await startMain({ NODE_ENV: "production" });
    if (!("pid" in server)) throw new Error(`server exited: ${server.output}`);
    const url = `http://127.0.0.1:${server.port}`;
    try {
      const login = toBinary(LoginRequestSchema, create(LoginRequestSchema, { email: "nobody@example.com", password: "not the password" }));
      const grpc = await h2Request(
        url,
        "POST",
        "/auth.v1.AuthService/Login",
        { "content-type": "application/grpc", te: "trailers", "grpc-timeout": "99999999H" },
        frame(0, login),
      );
      expect(grpcStatusOf(grpc).code).toBe(16); // UNAUTHENTICATED, not DEADLINE_EXCEEDED (4)
      const connect = await fetch(`${url}/auth.v1.AuthService/Login`, {
        method: "POST",
        headers: { "content-type": "application/json", "connect-timeout-ms": "9999999999" },
        body: JSON.stringify({ email: "nobody@example.com", password: "not the password" }),
      });
      expect(connect.status).toBe(401);
    } finally {
      await server.stop();
    }
    // (Not "stderr is empty": an older supported Node may note that type stripping is experimental.)
    expect(server.errors()).not.toContain("TimeoutOverflowWarning");
    const lines = server
      .output()
      .split("\n")
      .filter((l) => l.trim() !== "");
    expect(lines.length).toBeGreaterThan(3);
    for (const line of lines) expect(() => JSON.parse(line), line).not.toThrow();
  });
});
