// The storage port with a span per call (src/store/traced.ts): the same answers and errors as the
// store beneath, a child span of the running call for each, nothing outside a call, CLIENT spans
// naming MongoDB for the remote store, and a failure marked by its class name alone.
import { context, SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from "@opentelemetry/sdk-trace";
import { afterAll, beforeEach, describe, expect, it } from "vitest";
import { createMemoryStore } from "../../src/store/memory.ts";
import { StorageUnavailableError } from "../../src/store/errors.ts";
import type { Store } from "../../src/store/port.ts";
import { tracedStore } from "../../src/store/traced.ts";

context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
const exporter = new InMemorySpanExporter();
const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
const tracer = provider.getTracer("test");
const memory = createMemoryStore();
afterAll(() => memory.close());
beforeEach(() => exporter.reset());

/** Runs `fn` inside a parent span, as a call does, and returns the parent. */
async function inCall(fn: () => Promise<unknown>) {
  const parent = tracer.startSpan("call");
  await context.with(trace.setSpan(context.active(), parent), fn);
  parent.end();
  return parent;
}

describe("the traced store", () => {
  it("answers as the store beneath, with a child span per call of the running call", async () => {
    const store = tracedStore(memory, tracer);
    const parent = await inCall(async () => {
      expect(await store.users.findByEmail("nobody@example.com")).toBeNull();
      expect(await store.attempts.get("k", new Date())).toEqual({ failures: 0, lockedUntil: null });
    });
    const children = exporter.getFinishedSpans().filter((s) => s.name !== "call");
    expect(children.map((s) => s.name)).toEqual(["findByEmail users", "get attempts"]);
    for (const child of children) {
      expect(child.parentSpanContext?.spanId).toBe(parent.spanContext().spanId);
      expect(child.kind).toBe(SpanKind.INTERNAL);
    }
    // The argument (an email) is nowhere in the span.
    expect(JSON.stringify(children.map((s) => s.attributes))).not.toContain("nobody@example.com");
  });

  it("makes no span outside a call", async () => {
    await tracedStore(memory, tracer).users.findById("u1");
    expect(exporter.getFinishedSpans()).toEqual([]);
  });

  it("on MongoDB: CLIENT spans naming the system; a failure marked by its class name, rethrown as is", async () => {
    const failing = new StorageUnavailableError(new Error("connection 7 to mongo-0.internal:27017 closed"));
    const mongo: Store = {
      ...memory,
      kind: "mongodb",
      users: { ...memory.users, findById: () => Promise.reject(failing) },
    };
    const store = tracedStore(mongo, tracer);
    await inCall(async () => {
      await expect(store.users.findById("u1")).rejects.toBe(failing);
    });
    const span = exporter.getFinishedSpans().find((s) => s.name === "findById users");
    expect(span?.kind).toBe(SpanKind.CLIENT);
    expect(span?.attributes).toEqual({
      "db.system.name": "mongodb",
      "db.collection.name": "users",
      "db.operation.name": "findById",
      "error.type": "StorageUnavailableError",
    });
    expect(span?.status).toEqual({ code: SpanStatusCode.ERROR, message: "StorageUnavailableError" });
    expect(JSON.stringify(span?.events)).not.toContain("mongo-0");
  });
});
