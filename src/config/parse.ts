// The value parsers every group of settings uses, and the error they throw. A bad value stops the
// server with a message naming the variable.

export class ConfigError extends Error {
  constructor(variable: string, problem: string) {
    super(`invalid configuration: ${variable} ${problem}`);
    this.name = "ConfigError";
  }
}

export type Env = Record<string, string | undefined>;

export function str(env: Env, name: string): string | undefined {
  const v = env[name];
  return v === undefined || v.trim() === "" ? undefined : v.trim();
}

export function int(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = str(env, name);
  if (raw === undefined) return fallback;
  if (!/^\d+$/.test(raw)) throw new ConfigError(name, `must be a whole number, got "${raw}"`);
  const n = Number(raw);
  if (n < min || n > max) throw new ConfigError(name, `must be between ${min} and ${max}, got ${n}`);
  return n;
}

export function bool(env: Env, name: string, fallback: boolean): boolean {
  const raw = str(env, name)?.toLowerCase();
  if (raw === undefined) return fallback;
  if (["1", "true", "yes", "on"].includes(raw)) return true;
  if (["0", "false", "no", "off"].includes(raw)) return false;
  throw new ConfigError(name, `must be true or false, got "${raw}"`);
}

export function oneOf<T extends string>(env: Env, name: string, allowed: readonly T[], fallback: T): T {
  const raw = str(env, name);
  if (raw === undefined) return fallback;
  const hit = allowed.find((a) => a === raw);
  if (hit === undefined) throw new ConfigError(name, `must be one of ${allowed.join(", ")}, got "${raw}"`);
  return hit;
}

export function url(env: Env, name: string, protocols: string[]): string | undefined {
  const raw = str(env, name);
  if (raw === undefined) return undefined;
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    throw new ConfigError(name, "is not a valid URL");
  }
  if (!protocols.includes(parsed.protocol)) {
    throw new ConfigError(name, `must use ${protocols.join(" or ")}`);
  }
  return raw;
}

export function origins(env: Env, name: string): string[] {
  const raw = str(env, name);
  if (raw === undefined) return [];
  return raw.split(",").map((o) => {
    const origin = o.trim();
    if (origin === "*") return origin;
    let parsed: URL;
    try {
      parsed = new URL(origin);
    } catch {
      throw new ConfigError(name, `contains an invalid origin "${origin}"`);
    }
    if (parsed.origin !== origin) {
      throw new ConfigError(name, `entries must be bare origins like https://app.example.com, got "${origin}"`);
    }
    return origin;
  });
}

export function list(env: Env, name: string): string[] | undefined {
  return str(env, name)
    ?.split(",")
    .map((v) => v.trim())
    .filter((v) => v !== "");
}

/** A number from 0 to 1 (a sampling ratio). */
export function ratio(env: Env, name: string, fallback: number): number {
  const raw = str(env, name);
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!/^\d*\.?\d+$/.test(raw) || n < 0 || n > 1) throw new ConfigError(name, `must be a number from 0 to 1, got "${raw}"`);
  return n;
}

/** A secret given inline as NAME or as a file path in NAME_FILE, never both. */
export function secret(env: Env, name: string, readFile: (path: string) => string): string | undefined {
  const inline = str(env, name);
  const path = str(env, `${name}_FILE`);
  if (inline !== undefined && path !== undefined) {
    throw new ConfigError(`${name}_FILE`, `cannot be combined with ${name}`);
  }
  if (path === undefined) return inline;
  try {
    return readFile(path);
  } catch {
    throw new ConfigError(`${name}_FILE`, `cannot be read: ${path}`);
  }
}

/**
 * A setting given inline as NAME or as a file in NAME_FILE (see secret), parsed by `parse`, whose
 * error message is reported against the variable as given.
 */
export function parsedSecret<T>(env: Env, name: string, readFile: (path: string) => string, parse: (text: string) => T): T | undefined {
  const text = secret(env, name, readFile);
  if (text === undefined) return undefined;
  try {
    return parse(text);
  } catch (err) {
    throw new ConfigError(str(env, `${name}_FILE`) === undefined ? name : `${name}_FILE`, (err as Error).message);
  }
}
