import { describe, expect, it } from "vitest";
import { newRequestId } from "../../src/server/request-id.ts";

describe("request ids", () => {
  it("are random version-4 UUIDs, distinct across batches of the random pool", () => {
    const ids = Array.from({ length: 1000 }, () => newRequestId());
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(new Set(ids).size).toBe(ids.length);
    // Every hex digit position outside the version and variant varies (they are random, not a counter).
    const positions = [0, 7, 9, 15, 20, 35];
    for (const at of positions) expect(new Set(ids.map((id) => id[at])).size).toBeGreaterThan(8);
  });
});
