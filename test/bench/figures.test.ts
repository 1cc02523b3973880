// The benchmark's pure helpers (bench/lib/figures.ts): what it reads from h2load and /proc, and
// the statistics it prints. No timing here: the benchmark itself asserts nothing about speed.
import { describe, expect, it } from "vitest";
import {
  abbaOrder,
  grpcFrame,
  median,
  parseH2load,
  parseProcStatName,
  parseProcStatNice,
  parseProcStatTicks,
  parseProcStatus,
  parseRequestLog,
  parseFullCollections,
  parseScavenges,
  percentile,
  runInPairs,
  slope,
  slowCallsInGc,
  summarizePairs,
} from "../../bench/lib/figures.ts";

// Captured from h2load 1.52 (Debian bookworm) with -D: the status codes include the answers that
// arrived after the measured period, so they exceed "done".
const h2loadOutput = `starting benchmark...
spawning thread #0: 8 total client(s). Timing-based test with 0s of warm-up time and 2s of main duration for measurements.
Warm-up phase is over for thread #0.
Main benchmark duration is over for thread #0. Stopping all clients.
Stopped all clients for thread #0

finished in 2.00s, 30592.00 req/s, 927.50KB/s
requests: 61184 total, 61312 started, 61184 done, 61180 succeeded, 4 failed, 1 errored, 2 timeout
status codes: 61280 2xx, 0 3xx, 4 4xx, 0 5xx
traffic: 1.81MB (1900268) total, 182.02KB (186388) headers (space savings 94.33%), 0B (0) data
                     min         max         mean         sd        +/- sd
time for request:      310us     40.99ms      4.06ms      2.09ms    82.39%
`;

describe("parseH2load", () => {
  it("reads the rate, the counts and the status classes", () => {
    expect(parseH2load(h2loadOutput)).toEqual({
      reqPerSec: 30592,
      done: 61184,
      succeeded: 61180,
      failed: 4,
      errored: 1,
      timeout: 2,
      status: { "2xx": 61280, "3xx": 0, "4xx": 4, "5xx": 0 },
    });
  });

  it("reads a run shorter than a second (h2load then prints milliseconds)", () => {
    const short = h2loadOutput.replace("finished in 2.00s, 30592.00 req/s", "finished in 950.12ms, 1052.50 req/s");
    expect(parseH2load(short).reqPerSec).toBe(1052.5);
  });

  it("says what is missing rather than returning NaN", () => {
    expect(() => parseH2load("connect: Connection refused\n")).toThrow(/no request rate/);
  });
});

describe("parseRequestLog", () => {
  const log = ["1000000\t200\t1500", "1000100\t200\t2500", "1000200\t429\t300", "2000000\t200\t4000", ""].join("\n");

  it("gives start (ms since the epoch) and latency (ms) of the 2xx answers", () => {
    expect(parseRequestLog(log)).toEqual({ starts: [1000, 1000.1, 2000], latencies: [1.5, 2.5, 4] });
  });
});

describe("slowCallsInGc", () => {
  // Nine calls of 1 ms (the median), three slow ones of 50 ms at 100, 300 and 500.
  const calls = {
    starts: [0, 10, 20, 30, 40, 50, 60, 70, 80, 100, 300, 500],
    latencies: [1, 1, 1, 1, 1, 1, 1, 1, 1, 50, 50, 50],
  };

  it("counts the calls slower than ten medians and those a GC pause overlapped", () => {
    // A pause inside the first slow call, one that began before the second and ends in it, none near the third.
    expect(
      slowCallsInGc(calls, [
        [320, 5],
        [120, 10],
        [250, 60],
        [700, 30],
      ]),
    ).toEqual({ slow: 3, inGc: 2 });
  });

  it("finds none in GC without pauses", () => {
    expect(slowCallsInGc(calls, [])).toEqual({ slow: 3, inGc: 0 });
  });
});

describe("statistics", () => {
  it("percentile is nearest-rank over the sorted samples", () => {
    const samples = Array.from({ length: 100 }, (_, i) => 100 - i); // 100 .. 1, unsorted
    expect(percentile(samples, 0.5)).toBe(50);
    expect(percentile(samples, 0.99)).toBe(99);
    expect(percentile(samples, 1)).toBe(100);
    expect(percentile(samples, 0)).toBe(1);
    expect(percentile([], 0.5)).toBeNaN();
  });

  it("median of three runs is the middle one", () => {
    expect(median([3400, 1200, 5000])).toBe(3400);
  });

  it("slope is the least-squares rise per unit of x", () => {
    expect(
      slope([
        { x: 0, y: 100 },
        { x: 1, y: 102 },
        { x: 2, y: 104 },
      ]),
    ).toBeCloseTo(2);
    expect(slope([{ x: 0, y: 1 }])).toBeNaN();
  });
});

