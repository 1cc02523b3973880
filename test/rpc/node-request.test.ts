// The RPC adapter's request (src/rpc/node-request.ts): its signal tells the handler that the client
// went away, and only that. A call that completed leaves it alone: connect-node's own adapter
// aborted it after every call, building a DOMException each time (issue 11, item 3).
import { EventEmitter } from "node:events";
import { Code, ConnectError, createContextValues } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { universalRequest } from "../../src/rpc/node-request.ts";
import type { NodeHandler } from "../../src/transport/node-http.ts";

type NodeRequest = Parameters<NodeHandler>[0];
type NodeResponse = Parameters<NodeHandler>[1];

function fakeCall(headers: Record<string, string | string[]>) {
  const req = Object.assign(new EventEmitter(), {
    headers,
    url: "/grpc.health.v1.Health/Check?x=1",
    method: "POST",
    httpVersion: "1.1",
    socket: {},
  }) as unknown as NodeRequest;
  const res = Object.assign(new EventEmitter(), { writableFinished: false }) as unknown as NodeResponse & { writableFinished: boolean };
  return { req, res };
}

describe("the RPC adapter's request", () => {
  it("carries the URL and headers, without HTTP/2 pseudo-headers, and the request as its body", () => {
    const { req, res } = fakeCall({ host: "auth.example", ":path": "/x", "x-many": ["a", "b"], "content-type": "application/json" });
    const u = universalRequest(req, res, createContextValues());
    expect(u.url).toBe("http://auth.example/grpc.health.v1.Health/Check?x=1");
    expect([...u.header]).toEqual([
      ["content-type", "application/json"],
      ["host", "auth.example"],
      ["x-many", "a, b"],
    ]);
    expect(u.body).toBe(req);
  });

  it("does not abort its signal when the answer was sent in full", () => {
    const { req, res } = fakeCall({ host: "auth.example" });
    const u = universalRequest(req, res, createContextValues());
    res.writableFinished = true;
    res.emit("close");
    expect(u.signal.aborted).toBe(false);
  });

  it("aborts its signal, as cancelled, when the client goes away before the answer is complete", () => {
    const { req, res } = fakeCall({ host: "auth.example" });
    const u = universalRequest(req, res, createContextValues());
    res.emit("close");
    expect(u.signal.aborted).toBe(true);
    expect(ConnectError.from(u.signal.reason).code).toBe(Code.Canceled);
  });

  it("refuses a request that names no authority", () => {
    const { req, res } = fakeCall({});
    expect(() => universalRequest(req, res, createContextValues())).toThrow(ConnectError);
  });
});
