// The development mailer (no SMTP_URL): a code mail is written to the log with its code, and an
// email sign-in mail with its link too, so a developer can sign in; a notification carries none.
import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { createLogger } from "../../src/log.ts";
import { createLogMailer } from "../../src/mail/mailer.ts";

function capture() {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString("utf8").split("\n")) if (line.trim() !== "") lines.push(JSON.parse(line));
      done();
    },
  });
  return { lines, mailer: createLogMailer(createLogger("info", sink)) };
}

describe("the development log mailer", () => {
  it("shows an email sign-in mail's code and link, and a reset code, but no text", async () => {
    const { lines, mailer } = capture();
    const link = "https://app.example.com/sign-in#token=abc";
    await mailer.send({ kind: "email_sign_in", to: "ada@example.com", subject: "s", text: "the whole text", code: "123456", link });
    await mailer.send({ kind: "password_reset", to: "ada@example.com", subject: "s", text: "the whole text", code: "reset-code" });
    await new Promise((r) => setImmediate(r));
    expect(lines.map((l) => l.mail)).toEqual([
      { kind: "email_sign_in", to: "ada@example.com", subject: "s", devCode: "123456", devLink: link },
      { kind: "password_reset", to: "ada@example.com", subject: "s", devCode: "reset-code" },
    ]);
    expect(JSON.stringify(lines)).not.toContain("the whole text");
  });
});
