// Forward auth behind a real Caddy (Debian's package, `forward_auth`): the test reads the Caddyfile
// docs/forward-auth.md gives operators, puts this run's addresses in it, starts Caddy as its child
// on a free loopback port (no admin endpoint, no automatic HTTPS, its files in a temporary
// directory), and proxies to an upstream that records what reached it. Caddy is never installed
// here: `.ci/run` installs it; where it cannot be found this suite is skipped and says so.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Harness, repoRoot, startHarness } from "../support/harness.ts";
import { rest, sessionCookie } from "../support/rest.ts";
import {
  type EchoUpstream,
  findExecutable,
  forgedIdentity,
  password,
  type RunningProxy,
  signIn,
  startEchoUpstream,
  startProxy,
  throughProxy,
} from "../support/reverse-proxy.ts";

const caddyBin = findExecutable("caddy", ["/usr/bin", "/usr/local/bin"]);
if (caddyBin === undefined) {
  console.warn(
    "forward-auth Caddy end-to-end test SKIPPED: no caddy binary found (/usr/bin/caddy or PATH). " +
      "Install Debian's caddy package (`apt-get install -y --no-install-recommends caddy`; .ci/run does this) to run it.",
  );
}

/** The guide's Caddyfile, as written: the first caddy block of its Caddy section. */
function documentedCaddyfile(): string {
  const guide = readFileSync(path.join(repoRoot, "docs/forward-auth.md"), "utf8");
  const section = guide.split(/^## /m).find((s) => s.startsWith("Caddy"));
  const block = section === undefined ? null : /^```caddy\n([\s\S]*?)^```$/m.exec(section);
  if (block?.[1] === undefined) throw new Error("docs/forward-auth.md has no ```caddy block under a '## Caddy' heading");
  return block[1];
}

/** The guide's names replaced by this run's addresses; each must be there, or the guide changed. */
function withAddresses(caddyfile: string, names: Record<string, string>): string {
  let out = caddyfile;
  for (const [name, address] of Object.entries(names)) {
    if (!out.includes(name)) throw new Error(`the guide's Caddyfile no longer names ${name}`);
    out = out.replaceAll(name, address);
  }
  return out;
}

describe.skipIf(caddyBin === undefined)("forward auth behind a real Caddy (forward_auth)", () => {
  let h: Harness;
  let dir: string;
  let caddy: RunningProxy | undefined;
  let upstream: EchoUpstream;
  let through: ReturnType<typeof throughProxy>;

  beforeAll(async () => {
    h = await startHarness({
      EMAIL_VERIFICATION_REQUIRED: "false",
      // authd behind Caddy, as the guide sets it up.
      TRUST_PROXY_HOPS: "1",
      ROLES: '{"user": ["profile.read"], "admin": ["users.read", "users.write"], "guest": []}',
    });
    upstream = await startEchoUpstream();
    dir = mkdtempSync(path.join(tmpdir(), "authd-caddy-"));
    const site = documentedCaddyfile();
    caddy = await startProxy(caddyBin as string, /^Caddy$/, (port) => {
      const caddyfile = path.join(dir, `Caddyfile-${port}`);
      // The test's own global options: no admin endpoint on a fixed port, and plain HTTP on the
      // loopback address rather than certificates for it.
      const global = "{\n\tadmin off\n\tauto_https off\n}\n\n";
      writeFileSync(
        caddyfile,
        global +
          withAddresses(site, {
            "app.example.com": `http://127.0.0.1:${port}`,
            "authd:8080": h.url.replace(/^http:\/\//, ""),
            "my-service:8000": `127.0.0.1:${upstream.port}`,
          }),
      );
      // Caddy keeps its data (certificates) and an autosaved configuration under these: the temp dir.
      const env = { ...process.env, HOME: dir, XDG_CONFIG_HOME: path.join(dir, "config"), XDG_DATA_HOME: path.join(dir, "data") };
      return { args: ["run", "--config", caddyfile, "--adapter", "caddyfile"], env };
    });
    through = throughProxy(caddy.url, upstream);
  });

  afterAll(async () => {
    await caddy?.stop();
    await upstream?.close();
    await h?.close();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

  it("no token: 401 from Caddy, with authd's Bearer challenge and reason, and the upstream never reached", async () => {
    const { status, headers, body, upstream } = await through("/app/page");
    expect(status).toBe(401);
    expect(headers["www-authenticate"]).toBe("Bearer");
    expect(JSON.parse(body).code).toBe("UNAUTHENTICATED");
    expect(upstream).toBeUndefined();
  });

  it("a valid token: 200, the upstream sees the user id, roles and session id, and gets the body whole", async () => {
    const alice = await signIn(h, "caddy-alice@example.com");
    const body = JSON.stringify({ note: "x".repeat(4096) });
    const { status, upstream } = await through(
      "/app/page?q=1",
      { ...bearer(alice.accessToken), "content-type": "application/json" },
      { method: "POST", body },
    );
    expect(status).toBe(200);
    expect(upstream?.url).toBe("/app/page?q=1");
    expect(upstream?.body).toBe(body);
    expect(upstream?.["x-auth-user-id"]).toBe(alice.userId);
    expect(upstream?.["x-auth-session-id"]).toBe(alice.sessionId);
    expect(upstream?.["x-auth-roles"]).toBe("user");
    expect(upstream?.["x-auth-permissions"]).toBe("profile.read");
  });

  it("the REST session cookie works through Caddy too", async () => {
    const email = "caddy-cookie@example.com";
    const alice = await signIn(h, email);
    const cookie = sessionCookie(await rest(h, "POST", "/auth/login", { body: { email, password } }));
    const { status, upstream } = await through("/app/cookie", { cookie });
    expect(status).toBe(200);
    expect(upstream?.["x-auth-user-id"]).toBe(alice.userId);
  });

  it("after Logout or RevokeSession: 401 at once", async () => {
    const alice = await signIn(h, "caddy-revoke@example.com");
    const second = await alice.d.call("AuthService/Login", { email: "caddy-revoke@example.com", password });
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

  it("a client-forged X-Auth-User-Id is never passed on as the identity", async () => {
    const anonymous = await through("/app/forged", forgedIdentity);
    expect(anonymous.status).toBe(401);
    expect(anonymous.upstream).toBeUndefined();

    const alice = await signIn(h, "caddy-forged@example.com");
    const { status, upstream } = await through("/app/forged", { ...forgedIdentity, ...bearer(alice.accessToken) });
    expect(status).toBe(200);
    expect(upstream?.["x-auth-user-id"]).toBe(alice.userId);
    expect(upstream?.["x-auth-session-id"]).toBe(alice.sessionId);
    expect(upstream?.["x-auth-roles"]).toBe("user");
    expect(upstream?.["x-auth-permissions"]).toBe("profile.read");

    // No permissions at all: authd's header is empty, Caddy 2.6 passes it on empty (later versions
    // may send none), and the client's forged one does not slip through in its place.
    await h.store.users.update(alice.userId, { roles: ["guest"] });
    const guest = await through("/app/forged", { ...forgedIdentity, ...bearer(alice.accessToken) });
    expect(guest.status).toBe(200);
    expect(guest.upstream?.["x-auth-user-id"]).toBe(alice.userId);
    expect(guest.upstream?.["x-auth-roles"]).toBe("guest");
    expect(guest.upstream?.["x-auth-permissions"] ?? "").toBe("");
  });

  it("a route without forward auth, to the same service, passes on no X-Auth-* a client sent, however spelled", async () => {
    // The service trusts X-Auth-User-Id because the proxy sets it; where the proxy does not ask
    // authd (the sign-in page, public pages), a client's own would otherwise arrive unchanged.
    // Caddy's removal by wildcard compares names case-sensitively, after Go has put them in its
    // canonical case: upper-case spellings must be caught too.
    const shouted = Object.fromEntries(Object.entries(forgedIdentity).map(([name, value]) => [name.toUpperCase(), value]));
    for (const pathname of ["/public/page", "/login"]) {
      for (const headers of [forgedIdentity, shouted]) {
        const { status, upstream } = await through(pathname, headers);
        expect(status, pathname).toBe(200);
        expect(upstream?.url, pathname).toBe(pathname);
        for (const name of Object.keys(forgedIdentity)) expect(upstream, `${pathname} ${name}`).not.toHaveProperty(name);
      }
    }
  });

  it("a header spelled with underscores (X_Auth_User_Id) is removed by the guide's Caddyfile, never passed on", async () => {
    // Servers that map headers to CGI-style names (HTTP_X_AUTH_USER_ID) read X_Auth_User_Id as
    // X-Auth-User-Id; Caddy passes such headers on unless told to remove them.
    const alice = await signIn(h, "caddy-underscore@example.com");
    for (const pathname of ["/app/underscore", "/public/underscore"]) {
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

  it("authd sees the address the client connected from, not an X-Forwarded-For the client wrote, nor Caddy's own", async () => {
    const { accessToken } = await signIn(h, "caddy-xff@example.com");
    // From 127.0.0.2: Caddy itself connects to authd from 127.0.0.1, so only the header Caddy
    // sets can tell authd the client's address.
    const { status, upstream } = await through(
      "/hello",
      { ...bearer(accessToken), "x-forwarded-for": "203.0.113.66" },
      { localAddress: "127.0.0.2" },
    );
    expect(status).toBe(200);
    const checks = h.logs.filter((l) => l.msg === "request" && l.path === "/auth/forward");
    expect(checks.at(-1)?.clientIp).toBe("127.0.0.2");
    // And the service is told the same.
    expect(upstream?.["x-forwarded-for"]).toBe("127.0.0.2");
  });

  it("a permission the route requires and the caller lacks: 403 from Caddy; the client's query neither removes nor adds one", async () => {
    const alice = await signIn(h, "caddy-403@example.com");
    const refused = await through("/admin/users", bearer(alice.accessToken));
    expect(refused.status).toBe(403);
    expect(refused.headers["www-authenticate"]).toBe('Bearer error="insufficient_scope"');
    expect(JSON.parse(refused.body).code).toBe("PERMISSION_DENIED");
    expect(refused.upstream).toBeUndefined();
    // The route's own query replaces the client's on the check: an empty permission of the
    // client's does not take the requirement's place.
    expect((await through("/admin/users?permission=", bearer(alice.accessToken))).status).toBe(403);
    // Where nothing is required the same caller is let through, and a requirement in the client's
    // query never reaches authd (the guide's `uri /auth/forward?`).
    const open = await through("/app/users?permission=users.write", bearer(alice.accessToken));
    expect(open.status).toBe(200);
    expect(open.upstream?.url).toBe("/app/users?permission=users.write");
    // Made an admin: let through at once, with the same token; made a user again: refused at once.
    await h.store.users.update(alice.userId, { roles: ["admin", "user"] });
    const admitted = await through("/admin/users", bearer(alice.accessToken));
    expect(admitted.status).toBe(200);
    expect(admitted.upstream?.["x-auth-roles"]).toBe("admin,user");
    await h.store.users.update(alice.userId, { roles: ["user"] });
    expect((await through("/admin/users", bearer(alice.accessToken))).status).toBe(403);
  });

  it("pages for browsers: without a live session, a redirect to the sign-in page; with one, the page", async () => {
    const signedOut = await through("/account/settings");
    expect(signedOut.status).toBe(302);
    expect(signedOut.headers.location).toBe("/login");
    expect(signedOut.upstream).toBeUndefined();

    const email = "caddy-browser@example.com";
    const alice = await signIn(h, email);
    const cookie = sessionCookie(await rest(h, "POST", "/auth/login", { body: { email, password } }));
    const page = await through("/account/settings", { cookie });
    expect(page.status).toBe(200);
    expect(page.upstream?.["x-auth-user-id"]).toBe(alice.userId);

    expect((await rest(h, "POST", "/auth/logout", { cookie, headers: { origin: h.url } })).status).toBe(204);
    const ended = await through("/account/settings", { cookie });
    expect(ended.status).toBe(302);
    expect(ended.upstream).toBeUndefined();
  });
});
