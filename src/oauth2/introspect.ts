// POST /oauth2/introspect: token introspection in RFC 7662's own encoding, for API gateways
// (Kong, Envoy, Apigee, nginx with a module) that speak it rather than gRPC. A transport only:
// it decodes the form and the caller's credentials, calls the one introspection operation that
// TokenService.IntrospectToken calls, and encodes the answer as RFC 7662 JSON.
//
// The caller authenticates as gateways do: `Authorization: Basic` with client_id = the service
// account id and client_secret = its API key, or `Authorization: Bearer <API key>` (an admin
// user's access token also works), or a TLS client certificate where TLS_CLIENT_CA_FILE is set;
// the operation asks for `tokens.introspect` either way.
import type http from "node:http";
import type http2 from "node:http2";
import type { AuthError } from "../errors.ts";
import type { Introspection, TokenIntrospection } from "../introspection/introspection.ts";
import type { Logger } from "../log.ts";
import { accountIdOf } from "../service-accounts/keys.ts";
import type { Principals } from "../service-accounts/principal.ts";
import { ClientClosed, readRaw } from "../transport/body.ts";
import { basicFrom, bearerFrom, verifiedClientName } from "../transport/credentials.ts";
import { clientGone } from "../transport/node-http.ts";
import { outcomeOf } from "../transport/outcome.ts";
import { toSafeError } from "../transport/safe-error.ts";

export const introspectPath = "/oauth2/introspect";

type Request = http.IncomingMessage | http2.Http2ServerRequest;
type Response = http.ServerResponse | http2.Http2ServerResponse;

export interface IntrospectEndpointDeps {
  principals: Pick<Principals, "authenticate">;
  introspection: Pick<TokenIntrospection, "introspect">;
  /** Whether a verified TLS client certificate authenticates a service account (TLS_CLIENT_CA_FILE). */
  clientCertificates: boolean;
  maxBodyBytes: number;
  log: Pick<Logger, "child" | "error">;
}

/** An answer other than the introspection itself: status, RFC 6749 error code, extra headers. */
class Refusal extends Error {
  readonly status: number;
  readonly error: string;
  readonly headers: Record<string, string>;
  constructor(status: number, error: string, description: string, headers: Record<string, string> = {}) {
    super(description);
    this.status = status;
    this.error = error;
    this.headers = headers;
  }
}

const realm = 'realm="authd"';

function send(res: Response, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.statusCode = status;
  // RFC 7662 section 4: the answer must not be cached.
  for (const [name, value] of Object.entries({ "content-type": "application/json", "cache-control": "no-store", ...headers })) {
    res.setHeader(name, value);
  }
  res.end(JSON.stringify(body));
}

/** The RFC 7662 JSON of an introspection: `active` alone when inactive; empty members left out. */
export function introspectionJson(result: Introspection): Record<string, unknown> {
  if (!result.active) return { active: false };
  const out: Record<string, unknown> = {
    active: true,
    sub: result.sub,
    client_id: result.clientId,
    token_type: result.tokenType,
    roles: result.roles,
    permissions: result.permissions,
    // RFC 7662's `scope`: the permissions, space-separated, for gateways that check scopes.
    scope: result.permissions.join(" "),
    iat: Math.floor(result.issuedAt.getTime() / 1000),
  };
  if (result.expiresAt !== null) out.exp = Math.floor(result.expiresAt.getTime() / 1000);
  if (result.sid !== "") out.sid = result.sid;
  if (result.issuer !== "") out.iss = result.issuer;
  return out;
}

/**
 * The caller's credential: an API key (or access token) from Bearer, or from Basic with its id;
 * without either, the service account a verified client certificate names (when those count).
 */
function callerCredential(
  req: Request,
  certificates: boolean,
): { bearer: string | undefined; certified?: string; scheme: "Basic" | "Bearer" } {
  const header = req.headers.authorization;
  const basic = basicFrom(header);
  if (basic !== undefined) {
    // The client_id must be the account the key names: a gateway configured with one account's
    // id and another's key is misconfigured, and is told so the same way as a wrong key.
    if (accountIdOf(basic.secret) !== basic.id) {
      throw new Refusal(401, "invalid_client", "client authentication failed", { "www-authenticate": `Basic ${realm}` });
    }
    return { bearer: basic.secret, scheme: "Basic" };
  }
  const bearer = bearerFrom(header);
  if (bearer !== undefined) return { bearer, scheme: "Bearer" };
  // Only with no Authorization header at all: a malformed one is refused, not passed over for the
  // certificate (rpc/context.ts, principalBearer).
  const certified = certificates && header === undefined ? verifiedClientName(req) : undefined;
  if (certified !== undefined) return { bearer: undefined, certified, scheme: "Bearer" };
  throw new Refusal(401, "invalid_client", "client authentication is required (HTTP Basic or Bearer with an API key)", {
    "www-authenticate": `Basic ${realm}, Bearer ${realm}`,
  });
}

