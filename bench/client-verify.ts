// What @authd/client's verifyAccessToken costs a service per call: the signature and claims alone
// (the key set fetched once and cached; the reference), and with the live check through
// IntrospectToken, which adds one call to authd over gRPC or Connect. The server runs pinned to
// one core, this process on the other; calls are made one at a time (a service's latency per
// request), and, for the live check, 16 at a time (its throughput).
// A benchmark, not a test: it prints numbers for a person to read.
// Run: npm run bench:client-verify   (ROUNDS=5 MS=1000 by default; medians of interleaved rounds)
import { createAccessTokenVerifier, createAuthdTransport } from "../packages/client/src/node.ts";
import { callRate } from "./lib/call-rate.ts";
import { startBench } from "./lib/compare.ts";
import { median } from "./lib/figures.ts";
import { JSON_HEADERS, register } from "./lib/service.ts";

const rounds = Number(process.env.ROUNDS ?? 5);
const msPerCase = Number(process.env.MS ?? 1000);

// Every account may make service accounts here, so the benchmark needs no admin bootstrap.
const bench = await startBench({ ROLES: JSON.stringify({ user: ["service_accounts.manage", "tokens.introspect"] }) });
const { server, port, url } = bench;
try {
  const { accessToken } = await register(port, "client-verify-bench@example.com");
  const created = await fetch(`${url}/auth.v1.ServiceAccountService/CreateServiceAccount`, {
    method: "POST",
    headers: { ...JSON_HEADERS, authorization: `Bearer ${accessToken}` },
    body: JSON.stringify({ name: "bench-service", permissions: ["tokens.introspect"] }),
  });
  if (!created.ok) throw new Error(`CreateServiceAccount: HTTP ${created.status} ${await created.text()}`);
  const { apiKey } = (await created.json()) as { apiKey: string };

  const expect = { jwksUrl: `${url}/.well-known/jwks.json`, issuer: "authd", audience: "authd" };
  const offline = createAccessTokenVerifier(expect);
  const liveGrpc = createAccessTokenVerifier({ ...expect, live: { transport: createAuthdTransport({ baseUrl: url }), apiKey } });
  const liveConnect = createAccessTokenVerifier({
    ...expect,
    live: { transport: createAuthdTransport({ baseUrl: url, protocol: "connect", httpVersion: "2" }), apiKey },
  });
  const parallel = (verify: typeof offline) => () => Promise.all(Array.from({ length: 16 }, () => verify(accessToken)));

  const reference = "signature and claims (reference)";
  const cases: Record<string, { fn: () => Promise<unknown>; perCall: number }> = {
    [reference]: { fn: () => offline(accessToken), perCall: 1 },
    "+ live check, gRPC": { fn: () => liveGrpc(accessToken), perCall: 1 },
    "+ live check, Connect (HTTP/2)": { fn: () => liveConnect(accessToken), perCall: 1 },
    "+ live check, gRPC, 16 in flight": { fn: parallel(liveGrpc), perCall: 16 },
  };

  for (const { fn } of Object.values(cases)) for (let i = 0; i < 200; i++) await fn();
  const samples = new Map<string, number[]>(Object.keys(cases).map((k) => [k, []]));
  for (let r = 0; r < rounds; r++) {
    for (const [name, { fn, perCall }] of Object.entries(cases)) samples.get(name)?.push((await callRate(fn, msPerCase)) * perCall);
  }
  const referenceRate = median(samples.get(reference) ?? []);
  console.log(
    `verifyAccessToken, median of ${rounds} rounds of ${msPerCase} ms each (Node ${process.version}; server on core 0, this on core 1)`,
  );
  console.log(`${"case".padEnd(36)} ${"verifications/s".padStart(16)} ${"µs each".padStart(9)} ${"time vs reference".padStart(18)}`);
  for (const [name, xs] of samples) {
    const rate = median(xs);
    const line = `${name.padEnd(36)} ${rate.toFixed(0).padStart(16)} ${(1e6 / rate).toFixed(1).padStart(9)}`;
    console.log(`${line} ${`${(referenceRate / rate).toFixed(2)}×`.padStart(18)}`);
  }
} finally {
  await server.stop();
}
