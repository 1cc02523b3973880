// Standalone repro for docs/upstream-node.md: node:http2 hands every request header value to
// JavaScript as an external string (its bytes stay in nghttp2's buffer), and V8 allocates external
// strings in the old generation. So each value of each request lives until a full collection, its
// buffer stays allocated until then, and the full collection's pause finalizes them all. Over
// HTTP/1.1 the same values are ordinary young strings. Plain Node, no dependencies.
//   node docs/repro/http2-external-headers.mjs [seconds=5]
// 1. Where the values live: a child with --allow-natives-syntax answers one HTTP/2 and one HTTP/1.1
//    request and says, for each value, whether V8 holds it in the young generation.
// 2. What they cost: a bare server in a child with --trace-gc-nvp, driven from this process with
//    and without a 507-character Authorization header; its full collections (count, atomic pause,
//    the pause's clear.external_string_table phase) and its peak resident set.
import { spawn } from "node:child_process";
import { once } from "node:events";
import { bareHandler, startLoad, startServer } from "./load.mjs";

const seconds = Number(process.argv[2] ?? 5);
const token = `Bearer ${"t".repeat(500)}`;

const whereCode = `
const http = require("node:http"), http2 = require("node:http2");
const say = (proto, req) => {
  const values = { authorization: req.headers.authorization, "content-type": req.headers["content-type"], path: req.url };
  const young = Object.fromEntries(Object.entries(values).map(([k, v]) => [k, %InYoungGeneration(v)]));
  console.log(JSON.stringify({ proto, young, aStringMadeInJavaScriptYoung: %InYoungGeneration(values.authorization + "!") }));
};
const headers = { authorization: ${JSON.stringify(token)}, "content-type": "application/json" };
const s2 = http2.createServer((req, res) => { say("HTTP/2", req); res.end(); }).listen(0, "127.0.0.1", () => {
  const c = http2.connect("http://127.0.0.1:" + s2.address().port);
  const r = c.request({ ":path": "/some/path", ...headers });
  r.resume();
  r.on("end", () => { c.close(); s2.close(); });
  r.end();
});
const s1 = http.createServer((req, res) => { say("HTTP/1.1", req); res.end(); }).listen(0, "127.0.0.1", () => {
  http.request({ host: "127.0.0.1", port: s1.address().port, path: "/some/path", headers }, (r) => { r.resume(); r.on("end", () => s1.close()); }).end();
});
`;

const serverCode = `
const mode = process.argv[1];
${bareHandler}
const server = mode === "h2" ? require("node:http2").createServer(handler) : require("node:http").createServer({ keepAliveTimeout: 60000 }, handler);
server.listen(0, "127.0.0.1", () => console.log("PORT " + server.address().port));
process.on("message", () => process.send(process.resourceUsage().maxRSS));
`;

async function measure(mode, withToken) {
  const { child, port, output } = await startServer(["--trace-gc-nvp", "--max-semi-space-size=16"], serverCode, mode);
  const headers = { "content-type": "application/json", ...(withToken ? { authorization: token } : {}) };
  const load = startLoad(mode === "h2", port, headers);
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const answered = await load.stop();
  child.send("rss");
  const [maxRssKiB] = await once(child, "message");
  child.kill();
  // --trace-gc-nvp: one line per collection, "gc=mc" (or "ms") for a full one, with its phases.
  const full = output().split("\n").filter((line) => / gc=m[cs] /.test(line));
  const field = (line, name) => Number(new RegExp(` ${name.replace(".", "\\.")}=([\\d.]+)`).exec(line)?.[1] ?? Number.NaN);
  const mean = (name) => (full.length === 0 ? 0 : full.reduce((sum, line) => sum + field(line, name), 0) / full.length);
  return {
    server: mode === "h2" ? "node:http2" : "node:http",
    authorization: withToken ? `${token.length} chars` : "none",
    requests: answered,
    fullCollections: full.length,
    meanPauseMs: Number(mean("pause").toFixed(1)),
    meanExternalStringTableMs: Number(mean("clear.external_string_table").toFixed(1)),
    peakRssMiB: Math.round(maxRssKiB / 1024),
  };
}

console.log(`node ${process.version}`);
const where = spawn(process.execPath, ["--allow-natives-syntax", "-e", whereCode], { stdio: ["ignore", "inherit", "inherit"] });
await once(where, "exit");
console.log(`${seconds} s each, --max-semi-space-size=16; full collections, their mean atomic pause and its external-string phase:`);
for (const [mode, withToken] of [
  ["h2", false],
  ["h2", true],
  ["h1", false],
  ["h1", true],
]) {
  console.log(await measure(mode, withToken));
}
