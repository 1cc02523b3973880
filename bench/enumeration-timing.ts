// Does the answer time of RequestPasswordReset, ResendVerificationEmail or RequestEmailSignIn tell whether an address
// has an account? A benchmark, not a test: it prints figures and p-values for a person to read.
// Run: npm run bench:enumeration   (N=1000 by default; N=300 npm run bench:enumeration)
//
// The server runs in a child process pinned to one core (taskset, when present), the client on the
// other, over one keep-alive HTTP/1.1 connection. For each route, requests for registered
// (unverified) and unknown addresses alternate, so drift in machine load affects both alike. Mail
// limits are off, so every request for a registered address does the whole lookup-and-mail work.
// Two tests per route: Welch's t-test on the means and Mann-Whitney U on the distributions
// (normal approximation, ties averaged); a small p-value means the two can be told apart.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const self = fileURLToPath(import.meta.url);

interface Route {
  name: string;
  path: string;
  body: (email: string) => object;
}

const routes: Route[] = [
  { name: "RPC RequestPasswordReset", path: "/auth.v1.AuthService/RequestPasswordReset", body: (email) => ({ email }) },
  { name: "RPC ResendVerificationEmail", path: "/auth.v1.AuthService/ResendVerificationEmail", body: (email) => ({ email }) },
  { name: "RPC RequestEmailSignIn", path: "/auth.v1.EmailSignInService/RequestEmailSignIn", body: (email) => ({ email }) },
  { name: "REST /api/v1/auth/forgot-password", path: "/api/v1/auth/forgot-password", body: (email) => ({ email }) },
  { name: "REST /api/v1/auth/resend-verification", path: "/api/v1/auth/resend-verification", body: (email) => ({ email }) },
];

function startServerProcess(): Promise<{ url: string; stop(): void }> {
  const pin = existsSync("/usr/bin/taskset") || existsSync("/bin/taskset");
  const [cmd, args] = pin ? ["taskset", ["-c", "0", process.execPath, self]] : [process.execPath, [self]];
  const child = spawn(cmd, args, { env: { ...process.env, BENCH_ROLE: "server" }, stdio: ["ignore", "pipe", "inherit"] });
  return new Promise((resolve, reject) => {
    let out = "";
    child.stdout.on("data", (chunk: Buffer) => {
      out += chunk.toString("utf8");
      const line = out.split("\n")[0];
      if (out.includes("\n") && line !== undefined) resolve({ url: line.trim(), stop: () => child.kill("SIGTERM") });
    });
    child.on("exit", (code) => reject(new Error(`server exited with ${code}`)));
  });
}

function mean(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

function variance(xs: number[]): number {
  const m = mean(xs);
  return xs.reduce((a, b) => a + (b - m) ** 2, 0) / (xs.length - 1);
}

function quantile(xs: number[], q: number): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
}

/** Two-sided p-value of a standard normal statistic (Abramowitz-Stegun 7.1.26 for erf). */
function twoSidedP(z: number): number {
  const x = Math.abs(z) / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * x);
  const poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  const erf = 1 - poly * Math.exp(-x * x);
  return 1 - erf;
}

/** Welch's t statistic; with samples of hundreds the t distribution is the normal one to 3 digits. */
function welch(a: number[], b: number[]): { t: number; p: number } {
  const t = (mean(a) - mean(b)) / Math.sqrt(variance(a) / a.length + variance(b) / b.length);
  return { t, p: twoSidedP(t) };
}

/** Mann-Whitney U with average ranks for ties and the normal approximation. */
function mannWhitney(a: number[], b: number[]): { z: number; p: number } {
  const all = [...a.map((v) => ({ v, g: 0 })), ...b.map((v) => ({ v, g: 1 }))].sort((x, y) => x.v - y.v);
  const ranks = new Array<number>(all.length);
  for (let i = 0; i < all.length; ) {
    let j = i;
    while (j + 1 < all.length && all[j + 1]?.v === all[i]?.v) j++;
    for (let k = i; k <= j; k++) ranks[k] = (i + j) / 2 + 1;
    i = j + 1;
  }
  let rankSumA = 0;
  all.forEach((x, i) => {
    if (x.g === 0) rankSumA += ranks[i] ?? 0;
  });
  const n1 = a.length;
  const n2 = b.length;
  const u = rankSumA - (n1 * (n1 + 1)) / 2;
  const z = (u - (n1 * n2) / 2) / Math.sqrt((n1 * n2 * (n1 + n2 + 1)) / 12);
  return { z, p: twoSidedP(z) };
}

