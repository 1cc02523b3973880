// Assertions shared by the bad-input suites, and the headers every answer the server writes carries.
import { expect } from "vitest";
import { failure } from "./drivers.ts";
import { AuthError } from "../../src/errors.ts";

/** Never sniffed as anything but its Content-Type (ASVS 5.0 V3.4.4), never framed by another site (V3.4.6). */
export function expectBrowserSafe(res: { headers: Headers }, label: string): void {
  expect(res.headers.get("x-content-type-options"), label).toBe("nosniff");
  expect(res.headers.get("content-security-policy"), label).toBe("frame-ancestors 'none'");
}

/** No stack frames, no class names, no file paths, none of the secrets the call carried. */
export function expectSafeMessage(message: string, secrets: readonly string[]): void {
  expect(message).not.toMatch(/\n\s*at\s/);
  expect(message).not.toMatch(/\bat\s+\S+\s+\(.*:\d+:\d+\)/);
  expect(message).not.toMatch(/\b\w*(Error|Exception)\b/);
  expect(message).not.toMatch(/\.(ts|js):\d+|node_modules|\/work\//);
  for (const secret of secrets) {
    if (secret.length < 4) continue;
    expect(message).not.toContain(secret);
    expect(message).not.toContain(encodeURIComponent(secret));
  }
}

export interface Expected {
  code: string;
  reason: string | undefined;
  /** ErrorInfo.metadata["field"], when the error names a field. */
  field?: string;
}

/** Test titles spelled out in full (vitest truncates long `$name` interpolations). */
export function titled<T extends { name: string } & Expected>(rows: T[], suffix = ""): Array<[string, T]> {
  return rows.map((r) => [`${r.name} → ${r.code} / ${r.reason ?? "no reason"}${suffix}`, r]);
}

/**
 * The call fails with exactly the expected status, reason (and field), its message leaks none of
 * `secrets`, and what `snapshot` reads of storage is the same after it as before.
 */
export async function expectRefused<S>(
  call: () => Promise<unknown>,
  expected: Expected,
  secrets: readonly string[],
  snapshot: () => Promise<S>,
): Promise<void> {
  const before = await snapshot();
  const f = await failure(call());
  expect({ code: f.code, reason: f.reason }).toEqual({ code: expected.code, reason: expected.reason });
  if (expected.field !== undefined) expect(f.metadata["field"]).toBe(expected.field);
  expectSafeMessage(f.message, secrets);
  expect(await snapshot()).toEqual(before);
}

/** What an operation's promise ends in: "OK", or the reason of the AuthError it throws. */
export async function outcomeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    if (err instanceof AuthError) return err.reason;
    throw err;
  }
  return "OK";
}
