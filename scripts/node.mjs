// `node scripts/node.mjs [node arguments...]` runs `node [node arguments...]` on a Node that can run
// this project's TypeScript (type stripping on by default: >= 22.18). On such a Node it simply runs
// the same Node again. On an older one it fetches Node 24 once from the npm registry
// (`npm pack node-<platform>-<arch>@24`, unpacked with the system tar) into .cache/node/ and runs
// that, forwarding SIGINT/SIGTERM/SIGHUP and passing on the exit code or signal.
// `node scripts/node.mjs --print-path` prints the path of that Node instead (for .ci/run).
// `node scripts/node.mjs --preload-allocator [node arguments...]` also preloads tcmalloc into it
// where the system has one (`npm start`: memory-allocator.mjs says why; MEMORY_ALLOCATOR decides).
// Plain JavaScript without dependencies: it has to run on the old Node it replaces.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync } from "node:fs";
import { constants } from "node:os";
import { delimiter, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { allocatorPreload, PRELOAD_OPTION } from "./memory-allocator.mjs";

const MAJOR = "24";

// Type stripping runs unflagged from Node 22.18 (22.x), 23.6 (23.x) and in every later release.
function canRunTypeScript(version) {
  const [major, minor] = version.split(".").map(Number);
  return major > 23 || (major === 23 && minor >= 6) || (major === 22 && minor >= 18);
}

// The path of a Node that runs the TypeScript: this one, or Node 24 from the npm registry (cached).
function supportedNode() {
  if (canRunTypeScript(process.versions.node)) return process.execPath;

  const platform = process.platform === "win32" ? "win" : process.platform;
  const pkg = `node-${platform}-${process.arch}@${MAJOR}`;
  const exe = join("bin", process.platform === "win32" ? "node.exe" : "node");
  const cacheDir = join(dirname(fileURLToPath(import.meta.url)), "..", ".cache", "node");
  const home = join(cacheDir, pkg.replace("@", "-"));
  if (existsSync(join(home, exe))) return join(home, exe);

  // One line, finished by "done" or by why it failed and what to install instead.
  process.stderr.write(
    `Node ${process.version} cannot run this project's TypeScript: fetching ${pkg} from the npm registry into .cache/node/ (once) ... `,
  );
  let tmp;
  let failed = false;
  try {
    mkdirSync(cacheDir, { recursive: true });
    // Unpack into a private directory and rename it into place: a concurrent run finds either the
    // whole directory or none, never a half-extracted one.
    tmp = mkdtempSync(join(cacheDir, ".tmp-"));
    // Under `npm run`, npm_execpath is the npm that runs us; otherwise npm from PATH.
    const npmCli = process.env.npm_execpath;
    const [cmd, pre] = npmCli && /npm-cli\.c?js$/.test(npmCli) ? [process.execPath, [npmCli]] : ["npm", []];
    const packed = spawnSync(cmd, [...pre, "pack", pkg, "--loglevel=error", "--pack-destination", tmp], {
      cwd: tmp,
      encoding: "utf8",
      shell: process.platform === "win32" && cmd === "npm",
    });
    if (packed.status !== 0) {
      const code = /npm error code (\S+)/.exec(packed.stderr ?? "")?.[1] ?? packed.error?.code ?? `exit ${packed.status}`;
      throw new Error(`npm pack ${pkg}: ${code}`);
    }
    const tarball = readdirSync(tmp).find((name) => name.endsWith(".tgz"));
    const untar = spawnSync("tar", ["-xzf", tarball ?? "(no tarball)"], { cwd: tmp, encoding: "utf8" });
    if (untar.status !== 0) throw new Error(`tar could not unpack ${tarball ?? "the package"}`);
    const fetched = spawnSync(join(tmp, "package", exe), ["--version"], { encoding: "utf8" });
    if (fetched.status !== 0) throw new Error(`the fetched ${pkg} does not run on this machine`);
    try {
      renameSync(join(tmp, "package"), home);
    } catch (err) {
      if (!existsSync(join(home, exe))) throw err; // else a concurrent run put it in place first
    }
    process.stderr.write(`done (${fetched.stdout.trim()})\n`);
  } catch (err) {
    process.stderr.write(`failed (${err.message}): install Node.js >= 22.18 (e.g. \`nvm install\`, which reads .nvmrc) and try again\n`);
    failed = true;
  } finally {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  }
  if (failed) process.exit(1);
  return join(home, exe);
}

const args = process.argv.slice(2);
const preload = args[0] === PRELOAD_OPTION;
if (preload) args.shift();
const node = supportedNode();
if (args[0] === "--print-path") {
  console.log(node);
  process.exit(0);
}

// Programs the child starts by name ("node") get the same Node.
const env = { ...process.env };
if (node !== process.execPath) {
  const key = Object.keys(env).find((k) => k.toUpperCase() === "PATH") ?? "PATH";
  env[key] = env[key] ? dirname(node) + delimiter + env[key] : dirname(node);
}
if (preload) {
  try {
    const library = allocatorPreload(env);
    if (library !== undefined) env.LD_PRELOAD = library;
  } catch (err) {
    console.error(err.message);
    process.exit(78); // EX_CONFIG, as src/main.ts exits on a setting it refuses
  }
}

const child = spawn(node, args, { stdio: "inherit", env });
const signals = ["SIGINT", "SIGTERM", "SIGHUP"];
const forward = (signal) => child.kill(signal);
for (const signal of signals) process.on(signal, forward);
child.on("error", (err) => {
  console.error(`could not start ${node}: ${err.message}`);
  process.exit(1);
});
child.on("exit", (code, signal) => {
  for (const s of signals) process.off(s, forward);
  if (signal) {
    // Die of the same signal, so the caller sees what the child saw.
    process.kill(process.pid, signal);
    setTimeout(() => process.exit(128 + (constants.signals[signal] ?? 0)), 1000);
  } else {
    process.exit(code ?? 1);
  }
});