function fmtP(p: number): string {
  if (p < 1e-15) return "<1e-15";
  return p < 0.0001 ? p.toExponential(1) : p.toFixed(4);
}

async function runClient(): Promise<void> {
  const n = Number(process.env.N ?? 1000);
  const server = await startServerProcess();
  const post = async (path: string, body: object): Promise<number> => {
    const started = performance.now();
    const res = await fetch(`${server.url}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    await res.text();
    const took = performance.now() - started;
    if (res.status >= 300) throw new Error(`${path}: HTTP ${res.status}`);
    return took;
  };
  try {
    // Registered but unverified, so that both routes have mail to send for them.
    const pool = 20;
    const known = Array.from({ length: pool }, (_, i) => `known${i}@example.com`);
    const unknown = Array.from({ length: pool }, (_, i) => `unknown${i}@example.com`);
    for (const email of known) await post("/auth.v1.AuthService/Register", { email, password: "a long enough password 1" });
    console.log(`enumeration timing: N=${n} per class per route, interleaved, server ${server.url}`);
    let worst = 1;
    for (const route of routes) {
      // Warm-up, not measured.
      for (let i = 0; i < 50; i++) {
        await post(route.path, route.body(known[i % pool] ?? ""));
        await post(route.path, route.body(unknown[i % pool] ?? ""));
      }
      const a: number[] = [];
      const b: number[] = [];
      for (let i = 0; i < n; i++) {
        // Alternate which class goes first, so neither always follows the other's after-work.
        if (i % 2 === 0) {
          a.push(await post(route.path, route.body(known[i % pool] ?? "")));
          b.push(await post(route.path, route.body(unknown[i % pool] ?? "")));
        } else {
          b.push(await post(route.path, route.body(unknown[i % pool] ?? "")));
          a.push(await post(route.path, route.body(known[i % pool] ?? "")));
        }
      }
      const w = welch(a, b);
      const mw = mannWhitney(a, b);
      worst = Math.min(worst, w.p, mw.p);
      const ms = (x: number) => `${x.toFixed(3)} ms`;
      console.log(
        `${route.name.padEnd(40)} registered: mean ${ms(mean(a))} p50 ${ms(quantile(a, 0.5))} | unknown: mean ${ms(mean(b))} p50 ${ms(quantile(b, 0.5))} | ` +
          `diff of means ${ms(mean(a) - mean(b))}, Welch p=${fmtP(w.p)}, Mann-Whitney p=${fmtP(mw.p)}`,
      );
    }
    // Two tests per route in one run: Bonferroni keeps the chance of a false alarm at 1% for the run.
    const threshold = 0.01 / (2 * routes.length);
    console.log(
      worst < threshold
        ? `DISTINGUISHABLE: smallest p-value ${fmtP(worst)} < ${threshold} (1% over ${2 * routes.length} tests)`
        : `not distinguishable at the 1% level over ${2 * routes.length} tests (smallest p-value ${fmtP(worst)}, threshold ${threshold})`,
    );
  } finally {
    server.stop();
  }
}

async function runServer(): Promise<void> {
  const { loadConfig } = await import("../src/config.ts");
  const { createLogger } = await import("../src/log.ts");
  const { startServer } = await import("../src/server/app.ts");
  const { createOutbox } = await import("../src/mail/mailer.ts");
  const config = loadConfig(
    {
      PORT: "0",
      HOST: "127.0.0.1",
      LOG_LEVEL: "silent",
      MAIL_MAX_PER_ADDRESS_PER_HOUR: "0",
      MAIL_MAX_PER_CLIENT_PER_HOUR: "0",
      // Codes and links, so that a registered address costs the most work behind the answer.
      EMAIL_SIGN_IN: "code,link",
      EMAIL_SIGN_IN_LINK_URL: "https://app.example.com/sign-in/email",
    },
    () => "",
  );
  const outbox = createOutbox();
  const server = await startServer(config, { mailer: outbox, log: createLogger("silent") });
  // The outbox would otherwise grow by one mail per request for a registered address.
  setInterval(() => outbox.mails.splice(0), 1000).unref();
  process.stdout.write(`${server.url}\n`);
  process.on("SIGTERM", () => void server.close().then(() => process.exit(0)));
}

if (process.env.BENCH_ROLE === "server") await runServer();
else await runClient();
