// The service's operations in-process, without a socket: the memory store, a clock the test
// moves, an outbox for mail and a cheap (but real) argon2id hasher. For rules that need no
// transport to prove; each transport keeps its own end-to-end tests.
import { Writable } from "node:stream";
import { loadConfig } from "../../src/config.ts";
import { AuthError } from "../../src/errors.ts";
import { createLogger } from "../../src/log.ts";
import { createOutbox, type Outbox } from "../../src/mail/mailer.ts";
import type { Operations } from "../../src/operations.ts";
import { composeService, type Service } from "../../src/server/compose.ts";
import type { ClientInfo } from "../../src/sessions/caller.ts";
import { createMemoryStore } from "../../src/store/memory.ts";
import type { Store } from "../../src/store/port.ts";
import type { PasswordHasher } from "../../src/passwords/hasher.ts";
import { TestClock } from "./harness.ts";
import { createCheapHasher } from "./cheap-hasher.ts";

export interface InProcess {
  ops: Operations;
  service: Service;
  store: Store;
  clock: TestClock;
  outbox: Outbox;
  client: ClientInfo;
  close(): Promise<void>;
}

/**
 * The default store is the memory store on the test's clock, so its sweep removes what that clock
 * has expired; a test that passes its own store passes the clock that store runs on. `hasher`: one
 * of the test's own (a wrapper around the cheap one, say), for tests of what hashing failures do.
 */
export async function startService(
  env: Record<string, string> = {},
  givenStore?: Store,
  clock: TestClock = new TestClock(),
  hasher?: PasswordHasher,
): Promise<InProcess> {
  // Every call comes from the same client: the per-client mail limit is off unless a test turns it on.
  const config = loadConfig({ LOG_LEVEL: "silent", MAIL_MAX_PER_CLIENT_PER_HOUR: "0", ...env }, () => {
    throw new Error("no files in tests");
  });
  const store = givenStore ?? createMemoryStore({ clock });
  const outbox = createOutbox();
  const silent = new Writable({ write: (_c, _e, done) => done() });
  const service = await composeService(config, {
    store,
    clock,
    mailer: outbox,
    log: createLogger("silent", silent),
    // Real argon2id hashing at a fraction of the production cost (the same hasher as the harness).
    hasher: hasher ?? (await createCheapHasher()),
  });
  return {
    ops: service.operations,
    service,
    store,
    clock,
    outbox,
    client: { ipAddress: "192.0.2.10", userAgent: "in-process-test/1.0" },
    async close() {
      await service.background.drain();
      await store.close();
    },
  };
}

/** "OK", or the reason an operation failed with (and the field at fault, when it names one). */
export async function outcome(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    if (err instanceof AuthError) return err.field === undefined ? err.reason : `${err.reason} ${err.field}`;
    throw err;
  }
  return "OK";
}
