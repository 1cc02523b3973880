import { ConfigError, type Env, secret } from "./parse.ts";

function aesKey(env: Env, name: string, readFile: (path: string) => string): Buffer | undefined {
  const raw = secret(env, name, readFile)?.trim();
  if (raw === undefined) return undefined;
  if (/^[0-9a-fA-F]{64}$/.test(raw)) return Buffer.from(raw, "hex");
  if (/^[A-Za-z0-9+/_-]{43}=?$/.test(raw)) return Buffer.from(raw, "base64");
  throw new ConfigError(name, "must be 32 random bytes, as 64 hex digits or base64 (openssl rand -base64 32)");
}

/**
 * SERVER_SECRET (or SERVER_SECRET_FILE), or its older name TOTP_ENCRYPTION_KEY (or _FILE), which
 * keeps working: it was always this one secret. Both set to different values is an error.
 */
export function serverSecret(env: Env, readFile: (path: string) => string): Buffer | undefined {
  const current = aesKey(env, "SERVER_SECRET", readFile);
  const older = aesKey(env, "TOTP_ENCRYPTION_KEY", readFile);
  if (current !== undefined && older !== undefined && !current.equals(older)) {
    throw new ConfigError("TOTP_ENCRYPTION_KEY", "is the older name of SERVER_SECRET; set only one (or the same value in both)");
  }
  return current ?? older;
}
