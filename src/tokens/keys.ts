import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from "node:crypto";
import { calculateJwkThumbprint, exportJWK, type JWK } from "jose";

export interface SigningKey {
  alg: "EdDSA" | "ES256";
  kid: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** The public key as published in the JWKS. */
  publicJwk: JWK;
}

/**
 * Loads the configured signing key (PKCS#8 PEM, Ed25519 or P-256), or generates an Ed25519 key
 * when none is configured; `generated` tells the caller to warn that tokens will not survive a
 * restart.
 */
export async function loadSigningKey(pem: string | undefined): Promise<{ key: SigningKey; generated: boolean }> {
  let privateKey: KeyObject;
  if (pem === undefined) {
    privateKey = generateKeyPairSync("ed25519").privateKey;
  } else {
    try {
      privateKey = createPrivateKey({ key: pem, format: "pem" });
    } catch {
      throw new Error("JWT private key is not a valid PEM private key");
    }
  }
  let alg: SigningKey["alg"];
  if (privateKey.asymmetricKeyType === "ed25519") {
    alg = "EdDSA";
  } else if (privateKey.asymmetricKeyType === "ec" && privateKey.asymmetricKeyDetails?.namedCurve === "prime256v1") {
    alg = "ES256";
  } else {
    throw new Error("JWT private key must be Ed25519 (EdDSA) or P-256 (ES256)");
  }
  const publicKey = createPublicKey(privateKey);
  const jwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(jwk);
  return {
    key: { alg, kid, privateKey, publicKey, publicJwk: { ...jwk, kid, alg, use: "sig" } },
    generated: pem === undefined,
  };
}
