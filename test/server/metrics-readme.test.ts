// The README's Metrics table is what an operator builds dashboards and alerts from: it must name
// every metric the service registers, with its type and labels, and nothing else. The metrics are
// taken from the registry createMetrics builds (every Counter, Gauge and Histogram it registers),
// not from the source text.
import { readFileSync } from "node:fs";
import { Counter, Gauge, Histogram, type Metric, Registry } from "prom-client";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createMetrics } from "../../src/metrics/metrics.ts";

const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");

interface Described {
  type: string;
  labels: string[];
}

/** metric -> type and labels, from the table under "| metric | type | labels | what |" (authd_* rows). */
function documented(): Map<string, Described> {
  const start = readme.indexOf("| metric | type | labels | what |");
  if (start < 0) throw new Error("the README has no metrics table");
  const rows = new Map<string, Described>();
  for (const line of readme.slice(start).split("\n").slice(2)) {
    if (!line.startsWith("|")) break;
    const cells = line.split(" | ");
    const name = /^\| `(authd_[a-z0-9_]+)`$/.exec(cells[0] ?? "")?.[1];
    if (name === undefined) continue;
    const labels = [...(cells[2] ?? "").matchAll(/`([a-z_]+)`/g)].map((m) => m[1] as string);
    rows.set(name, { type: (cells[1] ?? "").trim(), labels: labels.sort() });
  }
  return rows;
}

/** Every authd_* metric createMetrics registers, with its type and labels. */
function registered(): Map<string, Described> {
  const metrics: Metric[] = [];
  const register = Registry.prototype.registerMetric;
  vi.spyOn(Registry.prototype, "registerMetric").mockImplementation(function (this: Registry, metric: Metric) {
    metrics.push(metric);
    register.call(this, metric);
  });
  createMetrics();
  const found = new Map<string, Described>();
  for (const metric of metrics) {
    const { name, labelNames } = metric as unknown as { name: string; labelNames: string[] };
    if (!name.startsWith("authd_")) continue;
    const type =
      metric instanceof Counter ? "counter" : metric instanceof Gauge ? "gauge" : metric instanceof Histogram ? "histogram" : "?";
    found.set(name, { type, labels: [...labelNames].sort() });
  }
  return found;
}

describe("the README's metrics table", () => {
  afterEach(() => vi.restoreAllMocks());

  it("names every metric the service registers, with its type and labels, and no other", () => {
    const code = registered();
    expect(code.size).toBeGreaterThan(15);
    expect(Object.fromEntries(documented())).toEqual(Object.fromEntries(code));
  });

  it("says where the process metrics come from", () => {
    expect(readme).toContain("| `process_*`, `nodejs_*` |");
  });
});
