// The page of the browser test: an app built on @authd/client's web entry point, bundled by the test
// and driven from Playwright through window.authd.
import {
  type AuthdClients,
  createAuthdClients,
  createAuthdTransport,
  createTokenManager,
  reasonOf,
  indexedDbTokenStorage,
  type TokenManager,
  type TokenStorage,
  webLocks,
  webTokenStorage,
} from "../../../packages/client/src/web.ts";
import { startAuthentication, startRegistration } from "@simplewebauthn/browser";

/** The page's address (the test's type-check has no DOM library; the page runs in Chromium). */
const page = globalThis as unknown as {
  location: { hash: string; pathname: string };
  history: { replaceState(data: null, unused: string, url: string): void };
};

let clients: AuthdClients | undefined;
let manager: TokenManager | undefined;
let storage: TokenStorage | undefined;
const signOuts: string[] = [];

function ready(): { clients: AuthdClients; manager: TokenManager } {
  if (clients === undefined || manager === undefined) throw new Error("call setup first");
  return { clients, manager };
}

const authd = {
  /**
   * One manager and the clients over one protocol. The tokens are in sessionStorage (this tab's),
   * or with `shared` in IndexedDB, shared by the origin's tabs, each refresh under webLocks().
   */
  setup(baseUrl: string, protocol: "connect" | "grpc-web", shared = false): void {
    storage = shared ? indexedDbTokenStorage() : webTokenStorage(sessionStorage);
    manager = createTokenManager({
      transport: createAuthdTransport({ baseUrl, protocol }),
      storage,
      onSignOut: (reason) => signOuts.push(reason),
      ...(shared ? { lock: webLocks() } : {}),
    });
    clients = createAuthdClients(createAuthdTransport({ baseUrl, protocol, tokens: manager }));
  },
  async login(email: string, password: string): Promise<string> {
    const { clients, manager } = ready();
    const res = await clients.auth.login({ email, password });
    if (res.result.case !== "tokens") throw new Error(`no tokens: ${res.result.case}`);
    await manager.setTokens(res.result.value);
    return res.user?.id ?? "";
  },
  /**
   * The magic link's page: the token from the fragment goes to CompleteEmailSignIn, and leaves the
   * address bar and the history at once.
   */
  async emailLink(): Promise<string> {
    const { clients, manager } = ready();
    const token = new URLSearchParams(page.location.hash.slice(1)).get("token") ?? "";
    page.history.replaceState(null, "", page.location.pathname);
    const res = await clients.emailSignIn.completeEmailSignIn({ linkToken: token });
    if (res.result.case !== "tokens") throw new Error(`no tokens: ${res.result.case}`);
    await manager.setTokens(res.result.value);
    return res.user?.email ?? "";
  },
  async me(): Promise<{ id: string; email: string }> {
    const res = await ready().clients.auth.getCurrentUser({});
    return { id: res.user?.id ?? "", email: res.user?.email ?? "" };
  },
  /** Registers a passkey for the signed-in user: the browser's authenticator makes it. */
  async registerPasskey(name: string): Promise<{ id: string; credentialId: string; backupEligible: boolean; backedUp: boolean }> {
    const { clients } = ready();
    const start = await clients.passkeys.startPasskeyRegistration({});
    const created = await startRegistration({ optionsJSON: JSON.parse(start.optionsJson) });
    const { passkey } = await clients.passkeys.finishPasskeyRegistration({ credentialJson: JSON.stringify(created), name });
    return {
      id: passkey?.id ?? "",
      credentialId: passkey?.credentialId ?? "",
      backupEligible: passkey?.backupEligible ?? false,
      backedUp: passkey?.backedUp ?? false,
    };
  },
  /** Signs in with a passkey alone; returns the user and the assertion sent (for the replay test). */
  async passkeySignIn(): Promise<{ userId: string; credentialJson: string }> {
    const { clients, manager } = ready();
    const start = await clients.passkeys.startPasskeySignIn({});
    const asserted = await startAuthentication({ optionsJSON: JSON.parse(start.optionsJson) });
    const credentialJson = JSON.stringify(asserted);
    const res = await clients.passkeys.finishPasskeySignIn({ credentialJson });
    if (res.tokens === undefined) throw new Error("no tokens");
    await manager.setTokens(res.tokens);
    return { userId: res.user?.id ?? "", credentialJson };
  },
  /** A passkey sign-in expected to fail: the given assertion sent again, or a fresh one. */
  async failedPasskeySignIn(replayed?: string): Promise<{ reason: string | undefined; code: number }> {
    const { clients } = ready();
    try {
      let credentialJson = replayed;
      if (credentialJson === undefined) {
        const start = await clients.passkeys.startPasskeySignIn({});
        credentialJson = JSON.stringify(await startAuthentication({ optionsJSON: JSON.parse(start.optionsJson) }));
      }
      await clients.passkeys.finishPasskeySignIn({ credentialJson });
      return { reason: "none", code: 0 };
    } catch (err) {
      return { reason: reasonOf(err), code: (err as { code: number }).code };
    }
  },
  async passkeyNames(): Promise<string[]> {
    return (await ready().clients.passkeys.listPasskeys({})).passkeys.map((p) => p.name);
  },
  /** The reason and status of a failed call, as the app sees them. */
  async failedLogin(email: string, password: string): Promise<{ reason: string | undefined; code: number; name: string }> {
    try {
      await ready().clients.auth.login({ email, password });
      return { reason: "none", code: 0, name: "" };
    } catch (err) {
      return { reason: reasonOf(err), code: (err as { code: number }).code, name: (err as Error).name };
    }
  },
  stored: async (): Promise<{ accessToken?: string } | null> => (await storage?.load()) ?? null,
  signOuts: () => signOuts,
};

(globalThis as unknown as { authd: typeof authd }).authd = authd;
