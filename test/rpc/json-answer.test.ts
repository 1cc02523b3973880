// The JSON answers of the unary fast path (src/rpc/json-answer.ts) against their oracle, Connect's
// own JSON serializer (createMethodSerializationLookup: protobuf-es's toJsonString and UTF-8): for
// every answer schema of every service the server registers, every schema reachable from them, the
// well-known types and a test schema with what ours lack (maps, floats, wrappers, Struct, Any,
// proto2 required fields and defaults, json_name), seeded random messages must give the same bytes,
// or the same error (a ConnectError, INTERNAL, with protobuf-es's message).
import { create, createFileRegistry, type DescField, type DescFile, type DescMessage, type Registry, ScalarType } from "@bufbuild/protobuf";
import * as wkt from "@bufbuild/protobuf/wkt";
import {
  FieldDescriptorProto_Label as Label,
  FieldDescriptorProto_Type as Type,
  FileDescriptorProtoSchema,
  TimestampSchema,
} from "@bufbuild/protobuf/wkt";
import { ConnectError, createConnectRouter } from "@connectrpc/connect";
import { createMethodSerializationLookup, type Serialization } from "@connectrpc/connect/protocol";
import { describe, expect, it } from "vitest";
import { jsonAnswerSerialization, messageWriter, withJsonAnswers } from "../../src/rpc/json-answer.ts";
import { registerAuthServices } from "../../src/rpc/services.ts";
import { registerHealth } from "../../src/server/health.ts";
import { registerReflection } from "../../src/server/reflection.ts";
import type { Operations } from "../../src/operations.ts";

const limits = { readMaxBytes: 0xffffffff, writeMaxBytes: 0xffffffff };
const messagesPerSchema = 300;

/** The answer schemas of every method the server registers (the registrations of src/server/app.ts). */
function registeredOutputs(): DescMessage[] {
  const router = createConnectRouter();
  registerAuthServices(router, {} as Operations);
  registerHealth(router, { probe: async () => true, services: [] });
  registerReflection(router, []);
  return [...new Set(router.handlers.map((h) => h.method.output))];
}

/** `roots` and every message schema their fields reach. */
function reachable(roots: DescMessage[]): DescMessage[] {
  const found = new Set<DescMessage>();
  const visit = (desc: DescMessage) => {
    if (found.has(desc)) return;
    found.add(desc);
    for (const f of desc.fields) if (f.message !== undefined) visit(f.message);
  };
  roots.forEach(visit);
  return [...found];
}

const messagesOf = (file: DescFile): DescMessage[] => {
  const all: DescMessage[] = [];
  const add = (m: DescMessage) => {
    all.push(m);
    m.nestedMessages.forEach(add);
  };
  file.messages.forEach(add);
  return all;
};

// A schema with what the service's own lack. Fields by number: every scalar type implicit, proto3
// optional and repeated; maps with each kind of key and value; wrappers, Struct, Value, ListValue,
// Any, Duration, FieldMask, Empty, Timestamp; a oneof; custom JSON names, "__proto__" among them;
// and a recursive field.
const scalarTypes: Array<[string, Type]> = [
  ["double", Type.DOUBLE],
  ["float", Type.FLOAT],
  ["int64", Type.INT64],
  ["uint64", Type.UINT64],
  ["int32", Type.INT32],
  ["fixed64", Type.FIXED64],
  ["fixed32", Type.FIXED32],
  ["bool", Type.BOOL],
  ["string", Type.STRING],
  ["bytes", Type.BYTES],
  ["uint32", Type.UINT32],
  ["sfixed32", Type.SFIXED32],
  ["sfixed64", Type.SFIXED64],
  ["sint32", Type.SINT32],
  ["sint64", Type.SINT64],
];
const wellKnownFields: Array<[string, string]> = [
  ["string_value", ".google.protobuf.StringValue"],
  ["int64_value", ".google.protobuf.Int64Value"],
  ["uint32_value", ".google.protobuf.UInt32Value"],
  ["bool_value", ".google.protobuf.BoolValue"],
  ["double_value", ".google.protobuf.DoubleValue"],
  ["float_value", ".google.protobuf.FloatValue"],
  ["bytes_value", ".google.protobuf.BytesValue"],
  ["value", ".google.protobuf.Value"],
  ["list_value", ".google.protobuf.ListValue"],
  ["any", ".google.protobuf.Any"],
  ["duration", ".google.protobuf.Duration"],
  ["field_mask", ".google.protobuf.FieldMask"],
  ["empty", ".google.protobuf.Empty"],
  ["timestamp", ".google.protobuf.Timestamp"],
];