/** The form's parameters; each at most once (RFC 6749 section 3.1), `token` required. */
function formOf(req: Request, raw: Buffer): { token: string; tokenTypeHint: string } {
  const type = String(req.headers["content-type"] ?? "")
    .split(";")[0]
    ?.trim()
    .toLowerCase();
  if (type !== "application/x-www-form-urlencoded") {
    throw new Refusal(400, "invalid_request", "the body must be application/x-www-form-urlencoded");
  }
  const text = raw.toString("utf8");
  // Decoding replaces bytes that are not UTF-8; such a body was not meant for us.
  if (Buffer.byteLength(text, "utf8") !== raw.length) throw new Refusal(400, "invalid_request", "the body is not UTF-8");
  const seen = new Map<string, string>();
  for (const [name, value] of new URLSearchParams(text)) {
    if (seen.has(name)) throw new Refusal(400, "invalid_request", `${name} is given more than once`);
    seen.set(name, value);
  }
  const token = seen.get("token");
  if (token === undefined || token === "") throw new Refusal(400, "invalid_request", "the token parameter is required");
  return { token, tokenTypeHint: seen.get("token_type_hint") ?? "" };
}

/** A domain error as an OAuth 2.0 error answer (RFC 6749 section 5.2, RFC 6750 section 3.1). */
function refusalOf(err: AuthError, scheme: "Basic" | "Bearer"): Refusal {
  switch (err.status) {
    case "unauthenticated":
      return new Refusal(401, "invalid_client", "client authentication failed", {
        "www-authenticate": scheme === "Basic" ? `Basic ${realm}` : `Bearer ${realm}, error="invalid_token"`,
      });
    case "permission_denied":
      return new Refusal(403, "insufficient_scope", err.message, {
        "www-authenticate": `Bearer ${realm}, error="insufficient_scope", scope="tokens.introspect"`,
      });
    case "invalid_argument":
      return new Refusal(400, "invalid_request", err.message);
    case "resource_exhausted":
      return new Refusal(err.reason === "PAYLOAD_TOO_LARGE" ? 413 : 429, "invalid_request", err.message);
    case "unavailable":
      return new Refusal(503, "temporarily_unavailable", err.message, { "retry-after": "1" });
    default:
      return new Refusal(500, "server_error", "internal error");
  }
}

export function createIntrospectEndpoint(deps: IntrospectEndpointDeps): (req: Request, res: Response) => Promise<void> {
  return async (req, res) => {
    const outcome = outcomeOf(req);
    outcome.route = `POST ${introspectPath}`;
    let scheme: "Basic" | "Bearer" = "Bearer";
    try {
      if (req.method !== "POST") throw new Refusal(405, "invalid_request", "use POST", { allow: "POST" });
      const credential = callerCredential(req, deps.clientCertificates);
      scheme = credential.scheme;
      // The caller first: a stranger learns nothing, not even whether its form was well made.
      const asker = await deps.principals.authenticate(credential.bearer, credential.certified);
      const coding = String(req.headers["content-encoding"] ?? "identity")
        .trim()
        .toLowerCase();
      if (coding !== "identity" && coding !== "") throw new Refusal(400, "invalid_request", "the body must not be compressed");
      const form = formOf(req, await readRaw(req, deps.maxBodyBytes));
      send(res, 200, introspectionJson(await deps.introspection.introspect(asker, form)));
    } catch (err) {
      if (err instanceof ClientClosed || clientGone(res)) return;
      let refusal: Refusal;
      if (err instanceof Refusal) refusal = err;
      else {
        const safe = toSafeError(err, deps.log.child({ http: `POST ${introspectPath}` }));
        outcome.reason = safe.reason;
        refusal = refusalOf(safe, scheme);
      }
      // Whatever of the body is still unread is drained, so the connection can be used again.
      req.resume();
      send(res, refusal.status, { error: refusal.error, error_description: refusal.message }, refusal.headers);
    }
  };
}
