import { ConfigError, type Env, int, secret, str } from "./parse.ts";

/** Where the Prometheus metrics are served (their own port and host), and the bearer token. */
export interface MetricsSettings {
  port: number | undefined;
  host: string;
  token: string | undefined;
}

/**
 * METRICS_PORT, METRICS_HOST, METRICS_TOKEN (or _FILE). The main port serves /metrics only behind
 * the token: with neither a port of their own nor a token, metrics are off.
 */
export function metrics(env: Env, port: number, host: string, readFile: (path: string) => string): MetricsSettings | undefined {
  const ownPort = str(env, "METRICS_PORT") === undefined ? undefined : int(env, "METRICS_PORT", 0, 0, 65_535);
  const ownHost = str(env, "METRICS_HOST");
  const token = secret(env, "METRICS_TOKEN", readFile)?.trim();
  if (token !== undefined && !/^[\x21-\x7e]{16,512}$/.test(token)) {
    throw new ConfigError("METRICS_TOKEN", "must be 16 to 512 visible ASCII characters, no spaces (openssl rand -hex 32)");
  }
  if (ownPort !== undefined && ownPort !== 0 && ownPort === port) {
    throw new ConfigError("METRICS_PORT", "must differ from PORT (unset it to serve /metrics on the main port, behind METRICS_TOKEN)");
  }
  if (ownHost !== undefined && ownPort === undefined) throw new ConfigError("METRICS_HOST", "needs METRICS_PORT");
  if (ownPort === undefined && token === undefined) return undefined;
  return { port: ownPort, host: ownHost ?? host, token };
}
