// gRPC server reflection — https://github.com/grpc/grpc/blob/master/doc/server-reflection.md
//
// Serves both grpc.reflection.v1.ServerReflection and grpc.reflection.v1alpha.ServerReflection
// (same messages, different package) from the descriptors embedded in the generated code.
// `files` are the files whose services are served; their transitive imports (including the
// google/protobuf well-known types) are reachable through DescFile.dependencies.

import { toBinary } from "@bufbuild/protobuf";
import type { DescEnum, DescExtension, DescFile, DescMessage } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import type { ConnectRouter } from "@connectrpc/connect";
import { ServerReflection as ServerReflectionV1 } from "../../gen/grpc/reflection/v1/reflection_pb.js";
import { ServerReflection as ServerReflectionV1alpha } from "../../gen/grpc/reflection/v1alpha/reflection_pb.js";

// gRPC status codes as they appear in ErrorResponse.error_code.
const GRPC_INVALID_ARGUMENT = 3;
const GRPC_NOT_FOUND = 5;

/** The request fields we read; both the v1 and the v1alpha request messages have this shape. */
interface ReflectionQuery {
  messageRequest:
    | { case: "fileByFilename" | "fileContainingSymbol" | "allExtensionNumbersOfType" | "listServices"; value: string }
    | { case: "fileContainingExtension"; value: { containingType: string; extensionNumber: number } }
    | { case: undefined; value?: undefined };
}

/** The response oneof, as an init shape both the v1 and the v1alpha response accept. */
type ReflectionAnswer =
  | { case: "fileDescriptorResponse"; value: { fileDescriptorProto: Uint8Array[] } }
  | { case: "allExtensionNumbersResponse"; value: { baseTypeName: string; extensionNumber: number[] } }
  | { case: "listServicesResponse"; value: { service: { name: string }[] } }
  | { case: "errorResponse"; value: { errorCode: number; errorMessage: string } };

export function registerReflection(router: ConnectRouter, files: DescFile[]): void {
  const answer = createReflectionIndex(files);

  router.service(ServerReflectionV1, {
    async *serverReflectionInfo(requests) {
      for await (const req of requests) {
        yield { validHost: req.host, originalRequest: req, messageResponse: answer(req) };
      }
    },
  });
  router.service(ServerReflectionV1alpha, {
    async *serverReflectionInfo(requests) {
      for await (const req of requests) {
        yield { validHost: req.host, originalRequest: req, messageResponse: answer(req) };
      }
    },
  });
}

function createReflectionIndex(files: DescFile[]): (req: ReflectionQuery) => ReflectionAnswer {
  // Every file reachable from `files`, by its proto path ("auth/v1/auth_service.proto").
  const fileByName = new Map<string, DescFile>();
  const addFile = (file: DescFile): void => {
    if (fileByName.has(file.proto.name)) return;
    fileByName.set(file.proto.name, file);
    for (const dep of file.dependencies) addFile(dep);
  };
  for (const file of files) addFile(file);

  // Fully-qualified symbol → file that defines it.
  const fileBySymbol = new Map<string, DescFile>();
  // Extendee type name → (field number → file that defines the extension).
  const extensionsByExtendee = new Map<string, Map<number, DescFile>>();
  const messageNames = new Set<string>();

  const addExtension = (ext: DescExtension): void => {
    fileBySymbol.set(ext.typeName, ext.file);
    let byNumber = extensionsByExtendee.get(ext.extendee.typeName);
    if (byNumber === undefined) {
      byNumber = new Map();
      extensionsByExtendee.set(ext.extendee.typeName, byNumber);
    }
    byNumber.set(ext.number, ext.file);
  };
  const addEnum = (en: DescEnum): void => {
    fileBySymbol.set(en.typeName, en.file);
    // Enum values live in the scope that encloses the enum (C++ scoping rules).
    const scope = en.parent?.typeName ?? en.file.proto.package;
    for (const value of en.values) {
      fileBySymbol.set(scope === "" ? value.name : `${scope}.${value.name}`, en.file);
    }
  };
  const addMessage = (msg: DescMessage): void => {
    fileBySymbol.set(msg.typeName, msg.file);
    messageNames.add(msg.typeName);
    msg.nestedMessages.forEach(addMessage);
    msg.nestedEnums.forEach(addEnum);
    msg.nestedExtensions.forEach(addExtension);
  };
  for (const file of fileByName.values()) {
    file.messages.forEach(addMessage);
    file.enums.forEach(addEnum);
    file.extensions.forEach(addExtension);
    for (const service of file.services) {
      fileBySymbol.set(service.typeName, file);
      for (const method of service.methods) fileBySymbol.set(`${service.typeName}.${method.name}`, file);
    }
  }

  // Only the services of the files passed in (not of their imports) are advertised.
  const serviceNames = [...new Set(files.flatMap((f) => f.services.map((s) => s.typeName)))];

  const encoded = new Map<string, Uint8Array>();
  const encode = (file: DescFile): Uint8Array => {
    let bytes = encoded.get(file.proto.name);
    if (bytes === undefined) {
      bytes = toBinary(FileDescriptorProtoSchema, file.proto);
      encoded.set(file.proto.name, bytes);
    }
    return bytes;
  };

  // The requested file first (clients treat the first one as the answer), then every file it
  // imports, transitively, each once.
  const fileResponse = (file: DescFile): ReflectionAnswer => {
    const seen = new Set<string>();
    const out: Uint8Array[] = [];
    const visit = (f: DescFile): void => {
      if (seen.has(f.proto.name)) return;
      seen.add(f.proto.name);
      out.push(encode(f));
      for (const dep of f.dependencies) visit(dep);
    };
    visit(file);
    return { case: "fileDescriptorResponse", value: { fileDescriptorProto: out } };
  };

  const notFound = (what: string): ReflectionAnswer => ({
    case: "errorResponse",
    value: { errorCode: GRPC_NOT_FOUND, errorMessage: `${what} not found` },
  });

  // Some clients send symbols with a leading dot.
  const symbolName = (name: string): string => (name.startsWith(".") ? name.slice(1) : name);

  return (req: ReflectionQuery): ReflectionAnswer => {
    const r = req.messageRequest;
    switch (r.case) {
      case "listServices":
        return { case: "listServicesResponse", value: { service: serviceNames.map((name) => ({ name })) } };
      case "fileByFilename": {
        const file = fileByName.get(r.value);
        return file === undefined ? notFound(`file "${r.value}"`) : fileResponse(file);
      }
      case "fileContainingSymbol": {
        const file = fileBySymbol.get(symbolName(r.value));
        return file === undefined ? notFound(`symbol "${r.value}"`) : fileResponse(file);
      }
      case "fileContainingExtension": {
        const { containingType, extensionNumber } = r.value;
        const file = extensionsByExtendee.get(symbolName(containingType))?.get(extensionNumber);
        return file === undefined ? notFound(`extension ${extensionNumber} of "${containingType}"`) : fileResponse(file);
      }
      case "allExtensionNumbersOfType": {
        const typeName = symbolName(r.value);
        if (!messageNames.has(typeName)) return notFound(`message type "${r.value}"`);
        const numbers = [...(extensionsByExtendee.get(typeName)?.keys() ?? [])].sort((a, b) => a - b);
        return { case: "allExtensionNumbersResponse", value: { baseTypeName: typeName, extensionNumber: numbers } };
      }
      case undefined:
        return {
          case: "errorResponse",
          value: { errorCode: GRPC_INVALID_ARGUMENT, errorMessage: "message_request is not set" },
        };
    }
  };
}
