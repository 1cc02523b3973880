// The one suite every reverse proxy configured as docs/forward-auth.md says must pass, as the
// storage contract is for every adapter: test/forward-auth/nginx.test.ts and caddy.test.ts each
// start their proxy in front of authd with `proxiedAuthd` and run `forwardAuthProxyContract` on
// it, then add the cases only their own configuration has. What the proxies rightly do
// differently is data (`ProxyDifferences`), so one body of each case holds for all of them.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { type Harness, startHarness } from "./harness.ts";
import { rest, sessionCookie } from "./rest.ts";
import {
  type EchoUpstream,
  forgedIdentity,
  password,
  type RunningProxy,
  signIn,
  startEchoUpstream,
  throughProxy,
} from "./reverse-proxy.ts";

export type Through = ReturnType<typeof throughProxy>;

/** authd behind a running proxy, and a way to send a request through that proxy. */
export interface ProxiedAuthd {
  h: Harness;
  through: Through;
}

/** Where a proxy configured as the guide says rightly differs from another. */
export interface ProxyDifferences {
  /**
   * What the client gets on a refusal: authd's own answer (its JSON body with the reason, and
   * every status's WWW-Authenticate), or the proxy's own page (nginx: its HTML, with authd's
   * WWW-Authenticate on a 401 only).
   */
  refusal: "authd's answer" | "the proxy's page";
  /** An identity header authd answers empty: nginx sends none on; Caddy 2.6 passes it on empty. */
  emptyIdentityHeader: "absent" | "empty";
  /** Paths to the protected service that the configuration leaves without forward auth. */
  unprotectedPaths: readonly string[];
}

export interface ProxyUnderTest extends ProxiedAuthd {
  differences: ProxyDifferences;
}

/**
 * Starts, before the enclosing describe's cases, authd (behind one trusted hop, with the roles the
 * cases use), the echoing upstream and, through `launch`, the proxy between them, its files in a
 * temporary directory; stops all of them afterwards. The answer is read inside the cases.
 */
