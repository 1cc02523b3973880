// The WebAuthn relying party: the ceremonies' options and the checks of what the browser sends back,
// on @simplewebauthn/server, plus the challenges, which are ours. A challenge is 32 random bytes,
// stored only as its SHA-256 (as every code is), bound to its ceremony by the code purpose and to
// its user where one is known, and spent by the one atomic consume before any check of the answer:
// of any number of concurrent finishes with the same answer, exactly one gets past it. A wrong
// answer spends it too, so each challenge is worth one try.
//
// Every refusal is the one INVALID_PASSKEY, whatever the cause (unknown credential, foreign user,
// wrong origin, bad signature, no user verification, a counter that did not move): the answer
// never says which accounts or credentials exist.
import type { AuthenticationResponseJSON, RegistrationResponseJSON } from "@simplewebauthn/server";
import { addSeconds, type Clock } from "../clock.ts";
import type { WebAuthnSettings } from "../config.ts";
import { AuthError, invalidArgument } from "../errors.ts";
import { wellFormed } from "../input.ts";
import type { Logger } from "../log.ts";
import type { CodePurpose, CodeStore, PasskeyRecord, PasskeyStore } from "../store/port.ts";
import { randomToken, tokenHash } from "../tokens/opaque.ts";

/** The ceremonies, each with a code purpose of its own. */
export type Ceremony = Extract<CodePurpose, "passkey_registration" | "passkey_sign_in" | "passkey_second_factor">;

export interface CeremonyOptions {
  /** The WebAuthn options as JSON, for navigator.credentials.create()/get(). */
  optionsJson: string;
  expiresAt: Date;
}

/** A verified registration: what is stored of the new credential. */
export type NewCredential = Pick<PasskeyRecord, "credentialId" | "publicKey" | "counter" | "transports" | "backupEligible" | "backedUp">;

export interface RelyingPartyDeps {
  codes: CodeStore;
  passkeys: PasskeyStore;
  clock: Clock;
  log: Pick<Logger, "warn">;
  /** Undefined: passkeys are off, and every ceremony says so. */
  settings: WebAuthnSettings | undefined;
}

/** Far above any real answer (a few hundred bytes to a few KiB), far below the body limit. */
const maxCredentialJsonLength = 32 * 1024;

export const invalidPasskey = () => new AuthError("INVALID_PASSKEY", "the passkey could not be verified; try again");

const passkeysOff = () =>
  new AuthError("SIGN_IN_METHOD_DISABLED", "passkeys are not enabled on this server (WEBAUTHN_RP_ID and WEBAUTHN_ORIGINS are not set)");

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * The browser's answer, parsed: JSON of the shape WebAuthn's toJSON() gives, within bounds. Its
 * contents are the library's to check; a malformed one is the caller's mistake, not a failed proof.
 */
function parseCredential(field: string, raw: string): Record<string, unknown> & { id: string; response: Record<string, unknown> } {
  if (wellFormed(field, raw).trim().length === 0) throw invalidArgument(field, `${field} is required`);
  if (raw.length > maxCredentialJsonLength) throw invalidArgument(field, `${field} is too long`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw invalidArgument(field, `${field} must be the credential's JSON (PublicKeyCredential.toJSON())`);
  }
  if (!isRecord(parsed) || typeof parsed["id"] !== "string" || !isRecord(parsed["response"])) {
    throw invalidArgument(field, `${field} must be the credential's JSON (PublicKeyCredential.toJSON())`);
  }
  return parsed as Record<string, unknown> & { id: string; response: Record<string, unknown> };
}

/** The challenge the browser signed, read from clientDataJSON (checked again by the library). */
function signedChallenge(response: Record<string, unknown>): string | null {
  const clientData = response["clientDataJSON"];
  if (typeof clientData !== "string") return null;
  try {
    const parsed: unknown = JSON.parse(Buffer.from(clientData, "base64url").toString("utf8"));
    return isRecord(parsed) && typeof parsed["challenge"] === "string" ? parsed["challenge"] : null;
  } catch {
    return null;
  }
}

type WebAuthnLibrary = typeof import("@simplewebauthn/server");