describe("parseProcStatus", () => {
  it("reads the resident set and its peak in bytes", () => {
    const status = "Name:\tnode\nVmPeak:\t 1000000 kB\nVmHWM:\t  240000 kB\nVmRSS:\t  200000 kB\nThreads:\t11\n";
    expect(parseProcStatus(status)).toEqual({ rss: 200000 * 1024, hwm: 240000 * 1024 });
  });
});

describe("parseProcStatTicks", () => {
  it("adds user and system time, whatever the command name holds", () => {
    const stat = "4242 (Main Thread) (x) S 1 4242 1 0 -1 4194304 126 0 0 0 350 25 7 9 20 0 11 0 369944 3133440 379";
    expect(parseProcStatTicks(stat)).toBe(375);
  });
});

describe("parseProcStatNice", () => {
  it("reads field 19, whatever the command name holds", () => {
    expect(parseProcStatNice("4245 (V8Worker) S 1 4242 1 0 -1 4194368 3 0 0 0 1940 12 0 0 39 19 11 0")).toBe(19);
    expect(parseProcStatNice("4242 (Main Thread) (x) S 1 4242 1 0 -1 4194304 126 0 0 0 350 25 7 9 20 0 11 0")).toBe(0);
    expect(() => parseProcStatNice("4242 (x) S 1")).toThrow(/unreadable/);
  });
});

describe("parseProcStatName", () => {
  it("reads a thread's name, whatever it holds", () => {
    expect(parseProcStatName("4243 (libuv-worker) S 1 4242 1 0 -1 4194368 3 0 0 0 1940 12 0 0 20 0 11 0")).toBe("libuv-worker");
    expect(parseProcStatName("4242 (Main Thread) (x) S 1 4242")).toBe("Main Thread) (x");
  });
});

describe("abbaOrder", () => {
  it("runs the reference first in every other pair, starting with the first", () => {
    expect(abbaOrder(5)).toEqual([true, false, true, false, true]);
    expect(abbaOrder(0)).toEqual([]);
  });

  it("gives each side the first place equally often over an even number of pairs", () => {
    const order = abbaOrder(6);
    expect(order.filter((first) => first)).toHaveLength(3);
  });
});

describe("runInPairs", () => {
  it("runs the two sides back to back in ABBA order and gives each pair's results to the side that made them", async () => {
    const calls: string[] = [];
    const side = (name: string) => {
      let n = 0;
      return async () => {
        calls.push(name);
        return `${name}${++n}`;
      };
    };
    const runs = await runInPairs(3, side("R"), side("F"));
    expect(calls).toEqual(["R", "F", "F", "R", "R", "F"]);
    expect(runs).toEqual([
      { referenceFirst: true, reference: "R1", figure: "F1" },
      { referenceFirst: false, reference: "R2", figure: "F2" },
      { referenceFirst: true, reference: "R3", figure: "F3" },
    ]);
  });
});

describe("summarizePairs", () => {
  // The machine slows down by half between the second and third pair: both halves alike, so each
  // pair's ratio stays 0.8 where the halves' medians, taken apart, would not show it.
  const side = (cpuUsPerCall: number, reqPerSec: number) => ({ cpuUsPerCall, reqPerSec });
  const pairs = [
    { reference: side(40, 10_000), figure: side(50, 8_000) },
    { reference: side(40, 10_000), figure: side(50, 9_000) },
    { reference: side(80, 5_000), figure: side(100, 4_000) },
  ];

  it("takes each pair's ratios, by CPU (reference over figure) and by rate (figure over reference)", () => {
    const s = summarizePairs(pairs);
    expect(s.byCpu.each).toEqual([0.8, 0.8, 0.8]);
    expect(s.byRate.each).toEqual([0.8, 0.9, 0.8]);
  });

  it("gives the median and range of the ratios, and each half's median", () => {
    const s = summarizePairs(pairs);
    expect(s.byRate).toMatchObject({ median: 0.8, min: 0.8, max: 0.9 });
    expect(s.referenceCpuUs).toBe(40);
    expect(s.figureCpuUs).toBe(50);
    expect(s.referenceReqPerSec).toBe(10_000);
    expect(s.figureReqPerSec).toBe(8_000);
  });
});

describe("grpcFrame", () => {
  it("prefixes the message with a zero flag byte and its big-endian length", () => {
    expect([...grpcFrame(new Uint8Array())]).toEqual([0, 0, 0, 0, 0]);
    expect([...grpcFrame(new Uint8Array([0x0a, 0x01, 0x78]))]).toEqual([0, 0, 0, 0, 3, 0x0a, 0x01, 0x78]);
  });
});

