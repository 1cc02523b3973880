// Our load generator (bench/lib/load.ts) at a fixed rate: every virtual user takes its turn. A
// user left idle for long does what no real client does (an hour's soak saw one come back after
// 15 minutes with an expired access token). No timing is asserted: only who was called.
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runLoad, type VirtualUser } from "../../bench/lib/load.ts";

let server: http2.Http2Server;
let url: string;

beforeAll(async () => {
  server = http2.createServer((req, res) => {
    req.resume();
    req.on("end", () => res.end("{}"));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

describe("the load generator at a fixed rate", () => {
  it("calls every virtual user in turn, not only the few the load needs at once", async () => {
    const calls = Array.from({ length: 8 }, () => 0);
    const users: VirtualUser[] = calls.map((_, i) => ({
      next: () => {
        calls[i] = (calls[i] ?? 0) + 1;
        return { path: "/", body: "{}" };
      },
      answered: (status) => status === 200,
    }));
    // 200 calls a second for 0.4 s: about 80 calls, which a local server answers one at a time.
    const result = await runLoad({ url, users, connections: 2, warmUpMs: 0, measureMs: 400, rate: 200 });
    expect(result.errors).toBe(0);
    const total = calls.reduce((a, b) => a + b, 0);
    expect(total).toBeGreaterThan(40);
    // Taking turns, each user gets about an eighth of the calls (a user that finds calls waiting
    // when it is answered takes them, so on a slow machine less evenly): at least half of that.
    expect(Math.min(...calls)).toBeGreaterThanOrEqual(Math.floor(total / calls.length / 2));
  });
});
