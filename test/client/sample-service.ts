// A small microservice behind authd, as a team using @authd/client would write it: a Connect server
// whose one RPC answers who called, guarded by the package's verifier interceptor. Its service is
// described at run time (no .proto to generate from), which is all a test needs.
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { create, createFileRegistry, type DescService } from "@bufbuild/protobuf";
import { FieldDescriptorProto_Label, FieldDescriptorProto_Type, FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { createClient, type HandlerContext, type Interceptor, type ServiceImpl, type Transport } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { type AuthInterceptorOptions, createAuthInterceptor, requireCaller } from "../../packages/client/src/node.ts";

const field = (name: string, number: number, type: FieldDescriptorProto_Type, label = FieldDescriptorProto_Label.OPTIONAL) => ({
  name,
  number,
  type,
  label,
  jsonName: name.replace(/_(.)/g, (_, c: string) => c.toUpperCase()),
});

const file = create(FileDescriptorProtoSchema, {
  name: "sample/v1/orders.proto",
  package: "sample.v1",
  syntax: "proto3",
  messageType: [
    { name: "WhoAmIRequest" },
    {
      name: "WhoAmIResponse",
      field: [
        field("user_id", 1, FieldDescriptorProto_Type.STRING),
        field("session_id", 2, FieldDescriptorProto_Type.STRING),
        field("permissions", 3, FieldDescriptorProto_Type.STRING, FieldDescriptorProto_Label.REPEATED),
        field("checked_live", 4, FieldDescriptorProto_Type.BOOL),
        field("roles", 5, FieldDescriptorProto_Type.STRING, FieldDescriptorProto_Label.REPEATED),
      ],
    },
  ],
  service: [
    { name: "OrderService", method: [{ name: "WhoAmI", inputType: ".sample.v1.WhoAmIRequest", outputType: ".sample.v1.WhoAmIResponse" }] },
  ],
});

/** sample.v1.OrderService: WhoAmI answers the verified caller as the handler's context has it. */
export const OrderService: DescService = createFileRegistry(file, () => undefined).getService("sample.v1.OrderService") as DescService;

export interface WhoAmI {
  userId: string;
  sessionId: string;
  roles: string[];
  permissions: string[];
  checkedLive: boolean;
}

/** A client of the sample service: whoAmI() with the caller as plain data. */
export function sampleClient(transport: Transport): { whoAmI(): Promise<WhoAmI> } {
  // A service described at run time has no typed methods: the one it has is called by name.
  const client = createClient(OrderService, transport) as unknown as { whoAmI(req: object): Promise<WhoAmI> };
  return {
    whoAmI: async () => {
      const res = await client.whoAmI({});
      const { userId, sessionId, roles, permissions, checkedLive } = res;
      return { userId, sessionId, roles: [...roles], permissions: [...permissions], checkedLive };
    },
  };
}

export interface SampleServer {
  url: string;
  /** Calls that reached the handler (passed the interceptor). */
  served(): number;
  close(): Promise<void>;
}

/** Starts the sample service on an ephemeral port (HTTP/2 without TLS, as gRPC clients expect). */
export async function startSampleServer(auth: AuthInterceptorOptions, more: Interceptor[] = []): Promise<SampleServer> {
  let served = 0;
  const handler = connectNodeAdapter({
    interceptors: [createAuthInterceptor(auth), ...more],
    routes(router) {
      const whoAmI = (_req: unknown, ctx: HandlerContext) => {
        const caller = requireCaller(ctx);
        served++;
        const { userId, sessionId, roles, permissions, checkedLive } = caller;
        return { userId, sessionId, roles, permissions, checkedLive };
      };
      router.service(OrderService, { whoAmI } as unknown as ServiceImpl<DescService>);
    },
  });
  const server = http2.createServer(handler);
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on("session", (s) => {
    sessions.add(s);
    s.on("close", () => sessions.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    served: () => served,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sessions) s.close();
      }),
  };
}
