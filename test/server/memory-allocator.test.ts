// `npm start` preloads tcmalloc where the system has one (scripts/memory-allocator.mjs says why),
// MEMORY_ALLOCATOR decides, and the server logs which malloc it got (src/malloc.ts). The rules are
// checked on a made-up file system; then `npm start`'s own command line is run as npm runs it and
// the server's log, which reads its own /proc/self/maps, says what the dynamic loader did.
import { existsSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { startEnv, startFlags } from "../../bench/lib/start.ts";
import { allocatorPreload, PRELOAD_OPTION, tcmallocCandidates } from "../../scripts/memory-allocator.mjs";
import { mallocInUse, mallocOf } from "../../src/malloc.ts";
import { startMain } from "../support/main-process.ts";

const DEBIAN = "/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4";
const JEMALLOC = "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2";
const linux = (...present: string[]) => ({ platform: "linux", arch: "x64", exists: (p: string) => present.includes(p) });

describe("which malloc npm start preloads", () => {
  it("tcmalloc where the system has one, looked for where distributions put it", () => {
    expect(allocatorPreload({}, linux(DEBIAN))).toBe(DEBIAN);
    expect(allocatorPreload({}, linux("/usr/lib64/libtcmalloc_minimal.so.4"))).toBe("/usr/lib64/libtcmalloc_minimal.so.4");
    expect(allocatorPreload({}, linux("/usr/lib/libtcmalloc_minimal.so.4"))).toBe("/usr/lib/libtcmalloc_minimal.so.4");
    expect(tcmallocCandidates("arm64")[0]).toBe("/usr/lib/aarch64-linux-gnu/libtcmalloc_minimal.so.4");
    // Debian's own path before a build in /usr/local.
    expect(allocatorPreload({}, linux("/usr/local/lib/libtcmalloc_minimal.so.4", DEBIAN))).toBe(DEBIAN);
  });

  it("the C library's, quietly, where there is none or off Linux, unless tcmalloc was asked for", () => {
    expect(allocatorPreload({}, linux())).toBeUndefined();
    expect(allocatorPreload({ MEMORY_ALLOCATOR: "" }, linux())).toBeUndefined();
    expect(allocatorPreload({}, { platform: "darwin", exists: () => true })).toBeUndefined();
    expect(() => allocatorPreload({ MEMORY_ALLOCATOR: "tcmalloc" }, linux())).toThrow(
      /^MEMORY_ALLOCATOR=tcmalloc: libtcmalloc_minimal.so.4 is not installed \(Debian, Ubuntu: apt-get install libtcmalloc-minimal4/,
    );
    expect(() => allocatorPreload({ MEMORY_ALLOCATOR: "tcmalloc" }, { platform: "darwin", exists: () => true })).toThrow(/Linux only/);
  });

  it("MEMORY_ALLOCATOR=system keeps the C library's; an absolute path preloads that library", () => {
    expect(allocatorPreload({ MEMORY_ALLOCATOR: "system" }, linux(DEBIAN))).toBeUndefined();
    expect(allocatorPreload({ MEMORY_ALLOCATOR: JEMALLOC }, linux(JEMALLOC, DEBIAN))).toBe(JEMALLOC);
    expect(() => allocatorPreload({ MEMORY_ALLOCATOR: "/nowhere/libmalloc.so" }, linux(DEBIAN))).toThrow(
      "MEMORY_ALLOCATOR=/nowhere/libmalloc.so: no such file",
    );
  });

  it("refuses any other value, naming the variable and what it takes", () => {
    for (const bad of ["jemalloc", "TCMALLOC", "libtcmalloc_minimal.so.4", "yes"]) {
      expect(() => allocatorPreload({ MEMORY_ALLOCATOR: bad }, linux(DEBIAN))).toThrow(
        /^MEMORY_ALLOCATOR must be tcmalloc, system or the absolute path of a malloc library/,
      );
    }
  });

  it("keeps the operator's LD_PRELOAD: a malloc already there wins, other libraries stay after tcmalloc", () => {
    expect(allocatorPreload({ LD_PRELOAD: "/opt/libmimalloc.so" }, linux(DEBIAN))).toBeUndefined();
    expect(allocatorPreload({ LD_PRELOAD: JEMALLOC }, linux(DEBIAN))).toBeUndefined();
    expect(allocatorPreload({ LD_PRELOAD: DEBIAN }, linux(DEBIAN))).toBeUndefined();
    expect(allocatorPreload({ LD_PRELOAD: "/opt/libtrace.so" }, linux(DEBIAN))).toBe(`${DEBIAN}:/opt/libtrace.so`);
  });

  it("is what the benchmark gives every process under test, which MEMORY_ALLOCATOR=system turns off", () => {
    expect(startFlags()).not.toContain(PRELOAD_OPTION);
    expect(startEnv({ MEMORY_ALLOCATOR: "system" })).toEqual({});
    const library = allocatorPreload({});
    expect(startEnv({})).toEqual(library === undefined ? {} : { LD_PRELOAD: library });
  });
});

describe("the malloc a process runs on, from /proc/<pid>/maps", () => {
  const line = (file: string) => `7f2a1c000000-7f2a1c0a0000 r-xp 00000000 08:01 1234   ${file}\n`;
  it("names a preloaded jemalloc, tcmalloc or mimalloc, else the C library's", () => {
    const libc = line("/usr/lib/x86_64-linux-gnu/libc.so.6");
    expect(mallocOf(libc + line(JEMALLOC))).toBe("jemalloc");
    expect(mallocOf(libc + line("/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4.5.10"))).toBe("tcmalloc");
    expect(mallocOf(libc + line("/opt/mimalloc/libmimalloc.so.2.1"))).toBe("mimalloc");
    expect(mallocOf(libc + line("/work/node_modules/argon2/prebuilds/linux-x64/argon2.glibc.node"))).toBe("system");
    expect(mallocInUse(() => libc)).toBe("system");
    expect(
      mallocInUse(() => {
        throw new Error("ENOENT");
      }),
    ).toBe("system");
  });
});

// The first needs the library itself: Debian's libtcmalloc-minimal4, which .ci/run installs.
describe.skipIf(process.platform !== "linux")("npm start", () => {
  const installed = tcmallocCandidates().some((p) => existsSync(p));

  async function allocatorOf(env: Record<string, string | undefined>): Promise<string> {
    const server = await startMain({ LD_PRELOAD: undefined, ...env }, { asNpmStart: true });
    if (!("pid" in server)) throw new Error(`the server did not start: ${server.output}`);
    try {
      await server.waitFor('"msg":"memory allocator"');
      const line = server
        .output()
        .split("\n")
        .find((l) => l.includes('"msg":"memory allocator"'));
      return (JSON.parse(line as string) as { allocator: string }).allocator;
    } finally {
      await server.stop();
    }
  }

  // Skipped, saying so in its name, only where the library is missing.
  it.skipIf(!installed)(
    "runs the server on tcmalloc (libtcmalloc-minimal4 is installed here)",
    async () => {
      expect(await allocatorOf({ MEMORY_ALLOCATOR: undefined })).toBe("tcmalloc");
      expect(await allocatorOf({ MEMORY_ALLOCATOR: "tcmalloc" })).toBe("tcmalloc");
    },
    40_000,
  );

  it("runs it on the C library's malloc with MEMORY_ALLOCATOR=system", async () => {
    expect(await allocatorOf({ MEMORY_ALLOCATOR: "system" })).toBe("system");
  }, 20_000);

  it("refuses a MEMORY_ALLOCATOR it cannot honour before the server starts: one line, exit 78", async () => {
    const refused = await startMain({ MEMORY_ALLOCATOR: "/nowhere/libtcmalloc.so" }, { asNpmStart: true });
    expect(refused).toEqual({ exitCode: 78, output: "MEMORY_ALLOCATOR=/nowhere/libtcmalloc.so: no such file\n" });
  }, 20_000);
});
