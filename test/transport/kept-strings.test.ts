// What the server keeps from a request (a session's user agent, the client address from
// X-Forwarded-For, an email, a display or device name trimmed from a request field) is a copy of
// the part it keeps, not a view that keeps the whole header or field alive: a client padding them
// to the limit (64 KiB) must not make each session, account or device it creates cost that.
import type http from "node:http";
import { describe, expect, it } from "vitest";
import { checkDisplayName, normalizeEmail, ownCopy } from "../../src/input.ts";
import { clientIp } from "../../src/transport/credentials.ts";
import { userAgentFrom } from "../../src/transport/credentials.ts";
import { heapUsedAfterGc } from "../support/heap.ts";
import { checkDeviceName } from "../../src/two-factor/inputs.ts";

/** A header value of `length` characters, each one a fresh flat string, as Node makes them. */
const header = (start: string, length: number) => {
  const bytes = Buffer.alloc(length, "x");
  bytes.write(start);
  return bytes.toString("latin1");
};

/** The heap kept by what `keep` returns, over `count` calls (each given a fresh 60 kB header). */
function heapKept(count: number, keep: (i: number) => string): number {
  const before = heapUsedAfterGc();
  const kept = Array.from({ length: count }, (_, i) => keep(i));
  const after = heapUsedAfterGc();
  expect(kept).toHaveLength(count);
  return after - before;
}

describe("strings kept from request headers", () => {
  it("ownCopy copies any string exactly, Latin-1 or not", () => {
    for (const value of ["", "a", "Mozilla/5.0 (X11; Linux x86_64)", "ÿ\u0080é", "naïve ☃ 😀", "\ud800 lone", "x".repeat(10_000)]) {
      expect(ownCopy(value)).toBe(value);
    }
    expect(ownCopy(header("2001:db8::1", 60_000).slice(0, 11))).toBe("2001:db8::1");
  });

  it("a session's user agent keeps 512 characters, not the header they were cut from", () => {
    const ua = (i: number) => userAgentFrom(header(`agent ${i} `, 60_000));
    expect(ua(7)).toBe(`agent 7 ${"x".repeat(504)}`);
    // 100 headers of 60 kB would be 6 MB kept; 100 user agents of 512 characters are 51 kB.
    expect(heapKept(100, ua)).toBeLessThan(1_000_000);
  });

  it("the client address from X-Forwarded-For keeps the address, not the header", () => {
    const ip = (i: number) => {
      // The header as a client padded it: the address the proxy appended after 60 kB of blanks.
      const forwarded = `${header(" ", 60_000).replaceAll("x", " ")}, 2001:db8:85a3::8a2e:370:${i.toString(16)}`;
      const req = { headers: { "x-forwarded-for": forwarded } } as unknown as http.IncomingMessage;
      return clientIp(req, "127.0.0.1", 1);
    };
    expect(ip(42)).toBe("2001:db8:85a3::8a2e:370:2a");
    expect(heapKept(100, ip)).toBeLessThan(1_000_000);
  });

  it.each([
    ["an email", (padded: string) => normalizeEmail("email", padded), (i: number) => `user${i}@example.com`],
    ["a display name", (padded: string) => checkDisplayName("display_name", padded), (i: number) => `Ada Lovelace ${i}`],
    ["a device name", (padded: string) => checkDeviceName("name", padded), (i: number) => `Ada's phone ${i}`],
  ])("%s trimmed from a padded field keeps the value, not the field", (_what, check, value) => {
    const kept = (i: number) => check(`${value(i)}${header(" ", 60_000).replaceAll("x", " ")}`);
    expect(kept(3)).toBe(value(3));
    expect(heapKept(100, kept)).toBeLessThan(1_000_000);
  });
});
