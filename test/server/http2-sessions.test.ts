// What the HTTP/2 session watch (src/server/http2-sessions.ts) keeps after its clients have gone:
// no closed session, and nothing per address once the address's window has run out. Both grew
// with connections that come and go, which no connection limit bounds (only open ones count).
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import type { ConnectionLimits } from "../../src/config.ts";
import { createHttp2SessionWatch } from "../../src/server/http2-sessions.ts";
import { collectGarbage } from "../support/heap.ts";

const windowMs = 300;
const limits = {
  http2ResetWindowMs: windowMs,
  http2MaxResetsPerConnection: 1_000,
  http2MaxResetsPerAddress: 5,
  shedAddresses: true,
} as ConnectionLimits;

/** A node:http2 server set up as the listener sets up its own: an idle timeout, and the watch. */
async function watchedServer(onSession: (session: http2.ServerHttp2Session) => void = () => undefined) {
  const stats = { shedSessions: 0, http2Resets: 0 };
  const watch = createHttp2SessionWatch({ limits, stats, onLimit: () => undefined, resetHere: () => false, closing: () => false });
  const server = http2.createServer();
  server.setTimeout(300_000); // the listener's idle timeout (5 minutes)
  server.on("session", (session) => {
    watch.watch(session);
    onSession(session);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, watch, stats, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

let closeServer: (() => void) | undefined;
afterEach(() => closeServer?.());

/** One call on a new connection, which then ends the way `end` says. */
function callAndLeave(url: string, end: "destroy" | "goaway" | "server"): Promise<void> {
  return new Promise((resolve) => {
    const client = http2.connect(url);
    client.on("error", () => undefined);
    client.once("close", () => resolve());
    const req = client.request({ ":path": end === "server" ? "/close" : "/" });
    req.on("error", () => undefined);
    req.on("data", () => undefined);
    req.on("end", () => {
      if (end === "destroy") client.destroy();
      else if (end === "goaway") client.close();
    });
  });
}

describe("the HTTP/2 session watch", () => {
  it("keeps no session once it has closed, however it ended (Node's idle timer would hold each for the idle timeout)", async () => {
    let collected = 0;
    const collect = new FinalizationRegistry(() => collected++);
    const { server, watch, url } = await watchedServer((session) => collect.register(session, undefined));
    closeServer = () => server.close();
    server.on("stream", (stream, headers) => {
      stream.respond({ ":status": 200 });
      stream.end("ok");
      if (headers[":path"] === "/close") stream.session?.close();
    });
    const ends = ["destroy", "goaway", "server"] as const;
    for (let i = 0; i < 60; i++) await callAndLeave(url, ends[i % 3] as (typeof ends)[number]);
    for (let round = 0; round < 20 && collected < 60; round++) {
      collectGarbage();
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    expect(watch.open.size).toBe(0);
    expect(collected).toBe(60);
  });

  it("forgets an address's resets and its shedding once the window has run out, though the client never came back", async () => {
    const { server, watch, stats, url } = await watchedServer();
    closeServer = () => server.close();
    // Each stream is cancelled before its request ends: a reset of the client's (rapid reset).
    const client = http2.connect(url);
    client.on("error", () => undefined);
    await new Promise((resolve) => client.once("connect", resolve));
    for (let i = 0; i < 10 && !client.closed && !client.destroyed; i++) {
      const req = client.request({ ":method": "POST", ":path": "/" });
      req.on("error", () => undefined);
      req.close(http2.constants.NGHTTP2_CANCEL);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    client.destroy();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(stats.shedSessions).toBeGreaterThan(0);
    // The address is shed, and its history still counts, so its last connection's close keeps it.
    watch.forget("127.0.0.1", Date.now());
    expect(watch.held()).toEqual({ shed: 1, resetHistories: 1 });
    await new Promise((resolve) => setTimeout(resolve, windowMs * 3));
    expect(watch.held()).toEqual({ shed: 0, resetHistories: 0 });
  });
});