describe("parseScavenges", () => {
  // Captured from Node 24's --trace-gc under load (pids shortened), with a log line in between.
  const trace = `[1:0x1]      104 ms: Scavenge 9.1 (10.2) -> 8.6 (11.2) MB, pooled: 0 MB, 0.91 / 0.00 ms  (average mu = 1.000, current mu = 1.000) allocation failure;
[1:0x1]     3033 ms: Scavenge 38.1 (57.7) -> 31.4 (61.7) MB, pooled: 0 MB, 9.51 / 0.01 ms  (average mu = 0.992, current mu = 0.992) task;
{"level":"warn","msg":"storage: embedded in-process store"}
[1:0x1]     3108 ms: Scavenge 43.5 (62.2) -> 32.8 (64.7) MB, pooled: 0 MB, 5.21 / 0.00 ms  (average mu = 0.992, current mu = 0.992) task;
[1:0x1]     3165 ms: Mark-Compact 36.7 (64.7) -> 29.3 (65.2) MB, pooled: 0 MB, 9.80 / 0.00 ms  (+ 17.3 ms in 26 steps since start of marking) finalize incremental marking via stack guard; GC in old space requested
[1:0x1]     3222 ms: Scavenge 43.0 (65.7) -> 31.2 (65.7) MB, pooled: 0 MB, 1.64 / 0.00 ms  (average mu = 0.991, current mu = 0.991) task;
[1:0x1]     3263 ms: Scavenge (interleaved) 43.4 (65.7) -> 32.5 (65.7) MB, pooled: 0 MB, 3.40 / 0.00 ms  (average mu = 0.991, current mu = 0.991) task;
`;

  it("counts the scavenges from a time on, their pauses, and what the heap kept over each previous one", () => {
    const s = parseScavenges(trace, 3000);
    expect(s.count).toBe(4);
    expect(s.spanMs).toBe(3263 - 3033);
    expect(s.pausesMs).toEqual([9.51, 5.21, 1.64, 3.4]);
    // 31.4 -> 32.8, then (a full collection in between) 31.2 -> 32.5: 1.4 + 1.3 MB.
    expect(s.promotedBytes).toBe(Math.round(2.7 * 1024 * 1024));
  });

  it("finds nothing in output without collections", () => {
    expect(parseScavenges("listening\n")).toEqual({ count: 0, spanMs: 0, pausesMs: [], promotedBytes: 0 });
  });
});

describe("parseFullCollections", () => {
  // Node 24's --trace-gc-nvp under load, each line cut to the fields read and a few around them
  // (a whole line holds some hundred pairs); a scavenge's line and a log line in between.
  const trace = `[9068:0x45388000:0]      151 ms: pause=7.3 mutator=140.7 gc=s reduce_memory=0 interleaved=0 time_to_safepoint=0.00
[9068:0x45388000:0]      352 ms: pause=3.2 mutator=13.3 gc=mc reduce_memory=0 heap.external.weak_global_handles=0.0 clear=0 clear.external_string_table=0.1 clear.weak_global_handles=0.0 evacuate=1.1 mark=0.9
{"level":"warn","msg":"storage: embedded in-process store"}
[9068:0x45388000:0]     6014 ms: pause=76.6 mutator=41.5 gc=mc heap.external.weak_global_handles=0.0 clear=66 clear.external_string_table=36.2 clear.weak_global_handles=0.1 evacuate=2.7 mark=1.2 sweep=0.9
[9068:0x45388000:0]     6100 ms: pause=2.1 mutator=80.0 gc=s interleaved=0
[9068:0x45388000:0]     7020 ms: pause=40.2 mutator=12.0 gc=ms clear=5 clear.external_string_table=4.5 clear.weak_global_handles=13.6 mark=2.0
`;

  it("keeps the full collections from a time on, with the phases of their pauses", () => {
    expect(parseFullCollections(trace, 1000)).toEqual([
      { atMs: 6014, pauseMs: 76.6, externalStringsMs: 36.2, weakHandlesMs: 0.1, evacuateMs: 2.7 },
      { atMs: 7020, pauseMs: 40.2, externalStringsMs: 4.5, weakHandlesMs: 13.6, evacuateMs: 0 },
    ]);
    expect(parseFullCollections(trace).map((f) => f.atMs)).toEqual([352, 6014, 7020]);
  });

  it("reads heap.external.weak_global_handles as no part of the weak handles' phase", () => {
    // The embedder's own callbacks, not V8's clearing: the name ends the same way.
    const [first] = parseFullCollections(
      "[1:0x1:0] 10 ms: pause=1 gc=mc heap.external.weak_global_handles=9.0 clear.weak_global_handles=0.5\n",
    );
    expect(first?.weakHandlesMs).toBe(0.5);
  });

  it("finds nothing in a trace of scavenges only", () => {
    expect(parseFullCollections("[1:0x1:0]  5 ms: pause=1.0 gc=s\n")).toEqual([]);
  });
});
