// The README's Configuration table is the one list an operator has of what the server reads from
// its environment. This holds it to the code, read as text: every variable a parser is called with
// in src/config.ts and src/config/ (int, str, bool, oneOf, url, list, origins, ratio, and the
// secret family, which also reads NAME_FILE), every env.NAME read in src/ and scripts/, must have
// a row, and every row must name a variable something reads. Where the code gives a literal
// default or range, the row must state it: the default in its default column, the range as
// "min–max" (or "min to max") in its text.
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";

const root = new URL("..", import.meta.url).pathname;
const read = (file: string): string => readFileSync(path.join(root, file), "utf8");
const readme = read("README.md");

function sourceFiles(dir: string): string[] {
  return readdirSync(path.join(root, dir)).flatMap((name) => {
    const file = path.join(dir, name);
    if (statSync(path.join(root, file)).isDirectory()) return sourceFiles(file);
    return /\.(ts|mts|mjs)$/.test(name) && !name.endsWith(".d.mts") ? [file] : [];
  });
}

/** The parsers of src/config/parse.ts, and the local helpers built on them; true: reads NAME_FILE too. */
const parsers: Record<string, boolean> = {
  int: false,
  str: false,
  bool: false,
  oneOf: false,
  url: false,
  list: false,
  origins: false,
  ratio: false,
  secret: true,
  parsedSecret: true,
  pem: true, // config/tokens.ts: parsedSecret with `\n` escapes
  aesKey: true, // config/server-secret.ts: secret, then hex or base64
};

/** Variables the code reads that are not authd's settings, each with where the README speaks of it. */
const notSettings: Record<string, string> = {
  LD_PRELOAD: "the dynamic loader's own; scripts/memory-allocator.mjs keeps a malloc already in it (MEMORY_ALLOCATOR's row)",
};

/** Rows naming variables authd passes on unread: the OpenTelemetry OTLP exporter reads them itself. */
const readByExporter = [
  "OTEL_EXPORTER_OTLP_HEADERS",
  "OTEL_EXPORTER_OTLP_TIMEOUT",
  "OTEL_EXPORTER_OTLP_COMPRESSION",
  "OTEL_EXPORTER_OTLP_CERTIFICATE",
  "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE",
  "OTEL_EXPORTER_OTLP_CLIENT_KEY",
];

/** A default the parser is given that is no default, and why. */
const notDefaults: Record<string, string> = {
  METRICS_PORT: "config/metrics.ts calls int only when it is set; unset, the metrics have no port of their own",
};

/** A range the row states otherwise than the parser's bounds, and why. */
const rangeAsDocumented: Record<string, string> = {
  // The parser takes 0–100, then refuses 1 (the bound is split in two halves).
  LOGIN_ACCOUNT_MAX_FAILURES_PER_HOUR: "2 to 100",
};

/** The arguments of the call whose "(" is at `open`, split at its top-level commas, and where it ends. */
function callArgs(text: string, open: number): { args: string[]; end: number } {
  const args: string[] = [];
  let depth = 0;
  let start = open + 1;
  for (let i = open; i < text.length; i++) {
    const c = text[i];
    if (c === "(" || c === "[" || c === "{") depth++;
    else if (c === ")" || c === "]" || c === "}") {
      depth--;
      if (depth === 0) {
        args.push(text.slice(start, i).trim());
        return { args, end: i + 1 };
      }
    } else if (c === "," && depth === 1) {
      args.push(text.slice(start, i).trim());
      start = i + 1;
    }
  }
  throw new Error(`unclosed call at ${open}`);
}

/** A number written as a literal, or a product of literals and `day` (86 400 s); undefined otherwise. */
function literalNumber(expr: string | undefined): number | undefined {
  if (expr === undefined || !/^(\d[\d_]*|day)( \* (\d[\d_]*|day))*$/.test(expr)) return undefined;
  return expr.split(" * ").reduce((n, f) => n * (f === "day" ? 86_400 : Number(f.replaceAll("_", ""))), 1);
}

interface Read {
  file: string;
  /** The default as the README's default column must show it, when the code gives a literal one. */
  default?: string;
  min?: number;
  max?: number;
}

