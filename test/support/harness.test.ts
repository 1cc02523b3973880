// The harness itself: it hashes with real argon2id at small parameters unless a test asks for the
// production hasher, and it does not let ARGON2_* settings be silently ignored.
import { describe, expect, it } from "vitest";
import { fetchDriver } from "./drivers.ts";
import { startHarness } from "./harness.ts";

describe("the harness's password hasher", () => {
  it("is argon2id with m=256 t=1 p=1 by default (cheap-hasher.ts): real hashing work, at a small cost", async () => {
    const h = await startHarness({ EMAIL_VERIFICATION_REQUIRED: "false" });
    try {
      await fetchDriver(h.url, "harness").call("AuthService/Register", {
        email: "cheap@example.com",
        password: "correct horse battery staple",
      });
      expect((await h.store.users.findByEmail("cheap@example.com"))?.passwordHash).toMatch(/^\$argon2id\$v=19\$m=256,p=1,t=1\$/);
    } finally {
      await h.close();
    }
  });

  it("refuses ARGON2_* settings unless the test asks for the production hasher", async () => {
    await expect(startHarness({ ARGON2_TIME_COST: "3" })).rejects.toThrow(/ARGON2_TIME_COST.*realHasher/);
  });
});
