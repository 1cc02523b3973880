// What the end-to-end tests behind a real reverse proxy (test/forward-auth/nginx.test.ts and
// caddy.test.ts) share: finding the proxy's binary, starting it as a child on a free port, an
// upstream that records what reached it, and requests sent through the proxy. The cases every
// proxy must pass are in forward-auth-proxy-contract.ts.
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import path from "node:path";
import { type Driver, fetchDriver } from "./drivers.ts";
import type { Harness } from "./harness.ts";

/** The first of `dirs`, then of PATH, that holds an executable called `name`. */
export function findExecutable(name: string, dirs: readonly string[]): string | undefined {
  const all = [...dirs, ...(process.env.PATH ?? "").split(path.delimiter).filter((d) => d !== "")];
  return all.map((d) => path.join(d, name)).find((p) => existsSync(p));
}

/** A loopback port that was free a moment ago (the caller may lose it to another process). */
export async function freePort(): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const { port } = probe.address() as net.AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

/** The headers a client would forge to pass as someone else, with the identity's own names. */
export const forgedIdentity = {
  "x-auth-user-id": "someone-else",
  "x-auth-session-id": "forged",
  "x-auth-roles": "admin",
  "x-auth-permissions": "users.write",
} as const;

export type SeenRequest = http.IncomingHttpHeaders & { url?: string; body?: string };

export interface EchoUpstream {
  port: number;
  /** Every request that reached it, in order: its headers, its URL and its body. */
  seen: SeenRequest[];
  close(): Promise<void>;
}

/** The protected service: records each request and answers 200 with what it got. */
export async function startEchoUpstream(): Promise<EchoUpstream> {
  const seen: SeenRequest[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      seen.push({ ...req.headers, url: req.url, body });
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ url: req.url, headers: req.headers }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    seen,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

export interface ProxyCommand {
  args: string[];
  env?: NodeJS.ProcessEnv;
  /** Read when the proxy fails to start, for the error: its own log file, if it writes one. */
  logFile?: string;
}

export interface RunningProxy {
  /** http://127.0.0.1:<port> */
  url: string;
  stop(): Promise<void>;
}

function exited(child: ChildProcess): Promise<void> {
  return child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve()
    : new Promise((resolve) => child.once("exit", () => resolve()));
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const done = exited(child);
  child.kill("SIGTERM");
  // A graceful stop waits for connections still open; the test has none left that matter.
  const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
  await done;
  clearTimeout(timer);
}

/**
 * Starts `binary` with the command `commandFor` builds for a free port, and waits until that port
 * answers with the proxy's own `Server` header (not some other process that took the port first).
 * A start that fails (the port taken between freePort and the proxy's bind, usually) is tried again
 * on another port; the third failure throws with the proxy's output.
 */
export async function startProxy(binary: string, serverHeader: RegExp, commandFor: (port: number) => ProxyCommand): Promise<RunningProxy> {
  const failures: string[] = [];
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const command = commandFor(port);
    const child = spawn(binary, command.args, { stdio: ["ignore", "pipe", "pipe"], env: command.env ?? process.env });
    let output = "";
    const keep = (chunk: Buffer) => {
      // Enough to say why it failed; a proxy that logs every request must not grow this forever.
      if (output.length < 64 * 1024) output += chunk.toString();
    };
    child.stdout?.on("data", keep);
    child.stderr?.on("data", keep);
    const url = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + 15000;
    let ready = false;
    while (!ready && child.exitCode === null && Date.now() < deadline) {
      const server = await fetch(`${url}/`, { redirect: "manual" }).then(
        (res) => res.headers.get("server") ?? "",
        () => undefined,
      );
      if (server !== undefined && serverHeader.test(server)) ready = true;
      else await new Promise((r) => setTimeout(r, 25));
    }
    if (ready) return { url, stop: () => stopChild(child) };
    await stopChild(child);
    const log = command.logFile !== undefined && existsSync(command.logFile) ? readFileSync(command.logFile, "utf8") : "";
    failures.push(`port ${port}: ${child.exitCode === null ? "no answer in 15 s" : `exited ${child.exitCode}`}\n${output}${log}`);
  }
  throw new Error(`${path.basename(binary)} did not start:\n${failures.join("\n")}`);
}

export interface SignedIn {
  accessToken: string;
  sessionId: string;
  userId: string;
  /** The client that signed in, for calling as this user. */
  d: Driver;
}

export const password = "correct horse battery staple";

/** Registers `email` and signs in (the harness must not require a verified email). */
export async function signIn(h: Harness, email: string): Promise<SignedIn> {
  const d = fetchDriver(h.url, "reverse-proxy-test");
  await d.call("AuthService/Register", { email, password });
  const login = await d.call("AuthService/Login", { email, password });
  const me = await d.call("AuthService/GetCurrentUser", {}, login.tokens.accessToken);
  return { accessToken: login.tokens.accessToken, sessionId: login.tokens.sessionId, userId: me.user.id, d };
}

export interface ThroughAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  /** What the upstream got, when this request reached it. */
  upstream: SeenRequest | undefined;
}

export interface ThroughOptions {
  method?: string;
  body?: string;
  /** The client's own address: 127.0.0.2 makes it differ from the proxy's (127.0.0.1). */
  localAddress?: string;
}

/**
 * Requests to `front` (the proxy), each on a connection of its own, with header names sent
 * exactly as spelled (X_Auth_User_Id, X-AUTH-USER-ID), and redirects not followed.
 */
export function throughProxy(front: string, upstream: EchoUpstream) {
  return (pathname: string, headers: Record<string, string> = {}, options: ThroughOptions = {}): Promise<ThroughAnswer> =>
    new Promise((resolve, reject) => {
      const before = upstream.seen.length;
      const req = http.request(
        `${front}${pathname}`,
        { method: options.method ?? "GET", headers, localAddress: options.localAddress, agent: false },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (chunk: Buffer) => chunks.push(chunk));
          res.on("error", reject);
          res.on("end", () =>
            resolve({
              status: res.statusCode ?? 0,
              headers: res.headers,
              body: Buffer.concat(chunks).toString("utf8"),
              upstream: upstream.seen.length > before ? upstream.seen[upstream.seen.length - 1] : undefined,
            }),
          );
        },
      );
      req.on("error", reject);
      req.end(options.body);
    });
}
