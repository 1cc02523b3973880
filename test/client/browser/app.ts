// The page of the browser test: an app built on @authd/client's web entry point, bundled by the test
// and driven from Playwright through window.authd.
import {
  type AuthdClients,
  createAuthdClients,
  createAuthdTransport,
  createTokenManager,
  reasonOf,
  type TokenManager,
  webTokenStorage,
} from "../../../packages/client/src/web.ts";

/** The page's address (the test's type-check has no DOM library; the page runs in Chromium). */
const page = globalThis as unknown as {
  location: { hash: string; pathname: string };
  history: { replaceState(data: null, unused: string, url: string): void };
};

let clients: AuthdClients | undefined;
let manager: TokenManager | undefined;
const signOuts: string[] = [];

function ready(): { clients: AuthdClients; manager: TokenManager } {
  if (clients === undefined || manager === undefined) throw new Error("call setup first");
  return { clients, manager };
}

const authd = {
  /** One manager (its tokens in sessionStorage) and the clients over one protocol. */
  setup(baseUrl: string, protocol: "connect" | "grpc-web"): void {
    manager = createTokenManager({
      transport: createAuthdTransport({ baseUrl, protocol }),
      storage: webTokenStorage(sessionStorage),
      onSignOut: (reason) => signOuts.push(reason),
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
  /** The reason and status of a failed call, as the app sees them. */
  async failedLogin(email: string, password: string): Promise<{ reason: string | undefined; code: number; name: string }> {
    try {
      await ready().clients.auth.login({ email, password });
      return { reason: "none", code: 0, name: "" };
    } catch (err) {
      return { reason: reasonOf(err), code: (err as { code: number }).code, name: (err as Error).name };
    }
  },
  stored: (): { accessToken?: string } | null =>
    JSON.parse(sessionStorage.getItem("authd.tokens") ?? "null") as { accessToken?: string } | null,
  signOuts: () => signOuts,
};

(globalThis as unknown as { authd: typeof authd }).authd = authd;
