// A real OpenID Connect provider (panva's oidc-provider) on loopback, with one confidential client
// registered for authd and a login driven programmatically through its development interactions
// (the same HTML form a person would submit), with fetch and a cookie jar. It signs ID tokens with
// its own keys, publishes them, enforces PKCE and single-use codes: nothing in it is a fake.
import { randomUUID } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import Provider, { type AccountClaims } from "oidc-provider";

export interface TestProvider {
  issuer: string;
  clientId: string;
  clientSecret: string;
  redirectUri: string;
  /** The people who can sign in, by subject; add to it at will. */
  accounts: Map<string, Omit<AccountClaims, "sub">>;
  /** Adds a person and returns their subject. */
  person(claims: Omit<AccountClaims, "sub">, sub?: string): string;
  /**
   * Plays the browser: opens the authorization URL, signs in as `subject` on the provider's login
   * form, consents, and returns the URL the provider redirected back to (code, state, iss).
   */
  signIn(authorizationUrl: string, subject: string): Promise<string>;
  /** The JSON settings for OIDC_PROVIDERS. */
  settings(id?: string): Record<string, string>;
  close(): Promise<void>;
}

class CookieJar {
  readonly #cookies = new Map<string, string>();
  take(res: Response): void {
    for (const line of res.headers.getSetCookie()) {
      const [pair = ""] = line.split(";");
      const eq = pair.indexOf("=");
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      if (/expires=Thu, 01 Jan 1970/i.test(line) || value === "") this.#cookies.delete(name);
      else this.#cookies.set(name, value);
    }
  }
  header(): string {
    return [...this.#cookies].map(([k, v]) => `${k}=${v}`).join("; ");
  }
}

export async function startTestProvider(redirectUri = "http://127.0.0.1:5173/auth/callback"): Promise<TestProvider> {
  const accounts = new Map<string, Omit<AccountClaims, "sub">>();
  const clientId = `authd-${randomUUID()}`;
  const clientSecret = randomUUID() + randomUUID();
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: clientId,
        client_secret: clientSecret,
        redirect_uris: [redirectUri],
        response_types: ["code"],
        grant_types: ["authorization_code"],
      },
    ],
    cookies: { keys: [randomUUID()] },
    claims: { openid: ["sub"], email: ["email", "email_verified"], profile: ["name"] },
    // The claims in the ID token itself, as Google and Microsoft put them there.
    conformIdTokenClaims: false,
    features: { devInteractions: { enabled: true } },
    pkce: { required: () => true },
    ttl: { AccessToken: 600, AuthorizationCode: 60, IdToken: 600, Interaction: 600, Session: 600, Grant: 600 },
    async findAccount(_ctx: unknown, sub: string) {
      const claims = accounts.get(sub);
      if (claims === undefined) return undefined;
      return { accountId: sub, claims: async () => ({ sub, ...claims }) };
    },
  });
  // oidc-provider reports every refused request as an event; the tests look at answers instead.
  provider.on("server_error", () => {});
  server.on("request", provider.callback());

  return {
    issuer,
    clientId,
    clientSecret,
    redirectUri,
    accounts,
    person(claims, sub = randomUUID()) {
      accounts.set(sub, claims);
      return sub;
    },
    async signIn(authorizationUrl, subject) {
      const jar = new CookieJar();
      let url = new URL(authorizationUrl);
      let prompts = 0;
      for (let hop = 0; hop < 12; hop++) {
        const interaction = url.pathname.startsWith("/interaction/");
        const res = await fetch(url, {
          method: interaction ? "POST" : "GET",
          redirect: "manual",
          headers: { cookie: jar.header(), ...(interaction ? { "content-type": "application/x-www-form-urlencoded" } : {}) },
          body: interaction
            ? new URLSearchParams(prompts++ === 0 ? { prompt: "login", login: subject, password: "any" } : { prompt: "consent" })
            : undefined,
        });
        jar.take(res);
        await res.arrayBuffer();
        const location = res.headers.get("location");
        if (location === null) throw new Error(`the provider answered ${res.status} at ${url.pathname} instead of redirecting`);
        url = new URL(location, url);
        if (url.href.startsWith(redirectUri)) return url.href;
      }
      throw new Error("the provider never redirected back");
    },
    settings(id = "test") {
      return { id, issuer, client_id: clientId, client_secret: clientSecret, display_name: "Test provider" };
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
