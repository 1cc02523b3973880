// What the common-password list costs: the file on disk, the memory of the loaded list against a
// plain Set of the same strings, load time and lookups per second. A benchmark, not a test: it
// prints numbers for a person to read. Run: npm run bench:common-passwords (needs --expose-gc,
// which the npm script passes).
import { readFileSync, statSync } from "node:fs";
import { brotliDecompressSync } from "node:zlib";
import { isCommonPassword, loadCommonPasswordList, type CommonPasswordList } from "../src/passwords/common-passwords.ts";

const file = new URL("../src/passwords/common-passwords.br", import.meta.url);
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error("run with node --expose-gc (npm run bench:common-passwords)");

/** Everything the process holds for JavaScript: the heap and the buffers outside it (external includes arrayBuffers). */
function held(): number {
  gc?.();
  gc?.();
  const m = process.memoryUsage();
  return m.heapUsed + m.external;
}
const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(2)} MiB`;

const entries = brotliDecompressSync(readFileSync(file)).toString("utf8").split("\n");
// Half hits, half misses (each entry with a letter appended that no suffix rule strips).
const probes = entries.filter((_, i) => i % 50 === 0).flatMap((e) => [e, `${e}q`]);

let base = held();
const loadStart = performance.now();
let list: CommonPasswordList | undefined = loadCommonPasswordList(file);
const loadMs = performance.now() - loadStart;
const listBytes = held() - base;

base = held();
// The same strings in a Set, each its own string (not slices of one big string, as split() makes).
let set: Set<string> | undefined = new Set(entries.map((e) => ` ${e}`.slice(1)));
const setBytes = held() - base;

function rate(label: string, lookup: (s: string) => boolean): void {
  const rounds = 20;
  let hits = 0;
  const start = performance.now();
  for (let r = 0; r < rounds; r++) for (const p of probes) if (lookup(p)) hits++;
  const seconds = (performance.now() - start) / 1000;
  const n = rounds * probes.length;
  console.log(`  ${label}: ${Math.round(n / seconds).toLocaleString("en")} lookups/s (${n} lookups, ${hits} hits)`);
}

console.log(`file: ${statSync(file).size} bytes brotli, ${entries.length} entries`);
console.log(`load (decompress + index): ${loadMs.toFixed(1)} ms`);
console.log(
  `memory: loaded list ${mib(listBytes)} (${list.size} entries), Set of the same strings ${mib(setBytes)} (${(setBytes / listBytes).toFixed(1)}x)`,
);
console.log("lookups (half hits, half misses):");
const theList = list;
const theSet = set;
rate("list.has (binary search over the bytes)", (p) => theList.has(p));
rate("isCommonPassword (exact + up to 4 stripped digits/symbols)", (p) => isCommonPassword(p, theList));
rate("Set.has", (p) => theSet.has(p));
list = undefined;
set = undefined;