export function proxiedAuthd(
  label: string,
  launch: (authd: Harness, upstream: EchoUpstream, dir: string) => Promise<RunningProxy>,
): () => ProxiedAuthd {
  let h: Harness | undefined;
  let upstream: EchoUpstream | undefined;
  let dir: string | undefined;
  let proxy: RunningProxy | undefined;
  let through: Through | undefined;

  beforeAll(async () => {
    h = await startHarness({
      EMAIL_VERIFICATION_REQUIRED: "false",
      // authd behind the proxy, as the guide sets it up.
      TRUST_PROXY_HOPS: "1",
      ROLES: '{"user": ["profile.read"], "admin": ["users.read", "users.write"], "guest": []}',
    });
    upstream = await startEchoUpstream();
    dir = mkdtempSync(path.join(tmpdir(), `authd-${label}-`));
    proxy = await launch(h, upstream, dir);
    through = throughProxy(proxy.url, upstream);
  });

  afterAll(async () => {
    await proxy?.stop();
    await upstream?.close();
    await h?.close();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  return () => {
    if (h === undefined || through === undefined) throw new Error(`${label} is not running: read it inside a case`);
    return { h, through };
  };
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/**
 * The guarantees of docs/forward-auth.md that hold behind every proxy it documents, one case each,
 * every title naming `name`. `start` is read inside each case (after the proxy has started).
 */
export function forwardAuthProxyContract(name: string, start: () => ProxyUnderTest): void {
  const slug = name.toLowerCase();

  it(`${name}: no token: 401, with authd's Bearer challenge, and the upstream never reached`, async () => {
    const { through, differences } = start();
    const { status, headers, body, upstream } = await through("/app/page");
    expect(status).toBe(401);
    expect(headers["www-authenticate"]).toBe("Bearer");
    if (differences.refusal === "authd's answer") expect(JSON.parse(body).code).toBe("UNAUTHENTICATED");
    expect(upstream).toBeUndefined();
  });

  it(`${name}: a valid token: 200, and the upstream sees the user id, session id, roles and permissions`, async () => {
    const { h, through } = start();
    const alice = await signIn(h, `${slug}-alice@example.com`);
    const { status, upstream } = await through("/app/page?q=1", bearer(alice.accessToken), { method: "POST" });
    expect(status).toBe(200);
    expect(upstream?.url).toBe("/app/page?q=1");
    expect(upstream?.["x-auth-user-id"]).toBe(alice.userId);
    expect(upstream?.["x-auth-session-id"]).toBe(alice.sessionId);
    expect(upstream?.["x-auth-roles"]).toBe("user");
    expect(upstream?.["x-auth-permissions"]).toBe("profile.read");
  });

  it(`${name}: the REST session cookie works through it too`, async () => {
    const { h, through } = start();
    const email = `${slug}-cookie@example.com`;
    const alice = await signIn(h, email);
    const cookie = sessionCookie(await rest(h, "POST", "/auth/login", { body: { email, password } }));
    const { status, upstream } = await through("/app/cookie", { cookie });
    expect(status).toBe(200);
    expect(upstream?.["x-auth-user-id"]).toBe(alice.userId);
  });

  it(`${name}: after Logout or RevokeSession: 401 at once`, async () => {
    const { h, through } = start();
    const email = `${slug}-revoke@example.com`;
    const alice = await signIn(h, email);
    const second = await alice.d.call("AuthService/Login", { email, password });
    expect((await through("/app/x", bearer(alice.accessToken))).status).toBe(200);
    expect((await through("/app/x", bearer(second.tokens.accessToken))).status).toBe(200);

    await alice.d.call("SessionService/RevokeSession", { sessionId: second.tokens.sessionId }, alice.accessToken);
    const revoked = await through("/app/x", bearer(second.tokens.accessToken));
    expect(revoked.status).toBe(401);
    expect(revoked.headers["www-authenticate"]).toBe('Bearer error="invalid_token"');
    expect(revoked.upstream).toBeUndefined();

    await alice.d.call("AuthService/Logout", {}, alice.accessToken);
    const loggedOut = await through("/app/x", bearer(alice.accessToken));
    expect(loggedOut.status).toBe(401);
    expect(loggedOut.upstream).toBeUndefined();
  });

  it(`${name}: a client-forged X-Auth-User-Id is never passed on as the identity`, async () => {
    const { h, through, differences } = start();
    const anonymous = await through("/app/forged", forgedIdentity);
    expect(anonymous.status).toBe(401);
    expect(anonymous.upstream).toBeUndefined();

    const alice = await signIn(h, `${slug}-forged@example.com`);
    const { status, upstream } = await through("/app/forged", { ...forgedIdentity, ...bearer(alice.accessToken) });
    expect(status).toBe(200);
    expect(upstream?.["x-auth-user-id"]).toBe(alice.userId);
    expect(upstream?.["x-auth-session-id"]).toBe(alice.sessionId);
    expect(upstream?.["x-auth-roles"]).toBe("user");
    expect(upstream?.["x-auth-permissions"]).toBe("profile.read");

    // No permissions at all: authd's header is empty, and the client's forged one does not slip
    // through in its place.
    await h.store.users.update(alice.userId, { roles: ["guest"] });
    const guest = await through("/app/forged", { ...forgedIdentity, ...bearer(alice.accessToken) });
    expect(guest.status).toBe(200);
    expect(guest.upstream?.["x-auth-user-id"]).toBe(alice.userId);
    expect(guest.upstream?.["x-auth-roles"]).toBe("guest");
    if (differences.emptyIdentityHeader === "absent") expect(guest.upstream).not.toHaveProperty("x-auth-permissions");
    else expect(guest.upstream?.["x-auth-permissions"]).toBe("");
  });

  it(`${name}: a route without forward auth, to the same service, passes on no X-Auth-* a client sent, however spelled`, async () => {
    // The service trusts X-Auth-User-Id because the proxy sets it; where the proxy does not ask
    // authd (the sign-in page, public pages, health checks), a client's own would otherwise arrive
    // unchanged. Upper-case spellings too: a removal that compares names case-sensitively (Caddy's
    // by wildcard, after Go has put them in its canonical case) would miss them.
    const { through, differences } = start();
    const shouted = Object.fromEntries(Object.entries(forgedIdentity).map(([header, value]) => [header.toUpperCase(), value]));
    expect(differences.unprotectedPaths.length).toBeGreaterThan(0);
    for (const pathname of differences.unprotectedPaths) {
      for (const headers of [forgedIdentity, shouted]) {
        const { status, upstream } = await through(pathname, headers);
        expect(status, pathname).toBe(200);
        expect(upstream?.url, pathname).toBe(pathname);
        for (const header of Object.keys(forgedIdentity)) expect(upstream, `${pathname} ${header}`).not.toHaveProperty(header);
      }
    }
  });

  it(`${name}: a header spelled with underscores (X_Auth_User_Id) is never passed on, with or without forward auth`, async () => {
    // Servers that map headers to CGI-style names (HTTP_X_AUTH_USER_ID) read X_Auth_User_Id as
    // X-Auth-User-Id: nginx drops such headers by default, the guide's Caddyfile removes them.
    const { h, through, differences } = start();
    const alice = await signIn(h, `${slug}-underscore@example.com`);
    for (const pathname of ["/app/underscore", ...differences.unprotectedPaths]) {
      const { status, upstream } = await through(pathname, {
        ...bearer(alice.accessToken),
        X_Auth_User_Id: "someone-else",
        x_auth_roles: "admin",
        "X-Auth_Session-Id": "forged",
      });
      expect(status, pathname).toBe(200);
      expect(upstream, pathname).not.toHaveProperty("x_auth_user_id");
      expect(upstream, pathname).not.toHaveProperty("x_auth_roles");
      expect(upstream, pathname).not.toHaveProperty("x-auth_session-id");
    }
  });

  it(`${name}: authd sees the address the client connected from, not an X-Forwarded-For the client wrote, nor the proxy's own`, async () => {
    const { h, through } = start();
    const { accessToken } = await signIn(h, `${slug}-xff@example.com`);
    // From 127.0.0.2: the proxy itself connects to authd from 127.0.0.1, so only the address the
    // proxy puts in X-Forwarded-For can tell authd the client's.
    const { status } = await through(
      "/hello",
      { ...bearer(accessToken), "x-forwarded-for": "203.0.113.66" },
      { localAddress: "127.0.0.2" },
    );
    expect(status).toBe(200);
    const checks = h.logs.filter((l) => l.msg === "request" && l.path === "/auth/forward");
    expect(checks.at(-1)?.clientIp).toBe("127.0.0.2");
  });

  it(`${name}: a permission the route requires and the caller lacks: 403, until the caller's roles grant it`, async () => {
    const { h, through, differences } = start();
    const alice = await signIn(h, `${slug}-403@example.com`);
    const refused = await through("/admin/users", bearer(alice.accessToken));
    expect(refused.status).toBe(403);
    if (differences.refusal === "authd's answer") {
      expect(refused.headers["www-authenticate"]).toBe('Bearer error="insufficient_scope"');
      expect(JSON.parse(refused.body).code).toBe("PERMISSION_DENIED");
    }
    expect(refused.upstream).toBeUndefined();
    // The same caller is let through where nothing is required.
    expect((await through("/app/users", bearer(alice.accessToken))).status).toBe(200);
    // Made an admin: let through at once, with the same token; made a user again: refused at once.
    await h.store.users.update(alice.userId, { roles: ["admin", "user"] });
    const admitted = await through("/admin/users", bearer(alice.accessToken));
    expect(admitted.status).toBe(200);
    expect(admitted.upstream?.["x-auth-roles"]).toBe("admin,user");
    await h.store.users.update(alice.userId, { roles: ["user"] });
    expect((await through("/admin/users", bearer(alice.accessToken))).status).toBe(403);
  });
}
