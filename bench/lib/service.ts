// What the benchmark and the soak need to talk to the server under test: its fixed settings, a
// few Connect JSON calls for set-up, and the virtual users of our generator.
import { createHash, createPrivateKey } from "node:crypto";
import { type ChainLoadOptions, fixedCallUsers, type PeakShape } from "./chain-load.ts";
import type { VirtualUser } from "./load.ts";

export const PASSWORD = "benchmark password 7c1e, long enough";
export const JSON_HEADERS = { "content-type": "application/json", "connect-protocol-version": "1" };

/** The server's settings: the same signing key and secret every run (derived from constants). */
export function serverEnv(): Record<string, string> {
  const seed = createHash("sha256").update("authd benchmark signing key").digest();
  const pkcs8 = Buffer.concat([Buffer.from("302e020100300506032b657004220420", "hex"), seed]);
  const pem = createPrivateKey({ key: pkcs8, format: "der", type: "pkcs8" }).export({ format: "pem", type: "pkcs8" }).toString();
  return {
    HOST: "127.0.0.1",
    LOG_LEVEL: process.env["BENCH_LOG_LEVEL"] ?? "warn",
    JWT_PRIVATE_KEY: pem,
    SERVER_SECRET: createHash("sha256").update("authd benchmark server secret").digest("hex"),
    EMAIL_VERIFICATION_REQUIRED: "false",
    MAX_SESSIONS_PER_USER: "10000",
    // Every virtual user signs up from 127.0.0.1: the per-network bound on sign-ups is off, and so
    // is each network's share of the hashing queue (their sign-ins would be one client's).
    REGISTRATION_MAX_PER_ADDRESS_PER_HOUR: "0",
    ARGON2_MAX_PER_CLIENT: "1000000",
    // npm start's default, whatever the benchmark's own environment says: the nice stage of
    // `npm run bench` sets its own.
    V8_WORKER_NICE: "0",
  };
}

export interface Tokens {
  accessToken: string;
  refreshToken: string;
}

async function call<T>(port: number, method: string, body: object): Promise<T> {
  const res = await fetch(`http://127.0.0.1:${port}/auth.v1.AuthService/${method}`, {
    method: "POST",
    headers: JSON_HEADERS,
    body: JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method}: HTTP ${res.status} ${text}`);
  return JSON.parse(text) as T;
}

/** What chain-load needs for one call on a server, besides its port, schedule and duration. */
export type CallLoad = Omit<ChainLoadOptions, "port" | "warmUpMs" | "measureMs" | "rate">;

/**
 * One call's load on a server freshly started at `port`, its users signed up there: GetCurrentUser
 * by one reader's token with as many in flight as h2load has at peak in `shape`, or RefreshToken by
 * `users` accounts, each spending its own refresh token, on 4 h2c connections or one HTTP/1.1
 * connection each.
 */
export async function callLoadOn(
  port: number,
  call: "user" | "refresh",
  protocol: "h1" | "h2c",
  users: number,
  shape: PeakShape,
): Promise<CallLoad> {
  if (call === "user") {
    const reader = await register(port, "reader@bench.example");
    return fixedCallUsers(protocol, "/auth.v1.AuthService/GetCurrentUser", { authorization: `Bearer ${reader.accessToken}` }, shape);
  }
  const accounts = await Promise.all(Array.from({ length: users }, (_, i) => register(port, `refresh${i}@bench.example`)));
  const tokens = accounts.map((t) => t.refreshToken);
  return { protocol, path: "/auth.v1.AuthService/RefreshToken", field: "refreshToken", tokens, connections: 4 };
}

/** Registers an account (email verification is off) and returns its first session's tokens. */
export function register(port: number, email: string): Promise<Tokens> {
  return call<{ tokens: Tokens }>(port, "Register", { email, password: PASSWORD }).then((r) => r.tokens);
}

const route = (method: string) => `/auth.v1.AuthService/${method}`;
const tokensIn = (body: Buffer): Tokens | undefined => (JSON.parse(body.toString()) as { tokens?: Tokens }).tokens;

/** A virtual user that spends its refresh token and keeps the one the answer returns. */
export function refresher(tokens: Tokens): VirtualUser {
  let token = tokens.refreshToken;
  return {
    next: () => ({ path: route("RefreshToken"), headers: JSON_HEADERS, body: JSON.stringify({ refreshToken: token }) }),
    answered(status, body) {
      const next = status === 200 ? tokensIn(body)?.refreshToken : undefined;
      if (next === undefined) return false;
      token = next;
      return true;
    },
  };
}

/** A virtual user signing in to its own account, again and again. */
export function signer(email: string): VirtualUser {
  const body = JSON.stringify({ email, password: PASSWORD });
  return {
    next: () => ({ path: route("Login"), headers: JSON_HEADERS, body }),
    answered: (status, answer) => status === 200 && answer.includes("accessToken"),
  };
}

/**
 * A client's life, for the soak: sign in (with its known-device token once it has one), call
 * GetCurrentUser, refresh every `refreshEvery` calls, sign out after `logoutAfter` calls, and again.
 */
export function lifecycle(email: string, refreshEvery: number, logoutAfter: number): VirtualUser {
  let tokens: Tokens | undefined;
  let deviceToken: string | undefined;
  let calls = 0;
  let sent: "login" | "user" | "refresh" | "logout" = "login";
  const bearer = () => ({ ...JSON_HEADERS, authorization: `Bearer ${tokens?.accessToken}` });
  return {
    next() {
      calls++;
      if (tokens === undefined) {
        sent = "login";
        return { path: route("Login"), headers: JSON_HEADERS, body: JSON.stringify({ email, password: PASSWORD, deviceToken }) };
      }
      if (calls % logoutAfter === 0) {
        sent = "logout";
        return { path: route("Logout"), headers: bearer(), body: "{}" };
      }
      if (calls % refreshEvery === 0) {
        sent = "refresh";
        return { path: route("RefreshToken"), headers: JSON_HEADERS, body: JSON.stringify({ refreshToken: tokens.refreshToken }) };
      }
      sent = "user";
      return { path: route("GetCurrentUser"), headers: bearer(), body: "{}" };
    },
    answered(status, body) {
      if (status !== 200) {
        tokens = undefined; // start over with a fresh sign-in
        return false;
      }
      if (sent === "login") deviceToken = (JSON.parse(body.toString()) as { deviceToken?: { token?: string } }).deviceToken?.token;
      if (sent === "login" || sent === "refresh") tokens = tokensIn(body);
      if (sent === "logout") tokens = undefined;
      return true;
    },
  };
}

/** A virtual user calling the empty RPC: the generator's reference. */
export const healthUser: VirtualUser = {
  next: () => ({ path: "/grpc.health.v1.Health/Check", headers: JSON_HEADERS, body: "{}" }),
  answered: (status) => status === 200,
};
