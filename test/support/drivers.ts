// One flow, many clients: each driver calls an RPC the way one kind of client does and returns the
// response as plain data (proto field names in camelCase) or throws a RpcFailure.
//
// Every driver takes the same optional request headers, and every failure is decoded by the one
// ErrorInfo decoder in error-info.ts, whichever protocol carried it.
import { ConnectError, type Transport } from "@connectrpc/connect";
import { toJson, type DescMessage, type DescMethod, type DescService } from "@bufbuild/protobuf";
import type * as grpc from "@grpc/grpc-js";
import { AdminService } from "../../gen/auth/v1/admin_service_pb.js";
import { AuthService } from "../../gen/auth/v1/auth_service_pb.js";
import { EmailSignInService } from "../../gen/auth/v1/email_sign_in_service_pb.js";
import { PasskeyService } from "../../gen/auth/v1/passkey_service_pb.js";
import { ServiceAccountService } from "../../gen/auth/v1/service_account_service_pb.js";
import { SessionService } from "../../gen/auth/v1/session_service_pb.js";
import { TokenService } from "../../gen/auth/v1/token_service_pb.js";
import { TwoFactorService } from "../../gen/auth/v1/two_factor_service_pb.js";
import { createClient } from "@connectrpc/connect";
import { errorInfoFromConnectError, errorInfoFromConnectJson, errorInfoFromStatusBin, type ErrorInfo } from "./error-info.ts";
import { grpcJsCall, grpcJsClients, type GrpcJsClient } from "./harness.ts";

// biome-ignore lint: test data is dynamic
export type Json = any;

export class RpcFailure extends Error {
  /** The status code in snake case, as the Connect protocol spells it ("invalid_argument"). */
  readonly code: string;
  /** ErrorInfo.reason, if the error carried an ErrorInfo. */
  readonly reason: string | undefined;
  /** ErrorInfo.domain, if the error carried an ErrorInfo. */
  readonly domain: string | undefined;
  readonly metadata: Record<string, string>;
  constructor(code: string, info: ErrorInfo | undefined, message: string) {
    super(`${code}/${info?.reason ?? "-"}: ${message}`);
    this.code = code;
    this.reason = info?.reason;
    this.domain = info?.domain;
    this.metadata = info?.metadata ?? {};
  }
}

export type Method =
  `${"AuthService" | "SessionService" | "TwoFactorService" | "ServiceAccountService" | "TokenService" | "AdminService" | "EmailSignInService" | "PasskeyService"}/${string}`;

/** Request headers (gRPC metadata) by lower-case name. */
export type Headers = Record<string, string>;

export interface Driver {
  name: string;
  /**
   * Calls one RPC. A `token` is sent as `authorization: Bearer <token>`. `headers` are sent as
   * given, after the client's own and the token's, so they can also replace them: a test sends an
   * Authorization header of any other form as `call(method, req, undefined, { authorization })`.
   */
  call(method: Method, req: Json, token?: string, headers?: Headers): Promise<Json>;
  close(): void;
}

/** The headers of one call: the client's defaults, the bearer token, then the caller's own. */
export function callHeaders(defaults: Headers, token: string | undefined, headers: Headers = {}): Headers {
  return { ...defaults, ...(token === undefined ? {} : { authorization: `Bearer ${token}` }), ...headers };
}

const grpcCodeNames = [
  "ok",
  "canceled",
  "unknown",
  "invalid_argument",
  "deadline_exceeded",
  "not_found",
  "already_exists",
  "permission_denied",
  "resource_exhausted",
  "failed_precondition",
  "aborted",
  "out_of_range",
  "unimplemented",
  "internal",
  "unavailable",
  "data_loss",
  "unauthenticated",
];

/** A numeric gRPC status code as the Connect protocol names it ("invalid_argument"). */
export const grpcCodeName = (code: number): string => grpcCodeNames[code] ?? String(code);

