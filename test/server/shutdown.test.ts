// Graceful shutdown (issue 10, item 16): requests whose bytes reached the server before it began
// to close are answered (or refused with a clear, retryable answer), never cut by a TCP reset.
import http2 from "node:http2";
import net from "node:net";
import { describe, expect, it } from "vitest";
import { startHarness } from "../support/harness.ts";

const password = "correct horse battery staple";

function registerRequest(i: number): string {
  const body = JSON.stringify({ email: `inflight${i}@example.com`, password });
  return (
    "POST /auth.v1.AuthService/Register HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n" +
    `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
  );
}

/** Connects, sends `request` and resolves once connected; `answer` resolves with what came back. */
function send(port: number, request: string): Promise<{ answer: Promise<{ text: string; reset: boolean }> }> {
  return new Promise((resolve, reject) => {
    let text = "";
    let reset = false;
    const socket = net.connect(port, "127.0.0.1");
    const answer = new Promise<{ text: string; reset: boolean }>((done) => socket.on("close", () => done({ text, reset })));
    socket.on("data", (c: Buffer) => (text += c.toString("latin1")));
    socket.on("error", (err: NodeJS.ErrnoException) => {
      if (err.code === "ECONNRESET") reset = true;
      else reject(err);
    });
    socket.on("connect", () => {
      socket.write(request);
      resolve({ answer });
    });
  });
}

describe("graceful shutdown", () => {
  it("answers every HTTP/1.1 request already sent when the server begins to close", async () => {
    const h = await startHarness({ EMAIL_VERIFICATION_REQUIRED: "false", SHUTDOWN_GRACE_MS: "10000" });
    const sent = await Promise.all(Array.from({ length: 50 }, (_, i) => send(h.server.port, registerRequest(i))));
    // Every request has left its client; most are not yet read by the server.
    const closed = h.close();
    const answers = await Promise.all(sent.map((s) => s.answer));
    await closed;
    expect(answers.filter((a) => a.reset)).toEqual([]);
    for (const a of answers) {
      // Answered: registered, or refused as UNAVAILABLE for the client to retry.
      expect(a.text).toMatch(/^HTTP\/1\.1 (200|503)/);
      expect(a.text.toLowerCase()).toContain("connection: close");
    }
    expect(answers.filter((a) => a.text.startsWith("HTTP/1.1 200")).length).toBeGreaterThan(0);
  });

  it("answers HTTP/2 streams already sent, on busy and on brand-new connections, or refuses them with REFUSED_STREAM", async () => {
    const h = await startHarness({ EMAIL_VERIFICATION_REQUIRED: "false", SHUTDOWN_GRACE_MS: "10000" });
    const sessions: http2.ClientHttp2Session[] = [];
    const call = (session: http2.ClientHttp2Session, i: number): Promise<string> => {
      const req = session.request({ ":method": "POST", ":path": "/auth.v1.AuthService/Register", "content-type": "application/json" });
      const outcome = new Promise<string>((resolve) => {
        let status = "";
        req.on("response", (headers) => (status = String(headers[":status"])));
        req.on("data", () => undefined);
        req.on("end", () => resolve(status));
        req.on("error", () => resolve(`reset ${req.rstCode}`));
      });
      req.end(JSON.stringify({ email: `h2inflight${i}@example.com`, password }));
      return outcome;
    };
    const connect = async () => {
      const session = http2.connect(h.url);
      session.on("error", () => undefined);
      sessions.push(session);
      await new Promise((r) => session.once("connect", r));
      return session;
    };
    // One busy connection with 30 calls, and 20 connections whose one call is sent at once.
    const busy = await connect();
    const calls = Array.from({ length: 30 }, (_, i) => call(busy, i));
    const fresh = await Promise.all(Array.from({ length: 20 }, () => connect()));
    calls.push(...fresh.map((session, i) => call(session, 100 + i)));
    const closed = h.close();
    const outcomes = await Promise.all(calls);
    await closed;
    for (const o of outcomes) expect(["200", `reset ${http2.constants.NGHTTP2_REFUSED_STREAM}`]).toContain(o);
    expect(outcomes.filter((o) => o === "200").length).toBeGreaterThan(0);
    for (const session of sessions) session.destroy();
  });
});
