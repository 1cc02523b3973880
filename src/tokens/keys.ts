import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from "node:crypto";
import { calculateJwkThumbprint, exportJWK, type JWK } from "jose";

/** A key that access tokens are checked against: its `kid` names it in a token's header. */
export interface VerificationKey {
  alg: "EdDSA" | "ES256";
  /** The RFC 7638 JWK thumbprint of the public key: derived from the key, never configured. */
  kid: string;
  publicKey: KeyObject;
  /** The public key as published in the JWKS. */
  publicJwk: JWK;
}

/** The one key that signs. */
export interface SigningKey extends VerificationKey {
  privateKey: KeyObject;
}

/**
 * The keys of one process, fixed for its life: `current` signs; the `next` key (published ahead,
 * so that verifiers' caches hold it before it signs) and the `previous` ones (whose tokens have
 * not all expired yet) only verify. A rotation is a restart with another ring.
 */
export interface KeyRing {
  current: SigningKey;
  next: VerificationKey | undefined;
  previous: readonly VerificationKey[];
  /** Every listed key by kid, the current one included. */
  byKid: ReadonlyMap<string, VerificationKey>;
  /** The JWKS: current, next, then previous. */
  published: readonly JWK[];
}

/** The keys as configured (src/config.ts has parsed and checked them); no current key: generate one. */
export interface ConfiguredKeys {
  current?: KeyObject | undefined;
  next?: KeyObject | undefined;
  previous?: readonly KeyObject[];
}

/** Only these two: both are small, fast and in every JOSE library. */
function algOf(key: KeyObject): VerificationKey["alg"] {
  if (key.asymmetricKeyType === "ed25519") return "EdDSA";
  if (key.asymmetricKeyType === "ec" && key.asymmetricKeyDetails?.namedCurve === "prime256v1") return "ES256";
  throw new Error("must be an Ed25519 (EdDSA) or P-256 (ES256) key");
}

/** The key `read` makes, if it can and the type is supported; else `problem` (for the variable's name). */
function supportedKey(read: () => KeyObject, problem: string): KeyObject {
  let key: KeyObject;
  try {
    key = read();
  } catch {
    throw new Error(problem);
  }
  algOf(key);
  return key;
}

/** A PKCS#8 (or SEC1) PEM private key of a supported type; throws a message for the variable's name. */
export function parsePrivateKey(pem: string): KeyObject {
  return supportedKey(
    () => createPrivateKey({ key: pem, format: "pem" }),
    "is not a valid PEM private key (openssl genpkey -algorithm ed25519)",
  );
}

const pemBlock = /-----BEGIN ([A-Z ]+)-----[\s\S]*?-----END \1-----/g;

/**
 * One or more PEM public keys (SPKI, "BEGIN PUBLIC KEY"), one after another. A private key is
 * refused: a retired key only verifies, and its private half should no longer be kept anywhere.
 */
export function parsePublicKeys(pems: string): KeyObject[] {
  const blocks = [...pems.matchAll(pemBlock)];
  const rest = pems.replace(pemBlock, "").trim();
  if (blocks.length === 0 || rest !== "") throw new Error("must be PEM public keys, one after another");
  return blocks.map(([block, label]) => {
    if (label !== "PUBLIC KEY") {
      throw new Error(`must hold public keys only, found "${label}" (openssl pkey -in old.pem -pubout)`);
    }
    return supportedKey(() => createPublicKey({ key: block, format: "pem" }), "holds a PEM block that is not a valid public key");
  });
}

/** Whether two keys (private or public) have the same public half. */
export function samePublicKey(a: KeyObject, b: KeyObject): boolean {
  const der = (k: KeyObject) => (k.type === "private" ? createPublicKey(k) : k).export({ type: "spki", format: "der" });
  return der(a).equals(der(b));
}

async function verificationKey(key: KeyObject): Promise<VerificationKey> {
  const publicKey = key.type === "private" ? createPublicKey(key) : key;
  const alg = algOf(publicKey);
  const jwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(jwk);
  return { alg, kid, publicKey, publicJwk: { ...jwk, kid, alg, use: "sig" } };
}

/**
 * Builds the ring from the configured keys, generating an Ed25519 current key when none is
 * configured; `generated` tells the caller to warn that tokens will not survive a restart.
 */
export async function loadKeyRing(keys: ConfiguredKeys): Promise<{ ring: KeyRing; generated: boolean }> {
  const privateKey = keys.current ?? generateKeyPairSync("ed25519").privateKey;
  const current: SigningKey = { ...(await verificationKey(privateKey)), privateKey };
  const next = keys.next === undefined ? undefined : await verificationKey(keys.next);
  const previous = await Promise.all((keys.previous ?? []).map(verificationKey));
  const byKid = new Map<string, VerificationKey>();
  for (const key of [current, ...(next === undefined ? [] : [next]), ...previous]) {
    // src/config.ts refuses a key listed twice; a ring built otherwise must not hide one.
    if (byKid.has(key.kid)) throw new Error(`the signing key ${key.kid} is listed twice`);
    byKid.set(key.kid, key);
  }
  const published = [...byKid.values()].map((k) => k.publicJwk);
  return { ring: { current, next, previous, byKid, published }, generated: keys.current === undefined };
}
