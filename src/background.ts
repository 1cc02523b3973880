import type { Logger } from "./log.ts";

/**
 * Tasks that outlive the request that started them (mail delivery, the lookups behind answers that
 * must not depend on them); shutdown waits for them.
 *
 * A task starts on a later turn of the event loop (setImmediate), never inside the request's own
 * chain of promises: the response is written and flushed first, so neither its content nor its
 * timing can depend on what the task finds (whether an address has an account, for one).
 */
export interface Background {
  run(name: string, task: () => Promise<void>): void;
  drain(): Promise<void>;
}

export function createBackground(log: Pick<Logger, "error">): Background {
  const pending = new Set<Promise<void>>();
  return {
    run(name, task) {
      const p = new Promise<void>((resolve) => setImmediate(resolve))
        .then(task)
        .catch((err: unknown) => log.error({ err, task: name }, "background task failed"))
        .finally(() => pending.delete(p));
      pending.add(p);
    },
    async drain() {
      while (pending.size > 0) await Promise.allSettled([...pending]);
    },
  };
}
