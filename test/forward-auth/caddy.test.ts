// Forward auth behind a real Caddy (Debian's package, `forward_auth`): the test reads the Caddyfile
// docs/forward-auth.md gives operators, puts this run's addresses in it, starts Caddy as its child
// on a free loopback port (no admin endpoint, no automatic HTTPS, its files in a temporary
// directory), and proxies to an upstream that records what reached it; it runs the cases every
// proxy must pass (test/support/forward-auth-proxy-contract.ts), then Caddy's own. Caddy is never
// installed here: `.ci/run` installs it; where it cannot be found this suite is skipped and says so.
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { forwardAuthProxyContract, type ProxyDifferences, proxiedAuthd } from "../support/forward-auth-proxy-contract.ts";
import { repoRoot } from "../support/harness.ts";
import { rest, sessionCookie } from "../support/rest.ts";
import { findExecutable, password, signIn, startProxy } from "../support/reverse-proxy.ts";

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

const caddyDifferences: ProxyDifferences = {
  // forward_auth hands authd's refusal to the client as it came: status, headers and body.
  refusal: "authd's answer",
  // copy_headers in Caddy 2.6 passes an empty header on empty (later versions may send none).
  emptyIdentityHeader: "empty",
  unprotectedPaths: ["/public/page", "/login"],
};

describe.skipIf(caddyBin === undefined)("forward auth behind a real Caddy (forward_auth)", () => {
  const caddy = proxiedAuthd("caddy", (h, upstream, dir) => {
    const site = documentedCaddyfile();
    return startProxy(caddyBin as string, /^Caddy$/, (port) => {
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
  });

  forwardAuthProxyContract("Caddy", () => ({ ...caddy(), differences: caddyDifferences }));

  // What only the guide's Caddyfile promises.
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

  it("Caddy: a POST's body reaches the upstream whole, though the check never gets it", async () => {
    const { h, through } = caddy();
    const alice = await signIn(h, "caddy-body@example.com");
    const body = JSON.stringify({ note: "x".repeat(4096) });
    const { status, upstream } = await through(
      "/app/page?q=1",
      { ...bearer(alice.accessToken), "content-type": "application/json" },
      { method: "POST", body },
    );
    expect(status).toBe(200);
    expect(upstream?.body).toBe(body);
    expect(upstream?.["x-auth-user-id"]).toBe(alice.userId);
  });

  it("Caddy: the service is told the address the client connected from, not an X-Forwarded-For the client wrote", async () => {
    const { h, through } = caddy();
    const { accessToken } = await signIn(h, "caddy-upstream-xff@example.com");
    const { status, upstream } = await through(
      "/hello",
      { ...bearer(accessToken), "x-forwarded-for": "203.0.113.66" },
      { localAddress: "127.0.0.2" },
    );
    expect(status).toBe(200);
    expect(upstream?.["x-forwarded-for"]).toBe("127.0.0.2");
  });

  it("Caddy: the client's query neither removes a route's required permission nor adds one", async () => {
    const { h, through } = caddy();
    const alice = await signIn(h, "caddy-query@example.com");
    // The route's own query replaces the client's on the check: an empty permission of the
    // client's does not take the requirement's place.
    expect((await through("/admin/users?permission=", bearer(alice.accessToken))).status).toBe(403);
    // Where nothing is required, a requirement in the client's query never reaches authd (the
    // guide's `uri /auth/forward?`), and the service still gets the query as sent.
    const open = await through("/app/users?permission=users.write", bearer(alice.accessToken));
    expect(open.status).toBe(200);
    expect(open.upstream?.url).toBe("/app/users?permission=users.write");
  });

  it("Caddy: pages for browsers: without a live session, a redirect to the sign-in page; with one, the page", async () => {
    const { h, through } = caddy();
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
