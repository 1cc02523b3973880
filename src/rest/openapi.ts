// The OpenAPI 3.1 description of the REST paths, built from the same route declarations the
// handler serves, so the two cannot drift apart. Served at GET /openapi.json.

import type { Route } from "./declaration.ts";
import { docs } from "./envelopes.ts";

export function openApiDocument(routes: Route[]): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    const path = route.path.replace(/:([A-Za-z_]+)/g, "{$1}");
    const pathParams = [...route.path.matchAll(/:([A-Za-z_]+)/g)].map((m) => ({
      name: m[1],
      in: "path",
      required: true,
      schema: { type: "string" },
    }));
    const queryParams = Object.entries(route.query ?? {}).map(([name, type]) => ({ name, in: "query", schema: { type } }));
    const status = String(route.status ?? 200);
    const operation: Record<string, unknown> = {
      operationId: `${route.method.toLowerCase()}${route.path.replace(/[^A-Za-z0-9]+(.)?/g, (_m, c: string | undefined) => (c ?? "").toUpperCase())}`,
      summary: route.summary,
      tags: route.docs.map((d) => docs[d].title),
      "x-documents": route.docs.map((d) => docs[d].file),
      parameters: [...pathParams, ...queryParams],
      responses: {
        [status]: {
          description: status === "204" ? "No content" : "Success",
          ...(status === "204"
            ? {}
            : {
                content: {
                  "application/json": {
                    schema: { type: route.returns[0]?.startsWith("[]") ? "array" : "object" },
                    "x-documented-fields": route.returns,
                  },
                },
              }),
        },
        default: {
          description: "Error, in the owning document's error shape, with `code` set to the machine-readable reason",
          content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } },
        },
      },
    };
    if (route.body !== undefined) {
      operation.requestBody = {
        required: false,
        content: {
          "application/json": {
            schema: {
              type: "object",
              properties: Object.fromEntries(Object.entries(route.body).map(([name, type]) => [name, { type }])),
            },
          },
        },
      };
    }
    if (route.auth === "user") operation.security = [{ bearerAuth: [] }, { sessionCookie: [] }];
    if (route.auth === "challenge") operation.security = [{ challengeBearer: [] }];
    paths[path] = { ...paths[path], [route.method.toLowerCase()]: operation };
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "authd legacy REST paths",
      version: "1.0.0",
      description:
        "The REST paths of the legacy documents described in docs/legacy-rest/, served on the same port as the gRPC, gRPC-Web and Connect API and mapped onto the same operations.",
    },
    paths,
    components: {
      securitySchemes: {
        bearerAuth: { type: "http", scheme: "bearer", bearerFormat: "JWT" },
        sessionCookie: { type: "apiKey", in: "cookie", name: "session" },
        challengeBearer: { type: "http", scheme: "bearer", description: "The token /auth/login returned with requires2FA" },
      },
      schemas: {
        Error: {
          type: "object",
          properties: {
            code: { type: "string", description: "The reason, as in auth.v1.ErrorReason" },
            message: { oneOf: [{ type: "string" }, { type: "array", items: { type: "string" } }] },
            success: { type: "boolean" },
            error: { type: "string" },
            statusCode: { type: "integer" },
            details: { type: "object" },
          },
          required: ["code"],
        },
      },
    },
  };
}
