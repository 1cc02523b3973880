// The benchmark's virtual users (bench/lib/service.ts): what each sends next and what it keeps
// from an answer. Pure: no server, no timing.
import { describe, expect, it } from "vitest";
import { lifecycle, refresher } from "../../bench/lib/service.ts";

const answer = (body: object) => Buffer.from(JSON.stringify(body));
const sent = (call: { body: string | Buffer }) => JSON.parse(call.body.toString()) as Record<string, unknown>;

describe("refresher", () => {
  it("sends the refresh token the last answer returned", () => {
    const user = refresher({ accessToken: "a0", refreshToken: "r0" });
    expect(sent(user.next())).toEqual({ refreshToken: "r0" });
    expect(user.answered(200, answer({ tokens: { accessToken: "a1", refreshToken: "r1" } }))).toBe(true);
    expect(sent(user.next())).toEqual({ refreshToken: "r1" });
  });

  it("counts a refusal as an error and keeps its token", () => {
    const user = refresher({ accessToken: "a0", refreshToken: "r0" });
    expect(user.answered(401, answer({ code: "unauthenticated" }))).toBe(false);
    expect(sent(user.next())).toEqual({ refreshToken: "r0" });
  });
});

describe("lifecycle", () => {
  const signedIn = (n: number) => answer({ tokens: { accessToken: `a${n}`, refreshToken: `r${n}` }, deviceToken: { token: "d1" } });

  it("signs in, reads, refreshes every nth call, signs out, and signs in again with its device token", () => {
    const user = lifecycle("u@bench.example", 3, 5);
    const paths: string[] = [];
    const step = (status: number, body: Buffer) => {
      const call = user.next();
      paths.push(call.path.split("/").pop() ?? "");
      user.answered(status, body);
      return call;
    };
    const login = step(200, signedIn(1));
    expect(sent(login)).toMatchObject({ email: "u@bench.example" });
    expect(sent(login)).not.toHaveProperty("deviceToken");
    expect(step(200, answer({ user: {} })).headers).toMatchObject({ authorization: "Bearer a1" });
    expect(sent(step(200, signedIn(2)))).toEqual({ refreshToken: "r1" }); // call 3: refresh
    expect(step(200, answer({ user: {} })).headers).toMatchObject({ authorization: "Bearer a2" });
    expect(step(200, answer({})).headers).toMatchObject({ authorization: "Bearer a2" }); // call 5: sign out
    expect(sent(step(200, signedIn(3)))).toMatchObject({ deviceToken: "d1" });
    expect(paths).toEqual(["Login", "GetCurrentUser", "RefreshToken", "GetCurrentUser", "Logout", "Login"]);
  });

  it("starts over with a sign-in after a refused call", () => {
    const user = lifecycle("u@bench.example", 100, 100);
    user.next();
    user.answered(200, signedIn(1));
    user.next();
    expect(user.answered(401, answer({ code: "unauthenticated" }))).toBe(false);
    expect(user.next().path).toBe("/auth.v1.AuthService/Login");
  });
});
