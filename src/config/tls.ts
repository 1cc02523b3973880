import { X509Certificate } from "node:crypto";
import { ConfigError, type Env, str } from "./parse.ts";

/** TLS on the port: the certificate and key files, and the CA that signs client certificates. */
export interface TlsSettings {
  certFile: string;
  keyFile: string;
  clientCaPem: string | undefined;
}

/** TLS_CLIENT_CA_FILE: a PEM CA certificate (or several), read and checked at start-up; TLS only. */
function clientCa(env: Env, readFile: (path: string) => string, tls: boolean): string | undefined {
  const file = str(env, "TLS_CLIENT_CA_FILE");
  if (file === undefined) return undefined;
  if (!tls) throw new ConfigError("TLS_CLIENT_CA_FILE", "needs TLS_CERT_FILE and TLS_KEY_FILE: client certificates exist only on TLS");
  let pem: string;
  try {
    pem = readFile(file);
  } catch {
    throw new ConfigError("TLS_CLIENT_CA_FILE", `cannot be read (${file})`);
  }
  try {
    new X509Certificate(pem);
  } catch {
    throw new ConfigError("TLS_CLIENT_CA_FILE", "is not a PEM certificate");
  }
  return pem;
}

/** TLS_CERT_FILE and TLS_KEY_FILE (both or neither), then TLS_CLIENT_CA_FILE; undefined: plain TCP. */
export function tls(env: Env, readFile: (path: string) => string): TlsSettings | undefined {
  const certFile = str(env, "TLS_CERT_FILE");
  const keyFile = str(env, "TLS_KEY_FILE");
  if ((certFile === undefined) !== (keyFile === undefined)) {
    const [missing, given] = certFile === undefined ? ["TLS_CERT_FILE", "TLS_KEY_FILE"] : ["TLS_KEY_FILE", "TLS_CERT_FILE"];
    throw new ConfigError(missing, `must be set when ${given} is`);
  }
  const clientCaPem = clientCa(env, readFile, certFile !== undefined && keyFile !== undefined);
  return certFile !== undefined && keyFile !== undefined ? { certFile, keyFile, clientCaPem } : undefined;
}
