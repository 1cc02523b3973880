import argon2 from "argon2";
import { describe, expect, it } from "vitest";
import { createGate, createPasswordHasher, HashingBusyError } from "../../src/passwords/hasher.ts";

/** A task that runs until `finish` is called, recording when it starts. */
function pending(started: string[], name: string) {
  let finish!: (value: string) => void;
  let fail!: (err: Error) => void;
  const result = new Promise<string>((resolve, reject) => {
    finish = resolve;
    fail = reject;
  });
  return {
    task: () => {
      started.push(name);
      return result;
    },
    finish: () => finish(name),
    fail: () => fail(new Error(`${name} failed`)),
  };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe("the hashing gate", () => {
  it("runs at most its limit at once, and the rest in the order they came", async () => {
    const gate = createGate(2);
    const started: string[] = [];
    const tasks = ["a", "b", "c", "d", "e"].map((name) => pending(started, name));
    // Settled into values at once, so that the failure below is never an unhandled rejection.
    const results = tasks.map((t) =>
      gate(t.task).then(
        (value) => value,
        (err: Error) => err.message,
      ),
    );
    await settle();
    expect(started).toEqual(["a", "b"]);
    tasks[1]?.finish();
    await settle();
    expect(started).toEqual(["a", "b", "c"]);
    tasks[0]?.fail(); // a failure frees its place too
    await settle();
    expect(started).toEqual(["a", "b", "c", "d"]);
    tasks[2]?.finish();
    tasks[3]?.finish();
    await settle();
    expect(started).toEqual(["a", "b", "c", "d", "e"]);
    tasks[4]?.finish();
    expect(await Promise.all(results)).toEqual(["a failed", "b", "c", "d", "e"]);
    // Every place was given back: two new tasks start at once.
    const again = [pending(started, "f"), pending(started, "g")];
    for (const t of again) void gate(t.task);
    await settle();
    expect(started.slice(-2)).toEqual(["f", "g"]);
  });

  it("gives back the place of a task that throws before it returns a promise", async () => {
    const gate = createGate(1);
    const throwing = (): Promise<string> => {
      throw new Error("thrown at once");
    };
    await expect(gate(throwing)).rejects.toThrow("thrown at once");
    expect(await gate(async () => "next")).toBe("next");
  });

  it("refuses at once a task over its waiting room, without running it, and lets one in once a place is free", async () => {
    const gate = createGate(1, 2, () => new Error("full"));
    const started: string[] = [];
    const tasks = ["a", "b", "c", "d"].map((name) => pending(started, name));
    const results = tasks.map((t) => gate(t.task).catch((err: Error) => err.message));
    await settle();
    expect(started).toEqual(["a"]);
    expect(await results[3]).toBe("full"); // a running, b and c waiting: d is refused
    tasks[0]?.finish();
    await settle();
    expect(started).toEqual(["a", "b"]);
    const e = pending(started, "e"); // c waits alone now: there is room again
    const late = gate(e.task);
    for (const t of [tasks[1], tasks[2]]) t?.finish();
    await settle();
    await settle();
    e.finish();
    expect(await late).toBe("e");
    expect(await Promise.all(results.slice(0, 3))).toEqual(["a", "b", "c"]);
    expect(started).toEqual(["a", "b", "c", "e"]);
  });

  it("a hasher whose queue is full answers RATE_LIMITED (busy), and a wrong stored hash is still a mismatch", async () => {
    const hasher = await createPasswordHasher({ memoryKiB: 256, timeCost: 1, parallelism: 1, maxConcurrent: 1, maxWaiting: 0 });
    const stored = await hasher.hash("correct horse battery staple");
    const outcomes = await Promise.allSettled([hasher.verify(stored, "correct horse battery staple"), hasher.verify(stored, "x")]);
    expect(outcomes[0]).toEqual({ status: "fulfilled", value: true });
    expect(outcomes[1]?.status).toBe("rejected");
    const busy = (outcomes[1] as PromiseRejectedResult).reason;
    expect(busy).toBeInstanceOf(HashingBusyError);
    expect([busy.reason, busy.retryAfterSeconds]).toEqual(["RATE_LIMITED", 1]);
    expect(await hasher.verify("not a hash", "x")).toBe(false);
  });

  it("refuses a limit that is not a whole number of at least 1", () => {
    for (const bad of [0, -1, 1.5, Number.NaN]) expect(() => createGate(bad)).toThrow(RangeError);
  });

  it("bounds the argon2id hashes in flight, for hash and verify alike", async () => {
    // Counted around the real argon2 calls: the hasher must never have more than its limit open.
    let open = 0;
    let most = 0;
    const counted =
      <A extends unknown[], R>(f: (...args: A) => Promise<R>) =>
      async (...args: A): Promise<R> => {
        most = Math.max(most, ++open);
        try {
          return await f(...args);
        } finally {
          open--;
        }
      };
    const { hash, verify } = argon2;
    argon2.hash = counted(hash) as typeof argon2.hash;
    argon2.verify = counted(verify);
    try {
      const hasher = await createPasswordHasher({ memoryKiB: 256, timeCost: 1, parallelism: 1, maxConcurrent: 2 });
      most = 0;
      const stored = await hasher.hash("correct horse battery staple");
      const outcomes = await Promise.all([
        ...Array.from({ length: 6 }, () => hasher.verify(stored, "correct horse battery staple")),
        ...Array.from({ length: 6 }, () => hasher.verify(stored, "wrong")),
        ...Array.from({ length: 4 }, () => hasher.hash("another password")),
        ...Array.from({ length: 4 }, () => hasher.burn("someone's guess")),
      ]);
      expect(most).toBe(2);
      expect(outcomes.slice(0, 12)).toEqual([...Array(6).fill(true), ...Array(6).fill(false)]);
    } finally {
      argon2.hash = hash;
      argon2.verify = verify;
    }
  });
});