export async function createRelyingParty(deps: RelyingPartyDeps) {
  const { codes, passkeys, clock, log } = deps;
  // Loaded only where passkeys are on: with the ASN.1, X.509 and CBOR libraries it brings, it is
  // 5 MiB of heap in a process of its own and 110 ms of a start (the libraries of what is off
  // together were 6 MiB of the 26.6 MiB a server's heap held after start).
  const enabled: (WebAuthnSettings & { library: WebAuthnLibrary }) | undefined =
    deps.settings === undefined ? undefined : { ...deps.settings, library: await import("@simplewebauthn/server") };

  /** The settings and the library, or SIGN_IN_METHOD_DISABLED when passkeys are off. */
  function on(): WebAuthnSettings & { library: WebAuthnLibrary } {
    if (enabled === undefined) throw passkeysOff();
    return enabled;
  }

  /** A new challenge for the ceremony; "" as the user for a sign-in, before anyone is known. */
  async function issue(ceremony: Ceremony, userId: string): Promise<{ challenge: string; expiresAt: Date }> {
    const challenge = randomToken(32);
    const now = clock.now();
    const expiresAt = addSeconds(now, on().challengeTtlSeconds);
    const code = { codeHash: tokenHash(challenge), purpose: ceremony, userId, createdAt: now, expiresAt };
    // A user's newer challenge voids their older one; passwordless sign-ins, all under "", must not
    // void each other's.
    if (userId === "") await codes.add(code);
    else await codes.replace(code);
    return { challenge, expiresAt };
  }

  /** Spends the challenge the answer signed; its owner (or "" for none), or refused. */
  async function spend(ceremony: Ceremony, response: Record<string, unknown>): Promise<{ challenge: string; userId: string }> {
    const challenge = signedChallenge(response);
    if (challenge === null || challenge.length > 128) throw invalidPasskey();
    const record = await codes.consume(tokenHash(challenge), ceremony, clock.now());
    if (record === null) throw invalidPasskey();
    return { challenge, userId: record.userId };
  }

  return {
    /** Throws SIGN_IN_METHOD_DISABLED when passkeys are off. */
    requireOn(): void {
      on();
    },

    async registrationOptions(
      user: { id: string; email: string; displayName: string },
      existing: PasskeyRecord[],
      userHandle: string,
    ): Promise<CeremonyOptions> {
      const { rpId, rpName, challengeTtlSeconds, library } = on();
      const { challenge, expiresAt } = await issue("passkey_registration", user.id);
      const options = await library.generateRegistrationOptions({
        rpName,
        rpID: rpId,
        userName: user.email,
        userDisplayName: user.displayName || user.email,
        userID: Buffer.from(userHandle, "base64url"),
        challenge: Buffer.from(challenge, "base64url"),
        timeout: challengeTtlSeconds * 1000,
        attestationType: "none",
        excludeCredentials: existing.map((p) => ({ id: p.credentialId, transports: p.transports })),
        // Discoverable, so the passkey alone can sign in; verified, so it counts as both factors.
        authenticatorSelection: { residentKey: "required", userVerification: "required" },
      });
      return { optionsJson: JSON.stringify(options), expiresAt };
    },

    /** Checks a registration answer against the user's challenge; the credential to store. */
    async verifyRegistration(userId: string, raw: string, field: string): Promise<NewCredential> {
      const { rpId, origins, library } = on();
      const parsed = parseCredential(field, raw);
      const spent = await spend("passkey_registration", parsed.response);
      if (spent.userId !== userId) throw invalidPasskey();
      let verified: Awaited<ReturnType<WebAuthnLibrary["verifyRegistrationResponse"]>>;
      try {
        verified = await library.verifyRegistrationResponse({
          response: parsed as unknown as RegistrationResponseJSON,
          expectedChallenge: spent.challenge,
          expectedOrigin: origins,
          expectedRPID: rpId,
          requireUserVerification: true,
        });
      } catch {
        throw invalidPasskey();
      }
      if (!verified.verified) throw invalidPasskey();
      const { credential, credentialDeviceType, credentialBackedUp } = verified.registrationInfo;
      return {
        credentialId: credential.id,
        publicKey: Buffer.from(credential.publicKey).toString("base64url"),
        counter: credential.counter,
        transports: (credential.transports ?? []).slice(0, 8),
        backupEligible: credentialDeviceType === "multiDevice",
        backedUp: credentialBackedUp,
      };
    },

    /** Options to assert with: any discoverable credential (no user), or one of `allow`. */
    async authenticationOptions(
      ceremony: Exclude<Ceremony, "passkey_registration">,
      userId: string,
      allow: PasskeyRecord[],
    ): Promise<CeremonyOptions> {
      const { rpId, challengeTtlSeconds, library } = on();
      const { challenge, expiresAt } = await issue(ceremony, userId);
      const options = await library.generateAuthenticationOptions({
        rpID: rpId,
        challenge: Buffer.from(challenge, "base64url"),
        timeout: challengeTtlSeconds * 1000,
        allowCredentials: allow.map((p) => ({ id: p.credentialId, transports: p.transports })),
        // Alone a passkey must prove the user (both factors); after a password, presence will do.
        userVerification: ceremony === "passkey_sign_in" ? "required" : "preferred",
      });
      return { optionsJson: JSON.stringify(options), expiresAt };
    },

    /**
     * Checks an assertion: spends its challenge, finds the passkey (of `userId` when given), lets
     * `before` read what must be read before the proof is checked, verifies signature, origin, RP
     * ID and user verification, refuses a counter that did not move, and records the use over the
     * counter it read. Returns the passkey and what `before` returned.
     */
    async verifyAssertion<T>(
      ceremony: Exclude<Ceremony, "passkey_registration">,
      raw: string,
      field: string,
      userId: string | undefined,
      before: (passkey: PasskeyRecord) => Promise<T>,
    ): Promise<{ passkey: PasskeyRecord; read: T }> {
      const { rpId, origins, library } = on();
      const parsed = parseCredential(field, raw);
      const spent = await spend(ceremony, parsed.response);
      if (userId !== undefined && spent.userId !== userId) throw invalidPasskey();
      const passkey = await passkeys.findByCredentialId(parsed.id);
      if (passkey === null || (userId !== undefined && passkey.userId !== userId)) throw invalidPasskey();
      const handle = parsed.response["userHandle"];
      if (handle !== undefined && handle !== null && handle !== passkey.userHandle) throw invalidPasskey();
      const read = await before(passkey);
      let info: Awaited<ReturnType<WebAuthnLibrary["verifyAuthenticationResponse"]>>["authenticationInfo"];
      try {
        const verified = await library.verifyAuthenticationResponse({
          response: parsed as unknown as AuthenticationResponseJSON,
          expectedChallenge: spent.challenge,
          expectedOrigin: origins,
          expectedRPID: rpId,
          // The counter rule is applied below, where a refusal can be told apart and logged.
          credential: { id: passkey.credentialId, publicKey: Buffer.from(passkey.publicKey, "base64url"), counter: 0 },
          requireUserVerification: ceremony === "passkey_sign_in",
        });
        if (!verified.verified) throw invalidPasskey();
        info = verified.authenticationInfo;
      } catch {
        throw invalidPasskey();
      }
      // WebAuthn 6.1.1: a counter that is in use must grow; one that did not is a sign of a cloned
      // authenticator (or a replayed assertion), and the credential's owner should look into it.
      if ((info.newCounter > 0 || passkey.counter > 0) && info.newCounter <= passkey.counter) {
        log.warn(
          { userId: passkey.userId, passkeyId: passkey.id, storedCounter: passkey.counter, presentedCounter: info.newCounter },
          "passkey signature counter did not increase: possibly a cloned authenticator; refused",
        );
        throw invalidPasskey();
      }
      const use = { counter: info.newCounter, backedUp: info.credentialBackedUp, lastUsedAt: clock.now() };
      if (!(await passkeys.recordUse(passkey.id, passkey.counter, use))) throw invalidPasskey();
      return { passkey: { ...passkey, ...use }, read };
    },
  };
}

export type RelyingParty = Awaited<ReturnType<typeof createRelyingParty>>;
