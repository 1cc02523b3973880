// What a REST route declaration is: its method, path, owning documents (docs/legacy-rest/),
// credentials, inputs and success status, plus a `run` that turns those inputs into one call of the
// domain operation the matching RPC runs and says what the documents show of its result.

import type { Operations as ServiceOperations } from "../operations.ts";
import type { Caller, ClientInfo } from "../sessions/caller.ts";
import type { Doc, Payload } from "./envelopes.ts";

export type Method = "GET" | "POST" | "PATCH" | "DELETE";

/** A body or query field: its name as the document spells it, and its JSON type. */
export type FieldType = "string" | "boolean";

export interface Fields {
  /** The field's string value ("" when absent); a value of another JSON type is refused. */
  str(name: string): string;
  /** The field's boolean value (false when absent). */
  bool(name: string): boolean;
}

export interface RouteInput {
  body: Fields;
  query: Fields;
  params: Record<string, string>;
  /** The signed-in caller, from `Authorization: Bearer` or the session cookie. */
  caller(): Promise<Caller>;
  /** The raw bearer token (root-auth-totp's second login step sends its challenge this way). */
  bearer: string | undefined;
  client: ClientInfo;
  /** The known-device token from the `device` cookie (the sign-in and reset routes send it to the operation). */
  deviceToken: string | undefined;
}

export interface RouteResult extends Payload {
  /** Set the session cookie for this session (until it expires when remembered), or clear it. */
  cookie?: { sessionId: string; rememberMe: boolean; expiresAt: Date } | "clear";
  /** Set the known-device cookie (after a completed sign-in or password reset). */
  device?: { token: string; expiresAt: Date };
  /** Overrides the route's success status (e.g. 204 when there is nothing to say). */
  status?: number;
}

/** The service's operations, and whether storage answers (the health check routes). */
export interface Operations extends ServiceOperations {
  probe(): Promise<boolean>;
}

export interface Route {
  method: Method;
  /** Full path; `:name` segments are parameters. */
  path: string;
  /** The documents that describe this path (two when they share it). */
  docs: Doc[];
  summary: string;
  /** "user": Bearer access token or session cookie; "challenge": Bearer login challenge. */
  auth: "none" | "user" | "challenge";
  body?: Record<string, FieldType>;
  query?: Record<string, FieldType>;
  /** Success status (default 200). */
  status?: number;
  /** A GET that changes state (a documented GET that issues a secret): CSRF-checked like a write. */
  getWrites?: boolean;
  /**
   * Logout: the route's success clears the session cookie, and so does a refusal because the
   * cookie itself names no live session. Any other refusal leaves the cookie as it was.
   */
  clearsCookie?: boolean;
  /** The documented response fields, for the OpenAPI document. */
  returns: string[];
  run(input: RouteInput, ops: Operations): Promise<RouteResult>;
}
