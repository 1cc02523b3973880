// One flow, many clients: each driver calls an RPC the way one kind of client does and returns the
// response as plain data (proto field names in camelCase) or throws a RpcFailure.
import { ConnectError, type Transport } from "@connectrpc/connect";
import { toJson, type DescMessage, type DescMethod, type DescService } from "@bufbuild/protobuf";
import type * as grpc from "@grpc/grpc-js";
import protobuf from "protobufjs";
import { AuthService } from "../../gen/auth/v1/auth_service_pb.js";
import { SessionService } from "../../gen/auth/v1/session_service_pb.js";
import { TwoFactorService } from "../../gen/auth/v1/two_factor_service_pb.js";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { createClient } from "@connectrpc/connect";
import { grpcJsCall, grpcJsClients, grpcJsReason, type GrpcJsClient } from "./harness.ts";

// biome-ignore lint: test data is dynamic
export type Json = any;

export class RpcFailure extends Error {
  readonly code: string;
  readonly reason: string | undefined;
  readonly metadata: Record<string, string>;
  constructor(code: string, reason: string | undefined, message: string, metadata: Record<string, string> = {}) {
    super(`${code}/${reason ?? "-"}: ${message}`);
    this.code = code;
    this.reason = reason;
    this.metadata = metadata;
  }
}

export type Method = `${"AuthService" | "SessionService" | "TwoFactorService"}/${string}`;

export interface Driver {
  name: string;
  call(method: Method, req: Json, token?: string): Promise<Json>;
  close(): void;
}

const grpcCodeNames = [
  "ok", "canceled", "unknown", "invalid_argument", "deadline_exceeded", "not_found", "already_exists",
  "permission_denied", "resource_exhausted", "failed_precondition", "aborted", "out_of_range",
  "unimplemented", "internal", "unavailable", "data_loss", "unauthenticated",
];

const services: Record<string, DescService> = { AuthService, SessionService, TwoFactorService };

function describe(method: Method): DescMethod {
  const [svc, name] = method.split("/") as [string, string];
  const service = services[svc];
  const m = service?.methods.find((x) => x.name === name);
  if (m === undefined) throw new Error(`unknown method ${method}`);
  return m;
}

const lowerFirst = (s: string) => s.charAt(0).toLowerCase() + s.slice(1);

/** The generated Connect client over any transport (gRPC, Connect JSON, gRPC-Web). */
export function connectDriver(name: string, transport: Transport, userAgent: string): Driver {
  const clients: Record<string, Record<string, (req: Json, opts: object) => Promise<Json>>> = {
    AuthService: createClient(AuthService, transport) as never,
    SessionService: createClient(SessionService, transport) as never,
    TwoFactorService: createClient(TwoFactorService, transport) as never,
  };
  return {
    name,
    async call(method, req, token) {
      const m = describe(method);
      const [svc] = method.split("/") as [string];
      const headers: Record<string, string> = { "user-agent": userAgent };
      if (token !== undefined) headers.authorization = `Bearer ${token}`;
      const fn = clients[svc]?.[lowerFirst(m.name)];
      if (fn === undefined) throw new Error(`no client method for ${method}`);
      try {
        const res = await fn(req, { headers });
        return toJson(m.output as DescMessage, res);
      } catch (err) {
        const ce = ConnectError.from(err);
        const info = ce.findDetails(ErrorInfoSchema)[0];
        throw new RpcFailure(grpcCodeNames[ce.code] ?? String(ce.code), info?.reason, ce.rawMessage, info?.metadata);
      }
    },
    close() {},
  };
}

/** Plain @grpc/grpc-js, built from the .proto files; errors decoded with protobufjs. */
export function grpcJsDriver(url: string): Driver {
  const clients = grpcJsClients(url);
  const byService: Record<string, GrpcJsClient> = {
    AuthService: clients.auth,
    SessionService: clients.sessions,
    TwoFactorService: clients.twoFactor,
  };
  return {
    name: "grpc-js",
    async call(method, req, token) {
      const [svc, name] = method.split("/") as [string, string];
      const client = byService[svc];
      if (client === undefined) throw new Error(`unknown service ${svc}`);
      try {
        return await grpcJsCall(client, name, req, token);
      } catch (err) {
        const e = err as grpc.ServiceError;
        const { reason, metadata } = grpcJsReason(e);
        throw new RpcFailure(grpcCodeNames[e.code] ?? String(e.code), reason, e.details, metadata);
      }
    },
    close: () => clients.close(),
  };
}

const errorInfoType = protobuf.parse(`
syntax = "proto3";
message ErrorInfo { string reason = 1; string domain = 2; map<string, string> metadata = 3; }
`).root.lookupType("ErrorInfo");

/** JSON over HTTP/1.1 with fetch: the Connect protocol's POST /<service>/<method>. */
export function fetchDriver(url: string, userAgent: string): Driver {
  return {
    name: "fetch-json",
    async call(method, req, token) {
      const headers: Record<string, string> = { "content-type": "application/json", "user-agent": userAgent };
      if (token !== undefined) headers.authorization = `Bearer ${token}`;
      const res = await fetch(`${url}/auth.v1.${method}`, { method: "POST", headers, body: JSON.stringify(req) });
      const body = (await res.json()) as Json;
      if (res.ok) return body;
      const info = (body.details ?? []).find((d: Json) => d.type === "google.rpc.ErrorInfo");
      const decoded = info === undefined ? undefined : (errorInfoType.toObject(errorInfoType.decode(Buffer.from(info.value, "base64"))) as Json);
      throw new RpcFailure(body.code, decoded?.reason, body.message ?? "", decoded?.metadata ?? {});
    },
    close() {},
  };
}

/** Asserts that a call fails with exactly this code and reason; returns the failure. */
export async function failure(p: Promise<unknown>): Promise<RpcFailure> {
  try {
    await p;
  } catch (err) {
    if (err instanceof RpcFailure) return err;
    throw err;
  }
  throw new Error("expected the call to fail, but it succeeded");
}
