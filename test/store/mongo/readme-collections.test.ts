// The README's table of MongoDB collections ("Running on MongoDB") is what an operator reads to
// know what the service keeps about people and for how long: it names every collection the
// adapter writes and every index authd builds on it (the TTL ones are the retention).
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { indexPlan } from "../../../src/store/mongo/index-plan.ts";

const readme = readFileSync(new URL("../../../README.md", import.meta.url), "utf8");

/** collection -> its row's "indexes" cell, from the table under "| collection | holds | indexes |". */
function documented(): Map<string, string> {
  const start = readme.indexOf("| collection | holds | indexes |");
  if (start < 0) throw new Error("the README has no collection table");
  const rows = new Map<string, string>();
  for (const line of readme.slice(start).split("\n").slice(2)) {
    if (!line.startsWith("|")) break;
    const cells = line.split("|").map((c) => c.trim());
    const name = /^`([a-z_]+)`$/.exec(cells[1] ?? "")?.[1];
    if (name !== undefined) rows.set(name, cells[3] ?? "");
  }
  return rows;
}

describe("the README's table of MongoDB collections", () => {
  it("names every collection in the index plan, with each of its indexes", () => {
    const rows = documented();
    for (const [collection, indexes] of Object.entries(indexPlan)) {
      const cell = rows.get(collection);
      expect(cell, `README row for ${collection}`).toBeDefined();
      for (const index of indexes) expect(cell, `${collection}: ${index.name}`).toContain(`\`${index.name}\``);
    }
  });

  it("names no collection the adapter does not have (two_factor has only its _id index)", () => {
    expect([...documented().keys()].sort()).toEqual([...Object.keys(indexPlan), "two_factor"].sort());
  });
});