function testSchemas(): DescMessage[] {
  // protoc's JSON name of a field (protobuf-es takes the descriptor's as it is).
  const jsonName = (name: string) => name.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
  const scalar = (name: string, number: number, type: Type, extra: object = {}) => ({
    name,
    number,
    type,
    label: Label.OPTIONAL,
    jsonName: jsonName(name),
    ...extra,
  });
  const message = (name: string, number: number, typeName: string, extra: object = {}) =>
    scalar(name, number, Type.MESSAGE, { typeName, ...extra });
  const entry = (name: string, key: Type, value: { type: Type; typeName?: string }) => ({
    name,
    field: [scalar("key", 1, key), { name: "value", number: 2, label: Label.OPTIONAL, ...value }],
    options: { mapEntry: true },
  });
  const kinds = create(FileDescriptorProtoSchema, {
    name: "test/kinds.proto",
    package: "test",
    syntax: "proto3",
    dependency: [
      "google/protobuf/wrappers.proto",
      "google/protobuf/struct.proto",
      "google/protobuf/any.proto",
      "google/protobuf/duration.proto",
      "google/protobuf/field_mask.proto",
      "google/protobuf/empty.proto",
      "google/protobuf/timestamp.proto",
    ],
    enumType: [
      {
        name: "Color",
        value: [
          { name: "COLOR_UNSPECIFIED", number: 0 },
          { name: "COLOR_RED", number: 1 },
          { name: "COLOR_BLUE", number: -2 },
        ],
      },
    ],
    messageType: [
      {
        name: "Kinds",
        field: [
          ...scalarTypes.map(([name, type], i) => scalar(`implicit_${name}`, 1 + i, type)),
          ...scalarTypes.map(([name, type], i) => scalar(`optional_${name}`, 101 + i, type, { proto3Optional: true, oneofIndex: 1 + i })),
          ...scalarTypes.map(([name, type], i) => scalar(`repeated_${name}`, 201 + i, type, { label: Label.REPEATED })),
          scalar("color", 301, Type.ENUM, { typeName: ".test.Color" }),
          scalar("colors", 302, Type.ENUM, { typeName: ".test.Color", label: Label.REPEATED }),
          scalar("null_value", 303, Type.ENUM, { typeName: ".google.protobuf.NullValue" }),
          ...wellKnownFields.map(([name, typeName], i) => message(name, 401 + i, typeName)),
          ...wellKnownFields.map(([name, typeName], i) => message(`repeated_${name}`, 451 + i, typeName, { label: Label.REPEATED })),
          message("struct", 499, ".google.protobuf.Struct"),
          message("map_string_string", 501, ".test.Kinds.MapStringStringEntry", { label: Label.REPEATED }),
          message("map_int32_kinds", 502, ".test.Kinds.MapInt32KindsEntry", { label: Label.REPEATED }),
          message("map_bool_color", 503, ".test.Kinds.MapBoolColorEntry", { label: Label.REPEATED }),
          message("map_uint64_bytes", 504, ".test.Kinds.MapUint64BytesEntry", { label: Label.REPEATED }),
          message("map_int64_double", 505, ".test.Kinds.MapInt64DoubleEntry", { label: Label.REPEATED }),
          message("map_string_timestamp", 506, ".test.Kinds.MapStringTimestampEntry", { label: Label.REPEATED }),
          scalar("choice_string", 601, Type.STRING, { oneofIndex: 0 }),
          message("choice_kinds", 602, ".test.Kinds", { oneofIndex: 0 }),
          message("choice_wrapper", 603, ".google.protobuf.Int32Value", { oneofIndex: 0 }),
          message("choice_timestamp", 604, ".google.protobuf.Timestamp", { oneofIndex: 0 }),
          scalar("choice_enum", 605, Type.ENUM, { typeName: ".test.Color", oneofIndex: 0 }),
          scalar("renamed", 701, Type.STRING, { jsonName: "otherName" }),
          scalar("unicode_name", 702, Type.INT32, { jsonName: 'naïve\u2028"quoted"' }),
          scalar("proto_key", 703, Type.STRING, { jsonName: "__proto__" }),
          message("child", 801, ".test.Kinds"),
          message("children", 802, ".test.Kinds", { label: Label.REPEATED }),
        ],
        oneofDecl: [{ name: "choice" }, ...scalarTypes.map(([name]) => ({ name: `_optional_${name}` }))],
        nestedType: [
          entry("MapStringStringEntry", Type.STRING, { type: Type.STRING }),
          entry("MapInt32KindsEntry", Type.INT32, { type: Type.MESSAGE, typeName: ".test.Kinds" }),
          entry("MapBoolColorEntry", Type.BOOL, { type: Type.ENUM, typeName: ".test.Color" }),
          entry("MapUint64BytesEntry", Type.UINT64, { type: Type.BYTES }),
          entry("MapInt64DoubleEntry", Type.INT64, { type: Type.DOUBLE }),
          entry("MapStringTimestampEntry", Type.STRING, { type: Type.MESSAGE, typeName: ".google.protobuf.Timestamp" }),
        ],
      },
      // A JSON name that is an array index: JavaScript writes such keys first.
      { name: "IndexName", field: [scalar("a", 1, Type.STRING), scalar("b", 2, Type.STRING, { jsonName: "7" })] },
      // Two fields with one JSON name (protoc refuses it; a descriptor can hold it): the last value, in the first place.
      {
        name: "SameName",
        field: [scalar("a", 1, Type.STRING, { jsonName: "x" }), scalar("b", 2, Type.INT32), scalar("c", 3, Type.STRING, { jsonName: "x" })],
      },
    ],
  });
  // proto2: required fields, defaults on the prototype, explicit presence everywhere.
  const legacy = create(FileDescriptorProtoSchema, {
    name: "test/legacy.proto",
    package: "test2",
    syntax: "proto2",
    enumType: [
      {
        name: "Mode",
        value: [
          { name: "MODE_A", number: 3 },
          { name: "MODE_B", number: 4 },
        ],
      },
    ],
    messageType: [
      {
        name: "Legacy",
        field: [
          scalar("required_string", 1, Type.STRING, { label: Label.REQUIRED }),
          scalar("with_default", 2, Type.INT32, { defaultValue: "42" }),
          scalar("mode", 3, Type.ENUM, { typeName: ".test2.Mode" }),
          scalar("text", 4, Type.STRING, { defaultValue: "hello" }),
          scalar("numbers", 5, Type.SINT64, { label: Label.REPEATED }),
          scalar("ratio", 6, Type.FLOAT, { defaultValue: "inf" }),
        ],
      },
    ],
  });
  const wktFiles = new Map<string, DescFile>(
    Object.values(wkt)
      .filter((v): v is DescFile => typeof v === "object" && v !== null && (v as { kind?: string }).kind === "file")
      .map((f) => [f.proto.name, f]),
  );
  const registry: Registry = createFileRegistry(
    createFileRegistry(kinds, (name) => wktFiles.get(name)),
    createFileRegistry(legacy, () => undefined),
  );
  return ["test.Kinds", "test.IndexName", "test.SameName", "test2.Legacy"].map((name) => {
    const desc = registry.getMessage(name);
    if (desc === undefined) throw new Error(`no ${name}`);
    return desc;
  });
}

