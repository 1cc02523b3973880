// The real server as an operator starts it: `node src/main.ts` in a child process, on a port of
// its choosing, with the environment of this process and the test's variables.
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { repoRoot } from "./harness.ts";

export interface MainProcess {
  pid: number;
  port: number;
  /** Its standard output so far (the JSON log lines). */
  output(): string;
  /** Its standard error so far. */
  errors(): string;
  /** Resolves once its output holds `text` (a log line written after it began listening); rejects after `ms`. */
  waitFor(text: string, ms?: number): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Starts it and resolves once it listens; or with its exit code if it exits first (a refused
 * configuration) or does not listen within 20 s (then killed). Variables set to undefined in
 * `env` are left out.
 */
export async function startMain(
  env: Record<string, string | undefined>,
  options: {
    /** Started under `nice -n` this much (coreutils' nice execs Node: the pid is the server's). */
    nice?: number;
    /** Pinned to these CPUs (`taskset -c`, which execs Node too). */
    cpus?: string;
    /** Options for Node itself, before the script (`npm start`'s, say). */
    nodeFlags?: string[];
    /**
     * Started by package.json's start script itself (its `node` this Node), launcher and all, as
     * `npm start` starts it: `pid` is then scripts/node.mjs's, whose child is the server.
     */
    asNpmStart?: boolean;
  } = {},
): Promise<MainProcess | { exitCode: number | null; output: string }> {
  const merged: Record<string, string | undefined> = { ...process.env, PORT: "0", HOST: "127.0.0.1", LOG_LEVEL: "info", ...env };
  for (const [name, value] of Object.entries(merged)) if (value === undefined) delete merged[name];
  const command = [
    ...(options.cpus === undefined ? [] : ["taskset", "-c", options.cpus]),
    ...(options.nice === undefined ? [] : ["nice", "-n", String(options.nice)]),
    process.execPath,
    ...(options.nodeFlags ?? []),
  ];
  if (options.asNpmStart === true) {
    const pkg = JSON.parse(readFileSync(path.join(repoRoot, "package.json"), "utf8")) as { scripts: { start: string } };
    const [node, ...args] = pkg.scripts.start.split(/\s+/);
    if (node !== "node" || args.at(-1) !== "src/main.ts") throw new Error(`npm start is not "node ... src/main.ts": ${pkg.scripts.start}`);
    command.push(...args.slice(0, -1));
  }
  const child = spawn(command[0] as string, [...command.slice(1), "src/main.ts"], {
    cwd: repoRoot,
    env: merged,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stderr.on("data", (c: Buffer) => {
    stderr += c.toString();
  });
  // "close", not "exit": the output is read to its end before the exit is reported.
  const exited = new Promise<number | null>((resolve) => child.once("close", (code) => resolve(code)));
  let started: NodeJS.Timeout | undefined;
  const port = await Promise.race([
    new Promise<number>((resolve) => {
      child.stdout.on("data", (c: Buffer) => {
        stdout += c.toString();
        const m = /"port":(\d+)/.exec(stdout);
        if (m !== null) resolve(Number(m[1]));
      });
    }),
    exited.then(() => undefined),
    new Promise<undefined>((resolve) => {
      started = setTimeout(() => {
        child.kill("SIGKILL");
        resolve(undefined);
      }, 20_000);
    }),
  ]);
  clearTimeout(started);
  if (port === undefined || child.pid === undefined) return { exitCode: await exited, output: stdout + stderr };
  return {
    pid: child.pid,
    port,
    output: () => stdout,
    errors: () => stderr,
    waitFor: (text, ms = 10_000) =>
      new Promise<void>((resolve, reject) => {
        if (stdout.includes(text)) return resolve();
        const timer = setTimeout(() => {
          child.stdout.off("data", seen);
          reject(new Error(`no "${text}" in the server's output after ${ms} ms:\n${stdout}`));
        }, ms);
        const seen = () => {
          if (!stdout.includes(text)) return;
          clearTimeout(timer);
          child.stdout.off("data", seen);
          resolve();
        };
        child.stdout.on("data", seen);
        void exited.then((code) => {
          clearTimeout(timer);
          reject(new Error(`the server exited (${code}) before "${text}" appeared:\n${stdout}${stderr}`));
        });
      }),
    async stop() {
      child.kill("SIGTERM");
      // A server that does not stop within its shutdown's bounds is killed, not left running.
      const kill = setTimeout(() => child.kill("SIGKILL"), 15_000);
      await exited;
      clearTimeout(kill);
    },
  };
}
