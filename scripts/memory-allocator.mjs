// Which malloc `npm start` gives the server (README, Configuration, MEMORY_ALLOCATOR): jemalloc,
// preloaded, where the system has it. Under HTTP/2 load glibc's malloc makes the collector's full
// pauses two to three times longer: node:http2 frees hundreds of thousands of small nghttp2 buffers
// inside each pause (one per request header value, docs/upstream-node.md), glibc keeps them in its
// fast bins, and the next large allocation or free merges them all at once (malloc_consolidate),
// 20-30 ms that V8's trace books as the pause's sweeping. jemalloc frees them into size classes with
// no such pass (README, Benchmark, "The C library's malloc inside the pause").
//
// Plain JavaScript without dependencies: scripts/node.mjs, which starts the server, has to run on
// an old Node; bench/lib/processes.ts gives every process under test the same.
import { existsSync } from "node:fs";

/** The option of scripts/node.mjs (first, before Node's own) that asks for this. */
export const PRELOAD_OPTION = "--preload-allocator";

const JEMALLOC = "libjemalloc.so.2";
// Where distributions put it: Debian and Ubuntu by multiarch triplet, Fedora and RHEL in lib64,
// Alpine and Arch in lib; a build from source in /usr/local/lib.
const TRIPLETS = { x64: "x86_64-linux-gnu", arm64: "aarch64-linux-gnu", ppc64: "powerpc64le-linux-gnu", s390x: "s390x-linux-gnu" };

/** The paths where jemalloc's library is looked for, most specific first. */
export function jemallocCandidates(arch = process.arch) {
  const triplet = TRIPLETS[arch];
  return [
    ...(triplet === undefined ? [] : [`/usr/lib/${triplet}/${JEMALLOC}`, `/lib/${triplet}/${JEMALLOC}`]),
    `/usr/lib64/${JEMALLOC}`,
    `/usr/lib/${JEMALLOC}`,
    `/usr/local/lib/${JEMALLOC}`,
  ];
}

/**
 * The LD_PRELOAD the server should start with under `env`, or undefined to leave it as it is.
 * MEMORY_ALLOCATOR unset: jemalloc when one of its paths exists (on Linux), else the C library's
 * malloc, quietly (the server logs which it got); `jemalloc`: the same, but its absence is an
 * error; `system`: the C library's; an absolute path: that library (tcmalloc, mimalloc, ...).
 * A malloc already in LD_PRELOAD is the operator's choice and is kept. Throws a one-line message
 * naming the variable when the setting cannot be had.
 */
export function allocatorPreload(env, { platform = process.platform, arch = process.arch, exists = existsSync } = {}) {
  const asked = (env.MEMORY_ALLOCATOR ?? "").trim();
  if (asked === "system") return undefined;
  if (asked !== "" && asked !== "jemalloc" && !asked.startsWith("/")) {
    throw new Error(`MEMORY_ALLOCATOR must be jemalloc, system or the absolute path of a malloc library (got ${JSON.stringify(asked)})`);
  }
  if (platform !== "linux") {
    if (asked === "") return undefined;
    throw new Error(`MEMORY_ALLOCATOR=${asked}: a malloc library can be preloaded on Linux only; leave it unset or set it to system`);
  }
  const current = (env.LD_PRELOAD ?? "").trim();
  if (asked === "" && /(jemalloc|tcmalloc|mimalloc)/.test(current)) return undefined;
  let library;
  if (asked.startsWith("/")) {
    if (!exists(asked)) throw new Error(`MEMORY_ALLOCATOR=${asked}: no such file`);
    library = asked;
  } else {
    library = jemallocCandidates(arch).find((path) => exists(path));
    if (library === undefined) {
      if (asked === "") return undefined;
      throw new Error(
        `MEMORY_ALLOCATOR=jemalloc: ${JEMALLOC} is not installed (Debian, Ubuntu: apt-get install libjemalloc2; Fedora: dnf install jemalloc; Alpine: apk add jemalloc)`,
      );
    }
  }
  if (current.split(/[: ]+/).includes(library)) return undefined;
  return current === "" ? library : `${library}:${current}`;
}
