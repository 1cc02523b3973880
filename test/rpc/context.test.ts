// rpc/context.ts reads a request header from Node's parsed headers when the adapter gave them, to
// spare the call fetch Headers of all of them; the value must be exactly what fetch's Headers
// (the oracle, built the way Connect's request is) would give for the same headers.
import { createContextValues, createHandlerContext } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { Health } from "../../gen/grpc/health/v1/health_pb.js";
import { bearerToken, clientInfo, clientIpKey, nodeRequestHeadersKey, requestHeader } from "../../src/rpc/context.ts";
import { webHeaders } from "../../src/rpc/node-request.ts";

type NodeHeaders = Record<string, string | string[] | undefined>;

const contextOf = (headers: NodeHeaders, viaNode: boolean) =>
  createHandlerContext({
    service: Health,
    method: Health.method.check,
    protocolName: "connect",
    requestMethod: "POST",
    url: "http://localhost/grpc.health.v1.Health/Check",
    requestHeader: webHeaders(headers),
    contextValues: viaNode
      ? createContextValues().set(nodeRequestHeadersKey, headers).set(clientIpKey, "192.0.2.1")
      : createContextValues().set(clientIpKey, "192.0.2.1"),
  });

describe("a request header read from Node's headers is the one fetch's Headers gives", () => {
  const cases: Array<[string, NodeHeaders]> = [
    ["absent", {}],
    ["plain", { authorization: "Bearer abc.def.ghi", "user-agent": "curl/8" }],
    ["empty", { authorization: "", "user-agent": "" }],
    ["padded with spaces and tabs", { authorization: " \tBearer abc \t", "user-agent": "\t agent " }],
    ["only whitespace", { authorization: " \t ", "user-agent": "  " }],
    ["repeated", { authorization: ["Bearer a", " Bearer b "], "user-agent": ["one", "two"] }],
    ["inner whitespace kept", { authorization: "Bearer  a  b", "user-agent": "a\tb" }],
  ];
  it.each(cases)("%s", (_name, headers) => {
    const viaNode = contextOf(headers, true);
    const viaFetch = contextOf(headers, false);
    for (const name of ["authorization", "user-agent", "x-absent"]) {
      expect(requestHeader(viaNode, name)).toBe(viaFetch.requestHeader.get(name));
    }
    expect(bearerToken(viaNode)).toBe(bearerToken(viaFetch));
    expect(clientInfo(viaNode)).toEqual(clientInfo(viaFetch));
  });

  it("reads Node's headers, not the context's Headers, when the adapter gave them", () => {
    const ctx = contextOf({ authorization: "Bearer from-node" }, true);
    ctx.requestHeader.set("authorization", "Bearer from-fetch");
    expect(bearerToken(ctx)).toBe("from-node");
  });
});
