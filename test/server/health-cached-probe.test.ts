// Health/Check with a probe that answers from a cache (server/app.ts's cachedProbe hands back one
// promise for a second): the status that promise settled to is reused without awaiting it again,
// and a new promise (or a probe that throws) is honoured at once.
import { describe, expect, it } from "vitest";
import { createClient, createRouterTransport } from "@connectrpc/connect";
import { Health, HealthCheckResponse_ServingStatus as Status } from "../../gen/grpc/health/v1/health_pb.js";
import { registerHealth } from "../../src/server/health.ts";

function healthWith(probe: () => Promise<boolean>) {
  return createClient(
    Health,
    createRouterTransport((router) => registerHealth(router, { probe, services: ["auth.v1.AuthService"] })),
  );
}

describe("Health/Check over a cached probe", () => {
  it("follows the probe as soon as it hands back a new promise", async () => {
    let cached = Promise.resolve(true);
    let calls = 0;
    const health = healthWith(() => {
      calls++;
      return cached;
    });
    expect((await health.check({})).status).toBe(Status.SERVING);
    expect((await health.check({ service: "auth.v1.AuthService" })).status).toBe(Status.SERVING);
    cached = Promise.resolve(false);
    expect((await health.check({})).status).toBe(Status.NOT_SERVING);
    expect((await health.check({})).status).toBe(Status.NOT_SERVING);
    cached = Promise.reject(new Error("database unreachable"));
    expect((await health.check({})).status).toBe(Status.NOT_SERVING);
    cached = Promise.resolve(true);
    expect((await health.check({})).status).toBe(Status.SERVING);
    expect(calls).toBe(6);
  });

  it("answers NOT_SERVING when the probe throws instead of rejecting, and NOT_FOUND for an unknown service", async () => {
    const health = healthWith(() => {
      throw new Error("no store");
    });
    expect((await health.check({})).status).toBe(Status.NOT_SERVING);
    await expect(health.check({ service: "nope.v1.Nope" })).rejects.toMatchObject({ code: 5 });
  });

  it("does not reuse a status while the promise it belongs to is still pending", async () => {
    let settle: (up: boolean) => void = () => undefined;
    const pending = new Promise<boolean>((resolve) => {
      settle = resolve;
    });
    const health = healthWith(() => pending);
    const first = health.check({});
    const second = health.check({});
    settle(false);
    expect((await first).status).toBe(Status.NOT_SERVING);
    expect((await second).status).toBe(Status.NOT_SERVING);
    expect((await health.check({})).status).toBe(Status.NOT_SERVING);
  });
});
