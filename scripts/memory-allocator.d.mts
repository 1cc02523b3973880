// Types of memory-allocator.mjs (plain JavaScript: scripts/node.mjs runs on an old Node).
export declare const PRELOAD_OPTION: string;
export declare const MALLOC_NAMES: readonly string[];
export declare function tcmallocCandidates(arch?: string): string[];
export declare function allocatorPreload(
  env: Record<string, string | undefined>,
  system?: { platform?: string; arch?: string; exists?: (path: string) => boolean },
): string | undefined;
