// Forward auth behind a real nginx (Debian's package, `auth_request` module): the test writes a
// configuration in a temporary directory, starts nginx as its child on a free loopback port, and
// proxies to a tiny upstream that echoes the headers it got; the cases are the ones every proxy
// must pass (test/support/forward-auth-proxy-contract.ts). nginx is never installed here:
// `.ci/run` installs it; where it cannot be found this suite is skipped and says so.
import { writeFileSync } from "node:fs";
import path from "node:path";
import { describe } from "vitest";
import { forwardAuthProxyContract, type ProxyDifferences, proxiedAuthd } from "../support/forward-auth-proxy-contract.ts";
import { findExecutable, startProxy } from "../support/reverse-proxy.ts";

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

const nginxDifferences: ProxyDifferences = {
  // auth_request answers with nginx's own error page; only a 401 carries authd's WWW-Authenticate.
  refusal: "the proxy's page",
  // proxy_set_header with an empty value sends no header at all.
  emptyIdentityHeader: "absent",
  unprotectedPaths: ["/public/page"],
};

describe.skipIf(nginxBin === undefined)("forward auth behind a real nginx (auth_request)", () => {
  const nginx = proxiedAuthd("nginx", (h, upstream, dir) => {
    const errorLog = path.join(dir, "error.log");
    return startProxy(nginxBin as string, /^nginx/, (port) => {
      const conf = path.join(dir, `nginx-${port}.conf`);
      writeFileSync(conf, nginxConfig(dir, port, h.url, upstream.port));
      // -e: the error log of the start-up itself, before the configuration is read, also in the temp dir.
      return { args: ["-p", dir, "-c", conf, "-e", errorLog], logFile: errorLog };
    });
  });

  forwardAuthProxyContract("nginx", () => ({ ...nginx(), differences: nginxDifferences }));
});
