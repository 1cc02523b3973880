// Builds the package into dist/: tsc for the hand-written modules, then a copy of the generated
// code (JavaScript with declarations, made by `npx buf generate` at the repository's root).
import { execFileSync } from "node:child_process";
import { cpSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const outDir = process.argv[2] === undefined ? path.join(root, "dist") : path.resolve(process.argv[2]);
const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");

rmSync(outDir, { recursive: true, force: true });
execFileSync(process.execPath, [tsc, "-p", path.join(root, "tsconfig.json"), "--outDir", outDir], { stdio: "inherit" });
// The sources import each other as ./x.ts, which tsc rewrites to ./x.js in the JavaScript but not
// in the declarations; a consumer's TypeScript expects ./x.js there too.
for (const name of readdirSync(outDir).filter((f) => f.endsWith(".d.ts"))) {
  const file = path.join(outDir, name);
  writeFileSync(file, readFileSync(file, "utf8").replace(/(from\s+|import\()(["'])(\.\.?\/[^"']+)\.ts\2/g, "$1$2$3.js$2"));
}
cpSync(path.join(root, "src/gen"), path.join(outDir, "gen"), { recursive: true });
