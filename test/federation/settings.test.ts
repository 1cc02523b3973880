// OIDC_PROVIDERS, OIDC_REDIRECT_URI and OIDC_FLOW_TTL_SECONDS as config.ts reads them: presets,
// Microsoft tenants, and every refusal naming the variable.
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config.ts";

const noFiles = (): string => {
  throw new Error("no files");
};
const secret = { client_id: "id", client_secret: "s3cret" };
const load = (providers: unknown, extra: Record<string, string> = {}) =>
  loadConfig({ OIDC_PROVIDERS: JSON.stringify(providers), OIDC_REDIRECT_URI: "https://app.example/auth/callback", ...extra }, noFiles);

describe("OIDC settings", () => {
  it("off by default", () => {
    expect(loadConfig({}, noFiles).oidc).toBeUndefined();
  });

  it("presets and a generic issuer", () => {
    const c = load([
      { preset: "google", ...secret },
      { preset: "microsoft", ...secret },
      { id: "work", preset: "microsoft", tenant: "Contoso.onmicrosoft.com", ...secret },
      { id: "ms-orgs", preset: "microsoft", tenant: "organizations", ...secret },
      { id: "corp", issuer: "https://sso.example.com/realms/main", display_name: "Corp SSO", ...secret },
    ]);
    expect(c.oidc?.flowTtlSeconds).toBe(600);
    expect(c.oidc?.startsPerClientPerHour).toBe(100);
    expect(c.oidc?.providers.map((p) => [p.id, p.displayName, p.issuer])).toEqual([
      ["google", "Google", "https://accounts.google.com"],
      ["microsoft", "Microsoft", "https://login.microsoftonline.com/common/v2.0"],
      ["work", "Microsoft", "https://login.microsoftonline.com/contoso.onmicrosoft.com/v2.0"],
      ["ms-orgs", "Microsoft", "https://login.microsoftonline.com/organizations/v2.0"],
      ["corp", "Corp SSO", "https://sso.example.com/realms/main"],
    ]);
    expect(load([{ preset: "google", ...secret }], { OIDC_FLOW_TTL_SECONDS: "120" }).oidc?.flowTtlSeconds).toBe(120);
  });

  it.each([
    ["not JSON", "{", "OIDC_PROVIDERS"],
    ["an empty list", [], "OIDC_PROVIDERS"],
    ["GitHub", [{ preset: "github", ...secret }], "not an OpenID Connect provider"],
    ["an unknown preset", [{ preset: "facebook", ...secret }], "preset"],
    ["no issuer", [{ id: "x", ...secret }], "issuer"],
    ["preset and issuer", [{ preset: "google", issuer: "https://accounts.google.com", ...secret }], "not both"],
    ["plain http off loopback", [{ id: "x", issuer: "http://sso.example.com", ...secret }], "https"],
    ["no client secret", [{ preset: "google", client_id: "id" }], "client_secret"],
    ["a tenant for google", [{ preset: "google", tenant: "common", ...secret }], "tenant"],
    ["a malformed tenant", [{ preset: "microsoft", tenant: "../x", ...secret }], "tenant"],
    ["an unknown key", [{ preset: "google", scope: "x", ...secret }], "unknown key"],
    ["a bad id", [{ id: "Bad Id", issuer: "https://x.example", ...secret }], "id"],
    [
      "an id twice",
      [
        { preset: "google", ...secret },
        { id: "google", issuer: "https://x.example", ...secret },
      ],
      "twice",
    ],
  ])("refuses %s", (_name, providers, words) => {
    const run = () =>
      typeof providers === "string"
        ? loadConfig({ OIDC_PROVIDERS: providers, OIDC_REDIRECT_URI: "https://app.example/cb" }, noFiles)
        : load(providers);
    expect(run).toThrow(ConfigError);
    expect(run).toThrow(/OIDC_PROVIDERS/);
    expect(run).toThrow(words);
  });

  it("the redirect URI is required with providers, https (or loopback http), and nothing without them", () => {
    const providers = JSON.stringify([{ preset: "google", ...secret }]);
    expect(() => loadConfig({ OIDC_PROVIDERS: providers }, noFiles)).toThrow(/OIDC_REDIRECT_URI must be set/);
    expect(() => loadConfig({ OIDC_PROVIDERS: providers, OIDC_REDIRECT_URI: "http://app.example/cb" }, noFiles)).toThrow(
      /OIDC_REDIRECT_URI must use https/,
    );
    expect(loadConfig({ OIDC_PROVIDERS: providers, OIDC_REDIRECT_URI: "http://localhost:5173/cb" }, noFiles).oidc?.redirectUri).toBe(
      "http://localhost:5173/cb",
    );
    expect(() => loadConfig({ OIDC_REDIRECT_URI: "https://app.example/cb" }, noFiles)).toThrow(
      /OIDC_REDIRECT_URI is set but OIDC_PROVIDERS is not/,
    );
    expect(() => load([{ preset: "google", ...secret }], { OIDC_FLOW_TTL_SECONDS: "5" })).toThrow(/OIDC_FLOW_TTL_SECONDS/);
  });

  it("OIDC_PROVIDERS_FILE holds the same JSON (it carries client secrets)", () => {
    const c = loadConfig({ OIDC_PROVIDERS_FILE: "/run/secrets/oidc", OIDC_REDIRECT_URI: "https://app.example/cb" }, () =>
      JSON.stringify([{ preset: "google", ...secret }]),
    );
    expect(c.oidc?.providers[0]?.clientSecret).toBe("s3cret");
  });
});
