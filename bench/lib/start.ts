// How `npm start` runs the server (package.json), for every process a benchmark puts under test,
// the bare references as much as the server: a benchmark of the server measures it as it is run.
import { readFileSync } from "node:fs";
import { allocatorPreload, PRELOAD_OPTION } from "../../scripts/memory-allocator.mjs";

function startWords(): string[] {
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { scripts: { start: string } };
  return pkg.scripts.start.split(/\s+/);
}

/** The Node options `npm start` gives the server (scripts/node.mjs's own option left out). */
export function startFlags(): string[] {
  return startWords().filter((word) => word.startsWith("--") && word !== PRELOAD_OPTION);
}

/**
 * What `npm start` adds to the environment `env` a process starts with: the malloc it preloads
 * (scripts/memory-allocator.mjs), as MEMORY_ALLOCATOR there decides (`MEMORY_ALLOCATOR=system npm
 * run bench` measures the C library's). Throws as `npm start` refuses a setting.
 */
export function startEnv(env: Record<string, string | undefined>): Record<string, string> {
  if (!startWords().includes(PRELOAD_OPTION)) return {};
  const library = allocatorPreload(env);
  return library === undefined ? {} : { LD_PRELOAD: library };
}