/** A seeded generator (mulberry32), so that a failure is the same on every run. */
function random(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)] as T;
  return { next, int, pick, chance: (p: number) => next() < p };
}
type Random = ReturnType<typeof random>;

const strings = [
  "",
  "a",
  "Ada Lovelace",
  "ada@example.com",
  "héllo ✓ 😀",
  "\ud800",
  "x\udc00y",
  "\u2028\u2029",
  '"\\/\b\f\n\r\t\u0000\u001f\u007f',
  "\ud83d\ude00",
];
const int64s = [0n, 1n, -1n, 9223372036854775807n, -9223372036854775808n, 1765000000000n];
const uint64s = [0n, 1n, 18446744073709551615n, 9007199254740993n];
const doubles = [0, -0, 1, -1.5, 0.1, 1e21, 1e-7, 5e-324, Number.MAX_VALUE, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY];

// Timestamps: protobuf-es's range (0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z) and just outside it,
// each length of fraction, and nanos it refuses.
const secondsMin = -62135596800n;
const secondsMax = 253402300799n;
const timestampSeconds = [
  secondsMin,
  secondsMax,
  0n,
  -1n,
  951782400n /* 2000-02-29 */,
  4107456000n /* 2100-02-28 */,
  -2203891200n /* 1900-03-01 */,
];
const nanosValues = [0, 1, 1000, 1000000, 999999999, 123456789, 120000000, 100, 10000];

