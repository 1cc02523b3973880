// When a response closes, did the whole answer leave? Node's HTTP/2 compatibility response calls a
// stream the client reset "finished" (writableFinished) whether or not anything was written, so
// the access log said "completed" and a cancelled call's signal was never aborted. Checked against
// real node:http and node:http2 servers and clients.
import http from "node:http";
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { answeredInFull, clientGone, type NodeHandler } from "../../src/transport/node-http.ts";

type Closed = { path: string; answeredInFull: boolean; clientGone: boolean };
const closed: Closed[] = [];
const big = Buffer.alloc(8_000_000);

const handler: NodeHandler = (req, res) => {
  res.once("close", () => closed.push({ path: req.url ?? "", answeredInFull: answeredInFull(res), clientGone: clientGone(res) }));
  req.resume();
  req.on("end", () => {
    if (req.url?.endsWith("/answer") === true) res.end("ok");
    if (req.url?.endsWith("/big") === true) res.end(big);
    // ".../hold": no answer; the client goes.
  });
};

let h1: http.Server;
let h2: http2.Http2Server;
const urlOf = (s: http.Server | http2.Http2Server) => `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
const closedFor = async (path: string) => {
  for (let i = 0; i < 200 && !closed.some((c) => c.path === path); i++) await new Promise((r) => setTimeout(r, 5));
  return closed.find((c) => c.path === path);
};

beforeAll(async () => {
  h1 = http.createServer(handler);
  h2 = http2.createServer(handler);
  await Promise.all([new Promise<void>((r) => h1.listen(0, "127.0.0.1", r)), new Promise<void>((r) => h2.listen(0, "127.0.0.1", r))]);
});
afterAll(() => {
  h1.close();
  h2.close();
});

function h2Call(path: string, cancel: "never" | "after-headers" | "on-first-data"): Promise<void> {
  return new Promise((resolve) => {
    const session = http2.connect(urlOf(h2));
    const stream = session.request({ ":method": "POST", ":path": path });
    stream.on("error", () => undefined);
    stream.on("data", () => {
      if (cancel === "on-first-data") stream.close(http2.constants.NGHTTP2_CANCEL);
    });
    stream.on("close", () => {
      session.close();
      resolve();
    });
    stream.end("x");
    if (cancel === "after-headers") setTimeout(() => stream.close(http2.constants.NGHTTP2_CANCEL), 50);
  });
}

describe("answeredInFull and clientGone", () => {
  it("HTTP/2: an answered call is complete; one the client cancelled, before or during the answer, is not", async () => {
    await h2Call("/h2/answer", "never");
    await h2Call("/h2/hold", "after-headers");
    await h2Call("/h2/big", "on-first-data");
    expect(await closedFor("/h2/answer")).toMatchObject({ answeredInFull: true });
    expect(await closedFor("/h2/hold")).toMatchObject({ answeredInFull: false, clientGone: true });
    expect(await closedFor("/h2/big")).toMatchObject({ answeredInFull: false, clientGone: true });
  });

  it("HTTP/1.1: an answered call is complete; one whose connection dropped first is not", async () => {
    await new Promise<void>((resolve, reject) => {
      const req = http.request(`${urlOf(h1)}/h1/answer`, { method: "POST", agent: false }, (res) => res.resume().on("end", resolve));
      req.on("error", reject);
      req.end("x");
    });
    const dropped = http.request(`${urlOf(h1)}/h1/hold`, { method: "POST", agent: false });
    dropped.on("error", () => undefined);
    dropped.end("x");
    setTimeout(() => dropped.destroy(), 50);
    expect(await closedFor("/h1/answer")).toMatchObject({ answeredInFull: true });
    expect(await closedFor("/h1/hold")).toMatchObject({ answeredInFull: false, clientGone: true });
  });
});
