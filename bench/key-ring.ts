// What more keys cost a token check: accessTokens.verify with the verified-token cache off (each
// call checks the signature) over a ring of one key (the reference, as before rotation existed)
// and over a ring of four (current, next and two previous), for a token of the current key and one
// of a previous key; and the refusal of a token whose kid is not listed (no signature is checked).
// A benchmark, not a test: it prints numbers for a person to read.
// Run: npm run bench:key-ring   (ROUNDS=5 MS=1000 by default; medians of interleaved rounds)
import { generateKeyPairSync } from "node:crypto";
import { createAccessTokens, type AccessTokens } from "../src/tokens/access.ts";
import { loadKeyRing, type ConfiguredKeys } from "../src/tokens/keys.ts";
import { callRate } from "./lib/call-rate.ts";
import { median } from "./lib/figures.ts";

const rounds = Number(process.env.ROUNDS ?? 5);
const msPerCase = Number(process.env.MS ?? 1000);
const clock = { now: () => new Date() };
const claims = { userId: "usr_bench", sessionId: "ses_bench", roles: ["user"], permissions: [] };

const [current, next, previous, older, stranger] = Array.from({ length: 5 }, () => generateKeyPairSync("ed25519"));
const tokensOf = async (keys: ConfiguredKeys): Promise<AccessTokens> =>
  createAccessTokens((await loadKeyRing(keys)).ring, { issuer: "authd", audience: "authd", ttlSeconds: 3600, cacheSize: 0 }, clock);

const one = await tokensOf({ current: current?.privateKey });
const four = await tokensOf({
  current: current?.privateKey,
  next: next?.privateKey,
  previous: [previous?.publicKey, older?.publicKey].filter((k) => k !== undefined),
});
const ofCurrent = (await one.issue(claims)).token;
const ofPrevious = (await (await tokensOf({ current: previous?.privateKey })).issue(claims)).token;
const ofStranger = (await (await tokensOf({ current: stranger?.privateKey })).issue(claims)).token;

const reference = "1 key, current key's token (reference)";
const cases: Record<string, () => Promise<unknown>> = {
  [reference]: () => one.verify(ofCurrent),
  "4 keys, current key's token": () => four.verify(ofCurrent),
  "4 keys, a previous key's token": () => four.verify(ofPrevious),
  "4 keys, unknown kid (refused)": () => four.verify(ofStranger).catch(() => undefined),
};

for (const fn of Object.values(cases)) for (let i = 0; i < 2000; i++) await fn();
const samples = new Map<string, number[]>(Object.keys(cases).map((k) => [k, []]));
for (let r = 0; r < rounds; r++) {
  for (const [name, fn] of Object.entries(cases)) samples.get(name)?.push(await callRate(fn, msPerCase));
}
const referenceRate = median(samples.get(reference) ?? []);
console.log(`accessTokens.verify, cache off, median of ${rounds} rounds of ${msPerCase} ms each (Node ${process.version})`);
console.log(`${"case".padEnd(40)} ${"calls/s".padStart(10)} ${"µs/call".padStart(9)} ${"time vs reference".padStart(18)}`);
for (const [name, xs] of samples) {
  const r = median(xs);
  console.log(
    `${name.padEnd(40)} ${r.toFixed(0).padStart(10)} ${(1e6 / r).toFixed(2).padStart(9)} ${(referenceRate / r).toFixed(2).padStart(18)}`,
  );
}
