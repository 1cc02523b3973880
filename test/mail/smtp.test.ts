// SMTP delivery against a server that does not offer STARTTLS (as one would look to the mailer
// after someone on the path stripped the offer): to another machine the mailer refuses to go on
// in plaintext, so neither the SMTP password nor a code crosses the network readable. A relay on
// this machine (localhost), or a URL that says requireTLS=false, is taken in plaintext.
import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createSmtpMailer } from "../../src/mail/mailer.ts";

/** A plaintext SMTP server that offers AUTH but no STARTTLS, and records every line it reads. */
function plaintextServer(host: string, rejectRecipients = false): Promise<{ port: number; lines: string[]; close(): Promise<void> }> {
  const lines: string[] = [];
  const server = net.createServer((socket) => {
    socket.write("220 relay ESMTP\r\n");
    let inData = false;
    let buffered = "";
    socket.on("data", (chunk) => {
      buffered += chunk.toString();
      for (let end = buffered.indexOf("\r\n"); end >= 0; end = buffered.indexOf("\r\n")) {
        const line = buffered.slice(0, end);
        buffered = buffered.slice(end + 2);
        lines.push(line);
        if (inData) {
          if (line === ".") {
            inData = false;
            socket.write("250 queued\r\n");
          }
        } else if (/^EHLO/i.test(line)) socket.write("250-relay\r\n250 AUTH PLAIN LOGIN\r\n");
        else if (/^STARTTLS/i.test(line)) socket.write("502 not implemented\r\n");
        else if (/^AUTH/i.test(line)) socket.write("235 ok\r\n");
        else if (rejectRecipients && /^RCPT TO:<(.*)>/i.test(line)) socket.write(`550 5.1.1 <${line.slice(9, -1)}>: no such user here\r\n`);
        else if (/^DATA/i.test(line)) {
          inData = true;
          socket.write("354 go on\r\n");
        } else if (/^QUIT/i.test(line)) socket.end("221 bye\r\n");
        else socket.write("250 ok\r\n");
      }
    });
    socket.on("error", () => undefined);
  });
  return new Promise((resolve) =>
    server.listen(0, host, () => {
      const { port } = server.address() as net.AddressInfo;
      resolve({ port, lines, close: () => new Promise((done) => server.close(() => done())) });
    }),
  );
}

const mail = {
  kind: "password_reset" as const,
  to: "owner@example.com",
  subject: "Reset your password",
  text: "Your password reset code is:\n\nRESETCODE123\n",
  code: "RESETCODE123",
};

describe("a failed delivery", () => {
  it("says why, and not to whom: the error is logged", async () => {
    const server = await plaintextServer("127.0.0.1", true);
    const mailer = await createSmtpMailer(`smtp://127.0.0.1:${server.port}`, "authd <no-reply@example.com>");
    const error = await mailer.send(mail).then(
      () => new Error("sent"),
      (err: unknown) => err as Error & { code?: unknown },
    );
    mailer.close?.();
    await server.close();
    expect(error.message).toMatch(/^SMTP delivery failed \(EENVELOPE RCPT TO 550\)$/);
    expect(JSON.stringify({ ...error, message: error.message })).not.toContain("owner@example.com");
  });
});

describe("SMTP without STARTTLS on offer", () => {
  // 127.0.0.2 is this machine too (Linux routes 127/8 to the loopback), but not a name the mailer
  // takes for a local relay: it stands for another machine here.
  let remote: Awaited<ReturnType<typeof plaintextServer>>;
  let local: Awaited<ReturnType<typeof plaintextServer>>;
  beforeAll(async () => {
    remote = await plaintextServer("127.0.0.2");
    local = await plaintextServer("127.0.0.1");
  });
  afterAll(async () => {
    await remote.close();
    await local.close();
  });

  it("to another machine: refused before the password or the mail is sent", async () => {
    const mailer = await createSmtpMailer(`smtp://user:s3cretpass@127.0.0.2:${remote.port}`, "authd <no-reply@example.com>");
    await expect(mailer.send(mail)).rejects.toThrow();
    mailer.close?.();
    expect(remote.lines.some((l) => /^EHLO/i.test(l))).toBe(true);
    expect(remote.lines.some((l) => /^AUTH/i.test(l) || l.includes("RESETCODE123"))).toBe(false);
  });

  it("to another machine with ?requireTLS=false, or to localhost: sent, as the operator chose", async () => {
    for (const [server, host, query] of [
      [remote, "127.0.0.2", "/?requireTLS=false"],
      [local, "127.0.0.1", ""],
    ] as const) {
      const mailer = await createSmtpMailer(`smtp://user:s3cretpass@${host}:${server.port}${query}`, "authd <no-reply@example.com>");
      await mailer.send(mail);
      mailer.close?.();
      expect(server.lines.some((l) => l.includes("RESETCODE123"))).toBe(true);
    }
  });
});
