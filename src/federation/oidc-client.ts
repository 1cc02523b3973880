// The relying party's side of OpenID Connect, done by openid-client (panva): discovery, the
// authorization URL with PKCE (S256), state and nonce, and the authorization code grant, whose
// checks are the library's: the callback's state and issuer, the code exchanged with the PKCE
// verifier, and the ID token's issuer, audience, nonce, expiry and issued-at, its signature
// against the provider's published keys too (enableNonRepudiationChecks). This module only
// chooses the settings, remembers each provider's discovered configuration, and turns the
// library's failures into our reasons without passing any of their text to a client.
import type { Configuration } from "openid-client";
import { AuthError, invalidArgument } from "../errors.ts";
import type { Logger } from "../log.ts";
import { isLoopback, type OidcProviderSettings, type OidcSettings } from "../oidc-providers.ts";

/** Who the provider says signed in, from a checked ID token. */
export interface ProviderIdentity {
  issuer: string;
  subject: string;
  /** As the provider gives it; undefined when it shares none. Never used to find an account. */
  email: string | undefined;
  /** Only a literal `email_verified: true` counts (Microsoft, for one, sends no such claim). */
  emailVerified: boolean;
  name: string | undefined;
}

/** What a flow needs to prove at the end what it promised at the start. */
export interface FlowSecrets {
  state: string;
  nonce: string;
  codeVerifier: string;
}

export interface OidcClientDeps {
  settings: OidcSettings;
  log: Pick<Logger, "warn">;
}

const scope = "openid email profile";
/** Far more than a code, a state and an issuer need; bounds what is parsed. */
const maxCallbackLength = 4096;
/** Seconds any one request to a provider may take (discovery, keys, token endpoint). */
const requestTimeoutSeconds = 10;

export const signInFailed = () =>
  new AuthError("PROVIDER_SIGN_IN_FAILED", "the sign-in with the provider failed or has expired; start again");
const unavailable = () => new AuthError("PROVIDER_UNAVAILABLE", "the sign-in provider cannot be reached; try again later");
const providersOff = () =>
  new AuthError("SIGN_IN_METHOD_DISABLED", "sign-in with OpenID Connect providers is not turned on (OIDC_PROVIDERS)");

type OidcLibrary = typeof import("openid-client");

/** A failure to reach the provider at all (network, timeout, an HTML error page), not a verdict. */
function unreachable(err: unknown, { ClientError }: OidcLibrary): boolean {
  if (err instanceof TypeError) return true; // fetch's network failures
  if (err instanceof DOMException) return err.name === "TimeoutError" || err.name === "AbortError";
  return err instanceof ClientError && (err.code === "OAUTH_RESPONSE_IS_NOT_CONFORM" || err.code === "OAUTH_RESPONSE_IS_NOT_JSON");
}

