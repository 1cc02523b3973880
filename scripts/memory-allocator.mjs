// Which malloc `npm start` gives the server (README, Configuration, MEMORY_ALLOCATOR): tcmalloc
// (gperftools' tcmalloc_minimal), preloaded, where the system has it. Under HTTP/2 load glibc's
// malloc makes the collector's full pauses two to three times longer: node:http2 frees hundreds of
// thousands of small nghttp2 buffers inside each pause (one per request header value,
// docs/upstream-node.md), glibc keeps them in its fast bins, and the next large allocation or free
// merges them all at once (malloc_consolidate), 20-30 ms that V8's trace books as the pause's
// sweeping. tcmalloc frees them into per-size lists with no such pass, and, unlike jemalloc with its
// defaults, keeps the 19 MiB an argon2id hash takes for the next one instead of handing it back to
// the kernel and faulting it in again (README, Benchmark, "The C library's malloc inside the pause").
//
// Plain JavaScript without dependencies: scripts/node.mjs, which starts the server, has to run on
// an old Node; bench/lib/processes.ts gives every process under test the same.
import { existsSync } from "node:fs";

/** The option of scripts/node.mjs (first, before Node's own) that asks for this. */
export const PRELOAD_OPTION = "--preload-allocator";

/**
 * The malloc libraries known by name (lib<name>...so): one already in LD_PRELOAD is kept, and the
 * server names the one it runs on (src/malloc.ts).
 */
export const MALLOC_NAMES = ["jemalloc", "tcmalloc", "mimalloc"];
const namedMalloc = new RegExp(`(${MALLOC_NAMES.join("|")})`);

const TCMALLOC = "libtcmalloc_minimal.so.4";
// Where distributions put it: Debian and Ubuntu by multiarch triplet, Fedora and RHEL in lib64,
// Arch in lib; a build from source in /usr/local/lib.
const TRIPLETS = { x64: "x86_64-linux-gnu", arm64: "aarch64-linux-gnu", ppc64: "powerpc64le-linux-gnu", s390x: "s390x-linux-gnu" };

/** The paths where tcmalloc's library is looked for, most specific first. */
export function tcmallocCandidates(arch = process.arch) {
  const triplet = TRIPLETS[arch];
  return [
    ...(triplet === undefined ? [] : [`/usr/lib/${triplet}/${TCMALLOC}`, `/lib/${triplet}/${TCMALLOC}`]),
    `/usr/lib64/${TCMALLOC}`,
    `/usr/lib/${TCMALLOC}`,
    `/usr/local/lib/${TCMALLOC}`,
  ];
}

/**
 * The LD_PRELOAD the server should start with under `env`, or undefined to leave it as it is.
 * MEMORY_ALLOCATOR unset: tcmalloc when one of its paths exists (on Linux), else the C library's
 * malloc, quietly (the server logs which it got); `tcmalloc`: the same, but its absence is an
 * error; `system`: the C library's; an absolute path: that library (jemalloc, mimalloc, ...).
 * A malloc already in LD_PRELOAD is the operator's choice and is kept. Throws a one-line message
 * naming the variable when the setting cannot be had.
 */
export function allocatorPreload(env, { platform = process.platform, arch = process.arch, exists = existsSync } = {}) {
  const asked = (env.MEMORY_ALLOCATOR ?? "").trim();
  if (asked === "system") return undefined;
  if (asked !== "" && asked !== "tcmalloc" && !asked.startsWith("/")) {
    throw new Error(`MEMORY_ALLOCATOR must be tcmalloc, system or the absolute path of a malloc library (got ${JSON.stringify(asked)})`);
  }
  if (platform !== "linux") {
    if (asked === "") return undefined;
    throw new Error(`MEMORY_ALLOCATOR=${asked}: a malloc library can be preloaded on Linux only; leave it unset or set it to system`);
  }
  const current = (env.LD_PRELOAD ?? "").trim();
  if (asked === "" && namedMalloc.test(current)) return undefined;
  let library;
  if (asked.startsWith("/")) {
    if (!exists(asked)) throw new Error(`MEMORY_ALLOCATOR=${asked}: no such file`);
    library = asked;
  } else {
    library = tcmallocCandidates(arch).find((path) => exists(path));
    if (library === undefined) {
      if (asked === "") return undefined;
      throw new Error(
        `MEMORY_ALLOCATOR=tcmalloc: ${TCMALLOC} is not installed (Debian, Ubuntu: apt-get install libtcmalloc-minimal4; Fedora: dnf install gperftools-libs)`,
      );
    }
  }
  if (current.split(/[: ]+/).includes(library)) return undefined;
  return current === "" ? library : `${library}:${current}`;
}
