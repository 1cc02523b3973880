// The Have I Been Pwned range check against a local fake of the range API (node:http on loopback):
// what is sent (5 hex digits of the SHA-1 and the padding header, nothing else), how an answer is
// read, that every failure (unreachable, slow, refused, garbled) fails open with a warning, and
// what a flood of checks sends: answers kept by prefix, one request per prefix at a time, and at
// most PWNED_PASSWORDS_MAX_CONCURRENT at once, a check beyond them failing open too.
import { createHash } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createPwnedPasswords } from "../../src/passwords/pwned-passwords.ts";
import { fetchDriver, failure } from "../support/drivers.ts";
import { startHarness, TestClock } from "../support/harness.ts";

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage["headers"];
  body: string;
}

/** The fake: answers with `handler`, records every request. */
const seen: Seen[] = [];
let handler: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => res.end();
let server: Server;
let base: string;

// A fake of its own for each test, on a port of its own: fetch's pool keeps connections by origin,
// and one kept from an earlier test that its end cut could fail a later test's request.
beforeEach(async () => {
  server = createServer((req, res) => {
    let body = "";
    req.on("data", (chunk: Buffer) => {
      body += chunk.toString("utf8");
    });
    req.on("end", () => {
      seen.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers, body });
      handler(req, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/range/`;
});
afterEach(async () => {
  seen.length = 0;
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const sha1 = (s: string) => createHash("sha1").update(s, "utf8").digest("hex").toUpperCase();
const breachedPassword = "lantern quartz meadow 1987";
const breachedHash = sha1(breachedPassword);

/** A range answer as the real API gives it: CRLF lines, padding entries with count 0. */
function rangeAnswer(entries: Array<[string, number]>): string {
  const padding: Array<[string, number]> = Array.from({ length: 50 }, (_, i) => [`${i.toString(16).toUpperCase().padStart(35, "F")}`, 0]);
  return [...entries, ...padding].map(([suffix, count]) => `${suffix}:${count}`).join("\r\n");
}

/** Answers the breached password's prefix with its suffix seen `count` times, any other prefix without. */
function knows(count: number) {
  handler = (req, res) => {
    const entries: Array<[string, number]> = req.url === `/range/${breachedHash.slice(0, 5)}` ? [[breachedHash.slice(5), count]] : [];
    res.writeHead(200, { "content-type": "text/plain" }).end(rangeAnswer([["0018A45C4D1DEF81644B54AB7F969B88D65", 3], ...entries]));
  };
}

/** Holds every request until `release` answers them all as `knows(5)` would. */
function holdRequests(): { release: () => void } {
  const held: Array<[IncomingMessage, ServerResponse]> = [];
  knows(5);
  const answer = handler;
  handler = (req, res) => held.push([req, res]);
  return {
    release: () => {
      for (const [req, res] of held.splice(0)) answer(req, res);
    },
  };
}

interface CheckerOptions {
  url?: string;
  timeoutMs?: number;
  minCount?: number;
  maxConcurrent?: number;
  clock?: TestClock;
  cacheEntries?: number;
}

function checker(options: CheckerOptions = {}) {
  const warnings: Array<[Record<string, unknown>, string]> = [];
  const check = createPwnedPasswords({
    url: options.url ?? base,
    timeoutMs: options.timeoutMs ?? 2_000,
    minCount: options.minCount ?? 1,
    maxConcurrent: options.maxConcurrent ?? 16,
    clock: options.clock,
    cacheEntries: options.cacheEntries,
    log: { warn: (obj: Record<string, unknown>, msg: string) => warnings.push([obj, msg]) } as never,
  });
  return { check, warnings };
}

describe("the range request", () => {
  it("sends only the first five hex digits of the SHA-1, with Add-Padding, and no body", async () => {
    knows(5);
    const { check } = checker();
    await check(breachedPassword);
    expect(seen).toHaveLength(1);
    const [request] = seen;
    expect(request!.method).toBe("GET");
    expect(request!.url).toBe(`/range/${breachedHash.slice(0, 5)}`);
    expect(request!.headers["add-padding"]).toBe("true");
    expect(request!.body).toBe("");
    const wire = JSON.stringify(request).toUpperCase();
    expect(wire).not.toContain(breachedHash.slice(5, 15));
    expect(wire).not.toContain(breachedPassword.toUpperCase());
  });
});

describe("reading the answer", () => {
  it("a listed suffix is breached, an unlisted or zero-count (padding) one is not", async () => {
    knows(5);
    const { check, warnings } = checker();
    expect(await check(breachedPassword)).toBe(true);
    expect(await check("a password nobody ever leaked 4f9c2")).toBe(false);
    knows(0);
    // A checker of its own: the first one keeps the answer it had.
    const padding = checker();
    expect(await padding.check(breachedPassword)).toBe(false);
    expect([...warnings, ...padding.warnings]).toEqual([]);
  });

  it("PWNED_PASSWORDS_MIN_COUNT sets how many sightings make a password breached", async () => {
    knows(9);
    expect(await checker({ minCount: 10 }).check(breachedPassword)).toBe(false);
    expect(await checker({ minCount: 9 }).check(breachedPassword)).toBe(true);
  });

  it("accepts lower-case hex and LF line ends", async () => {
    handler = (_req, res) => res.end(`${breachedHash.slice(5).toLowerCase()}:2\n0018A45C4D1DEF81644B54AB7F969B88D65:1\n`);
    expect(await checker().check(breachedPassword)).toBe(true);
  });
});

describe("failing open", () => {
  const cases: Array<[string, () => void, string]> = [
    ["an HTTP error", () => (handler = (_req, res) => res.writeHead(503).end("busy")), "HTTP 503"],
    ["a rate limit", () => (handler = (_req, res) => res.writeHead(429).end()), "HTTP 429"],
    ["a garbled answer", () => (handler = (_req, res) => res.end("<html>not a range</html>")), "not a list of SHA-1 suffixes"],
    [
      "an answer with one bad line",
      () => (handler = (_req, res) => res.end(`${rangeAnswer([])}\r\nZZZ:1`)),
      "not a list of SHA-1 suffixes",
    ],
    ["an empty answer", () => (handler = (_req, res) => res.end("")), "empty"],
    [
      "an answer far over any real one",
      () => (handler = (_req, res) => res.end(`${"0018A45C4D1DEF81644B54AB7F969B88D65:1\r\n".repeat(40_000)}`)),
      "over 1048576 bytes",
    ],
    ["a redirect", () => (handler = (_req, res) => res.writeHead(302, { location: "http://127.0.0.1:1/" }).end()), "could not be reached"],
  ];
  it.each(cases)("%s: not breached, one warning naming the cause", async (_label, arrange, cause) => {
    arrange();
    const { check, warnings } = checker();
    expect(await check(breachedPassword)).toBe(false);
    expect(warnings).toHaveLength(1);
    expect(String(warnings[0]![0].reason)).toContain(cause);
    expect(warnings[0]![1]).toContain("pwned passwords check skipped");
    const line = JSON.stringify(warnings);
    expect(line).not.toContain(breachedHash.slice(0, 5));
    expect(line).not.toContain(breachedPassword);
  });

  it("an unreachable API (nothing listening): not breached, one warning", async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const { check, warnings } = checker({ url: `http://127.0.0.1:${port}/range/` });
    expect(await check(breachedPassword)).toBe(false);
    expect(warnings.map(([obj]) => obj.reason)).toEqual(["the range API could not be reached"]);
  });

  it("an API that never answers: not breached once the timeout passes, one warning", async () => {
    handler = () => {}; // holds the request open until afterEach closes the connection
    const { check, warnings } = checker({ timeoutMs: 100 });
    expect(await check(breachedPassword)).toBe(false);
    expect(warnings.map(([obj]) => obj.reason)).toEqual(["no answer within 100 ms"]);
  });

  it("an answer whose body stalls after the headers: not breached, one warning", async () => {
    handler = (_req, res) => {
      res.writeHead(200, { "content-type": "text/plain" });
      res.write("0018A45C4D1DEF81644B54AB7F969B88D65:1\r\n");
    };
    const { check, warnings } = checker({ timeoutMs: 100 });
    expect(await check(breachedPassword)).toBe(false);
    expect(warnings.map(([obj]) => obj.reason)).toEqual(["no answer within 100 ms"]);
  });
});

describe("a flood of checks", () => {
  /** Passwords whose SHA-1 prefixes differ from each other and from the breached one's. */
  const others = ["flood password alpha 1", "flood password bravo 2", "flood password charlie 3"];
  it("uses passwords of distinct prefixes", () => {
    expect(new Set([breachedPassword, ...others].map((p) => sha1(p).slice(0, 5))).size).toBe(4);
  });

  it("asks for a prefix once and keeps the answer for an hour; then asks again", async () => {
    knows(5);
    const clock = new TestClock();
    const { check, warnings } = checker({ clock });
    expect(await check(breachedPassword)).toBe(true);
    expect(await check(breachedPassword)).toBe(true);
    expect(seen.filter((r) => r.url === `/range/${breachedHash.slice(0, 5)}`)).toHaveLength(1);
    // An hour, as the README says.
    clock.advance(60 * 60_000 - 1);
    expect(await check(breachedPassword)).toBe(true);
    expect(seen.filter((r) => r.url === `/range/${breachedHash.slice(0, 5)}`)).toHaveLength(1);
    clock.advance(1);
    expect(await check(breachedPassword)).toBe(true);
    expect(seen.filter((r) => r.url === `/range/${breachedHash.slice(0, 5)}`)).toHaveLength(2);
    expect(warnings).toEqual([]);
  });

  it("keeps no failure: the check after an outage asks again", async () => {
    handler = (_req, res) => res.writeHead(503).end();
    const { check, warnings } = checker();
    expect(await check(breachedPassword)).toBe(false);
    knows(5);
    expect(await check(breachedPassword)).toBe(true);
    expect(seen).toHaveLength(2);
    expect(warnings.map(([obj]) => obj.reason)).toEqual(["HTTP 503"]);
  });

  it("keeps a bounded number of prefixes, dropping the least recently used", async () => {
    knows(5);
    const { check } = checker({ cacheEntries: 2 });
    const [a, b, c] = others as [string, string, string];
    for (const password of [a, b, c, c, b]) await check(password);
    expect(seen.map((r) => r.url)).toEqual([a, b, c].map((p) => `/range/${sha1(p).slice(0, 5)}`));
    // a, the oldest, made room for c.
    await check(a);
    expect(seen).toHaveLength(4);
    expect(seen[3]!.url).toBe(`/range/${sha1(a).slice(0, 5)}`);
  });

  it("keeps no answer of more than four times a real range's breached suffixes (about 1,000), whatever the endpoint sends", async () => {
    /** The breached suffix and `more` others, each seen once. */
    const answering = (more: number) => {
      const listed = Array.from({ length: more }, (_, i): [string, number] => [i.toString(16).toUpperCase().padStart(35, "0"), 1]);
      handler = (_req, res) => res.end(rangeAnswer([...listed, [breachedHash.slice(5), 1]]));
    };
    answering(3_999);
    const real = checker();
    expect([await real.check(breachedPassword), await real.check(breachedPassword)]).toEqual([true, true]);
    expect(seen).toHaveLength(1);
    answering(4_000);
    const oversized = checker();
    expect([await oversized.check(breachedPassword), await oversized.check(breachedPassword)]).toEqual([true, true]);
    expect(seen).toHaveLength(3);
  });

  it("sends one request for the checks of a prefix already being asked", async () => {
    const { release } = holdRequests();
    const { check, warnings } = checker({ maxConcurrent: 1 });
    const checks = Array.from({ length: 20 }, () => check(breachedPassword));
    await vi.waitFor(() => expect(seen).toHaveLength(1));
    release();
    expect(await Promise.all(checks)).toEqual(Array(20).fill(true));
    expect(seen).toHaveLength(1);
    expect(warnings).toEqual([]);
  });

  it("has at most PWNED_PASSWORDS_MAX_CONCURRENT requests under way; a check beyond them fails open with a warning", async () => {
    const { release } = holdRequests();
    const { check, warnings } = checker({ maxConcurrent: 2 });
    const [a, b, c] = others as [string, string, string];
    const first = [check(breachedPassword), check(a)];
    await vi.waitFor(() => expect(seen).toHaveLength(2));
    // Over the cap: judged by the local rules alone, at once, as when the API cannot be reached.
    expect(await check(b)).toBe(false);
    expect(seen).toHaveLength(2);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]![0]).toEqual({ reason: "too many range requests under way (PWNED_PASSWORDS_MAX_CONCURRENT is 2)" });
    expect(warnings[0]![1]).toContain("pwned passwords check skipped");
    expect(JSON.stringify(warnings)).not.toContain(sha1(b).slice(0, 5));
    release();
    expect(await Promise.all(first)).toEqual([true, false]);
    // Room again once they are answered.
    knows(5);
    expect(await check(c)).toBe(false);
    expect(seen).toHaveLength(3);
    expect(warnings).toHaveLength(1);
  });
});

