// A plain fetch client for the legacy REST paths, as their old clients call them. Headers are
// built the way the RPC drivers build theirs (callHeaders): the client's own, the bearer token,
// then the caller's.
import { expect } from "vitest";
import { callHeaders, type Json } from "./drivers.ts";
import type { Harness } from "./harness.ts";

export type { Json };

export interface RestResponse {
  status: number;
  headers: Headers;
  body: Json;
}

export interface RestOptions {
  body?: unknown;
  /** Sent as is, with `contentType` (default application/json). */
  raw?: string | Buffer;
  contentType?: string;
  token?: string;
  cookie?: string;
  headers?: Record<string, string>;
}

export async function rest(h: Harness, method: string, path: string, o: RestOptions = {}): Promise<RestResponse> {
  let body: string | Buffer | undefined;
  if (o.raw !== undefined) body = o.raw;
  else if (o.body !== undefined) body = JSON.stringify(o.body);
  const own: Record<string, string> = { "user-agent": "legacy-client/1.0" };
  if (body !== undefined) own["content-type"] = o.contentType ?? "application/json";
  if (o.cookie !== undefined) own.cookie = o.cookie;
  const headers = callHeaders(own, o.token, o.headers);
  const res = await fetch(`${h.url}${path}`, { method, headers, body });
  const text = await res.text();
  let parsed: Json;
  if (text !== "") {
    expect(res.headers.get("content-type")).toMatch(/^application\/json/);
    parsed = JSON.parse(text);
  }
  return { status: res.status, headers: res.headers, body: parsed };
}

/** The session cookie's name=value from a response, for sending back. */
export function sessionCookie(res: RestResponse): string {
  const header = res.headers.get("set-cookie") ?? "";
  const match = /(?:^|,\s*)(session=[^;]*)/.exec(header);
  if (match?.[1] === undefined) throw new Error(`no session cookie in ${header}`);
  return match[1];
}
