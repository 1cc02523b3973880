// Our own HTTP/2 (h2c) load generator in Node, for calls h2load cannot repeat with a fixed body
// and whose users do more than chain one token (Login, the soak's client lives, the GC scripts'
// RefreshToken chains). It runs on V8, so its own collections stall the calls it times: the tail
// figures of `npm run bench` use chain-load (bench/chain-load/chain-load.c) instead. Virtual users
// are spread over a few connections; each has at most one call in flight.
//
// Two modes: closed loop (each user calls again as soon as answered: the peak rate) and a fixed
// rate (calls started on a schedule; a call whose user is still busy waits and its latency counts
// from when it was due, so a stall is not hidden by the schedule slipping: no coordinated omission).
import http2 from "node:http2";

export interface Call {
  path: string;
  headers?: Record<string, string>;
  body: string | Buffer;
}

/** One virtual user: says what to send next and takes the answer (false: count it as an error). */
export interface VirtualUser {
  next(): Call;
  answered(status: number, body: Buffer): boolean;
}

export interface LoadResult {
  /** Answers counted ok per second over the measured period. */
  reqPerSec: number;
  ok: number;
  errors: number;
  /** Every call answered, in the measured period or not (what the server did the work for). */
  answered: number;
  /** Latency of each ok call in the measured period, in ms. */
  latencies: number[];
  /** When each of those calls was due, ms since the epoch (for lining up with the server's GC). */
  starts: number[];
  /** What the first few failed calls got (status and the start of the body, or the error thrown). */
  failures: string[];
}

export interface LoadOptions {
  url: string;
  users: VirtualUser[];
  connections: number;
  warmUpMs: number;
  measureMs: number;
  /** Calls per second to start; undefined: closed loop, as fast as answers come. */
  rate?: number;
}

function connect(url: string): Promise<http2.ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(url);
    session.once("connect", () => resolve(session));
    session.once("error", reject);
  });
}

function send(session: http2.ClientHttp2Session, call: Call): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = session.request({ ":method": "POST", ":path": call.path, ...call.headers });
    let status = 0;
    const chunks: Buffer[] = [];
    req.on("response", (headers) => {
      status = Number(headers[":status"]);
    });
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => resolve({ status, body: Buffer.concat(chunks) }));
    req.on("error", reject);
    req.end(call.body);
  });
}

/** Runs the users against `url` for warm-up plus measurement, and reports the measured period. */
export async function runLoad(opts: LoadOptions): Promise<LoadResult> {
  const sessions = await Promise.all(Array.from({ length: opts.connections }, () => connect(opts.url)));
  const start = performance.now();
  const measureFrom = start + opts.warmUpMs;
  const end = measureFrom + opts.measureMs;
  let ok = 0;
  let errors = 0;
  let answered = 0;
  const latencies: number[] = [];
  const starts: number[] = [];
  const failures: string[] = [];

  // One call by user i, timed from `due` (when it should have started).
  const one = async (i: number, due: number) => {
    const user = opts.users[i] as VirtualUser;
    const session = sessions[i % sessions.length] as http2.ClientHttp2Session;
    let good = false;
    const call = user.next();
    try {
      const answer = await send(session, call);
      good = user.answered(answer.status, answer.body);
      if (!good && failures.length < 10) failures.push(`${call.path}: ${answer.status} ${answer.body.toString().slice(0, 200)}`);
    } catch (err) {
      good = false;
      if (failures.length < 10) failures.push(`${call.path}: ${err instanceof Error ? err.message : String(err)}`);
    }
    answered++;
    const now = performance.now();
    if (due >= measureFrom && now <= end) {
      if (good) {
        ok++;
        latencies.push(now - due);
        starts.push(performance.timeOrigin + due);
      } else errors++;
    }
  };

  if (opts.rate === undefined) {
    await Promise.all(
      opts.users.map(async (_, i) => {
        while (performance.now() < end) await one(i, performance.now());
      }),
    );
  } else {
    const rate = opts.rate;
    // The idle users, longest idle first: each call goes to the user that has waited longest, so
    // all of them take turns. Taking the last one back (a stack) left the users at the bottom
    // idle for as long as the load needed fewer at once: in an hour's soak one was left for over
    // 15 minutes and came back with an expired access token.
    const idle = opts.users.map((_, i) => i);
    const backlog: number[] = [];
    const inFlight = new Set<Promise<void>>();
    const launch = (i: number, due: number) => {
      const p = one(i, due).then(() => {
        inFlight.delete(p);
        const waiting = backlog.shift();
        if (waiting !== undefined && performance.now() < end) launch(i, waiting);
        else idle.push(i);
      });
      inFlight.add(p);
    };
    let started = 0;
    await new Promise<void>((resolve) => {
      const timer = setInterval(() => {
        const now = performance.now();
        if (now >= end) {
          clearInterval(timer);
          resolve();
          return;
        }
        // Calls 0..due-1 are those due by now (call k at start + k/rate): floor + 1, or each would
        // start a period late and be timed from before it started.
        const due = Math.floor(((now - start) / 1000) * rate) + 1;
        for (; started < due; started++) {
          const at = start + (started / rate) * 1000;
          const user = idle.shift();
          if (user === undefined) backlog.push(at);
          else launch(user, at);
        }
      }, 1);
    });
    while (inFlight.size > 0) await Promise.all([...inFlight]);
  }
  for (const session of sessions) session.close();
  return { reqPerSec: ok / (opts.measureMs / 1000), ok, errors, answered, latencies, starts, failures };
}
