// RequestPasswordReset and ResendVerificationEmail must answer before they look the address up:
// otherwise the time of the answer tells whether the address has an account (issue 10, item 9).
// The timing itself is measured by bench/enumeration-timing.ts; this proves the order.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createMemoryStore } from "../../src/store/memory.ts";
import { startService, type InProcess } from "../support/service.ts";

let s: InProcess;
let lookups: string[];

beforeEach(async () => {
  const store = createMemoryStore();
  lookups = [];
  const findByEmail = store.users.findByEmail.bind(store.users);
  store.users.findByEmail = (email: string) => {
    lookups.push(email);
    return findByEmail(email);
  };
  s = await startService({}, store);
  await s.ops.accounts.register({ email: "ada@example.com", password: "a long enough password", displayName: "" }, s.client);
  await s.service.background.drain();
  lookups.length = 0;
  s.outbox.mails.length = 0;
});

afterEach(() => s.close());

async function settleMicrotasks(rounds = 50): Promise<void> {
  for (let i = 0; i < rounds; i++) await Promise.resolve();
}

describe.each([
  ["requestPasswordReset", "password_reset"],
  ["resendVerification", "email_verification"],
] as const)("%s", (operation, kind) => {
  it.each(["ada@example.com", "nobody@example.com"])("answers %s before any lookup or mail", async (email) => {
    await s.ops.accounts[operation](email, s.client);
    // What a transport does next (encode, write, flush) runs in this chain of promises.
    await settleMicrotasks();
    expect(lookups).toEqual([]);
    expect(s.outbox.mails).toEqual([]);
    await s.service.background.drain();
    expect(lookups).toEqual([email]);
    expect(s.outbox.mails.map((m) => m.kind)).toEqual(email === "ada@example.com" ? [kind] : []);
  });
});
