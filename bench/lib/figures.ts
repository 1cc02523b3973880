// Pure helpers of the benchmark (npm run bench): reading h2load's summary and per-request log,
// percentiles and medians. No I/O here, so test/bench/figures.test.ts can check them cheaply.

/** What h2load's summary says about one run. */
export interface H2loadSummary {
  /** Requests completed per second over the measured period (after any warm-up). */
  reqPerSec: number;
  done: number;
  succeeded: number;
  failed: number;
  errored: number;
  timeout: number;
  /** Responses by status class: 2xx, 3xx, 4xx, 5xx. */
  status: { "2xx": number; "3xx": number; "4xx": number; "5xx": number };
}

function field(text: string, pattern: RegExp, what: string): number {
  const found = pattern.exec(text);
  if (found?.[1] === undefined) throw new Error(`h2load output has no ${what}:\n${text}`);
  return Number(found[1]);
}

/** Parses the summary h2load prints on stdout (nghttp2 1.4x-1.6x formats). */
export function parseH2load(stdout: string): H2loadSummary {
  return {
    reqPerSec: field(stdout, /finished in [\d.]+m?s, ([\d.]+) req\/s/, "request rate"),
    done: field(stdout, /requests: .*?(\d+) done/, "done count"),
    succeeded: field(stdout, /requests: .*?(\d+) succeeded/, "succeeded count"),
    failed: field(stdout, /requests: .*?(\d+) failed/, "failed count"),
    errored: field(stdout, /requests: .*?(\d+) errored/, "errored count"),
    timeout: field(stdout, /requests: .*?(\d+) timeout/, "timeout count"),
    status: {
      "2xx": field(stdout, /status codes: (\d+) 2xx/, "2xx count"),
      "3xx": field(stdout, /status codes: .*?(\d+) 3xx/, "3xx count"),
      "4xx": field(stdout, /status codes: .*?(\d+) 4xx/, "4xx count"),
      "5xx": field(stdout, /status codes: .*?(\d+) 5xx/, "5xx count"),
    },
  };
}

/** Calls as two parallel lists: when each started (ms since the epoch) and how long it took (ms). */
export interface CallTimes {
  starts: number[];
  latencies: number[];
}

/**
 * The calls answered 2xx in h2load's --log-file (tab-separated: start time in µs since the epoch,
 * HTTP status, µs until the end of the response).
 */
export function parseRequestLog(text: string): CallTimes {
  const out: CallTimes = { starts: [], latencies: [] };
  for (const line of text.split("\n")) {
    const [start, status, micros] = line.split("\t");
    if (start === undefined || status === undefined || micros === undefined) continue;
    if (!/^2\d\d$/.test(status)) continue;
    out.starts.push(Number(start) / 1000);
    out.latencies.push(Number(micros) / 1000);
  }
  return out;
}

/**
 * Whether garbage collection explains the tail: of the calls slower than `factor` × the median,
 * how many were in flight during one of the server's GC pauses (`pauses`: [start ms since the
 * epoch, duration ms]). Both clocks are the machine's wall clock.
 */
export function slowCallsInGc(calls: CallTimes, pauses: [number, number][], factor = 10): { slow: number; inGc: number } {
  const threshold = factor * percentile(calls.latencies, 0.5);
  const sorted = [...pauses].sort((x, y) => x[0] - y[0]);
  const longest = sorted.reduce((m, p) => Math.max(m, p[1]), 0);
  let slow = 0;
  let inGc = 0;
  for (let i = 0; i < calls.latencies.length; i++) {
    const ms = calls.latencies[i] as number;
    if (!(ms > threshold)) continue;
    slow++;
    const start = calls.starts[i] as number;
    const end = start + ms;
    // The first pause that could end after the call started (none is longer than `longest`).
    let lo = 0;
    let hi = sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((sorted[mid] as [number, number])[0] < start - longest) lo = mid + 1;
      else hi = mid;
    }
    for (let j = lo; j < sorted.length; j++) {
      const [pauseStart, duration] = sorted[j] as [number, number];
      if (pauseStart > end) break;
      if (pauseStart + duration >= start) {
        inGc++;
        break;
      }
    }
  }
  return { slow, inGc };
}

/** The q-quantile (0..1) by the nearest-rank method; NaN for no samples. */
export function percentile(samples: ArrayLike<number>, q: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = Float64Array.from(samples).sort();
  const rank = Math.ceil(q * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))] ?? Number.NaN;
}

export function median(values: number[]): number {
  return percentile(values, 0.5);
}

