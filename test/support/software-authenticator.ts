// A WebAuthn authenticator and client in software, for the operation-level passkey tests: real
// P-256 keys from node:crypto, "none" attestation, authenticator data laid out byte by byte as
// WebAuthn 6.1 says, assertions signed over authenticatorData || SHA-256(clientDataJSON). CBOR is
// encoded by the server library's isoCBOR (plain CBOR; the layout around it is ours). It answers
// what the server's options ask, and lets a test misbehave: another origin, no user verification,
// a counter set back (a clone), an answer sent twice.
import { createHash, generateKeyPairSync, type KeyObject, randomBytes, sign } from "node:crypto";
import { isoCBOR } from "@simplewebauthn/server/helpers";

interface Credential {
  id: Buffer;
  rpId: string;
  userHandle: string;
  privateKey: KeyObject;
  cosePublicKey: Uint8Array;
  counter: number;
}

export interface Behaviour {
  /** The origin the "browser" reports; the authenticator's default otherwise. */
  origin?: string;
  /** Whether the user is verified (UV flag); default true. */
  userVerified?: boolean;
  /** The credential to use (base64url id); the first fitting one otherwise. */
  credentialId?: string;
}

const b64url = (bytes: Uint8Array | string) => Buffer.from(bytes).toString("base64url");
const sha256 = (data: Uint8Array | string) => createHash("sha256").update(data).digest();

/** PublicKeyCredential.toJSON() of a platform authenticator's credential. */
function credentialJson(credential: Credential, response: Record<string, unknown>): string {
  const id = b64url(credential.id);
  return JSON.stringify({ id, rawId: id, type: "public-key", clientExtensionResults: {}, authenticatorAttachment: "platform", response });
}

const FLAG_UP = 0x01;
const FLAG_UV = 0x04;
const FLAG_BE = 0x08;
const FLAG_BS = 0x10;
const FLAG_AT = 0x40;

export class SoftwareAuthenticator {
  readonly credentials: Credential[] = [];

  readonly origin: string;
  /** Whether credentials are synced passkeys (BE and BS set), as a platform's often are. */
  readonly synced: boolean;

  constructor(origin: string, synced = true) {
    this.origin = origin;
    this.synced = synced;
  }

  private flags(behaviour: Behaviour): number {
    return FLAG_UP | (behaviour.userVerified === false ? 0 : FLAG_UV) | (this.synced ? FLAG_BE | FLAG_BS : 0);
  }

  private clientData(type: string, challenge: string, behaviour: Behaviour): Buffer {
    return Buffer.from(JSON.stringify({ type, challenge, origin: behaviour.origin ?? this.origin, crossOrigin: false }));
  }

  /** navigator.credentials.create(): a RegistrationResponseJSON, as a JSON string. */
  create(optionsJson: string, behaviour: Behaviour = {}): string {
    const options = JSON.parse(optionsJson) as { challenge: string; rp: { id: string }; user: { id: string } };
    const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const jwk = publicKey.export({ format: "jwk" });
    const cose = isoCBOR.encode(
      new Map<number, number | Uint8Array>([
        [1, 2], // kty: EC2
        [3, -7], // alg: ES256
        [-1, 1], // crv: P-256
        [-2, Buffer.from(jwk.x ?? "", "base64url")],
        [-3, Buffer.from(jwk.y ?? "", "base64url")],
      ]),
    );
    const credential: Credential = {
      id: randomBytes(16),
      rpId: options.rp.id,
      userHandle: options.user.id,
      privateKey,
      cosePublicKey: cose,
      counter: 0,
    };
    this.credentials.push(credential);
    const idLength = Buffer.alloc(2);
    idLength.writeUInt16BE(credential.id.length);
    const authData = Buffer.concat([
      sha256(credential.rpId),
      Buffer.from([this.flags(behaviour) | FLAG_AT]),
      Buffer.alloc(4), // signCount 0
      Buffer.alloc(16), // AAGUID: none
      idLength,
      credential.id,
      Buffer.from(cose),
    ]);
    const attestationObject = isoCBOR.encode(
      new Map<string, unknown>([
        ["fmt", "none"],
        ["attStmt", new Map()],
        ["authData", new Uint8Array(authData)],
      ]) as never,
    );
    return credentialJson(credential, {
      clientDataJSON: b64url(this.clientData("webauthn.create", options.challenge, behaviour)),
      attestationObject: b64url(attestationObject),
      transports: ["internal", "hybrid"],
    });
  }

  /** navigator.credentials.get(): an AuthenticationResponseJSON, as a JSON string. */
  get(optionsJson: string, behaviour: Behaviour = {}): string {
    const options = JSON.parse(optionsJson) as { challenge: string; rpId: string; allowCredentials?: { id: string }[] };
    const allowed = new Set((options.allowCredentials ?? []).map((c) => c.id));
    const credential = this.credentials.find(
      (c) =>
        c.rpId === options.rpId &&
        (behaviour.credentialId === undefined ? allowed.size === 0 || allowed.has(b64url(c.id)) : b64url(c.id) === behaviour.credentialId),
    );
    if (credential === undefined) throw new Error("the software authenticator has no fitting credential");
    credential.counter += 1;
    const counter = Buffer.alloc(4);
    counter.writeUInt32BE(credential.counter);
    const authData = Buffer.concat([sha256(credential.rpId), Buffer.from([this.flags(behaviour)]), counter]);
    const clientData = this.clientData("webauthn.get", options.challenge, behaviour);
    const signature = sign("sha256", Buffer.concat([authData, sha256(clientData)]), credential.privateKey);
    return credentialJson(credential, {
      clientDataJSON: b64url(clientData),
      authenticatorData: b64url(authData),
      signature: b64url(signature),
      userHandle: credential.userHandle,
    });
  }

  /** A copy of this authenticator's keys, counters included: what a cloned authenticator holds. */
  clone(): SoftwareAuthenticator {
    const copy = new SoftwareAuthenticator(this.origin, this.synced);
    for (const c of this.credentials) copy.credentials.push({ ...c });
    return copy;
  }
}