describe("through the service (PWNED_PASSWORDS_* settings)", () => {
  it("is off by default: no request leaves the process", async () => {
    knows(5);
    const h = await startHarness({ EMAIL_VERIFICATION_REQUIRED: "false" });
    try {
      const d = fetchDriver(h.url, "pwned-test");
      await d.call("AuthService/Register", { email: "off@example.com", password: breachedPassword, displayName: "Off" });
      expect(seen).toEqual([]);
    } finally {
      await h.close();
    }
  });

  it("when on, a breached password is refused with WEAK_PASSWORD and nothing is stored; a clean one registers", async () => {
    knows(5);
    const h = await startHarness({ EMAIL_VERIFICATION_REQUIRED: "false", PWNED_PASSWORDS_ENABLED: "true", PWNED_PASSWORDS_URL: base });
    try {
      const d = fetchDriver(h.url, "pwned-test");
      const f = await failure(
        d.call("AuthService/Register", { email: "breached@example.com", password: breachedPassword, displayName: "Breached" }),
      );
      expect({ code: f.code, reason: f.reason, field: f.metadata.field }).toEqual({
        code: "invalid_argument",
        reason: "WEAK_PASSWORD",
        field: "password",
      });
      expect(f.message).toContain("this password has appeared in a data breach; choose another");
      expect(await h.store.users.findByEmail("breached@example.com")).toBeNull();
      await d.call("AuthService/Register", { email: "clean@example.com", password: "never leaked lantern 77", displayName: "Clean" });
      expect(await h.store.users.findByEmail("clean@example.com")).not.toBeNull();
      // The local rules decide first: a listed common password never reaches the API.
      seen.length = 0;
      await failure(d.call("AuthService/Register", { email: "common@example.com", password: "butterfly", displayName: "C" }));
      expect(seen).toEqual([]);
    } finally {
      await h.close();
    }
  });

  it("PWNED_PASSWORDS_MAX_CONCURRENT: a registration over it goes on, judged by the local rules, with a warning", async () => {
    const { release } = holdRequests();
    const h = await startHarness({
      EMAIL_VERIFICATION_REQUIRED: "false",
      PWNED_PASSWORDS_ENABLED: "true",
      PWNED_PASSWORDS_URL: base,
      PWNED_PASSWORDS_MAX_CONCURRENT: "1",
    });
    try {
      const d = fetchDriver(h.url, "pwned-test");
      const first = failure(d.call("AuthService/Register", { email: "held@example.com", password: breachedPassword, displayName: "Held" }));
      await vi.waitFor(() => expect(seen).toHaveLength(1));
      await d.call("AuthService/Register", { email: "over@example.com", password: breachedPassword.toUpperCase(), displayName: "Over" });
      expect(await h.store.users.findByEmail("over@example.com")).not.toBeNull();
      expect(seen).toHaveLength(1);
      const warnings = h.logs.filter((l) => String(l.msg).includes("pwned passwords check skipped"));
      expect(warnings.map((l) => l.reason)).toEqual(["too many range requests under way (PWNED_PASSWORDS_MAX_CONCURRENT is 1)"]);
      release();
      expect((await first).reason).toBe("WEAK_PASSWORD");
      expect(await h.store.users.findByEmail("held@example.com")).toBeNull();
    } finally {
      await h.close();
    }
  });

  it("when on but unreachable, registration goes on and the log has one warning", async () => {
    const h = await startHarness({
      EMAIL_VERIFICATION_REQUIRED: "false",
      PWNED_PASSWORDS_ENABLED: "true",
      PWNED_PASSWORDS_URL: "http://127.0.0.1:1/range/",
    });
    try {
      const d = fetchDriver(h.url, "pwned-test");
      await d.call("AuthService/Register", { email: "open@example.com", password: breachedPassword, displayName: "Open" });
      expect(await h.store.users.findByEmail("open@example.com")).not.toBeNull();
      const warnings = h.logs.filter((l) => String(l.msg).includes("pwned passwords check skipped"));
      expect(warnings.map((l) => [l.level, l.reason])).toEqual([["warn", "the range API could not be reached"]]);
    } finally {
      await h.close();
    }
  });
});
