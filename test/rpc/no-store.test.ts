// Every RPC answer carries Cache-Control: no-store: many carry tokens, codes or secrets, and no
// cache between client and server may keep one. Both places answers are written: the unary fast
// path (Connect JSON, gRPC) and Connect's own handler (here, a gzip-compressed request, which the
// fast path leaves to it), for an answer and for an error.
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startHarness, type Harness } from "../support/harness.ts";
import { frame, h2Request } from "../support/wire.ts";

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ EMAIL_VERIFICATION_REQUIRED: "false" });
});
afterAll(() => h.close());

const register = (email: string, headers: Record<string, string> = {}, body?: Uint8Array | string) =>
  fetch(`${h.url}/auth.v1.AuthService/Register`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: body ?? JSON.stringify({ email, password: "correct horse battery staple" }),
  });

describe("Cache-Control: no-store on RPC answers", () => {
  it("Connect JSON, on the fast path: the answer with tokens, and an error", async () => {
    const ok = await register("no-store@example.com");
    expect(ok.status).toBe(200);
    expect(((await ok.json()) as { tokens: { accessToken: string } }).tokens.accessToken).toBeTruthy();
    expect(ok.headers.get("cache-control")).toBe("no-store");
    const taken = await register("no-store@example.com");
    expect(taken.status).toBe(409);
    expect(taken.headers.get("cache-control")).toBe("no-store");
  });

  it("through Connect's own handler (a compressed request)", async () => {
    const body = gzipSync(JSON.stringify({ email: "no-store-gzip@example.com", password: "correct horse battery staple" }));
    const ok = await register("", { "content-encoding": "gzip" }, body);
    expect(ok.status).toBe(200);
    expect(ok.headers.get("cache-control")).toBe("no-store");
  });

  it("gRPC", async () => {
    const grpc = await h2Request(
      h.url,
      "POST",
      "/grpc.health.v1.Health/Check",
      { "content-type": "application/grpc", te: "trailers" },
      frame(0, new Uint8Array()),
    );
    expect(grpc.trailers["grpc-status"]).toBe("0");
    expect(grpc.headers["cache-control"]).toBe("no-store");
  });
});
