// The one piece of code between HTTP and the route declarations: it matches the path (JSON 404,
// 405 with Allow), reads and checks the body (415, 413, malformed JSON; see request.ts), finds the
// caller (Bearer or the session cookie, with cross-site request forgery protection for the
// cookie), runs the route, and writes the result or the error in the shape of the documents that
// own the path.

import type http from "node:http";
import type http2 from "node:http2";
import { parseCookie, stringifySetCookie } from "cookie";
import type { Caller } from "../sessions/caller.ts";
import { AuthError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { bearerFrom, cookieCount, repeatedCookie, userAgentFrom } from "../transport/credentials.ts";
import { browserSafetyHeaders, setBrowserSafetyHeaders } from "../transport/node-http.ts";
import { outcomeOf } from "../transport/outcome.ts";
import { toSafeError } from "../transport/safe-error.ts";
import { openApiDocument } from "./openapi.ts";
import type { Method, Operations, Route, RouteResult } from "./declaration.ts";
import { docs, errorBody, httpStatus, successBody, type Doc } from "./envelopes.ts";
import { ClientClosed, fieldsOf, queryOf, readBody, type Request } from "./request.ts";

type Response = http.ServerResponse | http2.Http2ServerResponse;

export const sessionCookieName = "session";
/**
 * The known-device token's cookie (tokens/devices.ts): set by the sign-in and reset routes, read by
 * them. Ours, not the legacy documents', so it can carry the `__Host-` prefix wherever it is
 * Secure: a browser takes such a cookie only from the host itself (Secure, no Domain, Path=/), so
 * a page on a sibling subdomain cannot plant a `device` cookie of its own ahead of the owner's
 * (cookie tossing) and so take away the owner's way past a lockout the planter set off. Plain
 * `device` only where cookies are not Secure (local plain-HTTP development), where the prefix is
 * refused.
 */
const deviceCookieName = (secure: boolean): string => (secure ? "__Host-device" : "device");

export interface RestOptions {
  routes: Route[];
  ops: Operations;
  maxBodyBytes: number;
  /** Origins allowed by CORS_ALLOWED_ORIGINS: cookie-authenticated writes may come from them. */
  allowedOrigins: string[];
  /** Mark the session and device cookies Secure (off only for local plain HTTP). */
  cookieSecure: boolean;
  log: Logger;
  clientIp(req: Request): string;
  /** Whether the client is known to have used HTTPS (server/app.ts): then an http: Origin is another site. */
  knownHttps(req: Request): boolean;
  /** The service clock (session expiry is measured on it). */
  now(): Date;
}

interface CompiledRoute {
  route: Route;
  segments: string[];
  /** Static segments first: /auth/sessions/all beats /auth/sessions/:id. */
  specificity: number;
}

/** The documents whose error shape an unmatched path under this prefix gets. */
function docsForPath(path: string): Doc[] {
  if (path.startsWith("/api/v1/") || path === "/api/v1") return ["api-v1"];
  if (path.startsWith("/api/auth/") || path === "/api/auth") return ["api-auth-security", "api-auth-2fa"];
  if (path.startsWith("/totp/") || path === "/totp") return ["root-auth-totp"];
  return ["root-auth-totp", "auth-router"];
}

/**
 * The path without its trailing slashes, and the query string. By index, not by a regular
 * expression: `/\/+$/` backtracked over every slash from every slash, so a path of 60,000 slashes
 * (an HTTP/2 :path may be 64 KiB) held the event loop for 2.5 s (test/rest/bad-input.test.ts).
 */
function pathAndSearch(url: string): { path: string; search: string } {
  const query = url.indexOf("?");
  const rawPath = query === -1 ? url : url.slice(0, query);
  const search = query === -1 ? "" : url.slice(query + 1);
  if (rawPath.length <= 1) return { path: rawPath, search };
  let end = rawPath.length;
  while (end > 0 && rawPath.charCodeAt(end - 1) === 0x2f) end--;
  return { path: end === rawPath.length ? rawPath : rawPath.slice(0, end), search };
}

/** Whether a path belongs to the REST layer (everything else is the RPC server's). */
export function isRestPath(path: string): boolean {
  return /^\/(api\/(v1|auth)|auth|totp)(\/|$)/.test(path) || path === "/openapi.json";
}

export function createRestHandler(options: RestOptions) {
  const { ops, log } = options;
  const deviceCookie = deviceCookieName(options.cookieSecure);
  const compiled: CompiledRoute[] = options.routes.map((route) => {
    const segments = route.path.split("/").slice(1);
    return { route, segments, specificity: segments.filter((s) => !s.startsWith(":")).length };
  });
  compiled.sort((a, b) => b.specificity - a.specificity);
  const openApi = JSON.stringify(openApiDocument(options.routes));

  function match(method: string, path: string): { found?: { route: Route; params: Record<string, string> }; allowed: Method[] } {
    const parts = path.split("/").slice(1);
    const allowed = new Set<Method>();
    let found: { route: Route; params: Record<string, string> } | undefined;
    // Only the most specific patterns that match count: /api/auth/sessions/revoke-all is that
    // route's path (POST only), not a session id for DELETE /api/auth/sessions/:session_id.
    let level: number | undefined;
    for (const c of compiled) {
      if (level !== undefined && c.specificity < level) break;
      if (c.segments.length !== parts.length) continue;
      const params: Record<string, string> = {};
      let ok = true;
      for (let i = 0; i < parts.length && ok; i++) {
        const seg = c.segments[i] ?? "";
        const part = parts[i] ?? "";
        if (seg.startsWith(":")) {
          try {
            params[seg.slice(1)] = decodeURIComponent(part);
          } catch {
            params[seg.slice(1)] = "\u0000"; // not decodable: the operation refuses it as malformed
          }
          ok = part.length > 0;
        } else ok = seg === part;
      }
      if (!ok) continue;
      level = c.specificity;
      allowed.add(c.route.method);
      if (found === undefined && c.route.method === method) found = { route: c.route, params };
    }
    return { found, allowed: [...allowed] };
  }

  /** Cookie-authenticated writes must come from this site or an allowed origin. */
  function checkCsrf(req: Request): void {
    const origin = req.headers.origin;
    if (typeof origin === "string" && origin !== "") {
      let url: URL | undefined;
      try {
        url = new URL(origin);
      } catch {
        url = undefined;
      }
      const own = req.headers.host ?? (req.headers as Record<string, string | undefined>)[":authority"];
      // The host alone, unless the client is known to be on HTTPS: then a page served over plain
      // HTTP on the same host (injected by someone on the network, before HSTS) is another site.
      const sameSite = url !== undefined && url.host === own && (url.protocol === "https:" || !options.knownHttps(req));
      if (sameSite || options.allowedOrigins.includes(origin)) return;
      throw new AuthError("CSRF_REJECTED", "cross-site request refused: send the access token as a Bearer header");
    }
    const site = req.headers["sec-fetch-site"];
    if (site !== undefined) {
      if (site === "same-origin" || site === "none") return;
      throw new AuthError("CSRF_REJECTED", "cross-site request refused: send the access token as a Bearer header");
    }
    // A client that says nothing of where it comes from must send what no cross-site form or
    // simple request can: a JSON content type or X-Requested-With (both need a CORS preflight).
    const type = String(req.headers["content-type"] ?? "")
      .split(";")[0]
      ?.trim()
      .toLowerCase();
    if (type !== "application/json" && req.headers["x-requested-with"] === undefined) {
      throw new AuthError("CSRF_REJECTED", "a cookie-authenticated request without Origin must be JSON or carry X-Requested-With");
    }
  }

  function send(res: Response, status: number, body: unknown, headers: Record<string, string | string[]> = {}): void {
    res.statusCode = status;
    for (const [name, value] of Object.entries({ "cache-control": "no-store", ...browserSafetyHeaders, ...headers })) {
      res.setHeader(name, value);
    }
    if (status === 204 || body === undefined) {
      res.end();
      return;
    }
    res.setHeader("content-type", "application/json; charset=utf-8");
    res.end(JSON.stringify(body));
  }

  function cookieHeader(result: Pick<RouteResult, "cookie">): Record<string, string> {
    if (result.cookie === undefined) return {};
    const base = { name: sessionCookieName, path: "/", httpOnly: true, sameSite: "lax" as const, secure: options.cookieSecure };
    if (result.cookie === "clear") return { "set-cookie": stringifySetCookie({ ...base, value: "", maxAge: 0 }) };
    const value = ops.sessions.cookieFor(result.cookie.sessionId);
    // Remembered: the cookie lives as long as the session can; otherwise until the browser closes.
    const maxAge = Math.max(0, Math.floor((result.cookie.expiresAt.getTime() - options.now().getTime()) / 1000));
    return { "set-cookie": stringifySetCookie({ ...base, value, ...(result.cookie.rememberMe ? { maxAge } : {}) }) };
  }

  /** Adds the known-device cookie after the session cookie; it lives as long as its token. */
  function withDeviceCookie(headers: Record<string, string>, device: RouteResult["device"]): Record<string, string | string[]> {
    if (device === undefined) return headers;
    const maxAge = Math.max(0, Math.floor((device.expiresAt.getTime() - options.now().getTime()) / 1000));
    const value = stringifySetCookie({
      name: deviceCookie,
      value: device.token,
      path: "/",
      httpOnly: true,
      sameSite: "lax",
      secure: options.cookieSecure,
      maxAge,
    });
    const session = headers["set-cookie"];
    return { ...headers, "set-cookie": session === undefined ? [value] : [session, value] };
  }

  return async function handle(req: Request, res: Response): Promise<void> {
    const method = req.method ?? "GET";
    const { path, search } = pathAndSearch(req.url ?? "/");
    const outcome = outcomeOf(req);
    outcome.protocol = "rest";
    if (path === "/openapi.json") {
      if (method === "GET") {
        res.statusCode = 200;
        setBrowserSafetyHeaders(res);
        res.setHeader("content-type", "application/json; charset=utf-8");
        res.end(openApi);
      } else {
        req.resume();
        outcome.reason = "METHOD_NOT_ALLOWED";
        send(res, 405, { code: "METHOD_NOT_ALLOWED", message: `${method} is not allowed here; allowed: GET` }, { allow: "GET" });
      }
      return;
    }
    const { found, allowed } = match(method, path);
    const owners = found?.route.docs ?? docsForPath(path);
    if (found !== undefined) outcome.route = found.route.path;
    /** The request's own session cookie was presented (same-site) and names no live session. */
    let deadCookie = false;
    try {
      if (found === undefined) {
        // Drain whatever was sent, so the connection stays usable.
        req.resume();
        if (allowed.length > 0) {
          res.setHeader("allow", allowed.join(", "));
          throw new AuthError("METHOD_NOT_ALLOWED", `${method} is not allowed here; allowed: ${allowed.join(", ")}`);
        }
        throw new AuthError("NOT_FOUND", "no such route");
      }
      const { route, params } = found;
      const bearer = bearerFrom(req.headers.authorization);
      const cookie = parseCookie(String(req.headers.cookie ?? ""))[sessionCookieName];
      const cookieRepeated = cookie !== undefined && cookieCount(req.headers.cookie, sessionCookieName) > 1;
      const byCookie = req.headers.authorization === undefined && cookie !== undefined;
      const csrfGuarded = byCookie && (method !== "GET" || route.getWrites === true);
      // Forgery is decided before the body is read or its type judged: a forged text/plain form
      // post is CSRF_REJECTED (the README's promise), not 415, and no refusal of it says anything
      // about the body.
      if (csrfGuarded && route.auth === "user") checkCsrf(req);
      const query = fieldsOf(queryOf(search));
      // A GET's body is drained unread, so the connection stays usable.
      if (method === "GET") req.resume();
      const body = fieldsOf(method === "GET" ? {} : await readBody(req, options.maxBodyBytes));
      /** The session a Bearer token proved, when one did (for the cookie's clearing, below). */
      let bearerSession: string | undefined;
      const caller = async (): Promise<Caller> => {
        if (!byCookie) {
          const proved = await ops.sessions.authenticate({ bearer });
          bearerSession = proved.sessionId;
          return proved;
        }
        if (csrfGuarded) checkCsrf(req);
        if (cookieRepeated) throw repeatedCookie();
        try {
          return await ops.sessions.authenticate({ cookie });
        } catch (err) {
          if (err instanceof AuthError && err.status === "unauthenticated") deadCookie = true;
          throw err;
        }
      };
      const userAgent = userAgentFrom(req.headers["user-agent"]);
      const client = { ipAddress: options.clientIp(req), userAgent, requestId: outcome.requestId };
      const deviceToken = parseCookie(String(req.headers.cookie ?? ""))[deviceCookie];
      let result = await route.run({ body, query, params, caller, bearer, client, deviceToken }, ops);
      // A sign-out by Bearer token clears the cookie only if it names the session that ended: a
      // cookie of another session would be dropped by the browser while that session lived on.
      if (
        result.cookie === "clear" &&
        bearerSession !== undefined &&
        cookie !== undefined &&
        cookie !== ops.sessions.cookieFor(bearerSession)
      ) {
        result = { ...result, cookie: undefined };
      }
      const status = result.status ?? route.status ?? 200;
      const headers = withDeviceCookie(cookieHeader(result), result.device);
      send(res, status, status === 204 ? undefined : successBody(route.docs, result), headers);
    } catch (err) {
      if (err instanceof ClientClosed || res.destroyed) {
        if (!res.destroyed) res.destroy();
        return;
      }
      // A body refused before it was read (a forged request) is drained, so the connection stays usable.
      req.resume();
      const authError = toSafeError(err, log.child({ rest: `${method} ${outcome.route ?? path}` }));
      outcome.reason = authError.reason;
      const status = httpStatus(authError);
      const headers: Record<string, string> = {};
      if (authError.retryAfterSeconds !== undefined) headers["retry-after"] = String(authError.retryAfterSeconds);
      // RFC 9110 12.5.3: a 415 says which content codings would have been taken.
      if (authError.reason === "UNSUPPORTED_MEDIA_TYPE") headers["accept-encoding"] = "identity";
      // An oversized upload is not read to its end: over HTTP/1.1 the connection is not reused.
      if (authError.reason === "PAYLOAD_TOO_LARGE" && req.httpVersionMajor === 1) headers.connection = "close";
      // A refused logout leaves the cookie alone, or any page could log the browser out with a
      // forged request while the session lives on. The one exception: the cookie itself named no
      // live session (it passed the forgery check first), so forgetting it loses nothing.
      if (found?.route.clearsCookie === true && deadCookie) Object.assign(headers, cookieHeader({ cookie: "clear" }));
      send(res, status, errorBody(owners, status, authError), headers);
    }
  };
}

export { docs };