function randomSeconds(r: Random): bigint {
  if (r.chance(0.5)) return r.pick(timestampSeconds);
  return secondsMin + BigInt(Math.floor(r.next() * Number(secondsMax - secondsMin + 1n)));
}

function randomTimestamp(r: Random, wrong: boolean): wkt.Timestamp {
  const t = create(TimestampSchema, { seconds: randomSeconds(r), nanos: r.chance(0.5) ? r.pick(nanosValues) : r.int(1e9) });
  if (wrong) {
    const which = r.int(4);
    if (which === 0) t.seconds = secondsMin - 1n;
    else if (which === 1) t.seconds = secondsMax + 1n;
    else if (which === 2) t.nanos = -1;
    else t.nanos = 1_000_000_000;
  }
  return t;
}

function randomScalar(r: Random, type: ScalarType): unknown {
  switch (type) {
    case ScalarType.STRING:
      return r.chance(0.7) ? r.pick(strings) : String.fromCharCode(...Array.from({ length: r.int(12) }, () => r.int(0x10000)));
    case ScalarType.BOOL:
      return r.chance(0.5);
    case ScalarType.BYTES:
      return Uint8Array.from({ length: r.pick([0, 1, 2, 3, 4, 31]) }, () => r.int(256));
    case ScalarType.DOUBLE:
      return r.chance(0.6) ? r.pick(doubles) : (r.next() - 0.5) * 10 ** r.int(30);
    case ScalarType.FLOAT:
      return r.chance(0.6) ? Math.fround(r.pick(doubles)) : Math.fround((r.next() - 0.5) * 10 ** r.int(30));
    case ScalarType.INT32:
    case ScalarType.SINT32:
    case ScalarType.SFIXED32:
      return r.pick([0, 1, -1, 2147483647, -2147483648, r.int(2 ** 31) - 2 ** 30]);
    case ScalarType.UINT32:
    case ScalarType.FIXED32:
      return r.pick([0, 1, 4294967295, r.int(2 ** 32)]);
    case ScalarType.UINT64:
    case ScalarType.FIXED64:
      return r.chance(0.6) ? r.pick(uint64s) : BigInt(r.int(2 ** 53));
    default:
      return r.chance(0.6) ? r.pick(int64s) : BigInt(r.int(2 ** 53) - 2 ** 52);
  }
}

/** A value of another type than the field holds, which protobuf-es refuses or writes as it can. */
const wrongValues = ["12", 1.5, 3, true, null, {}, [], 7n, "x"];

function randomEnum(r: Random, field: DescField): unknown {
  const values = field.enum?.values ?? [];
  return r.chance(0.8) ? r.pick(values).number : r.pick([12345, -7, 99]);
}

/** A JSON object, which is what a google.protobuf.Struct field holds. */
function randomJsonObject(r: Random, depth: number): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  for (let i = r.int(4); i > 0; i--) {
    const kind = r.int(6);
    o[r.pick(["a", "b", "1", "é", "__x", "02"])] =
      kind === 0
        ? null
        : kind === 1
          ? r.pick(strings)
          : kind === 2
            ? r.pick([0, -1.5, 1e21])
            : kind === 3
              ? r.chance(0.5)
              : depth > 1
                ? {}
                : randomJsonObject(r, depth + 1);
  }
  return o;
}

/** One value of a field (for lists and maps, one item), of the type protobuf-es holds it as. */
function randomItem(r: Random, field: DescField, depth: number, wrong: boolean): unknown {
  if (wrong && r.chance(0.1)) return r.pick(wrongValues);
  const kind = field.fieldKind === "list" ? field.listKind : field.fieldKind === "map" ? field.mapKind : field.fieldKind;
  if (kind === "enum") return randomEnum(r, field);
  if (kind === "scalar") return randomScalar(r, field.scalar as ScalarType);
  const desc = field.message as DescMessage;
  if (desc.typeName === "google.protobuf.Struct" && field.parent.typeName !== "google.protobuf.Value") return randomJsonObject(r, 0);
  if (field.fieldKind === "message" && field.oneof === undefined && wkt.isWrapperDesc(desc))
    return randomScalar(r, desc.fields[0]?.scalar as ScalarType);
  return randomMessage(r, desc, depth + 1, wrong);
}

