// @authd/client as it would be published: built into a scratch folder, packed (dry run), and its
// built modules loaded by a separate Node process that sees only the package and the dependencies
// its package.json declares. So the package needs nothing else of this repository at run time.
import { execFileSync, spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { repoRoot } from "../support/harness.ts";

const packageRoot = path.join(repoRoot, "packages/client");
const manifest = JSON.parse(readFileSync(path.join(packageRoot, "package.json"), "utf8")) as {
  name: string;
  dependencies: Record<string, string>;
  exports: Record<string, unknown>;
};

let scratch: string;
let pkg: string;

beforeAll(() => {
  scratch = mkdtempSync(path.join(tmpdir(), "authd-client-"));
  pkg = path.join(scratch, "node_modules", manifest.name);
  mkdirSync(pkg, { recursive: true });
  for (const f of ["package.json", "README.md"]) cpSync(path.join(packageRoot, f), path.join(pkg, f));
  execFileSync(process.execPath, [path.join(packageRoot, "scripts/build.mjs"), path.join(pkg, "dist")], { stdio: "pipe" });
}, 120_000);

afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** Links the package's declared dependencies (and these extra ones) into the scratch node_modules. */
function linkDependencies(...extra: string[]): void {
  for (const dep of [...Object.keys(manifest.dependencies), ...extra]) {
    const link = path.join(scratch, "node_modules", dep);
    if (existsSync(link)) continue;
    mkdirSync(path.dirname(link), { recursive: true });
    symlinkSync(path.join(repoRoot, "node_modules", dep), link, "dir");
  }
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: "utf8" }).map((f) => path.join(dir, f));
}

describe("the published package", () => {
  it("packs only its build, README and package.json", () => {
    const out = execFileSync("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], { cwd: pkg, encoding: "utf8" });
    const [packed] = JSON.parse(out) as Array<{ files: Array<{ path: string }> }>;
    const files = packed!.files.map((f) => f.path);
    expect(files.filter((f) => !f.startsWith("dist/")).sort()).toEqual(["README.md", "package.json"]);
    for (const entry of ["dist/index.js", "dist/index.d.ts", "dist/node.js", "dist/node.d.ts", "dist/web.js", "dist/web.d.ts"]) {
      expect(files).toContain(entry);
    }
    expect(files).toContain("dist/gen/auth/v1/auth_service_pb.js");
    expect(files).toContain("dist/gen/google/rpc/error_details_pb.d.ts");
  });

  it("imports only its own files and its declared dependencies", () => {
    const declared = new Set(Object.keys(manifest.dependencies));
    const specifier = /(?:\bfrom\s*|\bimport\s*\(?\s*)["']([^"']+)["']/g;
    for (const file of filesUnder(path.join(pkg, "dist")).filter((f) => f.endsWith(".js") || f.endsWith(".d.ts"))) {
      for (const [, spec] of readFileSync(file, "utf8").matchAll(specifier)) {
        if (spec === undefined) continue;
        if (spec.startsWith(".")) {
          const target = path.resolve(path.dirname(file), spec);
          const found = existsSync(target) || existsSync(target.replace(/\.js$/, ".d.ts"));
          expect(found && target.startsWith(path.join(pkg, "dist")), `${file}: ${spec}`).toBe(true);
        } else {
          const name = spec.startsWith("@") ? spec.split("/").slice(0, 2).join("/") : (spec.split("/")[0] ?? spec);
          expect(declared.has(name) || spec.startsWith("node:"), `${file}: ${spec}`).toBe(true);
        }
      }
    }
  });

  it("loads every entry point in a Node that sees nothing but it and its dependencies", () => {
    linkDependencies();
    const probe = path.join(scratch, "probe.mjs");
    writeFileSync(
      probe,
      `const out = {};
for (const entry of ${JSON.stringify(Object.keys(manifest.exports).filter((e) => !e.includes("*") && !e.endsWith(".json")))}) {
  const m = await import(entry === "." ? "${manifest.name}" : "${manifest.name}/" + entry.slice(2));
  out[entry] = Object.keys(m).filter((k) => ["createAuthdTransport", "createTokenManager", "verifyAccessToken", "createAuthInterceptor", "AuthService", "AuthdError"].includes(k)).sort();
}
const gen = await import("${manifest.name}/gen/google/rpc/error_details_pb");
out.gen = typeof gen.ErrorInfoSchema;
console.log(JSON.stringify(out));`,
    );
    const out = JSON.parse(execFileSync(process.execPath, [probe], { cwd: scratch, encoding: "utf8" })) as Record<string, unknown>;
    const shared = ["AuthService", "AuthdError", "createAuthInterceptor", "createTokenManager", "verifyAccessToken"];
    expect(out).toEqual({
      ".": shared,
      "./node": ["AuthService", "AuthdError", "createAuthInterceptor", "createAuthdTransport", "createTokenManager", "verifyAccessToken"],
      "./web": ["AuthService", "AuthdError", "createAuthInterceptor", "createAuthdTransport", "createTokenManager", "verifyAccessToken"],
      gen: "object",
    });
  });

  it("type-checks a consumer of its declarations, the package's own declarations included (no skipLibCheck)", () => {
    linkDependencies("@types/node");
    writeFileSync(
      path.join(scratch, "consumer.ts"),
      `import { createAuthdClients, createAuthdTransport, createTokenManager, isAuthdError, type VerifiedCaller } from "${manifest.name}/node";
import { createAuthdTransport as webTransport } from "${manifest.name}/web";
import { createAuthInterceptor, requireCaller, type AuthdReason } from "${manifest.name}";
const tokens = createTokenManager({ transport: createAuthdTransport({ baseUrl: "http://localhost:8080" }) });
const authd = createAuthdClients(createAuthdTransport({ baseUrl: "http://localhost:8080", tokens }));
export async function run(): Promise<string | undefined> {
  try {
    return (await authd.auth.getCurrentUser({})).user?.email;
  } catch (err) {
    const reason: AuthdReason | string | undefined = isAuthdError(err) ? err.reason : undefined;
    return reason;
  }
}
export const interceptor = createAuthInterceptor({ jwksUrl: "http://localhost:8080/.well-known/jwks.json", issuer: "authd", audience: "authd" });
export const web = webTransport({ baseUrl: "https://auth.example.com", protocol: "grpc-web" });
export const who = (ctx: Parameters<typeof requireCaller>[0]): VerifiedCaller => requireCaller(ctx);
`,
    );
    const tsc = path.join(repoRoot, "node_modules/typescript/bin/tsc");
    const args = ["--noEmit", "--strict", "--skipLibCheck", "false", "--module", "nodenext", "--moduleResolution", "nodenext"];
    const result = spawnSync(
      process.execPath,
      [tsc, ...args, "--target", "es2022", "--lib", "es2023,dom", "--types", "node", "consumer.ts"],
      {
        cwd: scratch,
        encoding: "utf8",
      },
    );
    expect(result.stdout + result.stderr).toBe("");
    expect(result.status).toBe(0);
  }, 60_000);
});
