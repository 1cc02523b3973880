// Builds the package into dist/: tsc for the hand-written modules, then a copy of the generated
// code (JavaScript with declarations, made by `npx buf generate` at the repository's root).
import { execFileSync } from "node:child_process";
import { cpSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const outDir = process.argv[2] === undefined ? path.join(root, "dist") : path.resolve(process.argv[2]);
const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");

rmSync(outDir, { recursive: true, force: true });
execFileSync(process.execPath, [tsc, "-p", path.join(root, "tsconfig.json"), "--outDir", outDir], { stdio: "inherit" });
cpSync(path.join(root, "src/gen"), path.join(outDir, "gen"), { recursive: true });
