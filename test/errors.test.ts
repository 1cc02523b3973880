// The reason strings the domain throws and the ErrorReason enum published in the proto contract
// are the same vocabulary; this keeps them from drifting apart. The expectation is written out
// here from proto/auth/v1/common.proto (each value's comment names its status) and the README's
// "Errors" section, not taken from either implementation table.
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { ErrorReason } from "../gen/auth/v1/common_pb.js";
import { reasonStatus } from "../src/errors.ts";

/** Every reason with the status its comment in common.proto gives it. */
const documentedStatus: Record<string, string> = {
  INVALID_ARGUMENT: "invalid_argument",
  WEAK_PASSWORD: "invalid_argument",
  INVALID_CREDENTIALS: "unauthenticated",
  UNAUTHENTICATED: "unauthenticated",
  INVALID_TOKEN: "unauthenticated",
  TOKEN_EXPIRED: "unauthenticated",
  SESSION_REVOKED: "unauthenticated",
  INVALID_REFRESH: "unauthenticated",
  REFRESH_REVOKED: "unauthenticated",
  REFRESH_EXPIRED: "unauthenticated",
  EMAIL_EXISTS: "already_exists",
  EMAIL_NOT_VERIFIED: "failed_precondition",
  EMAIL_ALREADY_VERIFIED: "failed_precondition",
  LAST_SIGN_IN_METHOD: "failed_precondition",
  INVALID_CODE: "invalid_argument",
  REGISTRATION_DISABLED: "permission_denied",
  NOT_FOUND: "not_found",
  RATE_LIMITED: "resource_exhausted",
  PAYLOAD_TOO_LARGE: "resource_exhausted",
  STORAGE_UNAVAILABLE: "unavailable",
  INTERNAL: "internal",
  MALFORMED_REQUEST: "invalid_argument",
  INVALID_TWO_FACTOR_CODE: "unauthenticated",
  TWO_FACTOR_LOCKED: "resource_exhausted",
  TWO_FACTOR_NOT_ENABLED: "failed_precondition",
  TWO_FACTOR_ALREADY_ENABLED: "failed_precondition",
  TWO_FACTOR_SETUP_REQUIRED: "failed_precondition",
  LAST_DEVICE: "failed_precondition",
  INVALID_CHALLENGE: "unauthenticated",
  DEVICE_LIMIT_REACHED: "failed_precondition",
  REAUTHENTICATION_REQUIRED: "unauthenticated",
  PERMISSION_DENIED: "permission_denied",
  ACCOUNT_DISABLED: "permission_denied",
  SIGN_IN_METHOD_DISABLED: "failed_precondition",
  INVALID_PASSKEY: "unauthenticated",
  PROVIDER_SIGN_IN_FAILED: "unauthenticated",
  PROVIDER_ACCOUNT_LINKED: "already_exists",
  PROVIDER_UNAVAILABLE: "unavailable",
};
/** REST only: common.proto gives them an HTTP status (415, 405, 403) and no gRPC one. */
const restOnly = ["UNSUPPORTED_MEDIA_TYPE", "METHOD_NOT_ALLOWED", "CSRF_REJECTED"];
const documentedReasons = [...Object.keys(documentedStatus), ...restOnly].sort();

describe("error vocabulary", () => {
  it("every ErrorReason in the proto is a domain reason, and the other way round", () => {
    const fromProto = Object.keys(ErrorReason)
      .filter((k) => Number.isNaN(Number(k)) && k !== "UNSPECIFIED")
      .sort();
    expect(fromProto).toEqual(documentedReasons);
    expect(Object.keys(reasonStatus).sort()).toEqual(documentedReasons);
  });

  it("each domain reason has the status common.proto documents for it", () => {
    const domain: Record<string, string> = { ...reasonStatus };
    for (const r of restOnly) delete domain[r];
    expect(domain).toEqual(documentedStatus);
  });
});

// The README's "Errors" section is what a client's author reads to know which reasons to handle. It
// must list every reason the code can send, and none it cannot. What the code sends is read from
// src/ as text: `new AuthError("R"` (and `super("R"` of its subclasses), `checkOpaque(…, "R")`,
// and the reasons the protocol layers set themselves (`reason: "R"`, `outcome.reason = "R"`).
const root = new URL("..", import.meta.url).pathname;

function sourceFiles(dir: string): string[] {
  return readdirSync(path.join(root, dir)).flatMap((name) => {
    const file = path.join(dir, name);
    return statSync(path.join(root, file)).isDirectory() ? sourceFiles(file) : name.endsWith(".ts") ? [file] : [];
  });
}

/** In the enum, and in reasonStatus, but sent by no call; the README says so. */
const neverSent = ["EMAIL_ALREADY_VERIFIED"];

function sentByCode(): string[] {
  const sent = new Set<string>();
  const patterns = [
    /new AuthError\(\s*"([A-Z_]+)"/g,
    /\bsuper\(\s*"([A-Z_]+)"/g,
    /\bcheckOpaque\([^;]*?"([A-Z_]+)"\)/g,
    /\breason: "([A-Z_]+)"/g,
    /\boutcome\.reason = "([A-Z_]+)"/g,
  ];
  for (const file of sourceFiles("src")) {
    const text = readFileSync(path.join(root, file), "utf8");
    for (const pattern of patterns) for (const m of text.matchAll(pattern)) sent.add(m[1] as string);
  }
  return [...sent].sort();
}

function readmeErrors(): { section: string; listed: string[] } {
  const readme = readFileSync(path.join(root, "README.md"), "utf8");
  const start = readme.indexOf("\n## Errors\n");
  if (start < 0) throw new Error("the README has no Errors section");
  const section = readme.slice(start, readme.indexOf("\n## ", start + 1));
  // Backquoted upper-case names, but for the configuration variables the section mentions.
  const table = readme.slice(readme.indexOf("| variable | default | meaning |"));
  const variables = new Set([...table.slice(0, table.indexOf("\n\n")).matchAll(/`([A-Z][A-Z0-9_]*)`/g)].map((m) => m[1]));
  const listed = [...section.matchAll(/`([A-Z][A-Z0-9_]*)`/g)].map((m) => m[1] as string).filter((name) => !variables.has(name));
  return { section, listed: [...new Set(listed)].sort() };
}

describe("the README's Errors section", () => {
  const sent = sentByCode();

  it("finds what the code sends (the patterns still match it)", () => {
    for (const reason of ["INVALID_ARGUMENT", "RATE_LIMITED", "INVALID_CODE", "MALFORMED_REQUEST", "METHOD_NOT_ALLOWED"]) {
      expect(sent).toContain(reason);
    }
    for (const reason of sent) expect(Object.keys(reasonStatus), reason).toContain(reason);
  });

  it("lists every reason the code can send, and no other but the ones it says are never sent", () => {
    expect(readmeErrors().listed).toEqual([...sent, ...neverSent].sort());
  });

  it("says which reasons of the enum no call sends", () => {
    const { section } = readmeErrors();
    for (const reason of neverSent) {
      expect(sent, `${reason} is sent now: list it as such in the README`).not.toContain(reason);
      expect(section).toMatch(new RegExp(`\`${reason}\`[^.]*never`));
    }
    expect(Object.keys(reasonStatus).sort()).toEqual([...sent, ...neverSent].sort());
  });
});