/** Reads VmRSS and VmHWM (peak resident set) in bytes from the text of /proc/<pid>/status. */
export function parseProcStatus(text: string): { rss: number; hwm: number } {
  const kib = (name: string) => {
    const found = new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(text);
    if (found?.[1] === undefined) throw new Error(`no ${name} in /proc status`);
    return Number(found[1]) * 1024;
  };
  return { rss: kib("VmRSS"), hwm: kib("VmHWM") };
}

/**
 * CPU time (user + system, every thread) in clock ticks from the text of /proc/<pid>/stat: fields
 * 14 and 15, counted after the command name, which is in parentheses and may hold spaces.
 */
export function parseProcStatTicks(text: string): number {
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) throw new Error("unreadable /proc stat");
  return utime + stime;
}

/** A thread's nice value from its /proc stat line (field 19, proc(5)), whatever the command name holds. */
export function parseProcStatNice(text: string): number {
  const nice = Number(text.slice(text.lastIndexOf(")") + 2).split(" ")[16]);
  if (!Number.isInteger(nice)) throw new Error("unreadable /proc stat");
  return nice;
}

/** A 5-byte gRPC length prefix (uncompressed) followed by the message. */
export function grpcFrame(message: Uint8Array): Buffer {
  const frame = Buffer.alloc(5 + message.length);
  frame.writeUInt32BE(message.length, 1);
  frame.set(message, 5);
  return frame;
}

/** Least-squares slope of y over x (e.g. MB over minutes); NaN with fewer than two points. */
export function slope(points: { x: number; y: number }[]): number {
  const n = points.length;
  if (n < 2) return Number.NaN;
  const mx = points.reduce((s, p) => s + p.x, 0) / n;
  const my = points.reduce((s, p) => s + p.y, 0) / n;
  let num = 0;
  let den = 0;
  for (const p of points) {
    num += (p.x - mx) * (p.y - my);
    den += (p.x - mx) ** 2;
  }
  return den === 0 ? Number.NaN : num / den;
}

/** What V8's --trace-gc lines say about the scavenges of a period. */
export interface Scavenges {
  count: number;
  /** ms from the first scavenge counted to the last. */
  spanMs: number;
  /** Their pauses, ms. */
  pausesMs: number[];
  /**
   * How much the heap that survived each scavenge grew over the one before it, in bytes, summed:
   * what the scavenges moved to the old generation, where only a full collection frees it.
   * A full collection in between starts the count again.
   */
  promotedBytes: number;
}

/**
 * Reads Node's `--trace-gc` output (one line per collection: "[pid:isolate]  4630 ms: Scavenge
 * 38.1 (57.7) -> 31.4 (61.7) MB, pooled: 0 MB, 9.51 / 0.01 ms ..."), counting the collections
 * from `fromMs` (ms since the process started) on. Other lines are skipped.
 */
export function parseScavenges(trace: string, fromMs = 0): Scavenges {
  const line =
    /\]\s+(\d+) ms: (Scavenge|Minor Mark-Sweep|Mark-Compact)\S*(?: \([^)]*\))? ([\d.]+) \([\d.]+\) -> ([\d.]+) \([\d.]+\) MB,(?: pooled: [\d.]+ MB,)? ([\d.]+) \//;
  const pausesMs: number[] = [];
  let first: number | undefined;
  let last = 0;
  let previousAfter: number | undefined;
  let promoted = 0;
  for (const text of trace.split("\n")) {
    const found = line.exec(text);
    if (found === null) continue;
    const at = Number(found[1]);
    if (at < fromMs) continue;
    const after = Number(found[4]);
    if (found[2] === "Mark-Compact") {
      previousAfter = undefined;
      continue;
    }
    first ??= at;
    last = at;
    pausesMs.push(Number(found[5]));
    if (previousAfter !== undefined) promoted += (after - previousAfter) * 1024 * 1024;
    previousAfter = after;
  }
  return { count: pausesMs.length, spanMs: first === undefined ? 0 : last - first, pausesMs, promotedBytes: Math.round(promoted) };
}

/** A full collection's atomic pause and the phases of it that tell where it went, in ms. */
export interface FullCollection {
  /** When it ended, ms since the process started. */
  atMs: number;
  pauseMs: number;
  /** Finalizing the external strings that died (`clear.external_string_table`). */
  externalStringsMs: number;
  /** Weak global handles: the native objects Node wraps (`clear.weak_global_handles`). */
  weakHandlesMs: number;
  /** Moving live objects out of fragmented pages (`evacuate`). */
  evacuateMs: number;
}