export async function createOidcClients(deps: OidcClientDeps) {
  const { settings, log } = deps;
  // Loaded only where a provider is configured, like every optional sign-in method's library.
  const library: OidcLibrary | undefined = settings.providers.length === 0 ? undefined : await import("openid-client");
  const byId = new Map(settings.providers.map((p) => [p.id, p]));
  /** Discovered once per provider; a failed discovery is forgotten, so the next call tries again. */
  const discovered = new Map<string, Promise<Configuration>>();

  /** The library: loaded whenever a provider is configured, so whenever there is one to call. */
  function oidc(): OidcLibrary {
    if (library === undefined) throw providersOff();
    return library;
  }

  function configurationOf(provider: OidcProviderSettings): Promise<Configuration> {
    let pending = discovered.get(provider.id);
    if (pending === undefined) {
      const { allowInsecureRequests, discovery, enableNonRepudiationChecks } = oidc();
      const issuer = new URL(provider.issuer);
      const execute =
        isLoopback(issuer) && issuer.protocol === "http:"
          ? [allowInsecureRequests, enableNonRepudiationChecks]
          : [enableNonRepudiationChecks];
      pending = discovery(issuer, provider.clientId, provider.clientSecret, undefined, { execute, timeout: requestTimeoutSeconds });
      discovered.set(provider.id, pending);
      pending.catch((err: unknown) => {
        discovered.delete(provider.id);
        log.warn({ provider: provider.id, err: String(err) }, "OpenID Connect discovery failed");
      });
    }
    return pending.catch(() => {
      throw unavailable();
    });
  }

  return {
    /** The configured providers, in configuration order. */
    list: (): { id: string; displayName: string }[] => settings.providers.map((p) => ({ id: p.id, displayName: p.displayName })),

    /** The provider a client named; INVALID_ARGUMENT for any other name (SIGN_IN_METHOD_DISABLED with none). */
    provider(raw: string): OidcProviderSettings {
      if (byId.size === 0) throw providersOff();
      const found = byId.get(raw.trim());
      if (found === undefined) throw invalidArgument("provider", "provider is not one of the configured providers (see ListProviders)");
      return found;
    },

    async authorizationUrl(provider: OidcProviderSettings, secrets: FlowSecrets): Promise<string> {
      const config = await configurationOf(provider);
      const { buildAuthorizationUrl, calculatePKCECodeChallenge } = oidc();
      return buildAuthorizationUrl(config, {
        redirect_uri: settings.redirectUri,
        scope,
        state: secrets.state,
        nonce: secrets.nonce,
        code_challenge: await calculatePKCECodeChallenge(secrets.codeVerifier),
        code_challenge_method: "S256",
      }).href;
    },

    /**
     * The URL the provider sent the browser back to, if it is the configured redirect URI (with the
     * provider's query); checked before a flow is spent on it.
     */
    callback(raw: string): URL {
      if (raw.length > maxCallbackLength)
        throw invalidArgument("callback_url", `callback_url must be at most ${maxCallbackLength} characters`);
      let callback: URL;
      try {
        callback = new URL(raw);
      } catch {
        throw invalidArgument("callback_url", raw === "" ? "callback_url is required" : "callback_url is not a URL");
      }
      const expected = new URL(settings.redirectUri);
      if (callback.origin !== expected.origin || callback.pathname !== expected.pathname) {
        throw invalidArgument("callback_url", "callback_url is not the configured redirect URI");
      }
      return callback;
    },

    /**
     * The callback's code, exchanged and checked: anything the library refuses is
     * PROVIDER_SIGN_IN_FAILED, the provider being out of reach PROVIDER_UNAVAILABLE.
     */
    async exchange(provider: OidcProviderSettings, callback: URL, secrets: FlowSecrets): Promise<ProviderIdentity> {
      const config = await configurationOf(provider);
      try {
        const tokens = await oidc().authorizationCodeGrant(config, callback, {
          pkceCodeVerifier: secrets.codeVerifier,
          expectedState: secrets.state,
          expectedNonce: secrets.nonce,
          idTokenExpected: true,
        });
        const claims = tokens.claims();
        if (claims === undefined) throw new Error("no ID token");
        // OpenID Connect Core 2: at most 255 ASCII characters. Stored and shown, so held to it.
        if (!/^[\x20-\x7e]{1,255}$/.test(claims.sub)) throw new Error("the ID token's sub is not 1-255 printable ASCII characters");
        return {
          issuer: claims.iss,
          subject: claims.sub,
          email: typeof claims["email"] === "string" ? claims["email"] : undefined,
          emailVerified: claims["email_verified"] === true,
          name: typeof claims["name"] === "string" ? claims["name"] : undefined,
        };
      } catch (err) {
        // The library's message stays in the log: it may quote the provider's answer.
        // The OAuth error (e.g. invalid_grant) and the library's check that failed say why.
        const { error, code } = err as { error?: unknown; code?: unknown };
        log.warn({ provider: provider.id, err: String(err), oauthError: error, check: code }, "OpenID Connect sign-in refused");
        throw unreachable(err, oidc()) ? unavailable() : signInFailed();
      }
    },
  };
}

export type OidcClients = Awaited<ReturnType<typeof createOidcClients>>;
