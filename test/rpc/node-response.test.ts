// The RPC adapter's response writer (src/rpc/node-response.ts): Connect's response on a Node
// response, a chunk waiting only when Node asks it to, and a client that has gone ending the
// sending quietly while the handler's body is returned (issue 11, item 3).
import { EventEmitter } from "node:events";
import type { UniversalServerResponse } from "@connectrpc/connect/protocol";
import { describe, expect, it } from "vitest";
import { sendResponse } from "../../src/rpc/node-response.ts";

/** A Node response that records what was sent; write() says "wait" when `full` is set. */
function fakeResponse() {
  const sent: unknown[] = [];
  const res = Object.assign(new EventEmitter(), {
    headersSent: false,
    full: false,
    writeHead(status: number, headers: Record<string, unknown>) {
      res.headersSent = true;
      sent.push(["head", status, { ...headers }]);
    },
    write(chunk: Uint8Array) {
      sent.push(["data", Buffer.from(chunk).toString()]);
      return !res.full;
    },
    addTrailers(headers: Record<string, unknown>) {
      sent.push(["trailers", { ...headers }]);
    },
    end() {
      sent.push(["end"]);
    },
  });
  return { res, sent };
}

function body(chunks: string[], onReturn: () => void): AsyncIterable<Uint8Array> {
  return {
    [Symbol.asyncIterator]() {
      let i = 0;
      return {
        next: async () => (i < chunks.length ? { done: false, value: Buffer.from(chunks[i++] ?? "") } : { done: true, value: undefined }),
        return: async () => {
          onReturn();
          return { done: true, value: undefined };
        },
      };
    },
  };
}

describe("sending Connect's response", () => {
  it("sends the headers with the first chunk, every chunk, the trailers, then ends", async () => {
    const { res, sent } = fakeResponse();
    const header = new Headers([["content-type", "application/grpc"]]);
    header.append("set-cookie", "a=1");
    header.append("set-cookie", "b=2");
    const uRes: UniversalServerResponse = {
      status: 200,
      header,
      body: body(["one", "two"], () => undefined),
      trailer: new Headers({ "grpc-status": "0" }),
    };
    // The trailers can still be changed once the body is drained (the adapter patches gRPC ones).
    await sendResponse(uRes, res, (trailer) => trailer.set("grpc-message", "patched"));
    expect(sent).toEqual([
      ["head", 200, { "content-type": "application/grpc", "set-cookie": ["a=1", "b=2"], "cache-control": "no-store" }],
      ["data", "one"],
      ["data", "two"],
      ["trailers", { "grpc-message": "patched", "grpc-status": "0" }],
      ["end"],
    ]);
    expect(res.listenerCount("close")).toBe(0);
    expect(res.listenerCount("drain")).toBe(0);
  });

  it("stops quietly when the client has gone while it waited, and returns the handler's body", async () => {
    const { res, sent } = fakeResponse();
    res.full = true;
    let returned = false;
    const sending = sendResponse({ status: 200, header: new Headers(), body: body(["one", "two"], () => (returned = true)) }, res);
    await new Promise((r) => setImmediate(r));
    res.emit("close");
    await expect(sending).resolves.toBeUndefined();
    expect(sent).toEqual([
      ["head", 200, { "cache-control": "no-store" }],
      ["data", "one"],
    ]);
    expect(returned).toBe(true);
  });
});
