import { ConfigError, type Env, int, str, url } from "./parse.ts";

export interface EmailSignInSettings {
  /** Mailed codes are on. */
  code: boolean;
  /** The page magic links open (EMAIL_SIGN_IN_LINK_URL); undefined: no links. */
  linkUrl: string | undefined;
  codeTtlSeconds: number;
  codeDigits: number;
  codeMaxFailures: number;
  /** Wrong codes in a row for one address, across mails (EMAIL_SIGN_IN_MAX_CONSECUTIVE_FAILURES). */
  maxConsecutiveFailures: number;
}

const emailSignInModes = ["code", "link"] as const;

/** The page magic links open: the token goes in its fragment, which the page reads and no server receives. */
function checkLinkPage(linkUrl: string): void {
  const page = new URL(linkUrl);
  if (page.hash !== "") throw new ConfigError("EMAIL_SIGN_IN_LINK_URL", "must not have a #fragment");
  // A page served over plain HTTP could be altered on the way to read the token: local development only.
  if (page.protocol === "http:" && !["localhost", "127.0.0.1", "[::1]"].includes(page.hostname)) {
    throw new ConfigError("EMAIL_SIGN_IN_LINK_URL", "must use https (plain http only on localhost)");
  }
}

export function emailSignIn(env: Env): EmailSignInSettings | undefined {
  const raw = str(env, "EMAIL_SIGN_IN");
  const linkUrl = url(env, "EMAIL_SIGN_IN_LINK_URL", ["https:", "http:"]);
  if (raw === undefined || raw === "off") {
    if (linkUrl !== undefined) throw new ConfigError("EMAIL_SIGN_IN_LINK_URL", 'is set but EMAIL_SIGN_IN does not include "link"');
    return undefined;
  }
  const modes = raw.split(",").map((m) => m.trim());
  for (const mode of modes) {
    if (!emailSignInModes.some((m) => m === mode)) {
      throw new ConfigError("EMAIL_SIGN_IN", `must be off, code, link or code,link, got "${raw}"`);
    }
  }
  const link = modes.includes("link");
  if (link && linkUrl === undefined) throw new ConfigError("EMAIL_SIGN_IN_LINK_URL", "is required when EMAIL_SIGN_IN includes link");
  if (!link && linkUrl !== undefined) throw new ConfigError("EMAIL_SIGN_IN_LINK_URL", 'is set but EMAIL_SIGN_IN does not include "link"');
  if (linkUrl !== undefined) checkLinkPage(linkUrl);
  return {
    code: modes.includes("code"),
    linkUrl,
    codeTtlSeconds: int(env, "EMAIL_SIGN_IN_CODE_TTL_SECONDS", 600, 60, 3_600),
    codeDigits: int(env, "EMAIL_SIGN_IN_CODE_DIGITS", 6, 6, 8),
    codeMaxFailures: int(env, "EMAIL_SIGN_IN_CODE_MAX_FAILURES", 5, 1, 10),
    // NIST SP 800-63B: at most 100 consecutive failed attempts on one account.
    maxConsecutiveFailures: int(env, "EMAIL_SIGN_IN_MAX_CONSECUTIVE_FAILURES", 100, 10, 1_000),
  };
}
