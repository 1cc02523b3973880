// Standalone repro for docs/upstream-node.md: objects of finished node:http2 requests survive
// scavenges (they reach the old generation and wait for a full collection), where node:http's do
// not. Plain Node, no dependencies: it starts a bare server in a child process with --trace-gc,
// drives it with many small requests from this process (HTTP/2: 8 sessions, 16 streams each;
// HTTP/1.1: 32 keep-alive sockets), and reads from the trace by how much the heap kept after each
// scavenge grows, divided by the requests answered meanwhile.
//   node docs/repro/http2-promotion.mjs [seconds=5]
import { once } from "node:events";
import { bareHandler, startLoad, startServer } from "./load.mjs";

const seconds = Number(process.argv[2] ?? 5);

const serverCode = `
const mode = process.argv[1];
${bareHandler}
// "h2-lists": each session's two collections of streams (the Map streams by id, the Set
// pendingStreams; internal state, found by its symbol's description) replaced at once by a
// stand-in with the methods Node calls on them, a linked list whose removed entries let go of
// everything. Only to show where the retention comes from; not a fix to ship.
class ListMap {
  constructor() { this.head = undefined; this.count = 0; }
  get size() { return this.count; }
  find(k) { for (let e = this.head; e; e = e.next) if (e.k === k) return e; return undefined; }
  get(k) { return this.find(k)?.v; }
  has(k) { return this.find(k) !== undefined; }
  set(k, v) {
    const e = this.find(k);
    if (e) { e.v = v; return this; }
    const n = { k, v, prev: undefined, next: this.head };
    if (this.head) this.head.prev = n;
    this.head = n; this.count++;
    return this;
  }
  add(v) { return this.set(v, v); }
  delete(k) {
    const e = this.find(k);
    if (!e) return false;
    if (e.prev) e.prev.next = e.next; else this.head = e.next;
    if (e.next) e.next.prev = e.prev;
    e.prev = e.next = e.k = e.v = undefined; this.count--;
    return true;
  }
  forEach(f) { const all = []; for (let e = this.head; e; e = e.next) all.push(e.v); for (const v of all) f(v, v, this); }
}
const server = mode.startsWith("h2") ? require("node:http2").createServer(handler) : require("node:http").createServer({ keepAliveTimeout: 60000 }, handler);
if (mode === "h2-lists") server.on("session", (session) => {
  const state = session[Object.getOwnPropertySymbols(session).find((s) => s.description === "state")];
  state.streams = new ListMap();
  state.pendingStreams = new ListMap();
});
server.listen(0, "127.0.0.1", () => console.log("PORT " + server.address().port));
process.on("message", (m) => { if (m === "count") process.send(count); });
let count = 0;
server.on("request", () => { count++; });
`;

async function measure(mode, v8Flags = []) {
  const { child, port, output } = await startServer(["--trace-gc", "--max-semi-space-size=16", ...v8Flags], serverCode, mode);
  const load = startLoad(mode.startsWith("h2"), port, { "content-type": "application/json" });
  // Warm up, then measure between two marks in the trace.
  await new Promise((r) => setTimeout(r, 1000));
  const markFrom = output().length;
  child.send("count");
  const [from] = await once(child, "message");
  await new Promise((r) => setTimeout(r, seconds * 1000));
  child.send("count");
  const [to] = await once(child, "message");
  const trace = output().slice(markFrom);
  await load.stop();
  child.kill();
  // "Scavenge 12.3 (20.1) -> 10.2 (21.0) MB": the heap kept after each scavenge, and after each
  // full collection (Mark-Compact), which resets what scavenges promoted.
  let promoted = 0;
  let last;
  let scavenges = 0;
  for (const line of trace.split("\n")) {
    const m = /(Scavenge|Mark-Compact)[^\d]*([\d.]+) \(([\d.]+)\) -> ([\d.]+) \(([\d.]+)\) MB/.exec(line);
    if (!m) continue;
    const after = Number(m[4]);
    if (m[1] === "Scavenge") {
      scavenges++;
      if (last !== undefined && after > last) promoted += after - last;
    }
    last = after;
  }
  const requests = to - from;
  const fullCollections = trace.split("Mark-Compact").length - 1;
  return { mode, v8Flags: v8Flags.join(" "), requests, scavenges, fullCollections, promotedBytesPerRequest: Math.round((promoted * 1024 * 1024) / requests) };
}

console.log(`node ${process.version}, ${seconds} s each, --max-semi-space-size=16`);
for (const mode of ["h2", "h1"]) console.log(await measure(mode));
// Where it comes from: V8's allocation-site pretenuring off (it would otherwise start allocating
// what survived straight in the old generation, and the figure depends on what happened first),
// with Node's collections of streams, then with the stand-in (h2-lists, above).
const noPretenuring = ["--no-allocation-site-pretenuring"];
for (const mode of ["h2", "h2-lists"]) console.log(await measure(mode, noPretenuring));
