import { execFile } from "node:child_process";
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { createFileRegistry, fromBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { registerHealth } from "../../src/server/health.ts";
import { registerReflection } from "../../src/server/reflection.ts";
import { file_grpc_health_v1_health } from "../../gen/grpc/health/v1/health_pb.js";
import { file_grpc_reflection_v1_reflection } from "../../gen/grpc/reflection/v1/reflection_pb.js";
import { file_grpc_reflection_v1alpha_reflection } from "../../gen/grpc/reflection/v1alpha/reflection_pb.js";
import { file_auth_v1_auth_service } from "../../gen/auth/v1/auth_service_pb.js";
import { file_auth_v1_session_service } from "../../gen/auth/v1/session_service_pb.js";

const execFileAsync = promisify(execFile);
const repoRoot = fileURLToPath(new URL("../../", import.meta.url));
const protoDir = `${repoRoot}proto`;
const bufBin = `${repoRoot}node_modules/.bin/buf`;

const WATCH_INTERVAL_MS = 50;

// ---- the server under test ----------------------------------------------------------------

let probeResult: boolean | "reject" = true;
let probeCalls = 0;
const probe = async (): Promise<boolean> => {
  probeCalls++;
  if (probeResult === "reject") throw new Error("database unreachable");
  return probeResult;
};

let server: http2.Http2Server;
const sessions = new Set<http2.ServerHttp2Session>();
let address = "";
let baseUrl = "";

// ---- grpc-js clients (untyped descriptors from proto-loader, typed here by hand) -------------

interface HealthReq {
  service: string;
}
interface HealthRes {
  status: string;
}
interface ReflReq {
  host?: string;
  list_services?: string;
  file_by_filename?: string;
  file_containing_symbol?: string;
  all_extension_numbers_of_type?: string;
}
interface ReflRes {
  valid_host: string;
  original_request: ReflReq | null;
  message_response?: string;
  list_services_response?: { service: { name: string }[] };
  file_descriptor_response?: { file_descriptor_proto: Buffer[] };
  all_extension_numbers_response?: { base_type_name: string; extension_number: number[] };
  error_response?: { error_code: number; error_message: string };
}

interface Method<Req, Res> {
  path: string;
  serialize: (value: Req) => Buffer;
  deserialize: (bytes: Buffer) => Res;
}

const loaderOptions: protoLoader.Options = {
  keepCase: true,
  enums: String,
  longs: Number,
  defaults: true,
  oneofs: true,
  includeDirs: [protoDir],
};

function method<Req, Res>(pkg: protoLoader.PackageDefinition, service: string, name: string): Method<Req, Res> {
  const svc = pkg[service] as protoLoader.ServiceDefinition | undefined;
  const m = svc?.[name];
  if (m === undefined) throw new Error(`${service}/${name} not in package definition`);
  return {
    path: m.path,
    serialize: (value) => m.requestSerialize(value as object),
    deserialize: (bytes) => m.responseDeserialize(bytes) as Res,
  };
}

let healthClient: grpc.Client;
let reflectionClient: grpc.Client;
let healthCheck: Method<HealthReq, HealthRes>;
let healthWatch: Method<HealthReq, HealthRes>;
let reflectionInfo: Method<ReflReq, ReflRes>;

function check(service: string): Promise<HealthRes> {
  return new Promise((resolve, reject) => {
    healthClient.makeUnaryRequest(
      healthCheck.path,
      healthCheck.serialize,
      healthCheck.deserialize,
      { service },
      (err: grpc.ServiceError | null, res?: HealthRes) => {
        if (err) reject(err);
        else if (res === undefined) reject(new Error("no response"));
        else resolve(res);
      },
    );
  });
}

function isServiceError(err: unknown): err is grpc.ServiceError {
  return err instanceof Error && typeof (err as Partial<grpc.ServiceError>).code === "number";
}

async function until(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

type ReflStream = grpc.ClientDuplexStream<ReflReq, ReflRes>;

function openReflection(): ReflStream {
  const stream = reflectionClient.makeBidiStreamRequest(reflectionInfo.path, reflectionInfo.serialize, reflectionInfo.deserialize);
  // ask() listens for errors while a request is pending; this one keeps a late error (e.g. the
  // connection closing in afterAll after a failed assertion) from becoming an uncaught exception.
  stream.on("error", () => {});
  return stream;
}

/** Sends one request on the stream and waits for its response. */
function ask(stream: ReflStream, req: ReflReq): Promise<ReflRes> {
  return new Promise((resolve, reject) => {
    const onData = (res: ReflRes): void => {
      stream.off("error", onError);
      resolve(res);
    };
    const onError = (err: Error): void => {
      stream.off("data", onData);
      reject(err);
    };
    stream.once("data", onData);
    stream.once("error", onError);
    stream.write(req);
  });
}

// ---- buf curl ------------------------------------------------------------------------------

interface CliResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

async function bufCurl(args: string[]): Promise<CliResult> {
  try {
    const { stdout, stderr } = await execFileAsync(bufBin, ["curl", "--http2-prior-knowledge", ...args], {
      timeout: 15000,
    });
    return { exitCode: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: unknown; stdout?: unknown; stderr?: unknown };
    if (typeof e.code !== "number") throw err;
    return { exitCode: e.code, stdout: String(e.stdout ?? ""), stderr: String(e.stderr ?? "") };
  }
}

// ---- lifecycle -----------------------------------------------------------------------------

beforeAll(async () => {
  server = http2.createServer(
    connectNodeAdapter({
      routes(router) {
        registerHealth(router, {
          probe,
          services: ["auth.v1.AuthService", "auth.v1.SessionService"],
          watchIntervalMs: WATCH_INTERVAL_MS,
        });
        registerReflection(router, [
          file_grpc_health_v1_health,
          file_grpc_reflection_v1_reflection,
          file_grpc_reflection_v1alpha_reflection,
          file_auth_v1_auth_service,
          file_auth_v1_session_service,
        ]);
      },
    }),
  );
  server.on("session", (session) => {
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  address = `127.0.0.1:${port}`;
  baseUrl = `http://${address}`;

  const healthPkg = protoLoader.loadSync(`${protoDir}/grpc/health/v1/health.proto`, loaderOptions);
  healthCheck = method(healthPkg, "grpc.health.v1.Health", "Check");
  healthWatch = method(healthPkg, "grpc.health.v1.Health", "Watch");
  const reflectionPkg = protoLoader.loadSync(`${protoDir}/grpc/reflection/v1/reflection.proto`, loaderOptions);
  reflectionInfo = method(reflectionPkg, "grpc.reflection.v1.ServerReflection", "ServerReflectionInfo");

  healthClient = new grpc.Client(address, grpc.credentials.createInsecure());
  reflectionClient = new grpc.Client(address, grpc.credentials.createInsecure());
});

afterAll(async () => {
  healthClient?.close();
  reflectionClient?.close();
  if (server !== undefined) {
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const session of sessions) session.destroy();
    await closed;
  }
});

beforeEach(() => {
  probeResult = true;
});

// ---- tests ---------------------------------------------------------------------------------

describe("grpc.health.v1.Health via @grpc/grpc-js", () => {
  it("Check reports SERVING, then NOT_SERVING when the probe fails or rejects", async () => {
    expect(await check("")).toEqual({ status: "SERVING" });
    expect(await check("auth.v1.AuthService")).toEqual({ status: "SERVING" });

    probeResult = false;
    expect(await check("")).toEqual({ status: "NOT_SERVING" });
    expect(await check("auth.v1.SessionService")).toEqual({ status: "NOT_SERVING" });

    probeResult = "reject";
    expect(await check("")).toEqual({ status: "NOT_SERVING" });

    probeResult = true;
    expect(await check("")).toEqual({ status: "SERVING" });
  });

  it("Check answers NOT_FOUND for a service that is not served", async () => {
    const err: unknown = await check("no.such.Service").then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isServiceError(err)).toBe(true);
    expect((err as grpc.ServiceError).code).toBe(grpc.status.NOT_FOUND);
  });

  it("Check answers NOT_FOUND for a very long unknown service name, quoting only its start", async () => {
    // The name is the client's, up to MAX_BODY_BYTES: quoted whole, it made a grpc-message trailer
    // of up to three times its size (percent-encoded), over what clients take (grpc-js: 8 KiB of
    // metadata) or Node sends, and the client got a broken answer instead of NOT_FOUND.
    for (const service of ["é".repeat(30_000), "x".repeat(20_000)]) {
      const err: unknown = await check(service).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isServiceError(err)).toBe(true);
      expect((err as grpc.ServiceError).code).toBe(grpc.status.NOT_FOUND);
      expect((err as grpc.ServiceError).details.length).toBeLessThan(200);
    }
  });

  it("Watch sends the current status, then each change, and stops polling once cancelled", async () => {
    const seen: string[] = [];
    const call = healthClient.makeServerStreamRequest(healthWatch.path, healthWatch.serialize, healthWatch.deserialize, { service: "" });
    let endError: unknown;
    const ended = new Promise<void>((resolve) => {
      call.on("error", (err: unknown) => {
        endError = err;
        resolve();
      });
      call.on("end", () => resolve());
    });
    call.on("data", (res: HealthRes) => seen.push(res.status));

    await until(() => seen.length >= 1, "initial status");
    expect(seen).toEqual(["SERVING"]);

    // Unchanged status is not re-sent, even across several polls.
    const callsBefore = probeCalls;
    await until(() => probeCalls >= callsBefore + 3, "a few polls");
    expect(seen).toEqual(["SERVING"]);

    probeResult = false;
    await until(() => seen.length >= 2, "status change");
    expect(seen).toEqual(["SERVING", "NOT_SERVING"]);

    probeResult = true;
    await until(() => seen.length >= 3, "second status change");
    expect(seen).toEqual(["SERVING", "NOT_SERVING", "SERVING"]);

    call.cancel();
    await ended;
    expect(isServiceError(endError)).toBe(true);
    expect((endError as grpc.ServiceError).code).toBe(grpc.status.CANCELLED);

    // The server notices the cancellation and stops its poll loop (no timer left behind).
    await new Promise((r) => setTimeout(r, WATCH_INTERVAL_MS * 2));
    const callsAfterCancel = probeCalls;
    await new Promise((r) => setTimeout(r, WATCH_INTERVAL_MS * 6));
    expect(probeCalls).toBe(callsAfterCancel);
  });

  it("Watch of an unknown service sends SERVICE_UNKNOWN and stays open", async () => {
    const seen: string[] = [];
    const call = healthClient.makeServerStreamRequest(healthWatch.path, healthWatch.serialize, healthWatch.deserialize, {
      service: "no.such.Service",
    });
    let endError: unknown;
    let ended = false;
    const endedP = new Promise<void>((resolve) => {
      call.on("error", (err: unknown) => {
        endError = err;
        ended = true;
        resolve();
      });
      call.on("end", () => {
        ended = true;
        resolve();
      });
    });
    call.on("data", (res: HealthRes) => seen.push(res.status));

    await until(() => seen.length >= 1, "SERVICE_UNKNOWN");
    await new Promise((r) => setTimeout(r, WATCH_INTERVAL_MS * 4));
    expect(seen).toEqual(["SERVICE_UNKNOWN"]);
    expect(ended).toBe(false);

    call.cancel();
    await endedP;
    expect((endError as grpc.ServiceError).code).toBe(grpc.status.CANCELLED);
  });
});

describe("server reflection via buf curl", () => {
  it("--list-methods lists our services, health and reflection (grpc-v1)", async () => {
    const res = await bufCurl(["--list-methods", baseUrl]);
    expect(res.stderr).toBe("");
    expect(res.exitCode).toBe(0);
    const methods = res.stdout.trim().split("\n");
    expect(methods).toContain("auth.v1.AuthService/Login");
    expect(methods).toContain("auth.v1.AuthService/UnlinkAccount");
    expect(methods).toContain("auth.v1.SessionService/ListSessions");
    expect(methods).toContain("grpc.health.v1.Health/Check");
    expect(methods).toContain("grpc.health.v1.Health/Watch");
    expect(methods).toContain("grpc.reflection.v1.ServerReflection/ServerReflectionInfo");
    expect(methods).toContain("grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo");
  });

  it("--list-services works over grpc-v1alpha too", async () => {
    const res = await bufCurl(["--reflect-protocol", "grpc-v1alpha", "--list-services", baseUrl]);
    expect(res.exitCode).toBe(0);
    expect(res.stdout.trim().split("\n").sort()).toEqual([
      "auth.v1.AuthService",
      "auth.v1.SessionService",
      "grpc.health.v1.Health",
      "grpc.reflection.v1.ServerReflection",
      "grpc.reflection.v1alpha.ServerReflection",
    ]);
  });

  it("resolves the Health schema by reflection and calls Check", async () => {
    const res = await bufCurl(["--data", "{}", `${baseUrl}/grpc.health.v1.Health/Check`]);
    expect(res.exitCode).toBe(0);
    expect(res.stdout).toContain('"status": "SERVING"');

    const grpcRes = await bufCurl(["--protocol", "grpc", "--data", "{}", `${baseUrl}/grpc.health.v1.Health/Check`]);
    expect(grpcRes.exitCode).toBe(0);
    expect(grpcRes.stdout).toContain('"status": "SERVING"');
  });

  it("resolves auth.v1.AuthService (with its imports) by reflection", async () => {
    // The schema resolves (request JSON is validated against it) even though this test server
    // does not mount AuthService, so the call itself ends in Unimplemented: exit code 12 << 3.
    const res = await bufCurl([
      "--data",
      '{"email":"a@example.com","password":"x","rememberMe":true}',
      `${baseUrl}/auth.v1.AuthService/Login`,
    ]);
    expect(res.stderr).toMatch(/unimplemented/i);
    expect(res.exitCode).toBe(12 << 3);

    const bad = await bufCurl(["--data", '{"noSuchField":1}', `${baseUrl}/auth.v1.AuthService/Login`]);
    expect(bad.exitCode).toBeGreaterThan(0);
    expect(bad.exitCode).toBeLessThan(8);
  });
});

describe("server reflection via @grpc/grpc-js (grpc.reflection.v1)", () => {
  it("answers several requests on one stream", async () => {
    const stream = openReflection();
    try {
      const list = await ask(stream, { host: "example", list_services: "*" });
      expect(list.message_response).toBe("list_services_response");
      expect(list.valid_host).toBe("example");
      expect(list.original_request?.list_services).toBe("*");
      expect(list.list_services_response?.service.map((s) => s.name).sort()).toEqual([
        "auth.v1.AuthService",
        "auth.v1.SessionService",
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
      ]);

      const bySymbol = await ask(stream, { file_containing_symbol: "auth.v1.AuthService" });
      expect(bySymbol.message_response).toBe("file_descriptor_response");
      expect(bySymbol.original_request?.file_containing_symbol).toBe("auth.v1.AuthService");
      const protos = (bySymbol.file_descriptor_response?.file_descriptor_proto ?? []).map((bytes) =>
        fromBinary(FileDescriptorProtoSchema, bytes),
      );
      const names = protos.map((p) => p.name);
      expect(names[0]).toBe("auth/v1/auth_service.proto");
      expect(names).toContain("auth/v1/common.proto");
      expect(names).toContain("google/protobuf/timestamp.proto");
      expect(new Set(names).size).toBe(names.length);
      // The set is self-contained: it builds a registry in which the service resolves fully.
      const [requested] = protos;
      if (requested === undefined) throw new Error("no descriptors");
      const registry = createFileRegistry(requested, (name) => protos.find((p) => p.name === name));
      const authService = registry.getService("auth.v1.AuthService");
      expect(authService?.methods.map((m) => m.name)).toContain("Login");
      expect(registry.getMessage("auth.v1.LoginResponse")?.fields.map((f) => f.name)).toContain("tokens");

      const unknown = await ask(stream, { file_containing_symbol: "no.such.Symbol" });
      expect(unknown.message_response).toBe("error_response");
      expect(unknown.error_response?.error_code).toBe(5);
      expect(unknown.original_request?.file_containing_symbol).toBe("no.such.Symbol");

      const method = await ask(stream, { file_containing_symbol: "auth.v1.SessionService.ListSessions" });
      expect(method.file_descriptor_response?.file_descriptor_proto.length).toBeGreaterThan(0);
      const first = method.file_descriptor_response?.file_descriptor_proto[0];
      expect(first && fromBinary(FileDescriptorProtoSchema, first).name).toBe("auth/v1/session_service.proto");

      const byName = await ask(stream, { file_by_filename: "grpc/health/v1/health.proto" });
      const healthFiles = byName.file_descriptor_response?.file_descriptor_proto ?? [];
      expect(healthFiles.map((b) => fromBinary(FileDescriptorProtoSchema, b).name)).toEqual(["grpc/health/v1/health.proto"]);

      const missingFile = await ask(stream, { file_by_filename: "nope.proto" });
      expect(missingFile.error_response?.error_code).toBe(5);

      const extNumbers = await ask(stream, { all_extension_numbers_of_type: "auth.v1.LoginRequest" });
      expect(extNumbers.all_extension_numbers_response).toEqual({
        base_type_name: "auth.v1.LoginRequest",
        extension_number: [],
      });
    } finally {
      stream.end();
    }
    await new Promise<void>((resolve) => {
      stream.on("status", () => resolve());
      stream.resume();
    });
  });
});
