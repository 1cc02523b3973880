import { spawnSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import { parseScavenges } from "../../bench/lib/figures.ts";
import { InFlight, type InFlightEntry } from "../../src/transport/in-flight.ts";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

const valuesOf = <T extends object>(list: InFlight<T>) => {
  const seen: T[] = [];
  list.forEach((value) => {
    seen.push(value);
  });
  return seen;
};

describe("InFlight", () => {
  it("holds what was added until it is removed, newest first", () => {
    const list = new InFlight<{ n: number }>();
    const [a, b, c] = [{ n: 1 }, { n: 2 }, { n: 3 }];
    const ea = list.add(a);
    const eb = list.add(b);
    const ec = list.add(c);
    expect(list.size).toBe(3);
    expect(valuesOf(list)).toEqual([c, b, a]);

    list.remove(eb); // the middle
    expect(valuesOf(list)).toEqual([c, a]);
    list.remove(ec); // the head
    expect(valuesOf(list)).toEqual([a]);
    list.remove(ea); // the last one
    expect(valuesOf(list)).toEqual([]);
    expect(list.size).toBe(0);
    // Added again after emptying: the list still links.
    list.add(b);
    expect(valuesOf(list)).toEqual([b]);
  });

  it("removes an entry once: a second removal changes nothing", () => {
    const list = new InFlight<{ n: number }>();
    const first = list.add({ n: 1 });
    list.add({ n: 2 });
    list.remove(first);
    list.remove(first);
    expect(list.size).toBe(1);
    expect(valuesOf(list)).toEqual([{ n: 2 }]);
  });

  it("leaves a removed entry pointing at nothing, so a dead entry keeps nothing alive", () => {
    const list = new InFlight<{ n: number }>();
    list.add({ n: 1 });
    const middle = list.add({ n: 2 });
    list.add({ n: 3 });
    list.remove(middle);
    expect(middle).toEqual({ value: undefined, prev: undefined, next: undefined });
  });

  it("visits every value in when forEach began, whatever the visitor removes", () => {
    const list = new InFlight<{ n: number }>();
    const entries: InFlightEntry<{ n: number }>[] = [];
    for (let n = 1; n <= 6; n++) entries.push(list.add({ n }));
    const visited: number[] = [];
    list.forEach((value, entry) => {
      visited.push(value.n);
      list.remove(entry); // itself
      if (value.n === 6) list.remove(entries[4] as InFlightEntry<{ n: number }>); // the next one (n = 5), before its turn
      if (value.n === 4) list.add({ n: 99 }); // added meanwhile: not visited
    });
    expect(visited).toEqual([6, 4, 3, 2, 1]);
    expect(valuesOf(list)).toEqual([{ n: 99 }]);
  });

  // Why the list exists (in-flight.ts): a long-lived Set that gains and loses an entry per request
  // leaves its rehashed tables in V8's old generation. Measured from V8's own trace, in a child
  // process: the Set arm shows the effect can be seen, the list arm that the list does not have it.
  it("adding and removing entries of a long-lived list promotes next to nothing, where a Set promotes its tables", () => {
    const moduleUrl = pathToFileURL(path.join(root, "src/transport/in-flight.ts")).href;
    const operations = 300_000;
    const churn = (kind: "set" | "list") => {
      const script = `
const { InFlight } = await import(${JSON.stringify(moduleUrl)});
const kind = ${JSON.stringify(kind)};
const set = new Set();
const list = new InFlight();
// Make both collections old: allocate until several scavenges have passed.
for (let round = 0; round < 4; round++) { let junk = []; for (let j = 0; j < 100000; j++) junk.push({ j }); junk = null; }
console.log("CHURN " + Math.ceil(performance.now()));
// Sixteen in flight at a time, each a fresh young object, as calls are.
const ring = new Array(16);
for (let i = 0; i < ${operations}; i++) {
  const value = { i, pad: [i, i, i, i] };
  const slot = i % 16;
  const leaving = ring[slot];
  if (kind === "set") { if (leaving !== undefined) set.delete(leaving); set.add(value); ring[slot] = value; }
  else { if (leaving !== undefined) list.remove(leaving); ring[slot] = list.add(value); }
}
console.log("DONE " + (kind === "set" ? set.size : list.size));`;
      // Without allocation-site pretenuring, which would otherwise start allocating the values
      // straight in the old generation once the Set's stale tables had kept a few alive; and with
      // the collector on the main thread only, so that the run is the same whatever else the
      // machine does (68 bytes per Set operation, 0 per list operation, three runs alike).
      const flags = ["--trace-gc", "--max-semi-space-size=1", "--no-allocation-site-pretenuring", "--single-threaded-gc"];
      const run = spawnSync(process.execPath, [...flags, "--input-type=module", "-e", script], {
        cwd: root,
        encoding: "utf8",
      });
      expect(run.status, run.stderr).toBe(0);
      // V8 writes its trace through another buffer than console.log: the churn is told apart by time.
      expect(run.stdout).toContain("DONE 16");
      const churnFromMs = Number(/CHURN (\d+)/.exec(run.stdout)?.[1]);
      const scavenges = parseScavenges(run.stdout, churnFromMs);
      expect(scavenges.count).toBeGreaterThan(10);
      return scavenges.promotedBytes / operations;
    };
    const perSetOperation = churn("set");
    const perListOperation = churn("list");
    expect(perSetOperation).toBeGreaterThan(30);
    expect(perListOperation).toBeLessThan(5);
  });
});