function randomMapKey(r: Random, field: DescField & { fieldKind: "map" }): string {
  switch (field.mapKey) {
    case ScalarType.STRING:
      return r.pick(["", "a", "b", "1", "10", "2", "-1", "01", "__proto__", "é\u2028", "\ud800"]);
    case ScalarType.BOOL:
      return String(r.chance(0.5));
    default:
      return String(randomScalar(r, field.mapKey));
  }
}

/**
 * Values protobuf-es writes, mostly, for the well-known types it refuses most random values of (an
 * Any it cannot resolve without a registry, a Duration out of range, a FieldMask path that does
 * not survive camel case); the generic walk below makes the rest, and the errors.
 */
function randomWellKnown(r: Random, desc: DescMessage, depth: number): unknown {
  switch (desc.typeName) {
    case "google.protobuf.Any":
      return create(wkt.AnySchema, r.chance(0.97) ? {} : { typeUrl: "type.googleapis.com/auth.v1.User" });
    case "google.protobuf.Duration": {
      const seconds = BigInt(r.int(2 * 315576000000 + 1) - 315576000000);
      const nanos = r.pick([0, 1, 1000, 1000000, r.int(1e9)]) * (seconds < 0n ? -1 : 1);
      return create(wkt.DurationSchema, r.chance(0.98) ? { seconds, nanos } : { seconds: 315576000001n });
    }
    case "google.protobuf.FieldMask":
      return create(wkt.FieldMaskSchema, {
        paths: Array.from({ length: r.int(3) }, () => r.pick(["a", "foo_bar", "x.y_z", r.chance(0.97) ? "b" : "Bad_"])),
      });
    case "google.protobuf.Value": {
      // Unset, or a number that is not finite, are errors.
      const kinds = [
        { case: "nullValue", value: 0 },
        { case: "numberValue", value: r.chance(0.97) ? r.pick([0, -0, -1.5, 1e21, 5e-324]) : Number.NaN },
        { case: "stringValue", value: r.pick(strings) },
        { case: "boolValue", value: r.chance(0.5) },
        { case: "structValue", value: randomMessage(r, wkt.StructSchema, depth + 1, false) },
        { case: "listValue", value: randomMessage(r, wkt.ListValueSchema, depth + 1, false) },
      ];
      return create(wkt.ValueSchema, { kind: r.chance(0.99) ? (r.pick(kinds) as never) : { case: undefined } });
    }
    default:
      return undefined;
  }
}

const LEGACY_REQUIRED = wkt.FeatureSet_FieldPresence.LEGACY_REQUIRED;

/** A random message of `desc`: each field unset, zero or random; sometimes one value of a wrong type. */
function randomMessage(r: Random, desc: DescMessage, depth: number, wrong: boolean): unknown {
  if (desc.typeName === "google.protobuf.Timestamp") return randomTimestamp(r, wrong && r.chance(0.3));
  const special = randomWellKnown(r, desc, depth);
  if (special !== undefined) return special;
  const message = create(desc) as unknown as Record<string, unknown>;
  const oneofsSet = new Set<string>();
  for (const field of desc.fields) {
    // Deep down, only what must be set.
    if (depth > 3 && field.presence !== LEGACY_REQUIRED) continue;
    // Required fields are left unset only where errors are wanted.
    if (r.chance(field.presence === LEGACY_REQUIRED && !wrong ? 0 : 0.3)) continue;
    if (field.fieldKind === "message" && depth > 2 && field.presence !== LEGACY_REQUIRED) continue;
    // A message of its own type once at most below the top, or messages would grow by the hundred.
    if (field.message === desc && depth > 0) continue;
    if (field.oneof !== undefined) {
      if (oneofsSet.has(field.oneof.localName)) continue;
      oneofsSet.add(field.oneof.localName);
      message[field.oneof.localName] = { case: field.localName, value: randomItem(r, field, depth, wrong) };
    } else if (field.fieldKind === "list") {
      message[field.localName] = Array.from({ length: r.pick([0, 1, 2, 3]) }, () => randomItem(r, field, depth, wrong));
    } else if (field.fieldKind === "map") {
      const map: Record<string, unknown> = {};
      // Defined, not assigned: a key "__proto__" is then the map's own, as protobuf-es makes it.
      for (let i = r.int(4); i > 0; i--)
        Object.defineProperty(map, randomMapKey(r, field), {
          value: randomItem(r, field, depth, wrong),
          enumerable: true,
          writable: true,
          configurable: true,
        });
      message[field.localName] = map;
    } else {
      message[field.localName] = randomItem(r, field, depth, wrong);
    }
  }
  if (wrong && r.chance(0.2)) {
    const field = r.pick(desc.fields);
    if (field !== undefined) message[field.localName] = r.pick(wrongValues);
  }
  return message;
}

