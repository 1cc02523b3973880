// A start that fails after it opened its store and its tracing closes them again: a program that
// embeds the service (composeService) and carries on after the error keeps nothing of a dead
// start. What the caller passed in (a store) stays the caller's, open.
import { createPublicKey, generateKeyPairSync } from "node:crypto";
import type { SpanExporter } from "@opentelemetry/sdk-trace";
import { describe, expect, it, vi } from "vitest";
import { type Config, loadConfig } from "../../src/config.ts";
import { composeService } from "../../src/server/compose.ts";
import { StorageUnavailableError } from "../../src/store/errors.ts";
import { createMemoryStore } from "../../src/store/memory.ts";
import type { Store } from "../../src/store/port.ts";

// Every embedded store made in this file, the ones a start opens itself included: a start keeps
// its own store to itself, so the factory is the only place a test can see it.
const madeStores = vi.hoisted(() => [] as Store[]);
vi.mock("../../src/store/memory.ts", async (importOriginal) => {
  const original = await importOriginal<typeof import("../../src/store/memory.ts")>();
  return {
    ...original,
    createMemoryStore: (...args: Parameters<typeof original.createMemoryStore>) => {
      const store = original.createMemoryStore(...args);
      madeStores.push(store);
      return store;
    },
  };
});

/**
 * Tracing on, and a current signing key listed again as a previous one: the key ring refuses it,
 * a step after tracing started and the store opened (src/config.ts refuses the same from the
 * environment, so the configuration is made here).
 */
function configFailingAfterOpen(): Config {
  const config = loadConfig({ LOG_LEVEL: "silent", OTEL_TRACES_EXPORTER: "otlp" }, () => "");
  const { privateKey } = generateKeyPairSync("ed25519");
  return { ...config, jwt: { ...config.jwt, keys: { current: privateKey, next: undefined, previous: [createPublicKey(privateKey)] } } };
}

/** An exporter that counts its shutdowns, which the tracer provider's shutdown ends with. */
function countingExporter(): SpanExporter & { shutdowns: number } {
  return {
    shutdowns: 0,
    export: (_spans, done) => done({ code: 0 }),
    async shutdown() {
      this.shutdowns++;
    },
  };
}

describe("a start that fails after it opened things", () => {
  it("shuts its tracing down and rethrows the error that stopped it", async () => {
    const exporter = countingExporter();
    await expect(composeService(configFailingAfterOpen(), { spanExporter: exporter })).rejects.toThrow(/listed twice/);
    expect(exporter.shutdowns).toBe(1);
  });

  it("closes the store it opened itself (no MONGODB_URI: the embedded one)", async () => {
    madeStores.length = 0;
    await expect(composeService(configFailingAfterOpen(), { spanExporter: countingExporter() })).rejects.toThrow(/listed twice/);
    expect(madeStores).toHaveLength(1);
    await expect((madeStores[0] as Store).users.findById("0".repeat(24))).rejects.toBeInstanceOf(StorageUnavailableError);
  });

  it("leaves a store the caller passed in open", async () => {
    const store = createMemoryStore();
    try {
      await expect(composeService(configFailingAfterOpen(), { store, spanExporter: countingExporter() })).rejects.toThrow(/listed twice/);
      await expect(store.users.findById("0".repeat(24))).resolves.toBeNull();
    } finally {
      await store.close();
    }
  });
});