/**
 * Reads V8's `--trace-gc-nvp` output (one line of name=value pairs per collection, after
 * "[pid:isolate:n]  4630 ms: "), keeping the full collections (gc=mc, mark-compact; gc=ms,
 * mark-sweep) from `fromMs` (ms since the process started) on. Other lines are skipped.
 */
export function parseFullCollections(trace: string, fromMs = 0): FullCollection[] {
  const full: FullCollection[] = [];
  for (const text of trace.split("\n")) {
    const found = /\]\s+(\d+) ms: (.* gc=m[cs] .*)$/.exec(text);
    if (found === null || Number(found[1]) < fromMs) continue;
    const fields = new Map<string, number>();
    for (const pair of (found[2] as string).split(" ")) {
      const eq = pair.indexOf("=");
      if (eq > 0) fields.set(pair.slice(0, eq), Number(pair.slice(eq + 1)));
    }
    const ms = (name: string) => fields.get(name) ?? 0;
    full.push({
      atMs: Number(found[1]),
      pauseMs: ms("pause"),
      externalStringsMs: ms("clear.external_string_table"),
      weakHandlesMs: ms("clear.weak_global_handles"),
      evacuateMs: ms("evacuate"),
    });
  }
  return full;
}

/** The name of a process or thread from the text of /proc/<pid>/task/<tid>/stat: what is in its parentheses. */
export function parseProcStatName(text: string): string {
  return text.slice(text.indexOf("(") + 1, text.lastIndexOf(")"));
}

/**
 * The order of the runs of paired measurements: for each pair, whether the reference runs first.
 * ABBA (reference first, then figure first, and so on): a drift of the machine over the pairs
 * then weighs on both sides alike instead of always on the side that runs second.
 */
export function abbaOrder(pairs: number): boolean[] {
  return Array.from({ length: pairs }, (_, i) => i % 2 === 0);
}

/** One pair's two results, and whether its reference ran first. */
export interface PairedRun<T> {
  referenceFirst: boolean;
  reference: T;
  figure: T;
}

/** Runs `reference` and `figure` back to back `pairs` times, in ABBA order (abbaOrder). */
export async function runInPairs<T>(pairs: number, reference: () => Promise<T>, figure: () => Promise<T>): Promise<PairedRun<T>[]> {
  const runs: PairedRun<T>[] = [];
  for (const referenceFirst of abbaOrder(pairs)) {
    const first = await (referenceFirst ? reference : figure)();
    const second = await (referenceFirst ? figure : reference)();
    runs.push({ referenceFirst, reference: referenceFirst ? first : second, figure: referenceFirst ? second : first });
  }
  return runs;
}

/** One side of a pair: calls per second and the CPU time of the process that answered, per call. */
export interface PairSide {
  reqPerSec: number;
  cpuUsPerCall: number;
}

/** The spread of a ratio over the pairs. */
export interface RatioSpread {
  median: number;
  min: number;
  max: number;
  /** Each pair's, in the order measured. */
  each: number[];
}

export interface PairSummary {
  /** Reference CPU per call over the figure's, per pair (above 1: the figure is the cheaper). */
  byCpu: RatioSpread;
  /** The figure's calls per second over the reference's, per pair. */
  byRate: RatioSpread;
  referenceCpuUs: number;
  figureCpuUs: number;
  referenceReqPerSec: number;
  figureReqPerSec: number;
}

/** The median and range of per-pair ratios. */
export function spread(each: number[]): RatioSpread {
  return { median: median(each), min: Math.min(...each), max: Math.max(...each), each };
}

/**
 * Each pair's ratios (both halves measured back to back, so a drift of the machine between them is
 * small), then their median and range, and each half's median. Relating the medians of two halves
 * instead would let a drift between the pairs into the ratio.
 */
export function summarizePairs(pairs: { reference: PairSide; figure: PairSide }[]): PairSummary {
  return {
    byCpu: spread(pairs.map((p) => p.reference.cpuUsPerCall / p.figure.cpuUsPerCall)),
    byRate: spread(pairs.map((p) => p.figure.reqPerSec / p.reference.reqPerSec)),
    referenceCpuUs: median(pairs.map((p) => p.reference.cpuUsPerCall)),
    figureCpuUs: median(pairs.map((p) => p.figure.cpuUsPerCall)),
    referenceReqPerSec: median(pairs.map((p) => p.reference.reqPerSec)),
    figureReqPerSec: median(pairs.map((p) => p.figure.reqPerSec)),
  };
}