/** Connect's serializer of `desc` answers, and ours. */
function serializers(desc: DescMessage, limit = limits): { connect: Serialization<unknown>; ours: Serialization<unknown> } {
  const lookup = createMethodSerializationLookup({ input: desc, output: desc } as never, undefined, undefined, limit);
  return {
    connect: lookup.getO(false) as Serialization<unknown>,
    ours: withJsonAnswers(lookup, desc, limit).getO(false) as Serialization<unknown>,
  };
}

/** What a serializer made of a message: its bytes as text (and hex, for bytes that are no text), or its error. */
function outcome(s: Serialization<unknown>, message: unknown): unknown {
  try {
    const bytes = s.serialize(message);
    return { text: Buffer.from(bytes).toString(), hex: Buffer.from(bytes).toString("hex") };
  } catch (e) {
    return e instanceof ConnectError ? { error: "ConnectError", code: e.code, message: e.rawMessage } : { error: String(e) };
  }
}

/** The writer's text, or "(threw)" when it leaves the message to Connect's serializer. */
function written(write: (m: unknown) => string, message: unknown): string {
  try {
    return write(message);
  } catch {
    return "(threw)";
  }
}

const outputs = registeredOutputs();
const services = reachable(outputs);
const wellKnown = reachable(
  Object.values(wkt)
    .filter((v): v is DescFile => (v as { kind?: string })?.kind === "file")
    .flatMap(messagesOf),
);
const extra = reachable(testSchemas());

describe("the answers the server registers", () => {
  it("include the ones the fast path makes most (GetCurrentUser, RefreshToken, Health/Check) and reach Timestamp", () => {
    const names = new Set(services.map((d) => d.typeName));
    for (const n of [
      "auth.v1.GetCurrentUserResponse",
      "auth.v1.RefreshTokenResponse",
      "grpc.health.v1.HealthCheckResponse",
      "google.protobuf.Timestamp",
    ])
      expect(names).toContain(n);
    expect(names).toContain("grpc.reflection.v1.ServerReflectionResponse");
  });
});

describe.each([
  ["of the service's answers and what they reach", services],
  ["of the well-known types", wellKnown],
  ["of a schema with every field kind", extra],
] as Array<[string, DescMessage[]]>)("JSON answers are Connect's bytes, or Connect's error: schemas %s", (_name, schemas) => {
  it.each(schemas.map((d, i) => [d.typeName, d, i] as const))("%s", (_typeName, desc, i) => {
    const { connect, ours } = serializers(desc);
    const r = random(0x5eed + i * 7919 + desc.typeName.length);
    let thrown = 0;
    const write = messageWriter(desc);
    for (let n = 0; n < messagesPerSchema; n++) {
      const wrong = n % 10 === 9;
      const message = randomMessage(r, desc, 0, wrong);
      const expected = outcome(connect, message) as { text?: string; error?: string };
      if (expected.error !== undefined) thrown++;
      expect(outcome(ours, message), `message ${n} of ${desc.typeName}`).toEqual(expected);
      // And not because ours left it to Connect: the writer alone writes every well-formed message.
      if (!wrong) expect(written(write, message), `message ${n} of ${desc.typeName}, the writer alone`).toBe(expected.text ?? "(threw)");
    }
    // Most messages are well formed, so most answers are bytes, not errors (the largest test
    // schema, with a dozen well-known types at each level, fails most often: about half the time).
    expect(thrown).toBeLessThan(messagesPerSchema * 0.6);
  });
});

