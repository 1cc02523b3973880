// @authd/client's web entry point in a real browser: Debian's Chromium, driven by playwright-core,
// loads a page (served here, from another origin than authd's) whose script is the package's web
// client bundled by esbuild, and signs in and reads the user over Connect-Web and gRPC-Web,
// through authd's CORS (CORS_ALLOWED_ORIGINS names the page's origin).
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { type BrowserContext, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAuthdClients, createAuthdTransport } from "../../packages/client/src/node.ts";
import { type Harness, startHarness } from "../support/harness.ts";
import { openTestStore } from "../support/stores.ts";
import { countingRefreshes } from "./counting-store.ts";

const chromiumPath = "/usr/bin/chromium";
const hasChromium = existsSync(chromiumPath);
if (!hasChromium) {
  console.warn(`browser test SKIPPED: no Chromium at ${chromiumPath} (apt-get install -y chromium; .ci/run installs it)`);
}

const ttlSeconds = 60;
const password = "correct horse battery staple";

let h: Harness;
/** RefreshToken calls that reached authd's store. */
let refreshes: () => number;
let pageServer: http.Server;
let pageUrl: string;
let context: BrowserContext;
let userDataDir: string;

/** The page and its script: the package's web client, bundled for the browser. */
async function servePage(): Promise<void> {
  const entry = path.join(path.dirname(fileURLToPath(import.meta.url)), "browser/app.ts");
  const bundle = await build({ entryPoints: [entry], bundle: true, format: "esm", platform: "browser", target: "es2022", write: false });
  const script = bundle.outputFiles[0]?.text ?? "";
  const html =
    '<!doctype html><html><head><meta charset="utf-8"><title>authd client</title></head><body><script type="module" src="/app.js"></script></body></html>';
  pageServer = http.createServer((req, res) => {
    if (req.url === "/app.js") {
      res.writeHead(200, { "content-type": "text/javascript" }).end(script);
    } else if (req.url === "/") {
      res.writeHead(200, { "content-type": "text/html" }).end(html);
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => pageServer.listen(0, "127.0.0.1", resolve));
  // localhost, not 127.0.0.1: a WebAuthn RP ID is a host name, and http://localhost is a secure context.
  pageUrl = `http://localhost:${(pageServer.address() as AddressInfo).port}`;
}

beforeAll(async () => {
  if (!hasChromium) return;
  await servePage();
  // No grace for a replayed refresh token: two tabs spending one would revoke the session.
  const env = {
    EMAIL_VERIFICATION_REQUIRED: "false",
    ACCESS_TOKEN_TTL_SECONDS: String(ttlSeconds),
    REFRESH_REUSE_GRACE_SECONDS: "0",
    CORS_ALLOWED_ORIGINS: pageUrl,
    WEBAUTHN_RP_ID: "localhost",
    WEBAUTHN_ORIGINS: pageUrl,
    EMAIL_SIGN_IN: "code,link",
    EMAIL_SIGN_IN_LINK_URL: `${pageUrl}/`,
  };
  const counted = countingRefreshes(await openTestStore("client_browser"));
  refreshes = counted.refreshes;
  h = await startHarness(env, counted.store);
  userDataDir = mkdtempSync(path.join(tmpdir(), "authd-chromium-"));
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: chromiumPath,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}, 120_000);

afterAll(async () => {
  await context?.close();
  if (userDataDir !== undefined) rmSync(userDataDir, { recursive: true, force: true });
  await new Promise<void>((resolve) => (pageServer === undefined ? resolve() : pageServer.close(() => resolve())));
  await h?.close();
});

interface PageApi {
  setup(baseUrl: string, protocol: string, shared?: boolean): void;
  login(email: string, password: string): Promise<string>;
  emailLink(): Promise<string>;
  me(): Promise<{ id: string; email: string }>;
  failedLogin(email: string, password: string): Promise<{ reason: string | undefined; code: number; name: string }>;
  stored(): Promise<{ accessToken?: string } | null>;
  registerPasskey(name: string): Promise<{ id: string; credentialId: string; backupEligible: boolean; backedUp: boolean }>;
  passkeySignIn(): Promise<{ userId: string; credentialJson: string }>;
  failedPasskeySignIn(replayed?: string): Promise<{ reason: string | undefined; code: number }>;
  passkeyNames(): Promise<string[]>;
  signOuts(): string[];
}

/** Runs one of window.authd's functions in the page. */
function inPage<K extends keyof PageApi>(page: Page, name: K, ...args: Parameters<PageApi[K]>): Promise<Awaited<ReturnType<PageApi[K]>>> {
  return page.evaluate(
    ([n, a]) => {
      const api = (globalThis as unknown as { authd: Record<string, (...x: unknown[]) => unknown> }).authd;
      return api[n]?.(...a);
    },
    [name, args] as [string, unknown[]],
  ) as Promise<Awaited<ReturnType<PageApi[K]>>>;
}

describe.skipIf(!hasChromium)("the web client in Chromium", () => {
  it.each(["connect", "grpc-web"] as const)("signs in and reads the user over %s, refreshing once the token expires", async (protocol) => {
    const email = `browser-${protocol}@example.com`;
    await createAuthdClients(createAuthdTransport({ baseUrl: h.url })).auth.register({ email, password });

    const page = await context.newPage();
    const pageErrors: string[] = [];
    page.on("pageerror", (e) => pageErrors.push(String(e)));
    await page.goto(`${pageUrl}/`);
    await page.waitForFunction(() => "authd" in globalThis);
    await inPage(page, "setup", h.url, protocol);

    const userId = await inPage(page, "login", email, password);
    expect(await inPage(page, "me")).toEqual({ id: userId, email });
    const first = (await inPage(page, "stored"))?.accessToken;
    expect(first).toEqual(expect.any(String));

    // authd's clock passes the access token's expiry: the next call refreshes, in the browser.
    h.clock.advance((ttlSeconds + 1) * 1000);
    expect(await inPage(page, "me")).toEqual({ id: userId, email });
    expect((await inPage(page, "stored"))?.accessToken).not.toBe(first);

    expect(await inPage(page, "failedLogin", email, "not the password!")).toEqual({
      reason: "INVALID_CREDENTIALS",
      code: 16,
      name: "ConnectError",
    });
    expect(await inPage(page, "signOuts")).toEqual([]);
    expect(pageErrors).toEqual([]);
    await page.close();
  });

  it("shares one session between two tabs through IndexedDB and spends its refresh token once", async () => {
    const email = "browser-tabs@example.com";
    await createAuthdClients(createAuthdTransport({ baseUrl: h.url })).auth.register({ email, password });
    const tabs = await Promise.all([context.newPage(), context.newPage()]);
    for (const tab of tabs) {
      await tab.goto(`${pageUrl}/`);
      await tab.waitForFunction(() => "authd" in globalThis);
      await inPage(tab, "setup", h.url, "connect", true);
    }
    const [first, second] = tabs as [Page, Page];
    const userId = await inPage(first, "login", email, password);
    expect(await inPage(second, "me")).toEqual({ id: userId, email });

    h.clock.advance((ttlSeconds + 1) * 1000);
    const before = refreshes();
    const answers = await Promise.all([inPage(first, "me"), inPage(second, "me"), inPage(first, "me"), inPage(second, "me")]);
    expect(answers).toEqual(Array(4).fill({ id: userId, email }));
    expect(refreshes() - before).toBe(1);
    expect(await inPage(first, "signOuts")).toEqual([]);
    expect(await inPage(second, "signOuts")).toEqual([]);
    expect((await inPage(first, "stored"))?.accessToken).toBe((await inPage(second, "stored"))?.accessToken);
    for (const tab of tabs) await tab.close();
  });
});

describe.skipIf(!hasChromium)("a magic link in Chromium", () => {
  it("a GET of the link spends nothing; the page sends the fragment's token once, over Connect-Web", async () => {
    const email = "browser-link@example.com";
    const node = createAuthdClients(createAuthdTransport({ baseUrl: h.url }));
    await node.auth.register({ email, password });
    await node.emailSignIn.requestEmailSignIn({ email });
    const link = (await h.mail(email, "email_sign_in")).link ?? "";
    expect(link.startsWith(`${pageUrl}/#token=`)).toBe(true);

    // A mail scanner or link preview fetches the URL: the fragment is never sent, and nothing is spent.
    const scanned = await fetch(link);
    expect([scanned.status, (await scanned.text()).includes("<script")]).toEqual([200, true]);

    const page = await context.newPage();
    const pageErrors: string[] = [];
    page.on("pageerror", (e) => pageErrors.push(String(e)));
    await page.goto(link);
    await page.waitForFunction(() => "authd" in globalThis);
    await inPage(page, "setup", h.url, "connect");
    expect(await inPage(page, "emailLink")).toBe(email);
    expect((await inPage(page, "me")).email).toBe(email);
    expect(page.url()).toBe(`${pageUrl}/`); // the token left the address bar

    // The same link a second time (another tab, a forwarded mail): spent.
    const again = await context.newPage();
    await again.goto(link);
    await again.waitForFunction(() => "authd" in globalThis);
    await inPage(again, "setup", h.url, "connect");
    await expect(inPage(again, "emailLink")).rejects.toThrow(/INVALID_CODE|invalid or has expired/);
    expect(pageErrors).toEqual([]);
    await page.close();
    await again.close();
  });
});

describe.skipIf(!hasChromium)("passkeys in Chromium, with a virtual authenticator", () => {
  it("registers a passkey and signs in with it alone over Connect-Web; a replayed or cloned assertion is refused", async () => {
    const email = "browser-passkey@example.com";
    await createAuthdClients(createAuthdTransport({ baseUrl: h.url })).auth.register({ email, password });

    const page = await context.newPage();
    const pageErrors: string[] = [];
    page.on("pageerror", (e) => pageErrors.push(String(e)));
    // A platform authenticator (ctap2, internal) that keeps discoverable credentials and verifies
    // the user, answering without a prompt; its passkeys are synced (backup eligible and backed up).
    const cdp = await page.context().newCDPSession(page);
    await cdp.send("WebAuthn.enable", { enableUI: false });
    const authenticator = {
      protocol: "ctap2",
      transport: "internal",
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
      defaultBackupEligibility: true,
      defaultBackupState: true,
    } as const;
    const { authenticatorId } = await cdp.send("WebAuthn.addVirtualAuthenticator", { options: authenticator });
    await page.goto(`${pageUrl}/`);
    await page.waitForFunction(() => "authd" in globalThis);
    await inPage(page, "setup", h.url, "connect");

    // 1. Signed in with the password (a recent sign-in), the page registers a passkey.
    const userId = await inPage(page, "login", email, password);
    const passkey = await inPage(page, "registerPasskey", "Chromium");
    expect(passkey).toMatchObject({ backupEligible: true, backedUp: true });
    expect(await inPage(page, "passkeyNames")).toEqual(["Chromium"]);
    const [created] = (await cdp.send("WebAuthn.getCredentials", { authenticatorId })).credentials;
    expect(created).toMatchObject({ isResidentCredential: true, rpId: "localhost" });
    expect(Buffer.from(created?.credentialId ?? "", "base64").toString("base64url")).toBe(passkey.credentialId);

    // 2. Passwordless: no email typed, the discoverable credential names the user.
    await page.evaluate(() => sessionStorage.clear());
    const first = await inPage(page, "passkeySignIn");
    expect(first.userId).toBe(userId);
    expect(await inPage(page, "me")).toEqual({ id: userId, email });

    // 3. The same assertion again (captured, replayed): its challenge is spent.
    expect(await inPage(page, "failedPasskeySignIn", first.credentialJson)).toEqual({ reason: "INVALID_PASSKEY", code: 16 });

    // 4. A clone: the credential copied out now, then used on a second authenticator after the
    // original has signed in again, presents a counter that did not grow.
    const snapshot = (await cdp.send("WebAuthn.getCredentials", { authenticatorId })).credentials[0];
    if (snapshot === undefined) throw new Error("no credential");
    const second = await inPage(page, "passkeySignIn");
    expect(second.userId).toBe(userId);
    const counter = (await h.store.passkeys.findByCredentialId(passkey.credentialId))?.counter ?? 0;
    expect(counter).toBeGreaterThan(snapshot.signCount);
    await cdp.send("WebAuthn.removeVirtualAuthenticator", { authenticatorId });
    const clone = await cdp.send("WebAuthn.addVirtualAuthenticator", { options: authenticator });
    await cdp.send("WebAuthn.addCredential", { authenticatorId: clone.authenticatorId, credential: snapshot });
    expect(await inPage(page, "failedPasskeySignIn")).toEqual({ reason: "INVALID_PASSKEY", code: 16 });
    expect(h.logs.some((l) => String(l["msg"]).includes("counter did not increase") && l["userId"] === userId)).toBe(true);
    expect((await h.store.passkeys.findByCredentialId(passkey.credentialId))?.counter).toBe(counter);

    expect(pageErrors).toEqual([]);
    await page.close();
  });
});
