// chain-load (bench/chain-load/chain-load.c), the load generator of the RefreshToken figures,
// against a small node:http2 server that plays the chain: each token is spent once and answered
// with its successor, a second spend refused as the service refuses a reused refresh token. What
// is checked is who was called with what, and how latency is counted; no speed is asserted.
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { buildChainLoad, runChainLoad } from "../../bench/lib/chain-load.ts";

// gcc and Debian's libnghttp2-dev (.ci/run installs the header): without them, say so and skip.
const missing = buildChainLoad();
if (missing !== undefined) console.warn(`chain-load tests SKIPPED: ${missing}`);

let server: http2.Http2Server;
let port: number;
const spent = new Set<string>();
let stallCall = -1; // the index of the chained call to hold for 250 ms (-1: none)
let chainedCalls = 0;

beforeAll(async () => {
  server = http2.createServer((req, res) => {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (chunk: string) => {
      body += chunk;
    });
    req.on("end", () => {
      if (req.url === "/fixed") return void res.end("{}");
      if (req.url === "/fail") return void res.writeHead(500).end('{"code":"internal"}');
      const token = (JSON.parse(body) as { refreshToken: string }).refreshToken;
      if (spent.has(token)) return void res.writeHead(401).end('{"code":"reused"}');
      spent.add(token);
      const [user, n] = token.split(".");
      const answer = () => res.end(JSON.stringify({ tokens: { accessToken: "a.b.c", refreshToken: `${user}.${Number(n) + 1}` } }));
      if (chainedCalls++ === stallCall) setTimeout(answer, 250);
      else answer();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  port = (server.address() as AddressInfo).port;
});

afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

beforeEach(() => {
  spent.clear();
  chainedCalls = 0;
  stallCall = -1;
});

const chain = "/auth.v1.AuthService/RefreshToken";

describe.skipIf(missing !== undefined)("chain-load", () => {
  it("sends each user's latest token and keeps the one each answer returns", async () => {
    const tokens = ["u0.0", "u1.0", "u2.0"];
    const before = Date.now();
    const result = await runChainLoad({ port, path: chain, field: "refreshToken", tokens, connections: 2, warmUpMs: 0, measureMs: 300 });
    const after = Date.now();
    expect(result.failures).toEqual([]);
    expect(result.errors).toBe(0);
    expect(result.ok).toBeGreaterThan(10);
    expect(result.latencies).toHaveLength(result.ok);
    expect(result.starts).toHaveLength(result.ok);
    for (const start of result.starts) {
      expect(start).toBeGreaterThanOrEqual(before - 5);
      expect(start).toBeLessThanOrEqual(after);
    }
    // Every answered call spent one token and moved its user one step along its own chain.
    expect(spent.size).toBe(result.answered);
    const steps = tokens.map((t, i) => {
      const [user, n] = t.split(".");
      expect(user).toBe(`u${i}`);
      return Number(n);
    });
    expect(steps.reduce((a, b) => a + b, 0)).toBe(result.answered);
    // The next run goes on from there: no token is sent twice.
    const again = await runChainLoad({ port, path: chain, field: "refreshToken", tokens, connections: 2, warmUpMs: 0, measureMs: 100 });
    expect(again.errors).toBe(0);
    expect(spent.size).toBe(result.answered + again.answered);
  });

  it("on a schedule, times a call from when it was due, so a stall counts for every call behind it", async () => {
    stallCall = 10;
    const tokens = ["u0.0"];
    // 100 calls a second for 0.6 s, one user: the 11th call is held 250 ms, and the 25 or so due
    // meanwhile wait for the user. Timed from when they were started, they would look fast.
    const result = await runChainLoad({
      port,
      path: chain,
      field: "refreshToken",
      tokens,
      connections: 1,
      warmUpMs: 0,
      measureMs: 600,
      rate: 100,
    });
    expect(result.errors).toBe(0);
    expect(result.latencies.filter((ms) => ms >= 250).length).toBeGreaterThanOrEqual(1);
    expect(result.latencies.filter((ms) => ms >= 100).length).toBeGreaterThanOrEqual(8);
    // Calls are started on the schedule, not as fast as answers come (a closed loop would make
    // thousands): at most one per 10 ms of the run, and one more for rounding.
    expect(result.answered).toBeLessThanOrEqual(61);
  });

  it("counts an answer without a 200 as an error and says what came back", async () => {
    const result = await runChainLoad({ port, path: "/fail", tokens: ["-", "-"], connections: 1, warmUpMs: 0, measureMs: 100 });
    expect(result.ok).toBe(0);
    expect(result.errors).toBeGreaterThan(0);
    expect(result.failures[0]).toContain("500");
    expect(result.failures[0]).toContain("internal");
    const fixed = await runChainLoad({ port, path: "/fixed", tokens: ["-", "-"], connections: 1, warmUpMs: 0, measureMs: 100 });
    expect(fixed.errors).toBe(0);
    expect(fixed.ok).toBeGreaterThan(0);
  });

  it("counts a refused token as an error and leaves the user's token as it was", async () => {
    spent.add("u0.0");
    const tokens = ["u0.0"];
    const result = await runChainLoad({ port, path: chain, field: "refreshToken", tokens, connections: 1, warmUpMs: 0, measureMs: 100 });
    expect(result.ok).toBe(0);
    expect(result.errors).toBeGreaterThan(0);
    expect(result.failures[0]).toContain("401");
    expect(tokens).toEqual(["u0.0"]);
  });
});
