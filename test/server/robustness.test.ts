// Hostile traffic at the connection and HTTP level, and the races between signing in and a change
// of the account's password or second factor.
import http2 from "node:http2";
import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createMemoryStore } from "../../src/store/memory.ts";
import type { Store } from "../../src/store/port.ts";
import { failure, fetchDriver } from "../support/drivers.ts";
import { createGate, startHarness, type Gate, type Harness } from "../support/harness.ts";
import { totp } from "../support/totp.ts";

const password = "correct horse battery staple";

async function healthy(h: Harness): Promise<boolean> {
  const res = await fetch(`${h.url}/healthz`);
  return res.status === 200;
}

function rawExchange(port: number, bytes: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1", () => socket.write(bytes));
    let answer = "";
    socket.on("data", (c: Buffer) => (answer += c.toString("latin1")));
    socket.on("end", () => resolve(answer));
    socket.on("close", () => resolve(answer));
    socket.on("error", reject);
    setTimeout(() => socket.destroy(), 2000);
  });
}

describe("connection-level robustness", () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(() => h.close());

  it("survives connections reset before, during and after the protocol sniff", async () => {
    for (const prefix of ["", "PRI * HT", "POST /auth"]) {
      await new Promise<void>((resolve) => {
        const socket = net.connect(h.server.port, "127.0.0.1", () => {
          if (prefix !== "") socket.write(prefix);
          setTimeout(() => {
            socket.resetAndDestroy();
            resolve();
          }, 20);
        });
        socket.on("error", () => undefined);
      });
    }
    await new Promise((r) => setTimeout(r, 50));
    expect(await healthy(h)).toBe(true);
  });

  it("answers an HTTP/1.0 RPC without a Host header with 400 and keeps serving", async () => {
    const answer = await rawExchange(
      h.server.port,
      "POST /auth.v1.AuthService/Login HTTP/1.0\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
    );
    expect(answer).toMatch(/^HTTP\/1\.[01] 400/);
    expect(await healthy(h)).toBe(true);
  });

  it("gives a fixed message for undecodable gRPC JSON even with an upper-case content type", async () => {
    const session = http2.connect(h.url);
    try {
      const body = Buffer.from(JSON.stringify({ email: "a@example.com", password: 987654321 }));
      const frame = Buffer.alloc(5 + body.length);
      frame.writeUInt32BE(body.length, 1);
      body.copy(frame, 5);
      const trailers = await new Promise<http2.IncomingHttpHeaders>((resolve, reject) => {
        const req = session.request({
          ":method": "POST",
          ":path": "/auth.v1.AuthService/Login",
          "content-type": "Application/GRPC+json",
          te: "trailers",
        });
        let merged: http2.IncomingHttpHeaders = {};
        req.on("response", (headers) => (merged = { ...merged, ...headers }));
        req.on("trailers", (t) => (merged = { ...merged, ...t }));
        req.on("data", () => undefined);
        req.on("end", () => resolve(merged));
        req.on("error", reject);
        req.end(frame);
      });
      expect(trailers["grpc-status"]).toBe("3");
      expect(decodeURIComponent(String(trailers["grpc-message"]))).toBe("the request is not a valid auth.v1.LoginRequest");
      expect(JSON.stringify(trailers)).not.toContain("987654321");
    } finally {
      session.close();
    }
  });
});

/** A memory store whose next session insert, once `hold()` is called, waits at the returned gate. */
function storeHoldingNextSession(): { store: Store; hold(): Gate } {
  const inner = createMemoryStore();
  let gate: Gate | undefined;
  const store: Store = {
    ...inner,
    kind: inner.kind,
    sessions: {
      ...inner.sessions,
      insert: async (s) => {
        const g = gate;
        gate = undefined;
        await g?.pass();
        return inner.sessions.insert(s);
      },
    },
  };
  return { store, hold: () => (gate = createGate()) };
}

describe("signing in while the account's credentials change", () => {
  it("a sign-in that checked 2FA was off, racing Enable, gets a challenge and no session", async () => {
    const { store, hold } = storeHoldingNextSession();
    const h = await startHarness({ EMAIL_VERIFICATION_REQUIRED: "false" }, store);
    try {
      const d = fetchDriver(h.url, "race-2fa");
      const email = "race-enable@example.com";
      const owner = (await d.call("AuthService/Register", { email, password })).tokens;
      const setup = await d.call("TwoFactorService/Setup", {}, owner.accessToken);

      // Someone with the password has found 2FA off and is about to open a session...
      const g = hold();
      const attacker = d.call("AuthService/Login", { email, password });
      await g.reached;
      // ...when the owner turns 2FA on, revoking every other session that exists.
      await d.call("TwoFactorService/Enable", { code: totp(setup.secret, h.clock.now()) }, owner.accessToken);
      g.release();

      const res = await attacker;
      expect(res.tokens ?? null).toBeNull();
      expect(res.secondFactor.challengeToken).toBeTruthy();
      const user = (await store.users.findByEmail(email))!;
      const live = await store.sessions.listLive(user.id, h.clock.now());
      expect(live.map((s) => s.id)).toEqual([owner.sessionId]);
    } finally {
      await h.close();
    }
  });

  it("does not leave a session opened with the old password alive after the change", async () => {
    const { store, hold } = storeHoldingNextSession();
    const h = await startHarness({ EMAIL_VERIFICATION_REQUIRED: "false" }, store);
    try {
      const d = fetchDriver(h.url, "race");
      const email = "race-change@example.com";
      await d.call("AuthService/Register", { email, password });
      const owner = (await d.call("AuthService/Login", { email, password })).tokens;

      // An attacker's login has checked the old password and is about to open its session...
      const g = hold();
      const attacker = d.call("AuthService/Login", { email, password });
      await g.reached;
      // ...when the owner changes the password, revoking every other session that exists.
      await d.call(
        "AuthService/ChangePassword",
        { currentPassword: password, newPassword: "the owner's new passphrase" },
        owner.accessToken,
      );
      g.release();

      const f = await failure(attacker);
      expect([f.code, f.reason]).toEqual(["unauthenticated", "INVALID_CREDENTIALS"]);
      const user = (await store.users.findByEmail(email))!;
      const live = await store.sessions.listLive(user.id, h.clock.now());
      expect(live.map((s) => s.id)).toEqual([owner.sessionId]);
    } finally {
      await h.close();
    }
  });
});
