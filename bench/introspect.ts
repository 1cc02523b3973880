// What introspecting a token costs the server, next to the call it is most like: the server pinned
// to one core, our h2c generator on the other, closed loop. The reference is GetCurrentUser (the
// same live check of the user's token plus a user read and a Protobuf-JSON answer); the
// introspection cases add the check of the asking service's API key (a record read and a SHA-256)
// to the live check of the token asked about.
// A benchmark, not a test: it prints numbers for a person to read.
// Run: npm run bench:introspect   (BENCH_SECONDS=3 BENCH_RUNS=3 by default; medians of the runs)
import { compareCases, startBench } from "./lib/compare.ts";
import type { VirtualUser } from "./lib/load.ts";
import { healthUser, JSON_HEADERS, register } from "./lib/service.ts";

// Every account may make service accounts here, so the benchmark needs no admin bootstrap.
const roles = JSON.stringify({ user: ["service_accounts.manage", "tokens.introspect"] });
const bench = await startBench({ ROLES: roles });
const { server, port, url, users } = bench;
try {
  const tokens = await Promise.all(Array.from({ length: users }, (_, i) => register(port, `introspect-bench-${i}@example.com`)));
  const created = await fetch(`${url}/auth.v1.ServiceAccountService/CreateServiceAccount`, {
    method: "POST",
    headers: { ...JSON_HEADERS, authorization: `Bearer ${tokens[0]?.accessToken}` },
    body: JSON.stringify({ name: "bench-gateway", permissions: ["tokens.introspect"] }),
  });
  if (!created.ok) throw new Error(`CreateServiceAccount: HTTP ${created.status} ${await created.text()}`);
  const { apiKey, serviceAccount } = (await created.json()) as { apiKey: string; serviceAccount: { id: string } };
  const basic = `Basic ${Buffer.from(`${serviceAccount.id}:${apiKey}`).toString("base64")}`;
  const active = (body: Buffer) => (JSON.parse(body.toString()) as { active?: boolean }).active === true;
  const cases: Record<string, (i: number) => VirtualUser> = {
    "grpc.health.v1 Check (no authentication)": () => healthUser,
    "GetCurrentUser, Connect JSON (reference)": (i) => ({
      next: () => ({
        path: "/auth.v1.AuthService/GetCurrentUser",
        headers: { ...JSON_HEADERS, authorization: `Bearer ${tokens[i]?.accessToken}` },
        body: "{}",
      }),
      answered: (status) => status === 200,
    }),
    "IntrospectToken, Connect JSON, API key as Bearer": (i) => ({
      next: () => ({
        path: "/auth.v1.TokenService/IntrospectToken",
        headers: { ...JSON_HEADERS, authorization: `Bearer ${apiKey}` },
        body: JSON.stringify({ token: tokens[i]?.accessToken }),
      }),
      answered: (status, body) => status === 200 && active(body),
    }),
    "POST /oauth2/introspect, form, HTTP Basic": (i) => ({
      next: () => ({
        path: "/oauth2/introspect",
        headers: { "content-type": "application/x-www-form-urlencoded", authorization: basic },
        body: `token=${tokens[i]?.accessToken}`,
      }),
      answered: (status, body) => status === 200 && active(body),
    }),
  };
  await compareCases(bench, { cases, reference: "GetCurrentUser, Connect JSON (reference)" });
} finally {
  await server.stop();
}