const services: Record<string, DescService> = {
  AuthService,
  SessionService,
  TwoFactorService,
  ServiceAccountService,
  TokenService,
  AdminService,
  EmailSignInService,
  PasskeyService,
};

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
    ServiceAccountService: createClient(ServiceAccountService, transport) as never,
    TokenService: createClient(TokenService, transport) as never,
    AdminService: createClient(AdminService, transport) as never,
    EmailSignInService: createClient(EmailSignInService, transport) as never,
    PasskeyService: createClient(PasskeyService, transport) as never,
  };
  return {
    name,
    async call(method, req, token, headers) {
      const m = describe(method);
      const [svc] = method.split("/") as [string];
      const fn = clients[svc]?.[lowerFirst(m.name)];
      if (fn === undefined) throw new Error(`no client method for ${method}`);
      try {
        const res = await fn(req, { headers: callHeaders({ "user-agent": userAgent }, token, headers) });
        return toJson(m.output as DescMessage, res);
      } catch (err) {
        const ce = ConnectError.from(err);
        throw new RpcFailure(grpcCodeName(ce.code), errorInfoFromConnectError(ce), ce.rawMessage);
      }
    },
    close() {},
  };
}

/** The ErrorInfo of a @grpc/grpc-js error, from its grpc-status-details-bin trailer. */
export function grpcJsErrorInfo(err: grpc.ServiceError): ErrorInfo | undefined {
  const bin = err.metadata?.get("grpc-status-details-bin")[0];
  return errorInfoFromStatusBin(bin === undefined ? undefined : typeof bin === "string" ? bin : new Uint8Array(bin));
}

/** Plain @grpc/grpc-js, built from the .proto files. */
export function grpcJsDriver(url: string): Driver {
  const clients = grpcJsClients(url);
  const byService: Record<string, GrpcJsClient> = {
    AuthService: clients.auth,
    SessionService: clients.sessions,
    TwoFactorService: clients.twoFactor,
    ServiceAccountService: clients.serviceAccounts,
    TokenService: clients.tokens,
    AdminService: clients.admin,
    EmailSignInService: clients.emailSignIn,
    PasskeyService: clients.passkeys,
  };
  return {
    name: "grpc-js",
    async call(method, req, token, headers) {
      const [svc, name] = method.split("/") as [string, string];
      const client = byService[svc];
      if (client === undefined) throw new Error(`unknown service ${svc}`);
      try {
        return await grpcJsCall(client, name, req, callHeaders({}, token, headers));
      } catch (err) {
        const e = err as grpc.ServiceError;
        throw new RpcFailure(grpcCodeName(e.code), grpcJsErrorInfo(e), e.details);
      }
    },
    close: () => clients.close(),
  };
}

/** JSON over HTTP/1.1 with fetch: the Connect protocol's POST /<service>/<method>. */
export function fetchDriver(url: string, userAgent: string): Driver {
  return {
    name: "fetch-json",
    async call(method, req, token, headers) {
      const all = callHeaders({ "content-type": "application/json", "user-agent": userAgent }, token, headers);
      const res = await fetch(`${url}/auth.v1.${method}`, { method: "POST", headers: all, body: JSON.stringify(req) });
      const body = (await res.json()) as Json;
      if (res.ok) return body;
      throw new RpcFailure(body.code, errorInfoFromConnectJson(body), body.message ?? "");
    },
    close() {},
  };
}

export interface RawAnswer {
  status: number;
  headers: globalThis.Headers;
  contentType: string | null;
  text: string;
}

/**
 * One POST to an RPC's path with exactly this body and these headers, answered as it came: for
 * the tests about bytes on the wire (bodies the protocol layer must refuse, answers that must be
 * byte-identical). Ordinary calls go through a driver.
 */
export async function rawRpc(url: string, method: Method, body: string | Uint8Array, headers: Headers): Promise<RawAnswer> {
  const res = await fetch(`${url}/auth.v1.${method}`, { method: "POST", headers, body });
  return { status: res.status, headers: res.headers, contentType: res.headers.get("content-type"), text: await res.text() };
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
