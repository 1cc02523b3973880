// The real server as an operator starts it: `node src/main.ts` in a child process, on a port of
// its choosing, with the environment of this process and the test's variables.
import { spawn } from "node:child_process";
import { repoRoot } from "./harness.ts";

export interface MainProcess {
  pid: number;
  port: number;
  /** Its standard output so far (the JSON log lines). */
  output(): string;
  /** Resolves once its output holds `text` (a log line written after it began listening); rejects after `ms`. */
  waitFor(text: string, ms?: number): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Starts it and resolves once it listens; or with its exit code if it exits first (a refused
 * configuration). Variables set to undefined in `env` are left out.
 */
export async function startMain(
  env: Record<string, string | undefined>,
): Promise<MainProcess | { exitCode: number | null; output: string }> {
  const merged: Record<string, string | undefined> = { ...process.env, PORT: "0", HOST: "127.0.0.1", LOG_LEVEL: "info", ...env };
  for (const [name, value] of Object.entries(merged)) if (value === undefined) delete merged[name];
  const child = spawn(process.execPath, ["src/main.ts"], { cwd: repoRoot, env: merged, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stderr.on("data", (c: Buffer) => {
    stderr += c.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const port = await Promise.race([
    new Promise<number>((resolve) => {
      child.stdout.on("data", (c: Buffer) => {
        stdout += c.toString();
        const m = /"port":(\d+)/.exec(stdout);
        if (m !== null) resolve(Number(m[1]));
      });
    }),
    exited.then(() => undefined),
  ]);
  if (port === undefined || child.pid === undefined) return { exitCode: await exited, output: stdout + stderr };
  return {
    pid: child.pid,
    port,
    output: () => stdout,
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
      }),
    async stop() {
      child.kill("SIGTERM");
      await exited;
    },
  };
}
