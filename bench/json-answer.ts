// What a JSON answer of the unary fast path costs to serialize: this service's writer
// (src/rpc/json-answer.ts) against Connect's own JSON serializer (protobuf-es's toJsonString and a
// TextEncoder), on the answers of GetCurrentUser (a User with two Timestamps), RefreshToken (a
// TokenPair) and Health/Check, built as the server builds them. Interleaved rounds, medians.
// A benchmark, not a test: it prints numbers for a person to read.
// Run: npm run bench:json-answer   (ROUNDS=7 MS=300 by default)
import { create, type DescMessage } from "@bufbuild/protobuf";
import { createMethodSerializationLookup, type Serialization } from "@connectrpc/connect/protocol";
import { AuthService } from "../gen/auth/v1/auth_service_pb.js";
import { Health, HealthCheckResponse_ServingStatus } from "../gen/grpc/health/v1/health_pb.js";
import { jsonAnswerSerialization } from "../src/rpc/json-answer.ts";
import { tokenPairMessage, userMessage } from "../src/rpc/messages.ts";
import { median } from "./lib/figures.ts";

const rounds = Number(process.env.ROUNDS ?? 7);
const msPerCase = Number(process.env.MS ?? 300);
const limits = { readMaxBytes: 0xffffffff, writeMaxBytes: 0xffffffff };

const now = Date.now();
const user = userMessage({
  id: "0b6f3c1e-8f7d-4a8e-9d1c-2f9a7c3e5b10",
  email: "ada@example.com",
  emailVerified: true,
  displayName: "Ada Lovelace",
  twoFactorEnabled: false,
  createdAt: new Date(now - 86_400_000),
  updatedAt: new Date(now),
  roles: ["user"],
} as Parameters<typeof userMessage>[0]);
const tokens = tokenPairMessage({
  accessToken: `eyJhbGciOiJFZERTQSIsImtpZCI6ImsxIn0.${"e".repeat(220)}.${"s".repeat(86)}`,
  refreshToken: "r".repeat(43),
  tokenType: "Bearer",
  expiresIn: 900,
  accessTokenExpiresAt: new Date(now + 900_000),
  refreshTokenExpiresAt: new Date(now + 30 * 86_400_000),
  sessionId: "ses_0b6f3c1e8f7d4a8e",
} as Parameters<typeof tokenPairMessage>[0]);

const answers: Array<{ name: string; method: { input: DescMessage; output: DescMessage }; message: unknown }> = [
  {
    name: "GetCurrentUserResponse",
    method: AuthService.method.getCurrentUser,
    message: create(AuthService.method.getCurrentUser.output, { user }),
  },
  {
    name: "RefreshTokenResponse",
    method: AuthService.method.refreshToken,
    message: create(AuthService.method.refreshToken.output, { tokens }),
  },
  {
    name: "HealthCheckResponse",
    method: Health.method.check,
    message: create(Health.method.check.output, { status: HealthCheckResponse_ServingStatus.SERVING }),
  },
];

/** Serializations per second of `s` on `message`, for about `ms`. */
function rate(s: Serialization<unknown>, message: unknown, ms: number): number {
  let calls = 0;
  const start = performance.now();
  let elapsed = 0;
  while (elapsed < ms) {
    for (let i = 0; i < 1000; i++) s.serialize(message);
    calls += 1000;
    elapsed = performance.now() - start;
  }
  return (calls / elapsed) * 1000;
}

const cases = answers.map(({ name, method, message }) => {
  const connect = createMethodSerializationLookup(method as never, undefined, undefined, limits).getO(false) as Serialization<unknown>;
  const ours = jsonAnswerSerialization<unknown>(method.output, connect, limits);
  const same = Buffer.from(ours.serialize(message)).equals(Buffer.from(connect.serialize(message)));
  if (!same) throw new Error(`${name}: the two serializers disagree`);
  return { name, message, connect, ours, samples: { connect: [] as number[], ours: [] as number[] } };
});

for (const c of cases) {
  rate(c.connect, c.message, msPerCase);
  rate(c.ours, c.message, msPerCase);
}
for (let r = 0; r < rounds; r++) {
  for (const c of cases) {
    c.samples.connect.push(rate(c.connect, c.message, msPerCase));
    c.samples.ours.push(rate(c.ours, c.message, msPerCase));
  }
}

console.log(`JSON answer serialization, median of ${rounds} interleaved rounds of ${msPerCase} ms (Node ${process.version})`);
console.log(
  `${"answer".padEnd(24)} ${"bytes".padStart(6)} ${"Connect µs".padStart(11)} ${"ours µs".padStart(8)} ${"speed-up".padStart(9)}`,
);
for (const c of cases) {
  const connectUs = 1e6 / median(c.samples.connect);
  const oursUs = 1e6 / median(c.samples.ours);
  const bytes = c.ours.serialize(c.message).byteLength;
  console.log(
    `${c.name.padEnd(24)} ${String(bytes).padStart(6)} ${connectUs.toFixed(2).padStart(11)} ${oursUs.toFixed(2).padStart(8)} ${(connectUs / oursUs).toFixed(1).padStart(8)}×`,
  );
}
