// What a server loads at start that it does not use. On the embedded store the MongoDB driver is
// never loaded: its module graph and BSON's 17 MiB buffer cost every process that read the
// configuration about 10 MiB of resident memory idle and 7 MiB of heap, which V8's old generation
// then grows two- or threefold under load. Nor is the library of a sign-in method or a mailer that
// is turned off: @simplewebauthn/server (with its ASN.1 and X.509 libraries), nodemailer,
// openid-client and qrcode were 6 MiB of the 26 MiB a server's heap held after start. Checked in a
// fresh process: the test runner's own workers may have loaded any of them for other tests.
import { spawnSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");

/**
 * The npm packages a fresh Node resolved while running `code` (an ES module body): every import
 * and require, ES modules and CommonJS alike, seen by a resolve hook registered first; a package
 * nested in another's node_modules counts under its own name.
 */
function packagesLoadedBy(code: string): string[] {
  const probe = `
const { registerHooks } = await import("node:module");
const loaded = new Set();
registerHooks({
  resolve(specifier, context, next) {
    const resolved = next(specifier, context);
    const name = /.*\\/node_modules\\/((?:@[^/]+\\/)?[^/]+)\\//.exec(resolved.url)?.[1];
    if (name !== undefined) loaded.add(name);
    return resolved;
  },
});
${code}
console.log(JSON.stringify([...loaded]));`;
  const run = spawnSync(process.execPath, ["--input-type=module", "-e", probe], {
    cwd: root,
    encoding: "utf8",
    env: { ...process.env, LOG_LEVEL: "silent" },
  });
  expect(run.status, run.stderr).toBe(0);
  return JSON.parse(run.stdout.trim().split("\n").pop() ?? "[]") as string[];
}

const mongoPackages = (loaded: string[]) => loaded.filter((name) => /^(mongodb.*|bson)$/.test(name));

/** Reads the configuration `env` gives, loads the server and composes the service, then closes its store. */
const composing = (env: Record<string, string>) => `
const { loadConfig } = await import("./src/config.ts");
const { composeService } = await import("./src/server/compose.ts");
await import("./src/server/app.ts");
const config = loadConfig(${JSON.stringify({ LOG_LEVEL: "silent", EMAIL_VERIFICATION_REQUIRED: "false", ...env })}, () => "");
const service = await composeService(config);
await service.store.close();`;

/** The libraries of what can be off, and what they bring with them. */
const optionalLibraries = ["@simplewebauthn/server", "nodemailer", "openid-client", "qrcode"];
const whatTheyBring = /^(@peculiar\/.*|asn1js|@levischuck\/tiny-cbor|@hexagon\/base64|oauth4webapi|tsyringe|reflect-metadata|dijkstrajs)$/;

describe("what a server on the embedded store loads at start", () => {
  it("reading the configuration, loading the server and composing the service on the embedded store loads no MongoDB package, and with nothing optional on, none of the libraries of what is off", () => {
    const loaded = packagesLoadedBy(composing({}));
    // The hook saw the packages the server does load, so an empty answer below means something.
    expect(loaded).toContain("@connectrpc/connect-node");
    expect(mongoPackages(loaded)).toEqual([]);
    // No passkeys, no providers, no SMTP server, and no enrolment to draw a QR code for.
    expect(loaded.filter((name) => optionalLibraries.includes(name) || whatTheyBring.test(name))).toEqual([]);
  });

  it("a MongoDB URI loads the driver, to check it at start", () => {
    const loaded = packagesLoadedBy(`
const { loadConfig } = await import("./src/config.ts");
loadConfig({ LOG_LEVEL: "silent", MONGODB_URI: "mongodb://db.example:27017/authd", SERVER_SECRET: "ab".repeat(32), MAIL_TO_LOG: "true" }, () => "");`);
    expect(mongoPackages(loaded)).toContain("mongodb");
  });
});

describe("the libraries of what is turned on", () => {
  it("passkeys, a provider and an SMTP server turned on load theirs at start, and the first QR code drawn loads qrcode", () => {
    const loaded = packagesLoadedBy(
      composing({
        WEBAUTHN_RP_ID: "localhost",
        WEBAUTHN_ORIGINS: "http://localhost:5173",
        OIDC_PROVIDERS: JSON.stringify([{ id: "corp", issuer: "https://idp.example", client_id: "authd", client_secret: "s" }]),
        OIDC_REDIRECT_URI: "https://app.example/auth/callback",
        SMTP_URL: "smtp://127.0.0.1:1",
      }),
    );
    expect(loaded).toEqual(expect.arrayContaining(["@simplewebauthn/server", "openid-client", "nodemailer"]));
    // Drawn only by an enrolment: one QR code, and qrcode is loaded.
    expect(
      packagesLoadedBy(`const { qrCodeDataUrl } = await import("./src/two-factor/totp.ts");
if (!(await qrCodeDataUrl("otpauth://totp/x?secret=AAAA")).startsWith("data:image/png;base64,")) process.exit(2);`),
    ).toContain("qrcode");
  });
});
