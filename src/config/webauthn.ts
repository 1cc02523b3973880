import { ConfigError, type Env, int, origins, str } from "./parse.ts";

/** The WebAuthn relying party (src/passkeys/). */
export interface WebAuthnSettings {
  /** The RP ID: the site's registrable domain (or a host), which every credential is scoped to. */
  rpId: string;
  /** The name authenticators show. */
  rpName: string;
  /** The exact web origins the ceremonies may come from (https, or http on localhost). */
  origins: string[];
  /** How long a WebAuthn challenge lives. */
  challengeTtlSeconds: number;
  /** Passwordless sign-ins (each storing a challenge) one client network may start in an hour; 0: no limit. */
  startsPerClientPerHour: number;
}

/**
 * WEBAUTHN_RP_ID, WEBAUTHN_RP_NAME, WEBAUTHN_ORIGINS (both of RP ID and origins or neither),
 * WEBAUTHN_CHALLENGE_TTL_SECONDS, WEBAUTHN_MAX_STARTS_PER_CLIENT_PER_HOUR. The
 * RP ID is a host name (never an IP address or a URL), and every origin must be it or one of its
 * subdomains, over https (http only for localhost, which browsers treat as secure), since the
 * browser would refuse any other pairing at run time.
 */
export function webauthn(env: Env): WebAuthnSettings | undefined {
  const rpId = str(env, "WEBAUTHN_RP_ID")?.toLowerCase();
  const given = origins(env, "WEBAUTHN_ORIGINS");
  if (rpId === undefined && given.length === 0) return undefined;
  if (rpId === undefined) throw new ConfigError("WEBAUTHN_RP_ID", "must be set when WEBAUTHN_ORIGINS is");
  if (given.length === 0) throw new ConfigError("WEBAUTHN_ORIGINS", "must be set when WEBAUTHN_RP_ID is");
  if (!/^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/.test(rpId) || /^[0-9.]+$/.test(rpId)) {
    throw new ConfigError("WEBAUTHN_RP_ID", `must be a host name like example.com (no scheme, port or IP address), got "${rpId}"`);
  }
  for (const origin of given) {
    if (origin === "*") throw new ConfigError("WEBAUTHN_ORIGINS", "must list exact origins, not *");
    const { protocol, hostname } = new URL(origin);
    if (hostname !== rpId && !hostname.endsWith(`.${rpId}`)) {
      throw new ConfigError("WEBAUTHN_ORIGINS", `"${origin}" is not on WEBAUTHN_RP_ID ${rpId} or a subdomain of it`);
    }
    if (protocol !== "https:" && !(protocol === "http:" && hostname === "localhost")) {
      throw new ConfigError("WEBAUTHN_ORIGINS", `"${origin}" must use https (http only on localhost)`);
    }
  }
  const rpName = str(env, "WEBAUTHN_RP_NAME") ?? str(env, "TOTP_ISSUER") ?? "authd";
  if (rpName.length > 64) throw new ConfigError("WEBAUTHN_RP_NAME", "must be at most 64 characters");
  return {
    rpId,
    rpName,
    origins: given,
    challengeTtlSeconds: int(env, "WEBAUTHN_CHALLENGE_TTL_SECONDS", 300, 30, 600),
    startsPerClientPerHour: int(env, "WEBAUTHN_MAX_STARTS_PER_CLIENT_PER_HOUR", 300, 0, 100_000),
  };
}
