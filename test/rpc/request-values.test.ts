import { createContextKey, createContextValues } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { requestValues } from "../../src/rpc/request-values.ts";

describe("requestValues", () => {
  it("behaves as Connect's createContextValues: defaults, set, overwrite, delete, chaining", () => {
    const name = createContextKey("anonymous", { description: "name" });
    const count = createContextKey(0);
    const maybe = createContextKey<string | undefined>(undefined);
    for (const values of [requestValues(), createContextValues()]) {
      expect(values.get(name)).toBe("anonymous");
      expect(values.set(name, "ada").set(count, 2)).toBe(values);
      expect([values.get(name), values.get(count)]).toEqual(["ada", 2]);
      // A value set to undefined is set: it does not fall back to the default.
      values.set(name, undefined as unknown as string);
      expect(values.get(name)).toBeUndefined();
      expect(values.delete(name)).toBe(values);
      expect(values.get(name)).toBe("anonymous");
      expect(values.get(maybe)).toBeUndefined();
      // Each call has its own values.
      expect(requestValues().get(count)).toBe(0);
    }
  });
});
