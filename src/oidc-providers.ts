// The OpenID Connect providers of OIDC_PROVIDERS, parsed and checked at start-up (config.ts calls
// parseOidcProviders). A provider is an issuer URL, a client id and a client secret; `google` and
// `microsoft` are presets that know their issuer. GitHub is refused with a reason: its sign-in is
// plain OAuth 2 (no ID token, so no issuer, audience or nonce to check, and the user id comes from
// an API call), which is not what this capability verifies.

export interface OidcProviderSettings {
  /** What clients name the provider by (StartProviderSignIn.provider) and what links record. */
  id: string;
  displayName: string;
  /** The issuer identifier; discovery reads `<issuer>/.well-known/openid-configuration`. */
  issuer: string;
  clientId: string;
  clientSecret: string;
}

export interface OidcSettings {
  providers: OidcProviderSettings[];
  /** The one redirect URI registered at every provider (the app's callback page). */
  redirectUri: string;
  /** How long a started sign-in or link may take before it has to start again. */
  flowTtlSeconds: number;
  /** Sign-ins one client network may start per hour (0: no limit). */
  startsPerClientPerHour: number;
}

const presets = {
  google: { displayName: "Google", issuer: () => "https://accounts.google.com" },
  // Entra ID: a tenant id or domain for one organisation's accounts, `organizations` for any work
  // or school account, `consumers` for personal Microsoft accounts, `common` for both. The
  // multi-tenant documents publish the issuer as a `{tenantid}` template; openid-client checks each
  // ID token against the template filled with the token's own `tid`.
  microsoft: { displayName: "Microsoft", issuer: (tenant: string) => `https://login.microsoftonline.com/${tenant}/v2.0` },
} as const;

type Preset = keyof typeof presets;

const allowedKeys = new Set(["id", "preset", "tenant", "issuer", "client_id", "client_secret", "display_name"]);
const idShape = /^[a-z0-9][a-z0-9_-]{0,31}$/;
const tenantShape =
  /^(common|organizations|consumers|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[a-z0-9-]+(\.[a-z0-9-]+)+)$/;

/** Plain HTTP is accepted only on loopback (a provider run by tests or on the developer's machine). */
export function isLoopback(url: URL): boolean {
  return url.hostname === "127.0.0.1" || url.hostname === "localhost" || url.hostname === "[::1]";
}

/** An https URL (or http on loopback) without credentials or fragment; `what` names it in errors. */
export function checkSecureUrl(raw: string, what: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new Error(`${what} is not a valid URL`);
  }
  if (url.protocol !== "https:" && !(url.protocol === "http:" && isLoopback(url))) {
    throw new Error(`${what} must use https (http only on 127.0.0.1, localhost or [::1])`);
  }
  if (url.username !== "" || url.password !== "" || url.hash !== "") throw new Error(`${what} must not carry credentials or a fragment`);
  return url;
}

function text(entry: Record<string, unknown>, key: string, where: string): string | undefined {
  const value = entry[key];
  if (value === undefined) return undefined;
  if (typeof value !== "string" || value.trim() === "") throw new Error(`${where}: "${key}" must be a non-empty string`);
  return value.trim();
}

function provider(entry: unknown, index: number): OidcProviderSettings {
  const where = `entry ${index}`;
  if (entry === null || typeof entry !== "object" || Array.isArray(entry)) throw new Error(`${where} must be an object`);
  const fields = entry as Record<string, unknown>;
  for (const key of Object.keys(fields)) if (!allowedKeys.has(key)) throw new Error(`${where}: unknown key "${key}"`);
  const presetName = text(fields, "preset", where);
  if (presetName === "github") {
    throw new Error(
      `${where}: GitHub is not an OpenID Connect provider (no ID token: nothing to check the issuer, audience and nonce of); it is not supported`,
    );
  }
  if (presetName !== undefined && !(presetName in presets)) throw new Error(`${where}: "preset" must be google or microsoft`);
  const preset = presetName as Preset | undefined;
  const id = text(fields, "id", where) ?? preset;
  if (id === undefined || !idShape.test(id)) throw new Error(`${where}: "id" must be 1 to 32 of a-z, 0-9, _ and - (or give a preset)`);
  const tenant = text(fields, "tenant", where);
  if (tenant !== undefined && preset !== "microsoft") throw new Error(`${where}: "tenant" is only for the microsoft preset`);
  if (tenant !== undefined && !tenantShape.test(tenant.toLowerCase())) {
    throw new Error(`${where}: "tenant" must be common, organizations, consumers, a tenant id or a domain`);
  }
  const givenIssuer = text(fields, "issuer", where);
  if (preset !== undefined && givenIssuer !== undefined) throw new Error(`${where}: give either "preset" or "issuer", not both`);
  const issuer = preset === undefined ? givenIssuer : presets[preset].issuer(tenant?.toLowerCase() ?? "common");
  if (issuer === undefined) throw new Error(`${where}: "issuer" is required (or a preset: google, microsoft)`);
  checkSecureUrl(issuer, `${where}: "issuer"`);
  const clientId = text(fields, "client_id", where);
  const clientSecret = text(fields, "client_secret", where);
  if (clientId === undefined || clientSecret === undefined) throw new Error(`${where}: "client_id" and "client_secret" are required`);
  const displayName = text(fields, "display_name", where) ?? (preset === undefined ? id : presets[preset].displayName);
  return { id, displayName, issuer, clientId, clientSecret };
}

/** OIDC_PROVIDERS: a JSON array of providers; throws an Error whose message says what is wrong. */
export function parseOidcProviders(json: string): OidcProviderSettings[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    throw new Error("must be a JSON array of providers");
  }
  if (!Array.isArray(parsed) || parsed.length === 0 || parsed.length > 20) throw new Error("must be a JSON array of 1 to 20 providers");
  const providers = parsed.map(provider);
  const ids = providers.map((p) => p.id);
  const twice = ids.find((id, i) => ids.indexOf(id) !== i);
  if (twice !== undefined) throw new Error(`names provider "${twice}" twice`);
  return providers;
}
