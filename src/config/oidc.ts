import { checkSecureUrl, parseOidcProviders, type OidcSettings } from "../oidc-providers.ts";
import { ConfigError, type Env, int, parsedSecret, str } from "./parse.ts";

/**
 * OIDC_PROVIDERS (or OIDC_PROVIDERS_FILE: it holds client secrets), OIDC_REDIRECT_URI (required
 * with them), OIDC_FLOW_TTL_SECONDS and OIDC_MAX_STARTS_PER_CLIENT_PER_HOUR.
 */
export function oidc(env: Env, readFile: (path: string) => string): OidcSettings | undefined {
  const providers = parsedSecret(env, "OIDC_PROVIDERS", readFile, parseOidcProviders);
  const redirect = str(env, "OIDC_REDIRECT_URI");
  if (providers === undefined) {
    if (redirect !== undefined) throw new ConfigError("OIDC_REDIRECT_URI", "is set but OIDC_PROVIDERS is not");
    return undefined;
  }
  if (redirect === undefined) throw new ConfigError("OIDC_REDIRECT_URI", "must be set when OIDC_PROVIDERS is (the app's callback URL)");
  try {
    checkSecureUrl(redirect, "it");
  } catch (err) {
    throw new ConfigError("OIDC_REDIRECT_URI", (err as Error).message.replace(/^it /, ""));
  }
  return {
    providers,
    redirectUri: redirect,
    flowTtlSeconds: int(env, "OIDC_FLOW_TTL_SECONDS", 600, 60, 3_600),
    startsPerClientPerHour: int(env, "OIDC_MAX_STARTS_PER_CLIENT_PER_HOUR", 100, 0, 100_000),
  };
}
