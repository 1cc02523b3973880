// The response conventions of the legacy REST documents (docs/legacy-rest/), applied in one place:
// each route says which documents it belongs to and what it has to say; these functions put it in
// each document's envelope (success) or error shape, and merge the shapes where two documents
// share a path.

import type { AuthError, Reason } from "../errors.ts";

export type Doc = "api-v1" | "api-auth-security" | "api-auth-2fa" | "root-auth-totp" | "auth-router";

/** Each document: its page in docs/legacy-rest/, where it is mounted, and its OpenAPI tag. */
export const docs: Record<Doc, { file: string; mount: string; title: string }> = {
  "api-v1": { file: "api-v1.md", mount: "/api/v1", title: "Backend API (api/v1)" },
  "api-auth-security": { file: "api-auth-security.md", mount: "/api/auth", title: "Security endpoints (api/auth)" },
  "api-auth-2fa": { file: "api-auth-2fa.md", mount: "/api/auth", title: "2FA endpoints (api/auth)" },
  "root-auth-totp": { file: "root-auth-totp.md", mount: "/", title: "Auth and TOTP (root)" },
  "auth-router": { file: "auth-router.md", mount: "/auth", title: "Auth router (/auth)" },
};

/** What a route has to say on success, for the envelopes to wrap; each document's envelope picks the parts it uses. */
export interface Payload {
  /** The `data` of `{ data }` envelopes (api-v1, api-auth-security). */
  data?: unknown;
  /** Top-level fields (api-auth-2fa, root-auth-totp, auth-router; also merged into the others on shared paths). */
  fields?: Record<string, unknown>;
  message?: string;
  /** A body that is a bare JSON array (auth-router's session list). */
  array?: unknown[];
}

function successFor(doc: Doc, payload: Payload): Record<string, unknown> {
  const message = payload.message === undefined ? {} : { message: payload.message };
  switch (doc) {
    case "api-v1":
      return { ...(payload.data === undefined ? {} : { data: payload.data }), ...message };
    case "api-auth-security":
      return { success: true, ...(payload.data === undefined ? {} : { data: payload.data }), ...message };
    case "api-auth-2fa":
    case "root-auth-totp":
    case "auth-router":
      return { ...payload.fields, ...message };
  }
}

/** The success body: the union of every owning document's envelope. */
export function successBody(owners: readonly Doc[], payload: Payload): unknown {
  if (payload.array !== undefined) return payload.array;
  return owners.reduce<Record<string, unknown>>((body, doc) => merge(body, successFor(doc, payload)), {});
}

const statusByReason: Partial<Record<Reason, number>> = {
  TWO_FACTOR_LOCKED: 423,
  RATE_LIMITED: 429,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  METHOD_NOT_ALLOWED: 405,
  EMAIL_NOT_VERIFIED: 403,
  EMAIL_ALREADY_VERIFIED: 409,
  LAST_SIGN_IN_METHOD: 409,
  TWO_FACTOR_ALREADY_ENABLED: 409,
  LAST_DEVICE: 409,
  DEVICE_LIMIT_REACHED: 409,
};

const statusByStatus = {
  invalid_argument: 400,
  unauthenticated: 401,
  permission_denied: 403,
  not_found: 404,
  already_exists: 409,
  failed_precondition: 400,
  resource_exhausted: 429,
  unavailable: 503,
  internal: 500,
} as const;

/** HTTP status of a reason on the REST paths (the Statuses table of docs/legacy-rest/README.md, with 423 for the 2FA lock). */
export function httpStatus(err: AuthError): number {
  return statusByReason[err.reason] ?? statusByStatus[err.status];
}

export const reasonPhrases: Record<number, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  409: "Conflict",
  413: "Payload Too Large",
  415: "Unsupported Media Type",
  423: "Locked",
  429: "Too Many Requests",
  500: "Internal Server Error",
  503: "Service Unavailable",
};

function errorFor(doc: Doc, status: number, err: AuthError): Record<string, unknown> {
  const details = err.field === undefined ? undefined : { field: err.field };
  switch (doc) {
    case "api-v1":
      return { message: err.message, code: err.reason };
    case "api-auth-security":
    case "api-auth-2fa":
      return { success: false, message: err.message, code: err.reason };
    case "root-auth-totp":
      // Its validation errors carry a list of messages.
      return {
        statusCode: status,
        message: status === 400 ? [err.message] : err.message,
        error: reasonPhrases[status] ?? "Error",
        code: err.reason,
      };
    case "auth-router":
      return { error: err.message, code: err.reason, ...(details === undefined ? {} : { details }) };
  }
}

/**
 * The error body: the union of every owning document's error shape. Where root-auth-totp and
 * auth-router share a path, `error` keeps root-auth-totp's reason phrase (it comes last).
 */
export function errorBody(owners: readonly Doc[], status: number, err: AuthError): Record<string, unknown> {
  const ordered = [...owners].sort((a, b) => (a === "root-auth-totp" ? 1 : b === "root-auth-totp" ? -1 : 0));
  return ordered.reduce<Record<string, unknown>>((body, doc) => merge(body, errorFor(doc, status, err)), {});
}

/** Deep merge of plain objects (later wins for scalars): `user` objects of two documents combine. */
function merge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [key, value] of Object.entries(b)) {
    const prev = out[key];
    out[key] = isPlainObject(prev) && isPlainObject(value) ? merge(prev, value) : value;
  }
  return out;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
