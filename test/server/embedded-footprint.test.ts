// On the embedded store the MongoDB driver is never loaded: its module graph and BSON's 17 MiB
// buffer cost every process that read the configuration about 10 MiB of resident memory idle and
// 7 MiB of heap, which V8's old generation then grows two- or threefold under load. Checked in a
// fresh process: the test runner's own workers may have loaded the driver for other tests.
import { spawnSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");

/** The MongoDB packages a fresh Node has loaded after running `code` (an ES module body). */
function mongoPackagesLoadedBy(code: string): string[] {
  const probe = `${code}
const { createRequire } = await import("node:module");
const cache = createRequire(process.cwd() + "/").cache;
console.log(JSON.stringify([...new Set(Object.keys(cache).map((f) => /node_modules\\/(mongodb[^/]*|bson)\\//.exec(f)?.[1]).filter(Boolean))]));`;
  const run = spawnSync(process.execPath, ["--input-type=module", "-e", probe], {
    cwd: root,
    encoding: "utf8",
    env: { ...process.env, LOG_LEVEL: "silent" },
  });
  expect(run.status, run.stderr).toBe(0);
  return JSON.parse(run.stdout.trim().split("\n").pop() ?? "[]") as string[];
}

describe("the embedded store's footprint", () => {
  it("reading the configuration, loading the server and composing the service on the embedded store loads no MongoDB package", () => {
    const loaded = mongoPackagesLoadedBy(`
const { loadConfig } = await import("./src/config.ts");
const { composeService } = await import("./src/server/compose.ts");
await import("./src/server/app.ts");
const config = loadConfig({ LOG_LEVEL: "silent", EMAIL_VERIFICATION_REQUIRED: "false" }, () => "");
const service = await composeService(config);
await service.store.close();`);
    expect(loaded).toEqual([]);
  });

  it("a MongoDB URI loads the driver, to check it at start", () => {
    const loaded = mongoPackagesLoadedBy(`
const { loadConfig } = await import("./src/config.ts");
loadConfig({ LOG_LEVEL: "silent", MONGODB_URI: "mongodb://db.example:27017/authd", SERVER_SECRET: "ab".repeat(32) }, () => "");`);
    expect(loaded).toContain("mongodb");
  });
});