describe("Timestamps", () => {
  const { connect, ours } = serializers(TimestampSchema);
  const write = messageWriter(TimestampSchema);
  const same = (seconds: bigint, nanos: number) => {
    const t = create(TimestampSchema, { seconds, nanos });
    const expected = outcome(connect, t) as { text: string };
    expect(written(write, t), `${seconds}s ${nanos}ns`).toBe(expected.text);
    expect(outcome(ours, t), `${seconds}s ${nanos}ns`).toEqual(expected);
  };

  it("the first and last instants protobuf-es writes, with each length of fraction", () => {
    for (const nanos of nanosValues) {
      same(secondsMin, nanos);
      same(secondsMax, nanos);
    }
    expect(new TextDecoder().decode(ours.serialize(create(TimestampSchema, { seconds: secondsMin })))).toBe('"0001-01-01T00:00:00Z"');
    expect(new TextDecoder().decode(ours.serialize(create(TimestampSchema, { seconds: secondsMax, nanos: 999999999 })))).toBe(
      '"9999-12-31T23:59:59.999999999Z"',
    );
  });

  it("every day from 1899 to 2201 and every 97th day of the whole range, at a random time of day", () => {
    const r = random(2026);
    for (let day = -25568; day < 84000; day++) same(BigInt(day * 86400 + r.int(86400)), 0);
    for (let s = secondsMin; s <= secondsMax; s += 97n * 86400n) same(s + BigInt(r.int(86400)), r.int(1e9));
  });

  it("out of range seconds, negative nanos and nanos of a second or more fail as Connect's serializer fails", () => {
    for (const [seconds, nanos] of [
      [secondsMin - 1n, 0],
      [secondsMax + 1n, 0],
      [-9223372036854775808n, 0],
      [0n, -1],
      [0n, 1_000_000_000],
    ] as const) {
      const t = create(TimestampSchema, { seconds, nanos });
      const expected = outcome(connect, t);
      expect(expected).toMatchObject({ error: "ConnectError", code: 13 });
      expect(outcome(ours, t)).toEqual(expected);
    }
  });
});

describe("which serializer a method's JSON answers get", () => {
  const desc = TimestampSchema;
  const lookup = createMethodSerializationLookup({ input: desc, output: desc } as never, undefined, undefined, limits);

  it("Connect's, as it was, when the adapter has JSON options of its own (this writer knows only the defaults)", () => {
    expect(withJsonAnswers(lookup, desc, { ...limits, jsonOptions: { alwaysEmitImplicit: true } })).toBe(lookup);
  });

  it("ours for JSON answers otherwise; binary answers and every parse stay Connect's", () => {
    const ours = withJsonAnswers(lookup, desc, limits);
    expect(ours.getO(false)).not.toBe(lookup.getO(false));
    expect(ours.getO(true)).toBe(lookup.getO(true));
    expect(ours.getI(true)).toBe(lookup.getI(true));
    expect(ours.getI(false)).toBe(lookup.getI(false));
  });
});

describe("Connect's writeMaxBytes", () => {
  it("an answer over the limit is refused as Connect refuses it, one at the limit is written", () => {
    const desc = outputs.find((d) => d.typeName === "grpc.health.v1.HealthCheckResponse") as DescMessage;
    const message = create(desc, { status: 1 });
    const size = serializers(desc).connect.serialize(message).byteLength;
    for (const writeMaxBytes of [size - 1, size]) {
      const { connect, ours } = serializers(desc, { readMaxBytes: 100, writeMaxBytes });
      expect(outcome(ours, message)).toEqual(outcome(connect, message));
    }
    expect(outcome(serializers(desc, { readMaxBytes: 100, writeMaxBytes: size - 1 }).ours, message)).toMatchObject({ code: 8 });
  });

  it("jsonAnswerSerialization alone checks it too", () => {
    const desc = TimestampSchema;
    const lookup = createMethodSerializationLookup({ input: desc, output: desc } as never, undefined, undefined, limits);
    const ours = jsonAnswerSerialization<unknown>(desc, lookup.getO(false) as Serialization<unknown>, {
      readMaxBytes: 10,
      writeMaxBytes: 10,
    });
    expect(outcome(ours, create(desc, { seconds: 1n }))).toMatchObject({ error: "ConnectError", code: 8 });
  });
});