/** Every variable the code reads, with its literal default and range where it has them. */
function readByCode(): Map<string, Read> {
  const found = new Map<string, Read>();
  const configFiles = ["src/config.ts", ...sourceFiles("src/config")];
  for (const file of configFiles) {
    const text = read(file);
    for (const m of text.matchAll(/\b(\w+)\(env, "([A-Z][A-Z0-9_]*)"/g)) {
      const [, parser, name] = m as unknown as [string, string, string];
      if (!(parser in parsers)) throw new Error(`${file}: ${parser}(env, "${name}") is a parser this test does not know`);
      const { args, end } = callArgs(text, (m.index ?? 0) + parser.length);
      const entry: Read = { file };
      if (parser === "int") {
        const [def, min, max] = args.slice(2).map(literalNumber);
        if (def !== undefined) entry.default = String(def);
        if (min !== undefined && max !== undefined) Object.assign(entry, { min, max });
      } else if (parser === "bool" && /^(true|false)$/.test(args[2] ?? "")) {
        entry.default = args[2];
      } else if (parser === "oneOf") {
        const def = /^"([^"]*)"$/.exec(args[3] ?? "")?.[1];
        if (def !== undefined) entry.default = def;
      } else if (parser === "str" || parser === "url") {
        const def = /^\s*\?\? "([^"]*)"/.exec(text.slice(end))?.[1];
        if (def !== undefined) entry.default = def;
      }
      found.set(name, { ...found.get(name), ...entry });
      if (parsers[parser]) found.set(`${name}_FILE`, { file });
    }
    // Names read in a loop: for (const name of ["A", "B"]) { ... str(env, name) ... }
    for (const m of text.matchAll(/for \(const (\w+) of \[([^\]]*)\]\) \{[^}]*\(env, \1\)/g)) {
      for (const name of (m[2] ?? "").matchAll(/"([A-Z][A-Z0-9_]*)"/g)) found.set(name[1] as string, { file });
    }
  }
  for (const file of [...sourceFiles("src"), ...sourceFiles("scripts")]) {
    if (configFiles.includes(file)) continue;
    for (const m of read(file).matchAll(/\benv\.([A-Z][A-Z0-9_]*)/g)) {
      const name = m[1] as string;
      if (!found.has(name)) found.set(name, { file });
    }
  }
  return found;
}

interface Row {
  /** The row's whole line: its names, default and meaning. */
  line: string;
  default: string;
}

/** variable -> its row, from the table under "| variable | default | meaning |". */
function documented(): Map<string, Row> {
  const start = readme.indexOf("| variable | default | meaning |");
  if (start < 0) throw new Error("the README has no configuration table");
  const rows = new Map<string, Row>();
  for (const line of readme.slice(start).split("\n").slice(2)) {
    if (!line.startsWith("|")) break;
    const cells = line.split(" | ");
    for (const name of (cells[0] ?? "").matchAll(/`([A-Z][A-Z0-9_]*)`/g)) {
      rows.set(name[1] as string, { line, default: cells[1] ?? "" });
    }
  }
  return rows;
}

describe("the README's configuration table", () => {
  const code = readByCode();
  const rows = documented();

  it("finds the variables at all (the patterns still match the code)", () => {
    expect(code.size).toBeGreaterThan(100);
    expect(rows.size).toBeGreaterThan(100);
    expect(code.get("PORT")).toMatchObject({ default: "8080", min: 0, max: 65_535 });
    expect(code.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")).toBeDefined();
    expect(code.get("JWT_PRIVATE_KEY_FILE")).toBeDefined();
    expect(code.get("V8_WORKER_NICE")).toBeDefined();
  });

  it("has a row for every variable the code reads", () => {
    const missing = [...code].filter(([name]) => !rows.has(name) && !(name in notSettings)).map(([name, { file }]) => `${name} (${file})`);
    expect(missing).toEqual([]);
  });

  it("names no variable that nothing reads", () => {
    const unread = [...rows.keys()].filter((name) => !code.has(name) && !readByExporter.includes(name));
    expect(unread).toEqual([]);
  });

  it("names the exporter's own variables in one row that says the exporter reads them, and the exporter does", () => {
    const exporterSource = read(
      "node_modules/@opentelemetry/otlp-exporter-base/dist/platform/node/configuration/otlp-node-http-env-configuration.mjs",
    ).concat(read("node_modules/@opentelemetry/otlp-exporter-base/dist/configuration/shared-env-configuration.mjs"));
    for (const name of readByExporter) {
      expect(rows.get(name)?.line, name).toContain("read by the OpenTelemetry OTLP exporter itself");
      expect(exporterSource, name).toContain(`"${name}"`);
      expect(code.has(name), `${name} is read by authd now: give it a row of its own`).toBe(false);
    }
  });

  it("mentions the variables that are not settings where it explains them", () => {
    for (const name of Object.keys(notSettings))
      expect(readme.slice(readme.indexOf("| variable | default |")), name).toContain(`\`${name}\``);
  });

  it("gives each variable the default the code gives it", () => {
    const wrong = [...code]
      .filter(([name, read]) => read.default !== undefined && rows.has(name) && !(name in notDefaults))
      .filter(([name, read]) => !rows.get(name)?.default.includes(`\`${read.default}\``))
      .map(([name, read]) => `${name}: code ${read.default}, README ${rows.get(name)?.default}`);
    expect(wrong).toEqual([]);
  });

  it("gives each number the range the code accepts", () => {
    const wrong = [...code]
      .filter(([name, read]) => read.min !== undefined && rows.has(name))
      .filter(([name, read]) => {
        const line = rows.get(name)?.line ?? "";
        const stated = rangeAsDocumented[name];
        if (stated !== undefined) return !line.includes(stated);
        // Whole numbers: a substring match took "1–10" for 1–1 and "10–1000" for 0–100.
        return !new RegExp(`(?<!\\d|\\d[.,])${read.min}(–| to )${read.max}(?!\\d|,\\d)`).test(line);
      })
      .map(([name, read]) => `${name}: ${read.min}–${read.max}`);
    expect(wrong).toEqual([]);
  });
});
