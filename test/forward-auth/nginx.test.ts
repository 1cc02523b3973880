// Forward auth behind a real nginx (Debian's package, `auth_request` module): the test writes a
// configuration in a temporary directory, starts nginx as its child on a free loopback port, and
// proxies to a tiny upstream that echoes the headers it got. nginx is never installed here:
// `.ci/run` installs it; where it cannot be found this suite is skipped and says so.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startHarness, type Harness } from "../support/harness.ts";
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

const nginxBin = findExecutable("nginx", ["/usr/sbin", "/usr/local/sbin", "/usr/local/nginx/sbin"]);
if (nginxBin === undefined) {
  console.warn(
    "forward-auth nginx end-to-end test SKIPPED: no nginx binary found (/usr/sbin/nginx or PATH). " +
      "Install Debian's nginx package (`apt-get install -y --no-install-recommends nginx`; .ci/run does this) to run it.",
  );
}

/** The configuration under test: what docs/forward-auth.md tells operators to write. */
function nginxConfig(dir: string, port: number, authd: string, upstream: number): string {
  const auth = (name: string, query: string) => `
    location = /${name} {
      internal;
      proxy_pass ${authd}/auth/forward${query};
      proxy_http_version 1.1;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header X-Original-URI $request_uri;
      proxy_set_header X-Original-Method $request_method;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    }`;
  const protectedLocation = (prefix: string, name: string) => `
    location ${prefix} {
      auth_request /${name};
      auth_request_set $auth_user_id $upstream_http_x_auth_user_id;
      auth_request_set $auth_session_id $upstream_http_x_auth_session_id;
      auth_request_set $auth_roles $upstream_http_x_auth_roles;
      auth_request_set $auth_permissions $upstream_http_x_auth_permissions;
      proxy_set_header X-Auth-User-Id $auth_user_id;
      proxy_set_header X-Auth-Session-Id $auth_session_id;
      proxy_set_header X-Auth-Roles $auth_roles;
      proxy_set_header X-Auth-Permissions $auth_permissions;
      proxy_http_version 1.1;
      proxy_pass http://127.0.0.1:${upstream};
    }`;
  return `
daemon off;
master_process off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 64; }
http {
  access_log ${dir}/access.log;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  server {
    listen 127.0.0.1:${port};
    ${protectedLocation("/", "authd")}
    ${protectedLocation("/admin/", "authd-admin")}
    location /public/ {
      proxy_set_header X-Auth-User-Id "";
      proxy_set_header X-Auth-Session-Id "";
      proxy_set_header X-Auth-Roles "";
      proxy_set_header X-Auth-Permissions "";
      proxy_http_version 1.1;
      proxy_pass http://127.0.0.1:${upstream};
    }
    ${auth("authd", "")}
    ${auth("authd-admin", "?permission=users.write")}
  }
}
`;
}

