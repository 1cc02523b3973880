// Which malloc this process runs on, for the log at start: `npm start` preloads tcmalloc where the
// system has one (scripts/memory-allocator.mjs says why: the collector's pauses under HTTP/2 load),
// and falls back to the C library's quietly, so the server says which it got.
import { readFileSync } from "node:fs";
import { MALLOC_NAMES } from "../scripts/memory-allocator.mjs";

const PRELOADABLE = new RegExp(`/lib(${MALLOC_NAMES.join("|")})[^/\\s]*\\.so`);

/** The malloc library mapped into a process whose /proc/<pid>/maps reads `maps`, or "system" (the C library's). */
export function mallocOf(maps: string): string {
  return PRELOADABLE.exec(maps)?.[1] ?? "system";
}

/** This process's malloc; "system" where /proc cannot tell (not Linux). */
export function mallocInUse(read: (path: string) => string = (path) => readFileSync(path, "utf8")): string {
  try {
    return mallocOf(read("/proc/self/maps"));
  } catch {
    return "system";
  }
}
