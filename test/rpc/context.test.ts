// rpc/context.ts reads a request header from Node's parsed headers when the call's context can
// (the unary fast path's, before anything made its Headers), to spare the call fetch Headers of
// all of them; the value must be exactly what fetch's Headers (the oracle, built the way Connect's
// request is) would give for the same headers, and once the Headers exist they are what counts.
import { createContextValues, createHandlerContext, type HandlerContext } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { Health } from "../../gen/grpc/health/v1/health_pb.js";
import { bearerToken, clientInfo, clientIpKey, nodeHeaderValue, type NodeHeaderReader, requestHeader } from "../../src/rpc/context.ts";
import { webHeaders } from "../../src/rpc/node-request.ts";

type NodeHeaders = Record<string, string | string[] | undefined>;

const contextOf = (headers: NodeHeaders) =>
  createHandlerContext({
    service: Health,
    method: Health.method.check,
    protocolName: "connect",
    requestMethod: "POST",
    url: "http://localhost/grpc.health.v1.Health/Check",
    requestHeader: webHeaders(headers),
    contextValues: createContextValues().set(clientIpKey, "192.0.2.1"),
  });

/** A context that reads Node's headers until `built` says its Headers exist, as unary.ts's does. */
const readerOf = (headers: NodeHeaders, built = () => false): HandlerContext & NodeHeaderReader =>
  Object.assign(contextOf(headers), {
    nodeRequestHeader: (name: string) => (built() ? undefined : nodeHeaderValue(headers, name)),
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
    const viaNode = readerOf(headers);
    const viaFetch = contextOf(headers);
    for (const name of ["authorization", "user-agent", "x-absent"]) {
      expect(nodeHeaderValue(headers, name)).toBe(webHeaders(headers).get(name));
      expect(requestHeader(viaNode, name)).toBe(viaFetch.requestHeader.get(name));
    }
    expect(bearerToken(viaNode)).toBe(bearerToken(viaFetch));
    expect(clientInfo(viaNode)).toEqual(clientInfo(viaFetch));
  });
});

describe("which headers count", () => {
  it("a context that reads Node's headers answers from them while its Headers are not made", () => {
    const ctx = readerOf({ authorization: "Bearer from-node" });
    expect(bearerToken(ctx)).toBe("from-node");
  });

  it("once its Headers exist (an interceptor may have changed them), they are what counts", () => {
    let built = false;
    const ctx = readerOf({ authorization: "Bearer from-node" }, () => built);
    ctx.requestHeader.set("authorization", "Bearer from-interceptor");
    built = true;
    expect(bearerToken(ctx)).toBe("from-interceptor");
    ctx.requestHeader.delete("authorization");
    expect(bearerToken(ctx)).toBeUndefined();
  });

  it("any other context is read through its Headers", () => {
    const ctx = contextOf({ authorization: "Bearer a" });
    ctx.requestHeader.set("authorization", "Bearer b");
    expect(bearerToken(ctx)).toBe("b");
  });
});
