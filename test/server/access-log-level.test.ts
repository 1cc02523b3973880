// The access log at a level that writes no request lines (LOG_LEVEL=warn, say) costs nothing per
// request: nothing is built and nothing waits for the response to close (issue 11, item 3).
import { EventEmitter } from "node:events";
import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { createLogger } from "../../src/log.ts";
import { createAccessLog } from "../../src/server/access-log.ts";
import type { NodeHandler } from "../../src/transport/node-http.ts";

type NodeRequest = Parameters<NodeHandler>[0];
type NodeResponse = Parameters<NodeHandler>[1];

function sink(lines: string[]): Writable {
  return new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString("utf8"));
      done();
    },
  });
}

function fakeCall() {
  const req = Object.assign(new EventEmitter(), {
    url: "/grpc.health.v1.Health/Check?password=hunter2",
    method: "POST",
  }) as unknown as NodeRequest;
  const res = Object.assign(new EventEmitter(), { writableFinished: true, headersSent: true, statusCode: 200 }) as unknown as NodeResponse;
  return { req, res };
}

describe("the access log", () => {
  it("at a level that drops request lines, builds nothing and does not wait for the response", () => {
    const lines: string[] = [];
    const accessLog = createAccessLog(createLogger("warn", sink(lines)));
    const { req, res } = fakeCall();
    accessLog(req, res, { requestId: "r1", clientIp: "127.0.0.1" });
    expect(res.listenerCount("close")).toBe(0);
    res.emit("close");
    expect(lines).toEqual([]);
  });

  it("at info, writes one line when the response closes, without the query string", () => {
    const lines: string[] = [];
    const accessLog = createAccessLog(createLogger("info", sink(lines)));
    const { req, res } = fakeCall();
    accessLog(req, res, { requestId: "r2", clientIp: "127.0.0.1" });
    res.emit("close");
    expect(lines).toHaveLength(1);
    const line = JSON.parse(lines[0] ?? "{}") as Record<string, unknown>;
    expect(line).toMatchObject({ msg: "request", requestId: "r2", path: "/grpc.health.v1.Health/Check", status: 200, service: "authd" });
    expect(lines[0]).not.toContain("hunter2");
  });
});
