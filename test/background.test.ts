import { describe, expect, it } from "vitest";
import { createBackground } from "../src/background.ts";

/** Lets every queued promise continuation run, as a response's own chain of promises would. */
async function settleMicrotasks(rounds = 50): Promise<void> {
  for (let i = 0; i < rounds; i++) await Promise.resolve();
}

describe("background tasks", () => {
  it("start only on a later turn of the event loop, after the request's own promise chain", async () => {
    const background = createBackground({ error: () => {} });
    const events: string[] = [];
    background.run("task", async () => {
      events.push("task started");
    });
    events.push("run returned");
    await settleMicrotasks();
    events.push("microtasks settled");
    await new Promise((r) => setImmediate(r));
    await settleMicrotasks();
    expect(events).toEqual(["run returned", "microtasks settled", "task started"]);
  });

  it("drain waits for tasks that have not started yet, and a failing task is logged, not thrown", async () => {
    const errors: unknown[] = [];
    const background = createBackground({ error: (obj: unknown) => errors.push(obj) });
    let done = false;
    background.run("ok", async () => {
      done = true;
    });
    background.run("fails", async () => {
      throw new Error("boom");
    });
    await background.drain();
    expect(done).toBe(true);
    expect(errors).toHaveLength(1);
  });
});
