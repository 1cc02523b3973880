// A call whose Content-Type is given on two lines is refused (415, as Connect refuses a content
// type it does not serve) and runs nothing. Node keeps the first line and drops the others: a
// proxy, firewall or audit layer in front that keeps the last would take the body for another
// protocol or codec (application/proto, text/plain: nothing to inspect) than the one authd runs.
// Over a raw socket, since fetch and node:http join or refuse a header given twice.
import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startHarness, type Harness } from "../support/harness.ts";

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ EMAIL_VERIFICATION_REQUIRED: "false" });
});
afterAll(() => h.close());

/** The status line's code of a Register sent with these Content-Type lines, the connection closed after. */
function registerWith(contentTypes: string[], email: string): Promise<number> {
  const body = JSON.stringify({ email, password: "correct horse battery staple" });
  const { port } = new URL(h.url);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = net.connect(Number(port), "127.0.0.1", () => {
      const lines = contentTypes.map((t) => `Content-Type: ${t}\r\n`).join("");
      socket.write(
        `POST /auth.v1.AuthService/Register HTTP/1.1\r\nHost: x\r\nConnection: close\r\n${lines}` +
          `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      );
    });
    socket.on("data", (c: Buffer) => chunks.push(c));
    socket.on("error", reject);
    socket.on("close", () => resolve(Number(Buffer.concat(chunks).toString("latin1").split(" ")[1])));
  });
}

describe("a Content-Type given twice on an RPC", () => {
  it.each([
    ["application/json", "application/proto"],
    ["application/json", "text/plain"],
    ["application/json", "application/json"],
  ])("%s, then %s: 415, nothing stored", async (first, second) => {
    const email = `twice-${second.replace(/\W/g, "")}@example.com`;
    expect(await registerWith([first, second], email)).toBe(415);
    expect(await h.store.users.findByEmail(email)).toBeNull();
  });

  it("once: served as before", async () => {
    expect(await registerWith(["application/json"], "once@example.com")).toBe(200);
    expect(await h.store.users.findByEmail("once@example.com")).not.toBeNull();
  });
});