describe.skipIf(nginxBin === undefined)("forward auth behind a real nginx (auth_request)", () => {
  let h: Harness;
  let dir: string;
  let nginx: RunningProxy | undefined;
  let upstream: EchoUpstream;
  let through: ReturnType<typeof throughProxy>;

  beforeAll(async () => {
    h = await startHarness({
      EMAIL_VERIFICATION_REQUIRED: "false",
      // authd behind nginx, as the guide sets it up.
      TRUST_PROXY_HOPS: "1",
      ROLES: '{"user": ["profile.read"], "admin": ["users.read", "users.write"], "guest": []}',
    });
    upstream = await startEchoUpstream();
    dir = mkdtempSync(path.join(tmpdir(), "authd-nginx-"));
    const errorLog = path.join(dir, "error.log");
    nginx = await startProxy(nginxBin as string, /^nginx/, (port) => {
      const conf = path.join(dir, `nginx-${port}.conf`);
      writeFileSync(conf, nginxConfig(dir, port, h.url, upstream.port));
      // -e: the error log of the start-up itself, before the configuration is read, also in the temp dir.
      return { args: ["-p", dir, "-c", conf, "-e", errorLog], logFile: errorLog };
    });
    through = throughProxy(nginx.url, upstream);
  });

  afterAll(async () => {
    await nginx?.stop();
    await upstream?.close();
    await h?.close();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it("no token: 401 from nginx, with the Bearer challenge, and the upstream never reached", async () => {
    const { status, headers, upstream } = await through("/app/page");
    expect(status).toBe(401);
    expect(headers["www-authenticate"]).toBe("Bearer");
    expect(upstream).toBeUndefined();
  });

  it("a valid token: 200, and the upstream sees the user id, roles and session id", async () => {
    const alice = await signIn(h, "nginx-alice@example.com");
    const { status, upstream } = await through("/app/page?q=1", { authorization: `Bearer ${alice.accessToken}` }, { method: "POST" });
    expect(status).toBe(200);
    expect(upstream?.url).toBe("/app/page?q=1");
    expect(upstream?.["x-auth-user-id"]).toBe(alice.userId);
    expect(upstream?.["x-auth-session-id"]).toBe(alice.sessionId);
    expect(upstream?.["x-auth-roles"]).toBe("user");
    expect(upstream?.["x-auth-permissions"]).toBe("profile.read");
  });

  it("the REST session cookie works through nginx too", async () => {
    const email = "nginx-cookie@example.com";
    const alice = await signIn(h, email);
    const cookie = sessionCookie(await rest(h, "POST", "/auth/login", { body: { email, password } }));
    const { status, upstream } = await through("/app/cookie", { cookie });
    expect(status).toBe(200);
    expect(upstream?.["x-auth-user-id"]).toBe(alice.userId);
  });

  it("after Logout or RevokeSession: 401 at once", async () => {
    const alice = await signIn(h, "nginx-revoke@example.com");
    const second = await alice.d.call("AuthService/Login", { email: "nginx-revoke@example.com", password });
    const auth = (token: string) => ({ authorization: `Bearer ${token}` });
    expect((await through("/app/x", auth(alice.accessToken))).status).toBe(200);
    expect((await through("/app/x", auth(second.tokens.accessToken))).status).toBe(200);

    await alice.d.call("SessionService/RevokeSession", { sessionId: second.tokens.sessionId }, alice.accessToken);
    const revoked = await through("/app/x", auth(second.tokens.accessToken));
    expect(revoked.status).toBe(401);
    expect(revoked.upstream).toBeUndefined();

    await alice.d.call("AuthService/Logout", {}, alice.accessToken);
    const loggedOut = await through("/app/x", auth(alice.accessToken));
    expect(loggedOut.status).toBe(401);
    expect(loggedOut.upstream).toBeUndefined();
  });

  it("a client-forged X-Auth-User-Id is never passed on as the identity", async () => {
    const anonymous = await through("/app/forged", forgedIdentity);
    expect(anonymous.status).toBe(401);
    expect(anonymous.upstream).toBeUndefined();

    const alice = await signIn(h, "nginx-forged@example.com");
    const { status, upstream } = await through("/app/forged", { ...forgedIdentity, authorization: `Bearer ${alice.accessToken}` });
    expect(status).toBe(200);
    expect(upstream?.["x-auth-user-id"]).toBe(alice.userId);
    expect(upstream?.["x-auth-session-id"]).toBe(alice.sessionId);
    expect(upstream?.["x-auth-roles"]).toBe("user");
    expect(upstream?.["x-auth-permissions"]).toBe("profile.read");

    // No permissions at all: authd's header is empty, nginx sends none, and the client's forged
    // one does not slip through in its place.
    await h.store.users.update(alice.userId, { roles: ["guest"] });
    const guest = await through("/app/forged", { ...forgedIdentity, authorization: `Bearer ${alice.accessToken}` });
    expect(guest.status).toBe(200);
    expect(guest.upstream?.["x-auth-user-id"]).toBe(alice.userId);
    expect(guest.upstream?.["x-auth-roles"]).toBe("guest");
    expect(guest.upstream).not.toHaveProperty("x-auth-permissions");
  });

  it("a location without forward auth, to the same service, passes on no X-Auth-* a client sent", async () => {
    // The service trusts X-Auth-User-Id because the proxy sets it; where the proxy does not ask
    // authd (public pages, health checks), a client's own would otherwise arrive unchanged.
    const { status, upstream } = await through("/public/page", forgedIdentity);
    expect(status).toBe(200);
    for (const name of Object.keys(forgedIdentity)) expect(upstream, name).not.toHaveProperty(name);
  });

  it("a header spelled with underscores (X_Auth_User_Id) is dropped by nginx, never passed on", async () => {
    // Servers that map headers to CGI-style names (HTTP_X_AUTH_USER_ID) read X_Auth_User_Id as
    // X-Auth-User-Id; nginx drops headers with underscores by default (underscores_in_headers off).
    const alice = await signIn(h, "nginx-underscore@example.com");
    for (const path of ["/app/underscore", "/public/underscore"]) {
      const { status, upstream } = await through(path, { authorization: `Bearer ${alice.accessToken}`, x_auth_user_id: "someone-else" });
      expect(status, path).toBe(200);
      expect(upstream, path).not.toHaveProperty("x_auth_user_id");
    }
  });

  it("authd logs the address the client connected from, not an X-Forwarded-For the client wrote", async () => {
    const { accessToken } = await signIn(h, "nginx-xff@example.com");
    // From 127.0.0.2: nginx itself connects to authd from 127.0.0.1, so only the address nginx
    // appends to X-Forwarded-For can tell authd the client's.
    const { status } = await through(
      "/hello",
      { authorization: `Bearer ${accessToken}`, "x-forwarded-for": "203.0.113.66" },
      { localAddress: "127.0.0.2" },
    );
    expect(status).toBe(200);
    const checks = h.logs.filter((l) => l.msg === "request" && l.path === "/auth/forward");
    expect(checks.at(-1)?.clientIp).toBe("127.0.0.2");
  });

  it("a permission the location requires and the caller lacks: 403 from nginx", async () => {
    const alice = await signIn(h, "nginx-403@example.com");
    const { status, upstream } = await through("/admin/users", { authorization: `Bearer ${alice.accessToken}` });
    expect(status).toBe(403);
    expect(upstream).toBeUndefined();
    // The same caller is let through where nothing is required.
    expect((await through("/app/users", { authorization: `Bearer ${alice.accessToken}` })).status).toBe(200);
    // Made an admin: let through at once, with the same token; made a user again: refused at once.
    await h.store.users.update(alice.userId, { roles: ["admin", "user"] });
    const admitted = await through("/admin/users", { authorization: `Bearer ${alice.accessToken}` });
    expect(admitted.status).toBe(200);
    expect(admitted.upstream?.["x-auth-roles"]).toBe("admin,user");
    await h.store.users.update(alice.userId, { roles: ["user"] });
    expect((await through("/admin/users", { authorization: `Bearer ${alice.accessToken}` })).status).toBe(403);
  });
});
