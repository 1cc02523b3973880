// What the log redacts: secrets by name, one and two levels down; never an error's code, which is
// what an operator reads to know why the database or the mail server refused.
import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { createLogger } from "../src/log.ts";

function logged(fields: Record<string, unknown>): Record<string, unknown> {
  const lines: string[] = [];
  const log = createLogger(
    "info",
    new Writable({
      write(chunk: Buffer, _e, done) {
        lines.push(chunk.toString());
        done();
      },
    }),
  );
  log.info(fields, "line");
  return JSON.parse(lines[0] ?? "{}") as Record<string, unknown>;
}

describe("the log", () => {
  it("redacts passwords, tokens and one-time codes, two levels down", () => {
    const line = logged({
      password: "p1",
      request: { recoveryCode: "abcd-efgh-ijkl", loginCode: "123456", challengeToken: "c", linkToken: "l", token: "t" },
      deep: { nested: { password: "p2", token: "t2" } },
    });
    expect(line["password"]).toBe("[redacted]");
    expect(line["request"]).toEqual({
      recoveryCode: "[redacted]",
      loginCode: "[redacted]",
      challengeToken: "[redacted]",
      linkToken: "[redacted]",
      token: "[redacted]",
    });
    expect(line["deep"]).toEqual({ nested: { password: "[redacted]", token: "[redacted]" } });
  });

  it("keeps an error's code", () => {
    const err = Object.assign(new Error("Authentication failed."), { code: 18, codeName: "AuthenticationFailed" });
    const line = logged({ err, code: "EENVELOPE" });
    expect(line["code"]).toBe("EENVELOPE");
    expect((line["err"] as Record<string, unknown>)["code"]).toBe(18);
  });
});
