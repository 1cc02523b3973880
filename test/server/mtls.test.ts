// Service accounts authenticated by TLS client certificates (mTLS), end to end over TLS: with
// TLS_CLIENT_CA_FILE set, a client certificate that CA signed, whose subject CN is an active
// service account's id, is that account, over gRPC (Connect's client) and at /oauth2/introspect;
// a certificate from another CA is no credential; a revocation counts on the next call; and an
// Authorization header always wins over the certificate.
import { readFileSync } from "node:fs";
import https from "node:https";
import path from "node:path";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AuthService } from "../../gen/auth/v1/auth_service_pb.js";
import { TokenService } from "../../gen/auth/v1/token_service_pb.js";
import { ConfigError, loadConfig } from "../../src/config.ts";
import { errorInfoFromConnectError } from "../support/error-info.ts";
import type { Json } from "../support/drivers.ts";
import { repoRoot, startHarness, type Harness } from "../support/harness.ts";

const fixtures = path.join(repoRoot, "test", "fixtures");
const read = (name: string) => readFileSync(path.join(fixtures, name), "utf8");
const serverCa = read("tls-cert.pem");
const certifiedId = "a11ce000000000000000c11e";
const client = { cert: read("service-client-cert.pem"), key: read("service-client-key.pem") };
const rogue = { cert: read("rogue-client-cert.pem"), key: read("rogue-client-key.pem") };
const password = "correct horse battery staple";

let h: Harness;
let userToken: string;

function tokens(identity: { cert: string; key: string } | undefined) {
  const nodeOptions = { ca: serverCa, ...identity };
  return createClient(TokenService, createGrpcTransport({ baseUrl: h.url, nodeOptions }));
}

async function reasonOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
  } catch (err) {
    return errorInfoFromConnectError(err as never)?.reason;
  }
  return "OK";
}

/** POST /oauth2/introspect over HTTPS with a client certificate, as a gateway with mTLS would. */
function gateway(
  identity: { cert: string; key: string },
  body: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; json: Json }> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      `${h.url}/oauth2/introspect`,
      { method: "POST", ca: serverCa, ...identity, headers: { "content-type": "application/x-www-form-urlencoded", ...headers } },
      (res) => {
        let text = "";
        res.on("data", (c: Buffer) => (text += c.toString()));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(text) }));
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

beforeAll(async () => {
  h = await startHarness(
    {
      EMAIL_VERIFICATION_REQUIRED: "false",
      TLS_CERT_FILE: path.join(fixtures, "tls-cert.pem"),
      TLS_KEY_FILE: path.join(fixtures, "tls-key.pem"),
      TLS_CLIENT_CA_FILE: path.join(fixtures, "client-ca.pem"),
    },
    undefined,
    { readFiles: true },
  );
  const now = new Date();
  await h.store.serviceAccounts.insert({
    id: certifiedId,
    name: "mesh-sidecar",
    permissions: ["tokens.introspect"],
    keyHash: "0".repeat(64), // its key is never used here
    keyCreatedAt: now,
    createdBy: "user:test",
    createdAt: now,
    lastUsedAt: null,
    revokedAt: null,
  });
  // fetch does not take the test CA: the user registers through the gRPC client.
  const auth = createClient(AuthService, createGrpcTransport({ baseUrl: h.url, nodeOptions: { ca: serverCa } }));
  userToken = (await auth.register({ email: "user@example.com", password })).tokens?.accessToken ?? "";
});
afterAll(() => h?.close());

describe("a verified client certificate is its service account", () => {
  it("introspects over gRPC with no Authorization header", async () => {
    const answer = await tokens(client).introspectToken({ token: userToken });
    expect(answer.active).toBe(true);
    expect((await h.store.serviceAccounts.findById(certifiedId))?.lastUsedAt).not.toBeNull();
  });

  it("and at /oauth2/introspect", async () => {
    const res = await gateway(client, `token=${userToken}`);
    expect(res.status).toBe(200);
    expect(res.json.active).toBe(true);
  });

  it("a certificate from another CA, or none, is no credential", async () => {
    expect(await reasonOf(tokens(rogue).introspectToken({ token: userToken }))).toBe("UNAUTHENTICATED");
    expect(await reasonOf(tokens(undefined).introspectToken({ token: userToken }))).toBe("UNAUTHENTICATED");
    expect((await gateway(rogue, `token=${userToken}`)).status).toBe(401);
  });

  it("an Authorization header wins over the certificate", async () => {
    const withUser = tokens(client).introspectToken({ token: userToken }, { headers: { authorization: `Bearer ${userToken}` } });
    expect(await reasonOf(withUser)).toBe("PERMISSION_DENIED");
  });

  it("a malformed Authorization header is refused, not passed over for the certificate", async () => {
    for (const authorization of ["Bearer", "Basic dXNlcjpwYXNz", "Token abc", "Bearer a b"]) {
      expect(await reasonOf(tokens(client).introspectToken({ token: userToken }, { headers: { authorization } })), authorization).toBe(
        "UNAUTHENTICATED",
      );
    }
    expect((await gateway(client, `token=${userToken}`, { authorization: "Token abc" })).status).toBe(401);
    expect((await gateway(client, `token=${userToken}`)).status).toBe(200);
  });

  it("revoking the account ends the certificate's access on the next call", async () => {
    await h.store.serviceAccounts.revoke(certifiedId, new Date());
    expect(await reasonOf(tokens(client).introspectToken({ token: userToken }))).toBe("INVALID_TOKEN");
    expect((await gateway(client, `token=${userToken}`)).status).toBe(401);
  });
});

describe("TLS_CLIENT_CA_FILE", () => {
  const files = (file: string) => readFileSync(file, "utf8");
  it("needs TLS", () => {
    expect(() => loadConfig({ TLS_CLIENT_CA_FILE: path.join(fixtures, "client-ca.pem") }, files)).toThrow(ConfigError);
    expect(() => loadConfig({ TLS_CLIENT_CA_FILE: path.join(fixtures, "client-ca.pem") }, files)).toThrow(
      /TLS_CLIENT_CA_FILE needs TLS_CERT_FILE/,
    );
  });

  it("must be a readable PEM certificate", () => {
    const tls = { TLS_CERT_FILE: path.join(fixtures, "tls-cert.pem"), TLS_KEY_FILE: path.join(fixtures, "tls-key.pem") };
    expect(() => loadConfig({ ...tls, TLS_CLIENT_CA_FILE: path.join(fixtures, "missing.pem") }, files)).toThrow(
      /TLS_CLIENT_CA_FILE cannot be read/,
    );
    expect(() => loadConfig({ ...tls, TLS_CLIENT_CA_FILE: path.join(fixtures, "README.md") }, files)).toThrow(
      /TLS_CLIENT_CA_FILE is not a PEM certificate/,
    );
    expect(loadConfig({ ...tls, TLS_CLIENT_CA_FILE: path.join(fixtures, "client-ca.pem") }, files).tls?.clientCaPem).toContain(
      "BEGIN CERTIFICATE",
    );
    expect(loadConfig(tls, files).tls?.clientCaPem).toBeUndefined();
  });
});
