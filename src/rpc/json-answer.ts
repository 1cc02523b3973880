// Protobuf JSON answers for the unary fast path (unary.ts), written straight to text.
//
// Why: protobuf-es's toJsonString was the largest cost an authenticated call added to the empty
// RPC (about 5 µs of GetCurrentUser's answer in a CPU profile; bench/json-answer.ts): it builds a
// JSON object by reflection, then JSON.stringify walks it again, and each Timestamp goes through
// `new Date(ms).toISOString().replace(...)`. Here each message schema gets, once, a writer built
// from its descriptor (closures, no code generation) that appends the JSON text of each field, and
// Timestamps are formatted by calendar arithmetic.
//
// What it promises: the bytes Connect's own JSON serializer writes (createJsonSerialization:
// toJsonString with Connect's default options, then UTF-8), byte for byte, and the same error
// when that serializer throws (a ConnectError with code INTERNAL and protobuf-es's message), with
// Connect's writeMaxBytes check. test/rpc/json-answer.test.ts compares both on random messages of
// every answer schema the server registers.
//
// How it stays exact: a writer handles only values it is sure of (the type protobuf-es expects, a
// Timestamp in range, ...) and throws on anything else; the whole message is then serialized by
// Connect's serializer, which writes the same bytes or throws its own error. Messages and field
// values with a JSON form of their own other than Timestamp (Any, Duration, FieldMask, Struct,
// Value, ListValue, wrappers at the top or in lists and oneofs) are written by protobuf-es's toJson;
// so is a whole message with a Struct field (stored as a plain JSON object), or with JSON names
// that JavaScript's objects would reorder or merge (an array index, which goes first; a name two
// fields share, which protoc refuses but a descriptor may hold). Only Connect's default JSON
// options are supported: with other options the method keeps Connect's serializer.
import { type DescEnum, type DescField, type DescMessage, type JsonWriteOptions, ScalarType, toJson } from "@bufbuild/protobuf";
import { base64Encode } from "@bufbuild/protobuf/wire";
import { FeatureSet_FieldPresence, isWrapperDesc } from "@bufbuild/protobuf/wkt";
import { getJsonOptions, limitSerialization, type MethodSerializationLookup, type Serialization } from "@connectrpc/connect/protocol";

/** Messages as protobuf-es holds them: properties by local name. */
type Local = Record<string, unknown>;
/** The JSON text of a value; throws when protobuf-es is to say what to make of it. */
type WriteValue = (value: unknown) => string;
/** `"name":value` for a field, or undefined when the field is not written. */
type WriteField = (message: Local) => string | undefined;

/** Thrown (never built again, so no stack is captured per throw) to leave a message to protobuf-es. */
const notMine = new Error("left to protobuf-es");
const unsure = (): never => {
  throw notMine;
};

/** The options Connect serializes with when given none (getJsonOptions). */
const connectJsonOptions: Partial<JsonWriteOptions> = getJsonOptions(undefined);

/** JSON options that shape how requests are read, never answers (the adapter's strict UTF-8). */
const readingOnly = new Set(["textDecoder", "ignoreUnknownFields"]);

/** Whether the adapter's JSON options are none, or only shape reading: nothing these answers must honour. */
function onlyReadsText(jsonOptions: unknown): boolean {
  return (
    jsonOptions === undefined ||
    (typeof jsonOptions === "object" && jsonOptions !== null && Object.keys(jsonOptions).every((k) => readingOnly.has(k)))
  );
}

/**
 * The method's serializations, with its JSON answers written by this module; Connect's own when
 * the adapter has JSON options of its own that shape answers.
 */
export function withJsonAnswers<I extends DescMessage, O extends DescMessage>(
  lookup: MethodSerializationLookup<I, O>,
  output: O,
  opt: { jsonOptions?: unknown; readMaxBytes: number; writeMaxBytes: number },
): MethodSerializationLookup<I, O> {
  if (!onlyReadsText(opt.jsonOptions)) return lookup;
  const answers = jsonAnswerSerialization(output, lookup.getO(false), opt);
  return { getI: (binary) => lookup.getI(binary), getO: (binary) => (binary ? lookup.getO(true) : answers) };
}

/**
 * `connect` (Connect's JSON serialization of `schema`, with its limits) with the answers written
 * by this module, under the same writeMaxBytes check; what this module leaves is `connect`'s.
 */
export function jsonAnswerSerialization<T>(
  schema: DescMessage,
  connect: Serialization<T>,
  limits: { readMaxBytes: number; writeMaxBytes: number },
): Serialization<T> {
  const write = messageWriter(schema);
  // Connect's check of an answer's size, on bytes already serialized (it never parses).
  const limited = limitSerialization<Uint8Array<ArrayBuffer>>({ serialize: (bytes) => bytes, parse: unsure }, limits);
  return {
    parse: (bytes) => connect.parse(bytes),
    serialize(message) {
      let text: string;
      try {
        text = write(message);
      } catch {
        return connect.serialize(message);
      }
      // The text is well-formed (JSON.stringify escaped any lone surrogate), so Node's UTF-8
      // encoder writes what TextEncoder would, in a quarter of the time (bench/json-answer.ts).
      return limited.serialize(Buffer.from(text, "utf8") as Uint8Array<ArrayBuffer>);
    },
  };
}

const writers = new WeakMap<DescMessage, WriteValue>();

/** The writer of a message schema, built on first use. */
export function messageWriter(desc: DescMessage): WriteValue {
  const known = writers.get(desc);
  if (known !== undefined) return known;
  // A recursive schema meets itself while its writer is being built.
  let built: WriteValue | undefined;
  writers.set(desc, (value) => (built as WriteValue)(value));
  built = buildMessage(desc);
  writers.set(desc, built);
  return built;
}

/** protobuf-es's writer of one message, for the JSON forms left to it. */
const delegated =
  (desc: DescMessage): WriteValue =>
  (value) =>
    JSON.stringify(toJson(desc, value as never, connectJsonOptions));

function buildMessage(desc: DescMessage): WriteValue {
  if (desc.typeName.startsWith("google.protobuf.")) {
    if (desc.typeName === "google.protobuf.Timestamp") return writeTimestamp;
    if (["Any", "Duration", "FieldMask", "Struct", "Value", "ListValue"].includes(desc.name) || isWrapperDesc(desc)) return delegated(desc);
  }
  const names = desc.fields.map((f) => f.jsonName);
  if (new Set(names).size < names.length || names.some(isArrayIndex) || desc.fields.some(holdsStruct)) return delegated(desc);
  const typeName = desc.typeName;
  // protobuf-es refuses a message of another type, unless the schema has no field to name.
  const checked = desc.fields.length > 0;
  const fields = desc.fields
    .concat()
    .sort((a, b) => a.number - b.number)
    .map(fieldWriter);
  return (value) => {
    const message = value as Local;
    if (message.$typeName !== typeName && checked) unsure();
    let text = "";
    for (let i = 0; i < fields.length; i++) {
      const part = (fields[i] as WriteField)(message);
      if (part !== undefined) text = text === "" ? part : `${text},${part}`;
    }
    return `{${text}}`;
  };
}

/** JavaScript objects list array-index keys first, whatever order they were set in. */
const isArrayIndex = (key: string) => /^(0|[1-9][0-9]*)$/.test(key) && Number(key) < 2 ** 32 - 1;

/** Struct fields hold a plain JSON object, not a message (except in google.protobuf.Value). */
const holdsStruct = (f: DescField) => f.message?.typeName === "google.protobuf.Struct";

const IMPLICIT = FeatureSet_FieldPresence.IMPLICIT;
const LEGACY_REQUIRED = FeatureSet_FieldPresence.LEGACY_REQUIRED;
const hasOwn = (o: object, key: string) => Object.hasOwn(o, key);

/** The writer of one field: whether it is written (as protobuf-es's toJson decides), and its value. */
function fieldWriter(field: DescField): WriteField {
  const key = `${JSON.stringify(field.jsonName)}:`;
  const local = field.localName;
  switch (field.fieldKind) {
    case "list": {
      const item = valueWriter(field, field.listKind);
      return (message) => {
        const list = message[local];
        if (!Array.isArray(list)) return unsure();
        if (list.length === 0) return undefined;
        let text = `${key}[${item(list[0])}`;
        for (let i = 1; i < list.length; i++) text += `,${item(list[i])}`;
        return `${text}]`;
      };
    }
    case "map": {
      const entry = valueWriter(field, field.mapKind);
      return (message) => {
        const map = message[local];
        if (typeof map !== "object" || map === null) return unsure();
        // The object's own key order, which the JSON object protobuf-es builds from it keeps.
        const keys = Object.keys(map);
        if (keys.length === 0) return undefined;
        let text = "";
        for (const k of keys) text += `${text === "" ? "" : ","}${JSON.stringify(k)}:${entry((map as Local)[k])}`;
        return `${key}{${text}}`;
      };
    }
  }
  // Singular wrappers outside a oneof hold the wrapped value itself, written as the wrapper would.
  const write =
    field.fieldKind === "message" && field.oneof === undefined && isWrapperDesc(field.message)
      ? scalarWriter(field.message.fields[0]?.scalar ?? ScalarType.STRING)
      : valueWriter(field, field.fieldKind);
  if (field.oneof !== undefined) {
    const group = field.oneof.localName;
    return (message) => {
      const oneof = message[group] as { case: unknown; value: unknown };
      return oneof.case === local ? key + write(oneof.value) : undefined;
    };
  }
  if (field.presence !== IMPLICIT) {
    const required = field.presence === LEGACY_REQUIRED;
    return (message) => {
      const value = message[local];
      if (value !== undefined && hasOwn(message, local)) return key + write(value);
      return required ? unsure() : undefined;
    };
  }
  const written = implicitlyWritten(field);
  return (message) => {
    const value = message[local];
    return written(value) ? key + write(value) : undefined;
  };
}

/** Whether a field with implicit presence is written: protobuf-es's zero checks, exactly. */
function implicitlyWritten(field: DescField): (value: unknown) => boolean {
  if (field.fieldKind === "enum") {
    const zero = field.enum.values[0]?.number;
    return (value) => value !== zero;
  }
  switch (field.fieldKind === "scalar" ? field.scalar : undefined) {
    case ScalarType.BOOL:
      return (value) => value !== false;
    case ScalarType.STRING:
      return (value) => value !== "";
    case ScalarType.BYTES:
      return (value) => !(value instanceof Uint8Array) || value.byteLength > 0;
    case ScalarType.DOUBLE:
    case ScalarType.FLOAT:
      return (value) => !Object.is(value, 0);
    default:
      // protobuf-es compares loosely: 0, 0n and "0" are all zero.
      // biome-ignore lint/suspicious/noDoubleEquals: the same comparison as protobuf-es's
      return (value) => value != 0;
  }
}

/** The writer of a singular value, a list item or a map value. */
function valueWriter(field: DescField, kind: "scalar" | "enum" | "message" | "list" | "map"): WriteValue {
  if (kind === "scalar" && field.scalar !== undefined) return scalarWriter(field.scalar);
  if (kind === "enum" && field.enum !== undefined) return enumWriter(field.enum);
  if (kind === "message" && field.message !== undefined) return messageWriter(field.message);
  return unsure;
}

function enumWriter(desc: DescEnum): WriteValue {
  if (desc.typeName === "google.protobuf.NullValue") return (value) => (typeof value === "number" ? "null" : unsure());
  // By name; a number the schema does not know is written as the number.
  const names = new Map<number, string>();
  for (const v of desc.values) names.set(v.number, JSON.stringify(desc.value[v.number]?.jsonName));
  return (value) => (typeof value === "number" ? (names.get(value) ?? jsonNumber(value)) : unsure());
}

/** JSON.stringify's number: NaN and the infinities are null. */
const jsonNumber = (n: number) => (Number.isFinite(n) ? String(n) : "null");

function scalarWriter(type: ScalarType): WriteValue {
  switch (type) {
    case ScalarType.INT32:
    case ScalarType.SFIXED32:
    case ScalarType.SINT32:
    case ScalarType.FIXED32:
    case ScalarType.UINT32:
      return (value) => (typeof value === "number" ? jsonNumber(value) : unsure());
    case ScalarType.FLOAT:
    case ScalarType.DOUBLE:
      return (value) => {
        if (typeof value !== "number") return unsure();
        if (Number.isFinite(value)) return String(value);
        return Number.isNaN(value) ? '"NaN"' : value > 0 ? '"Infinity"' : '"-Infinity"';
      };
    case ScalarType.STRING:
      return (value) => (typeof value === "string" ? JSON.stringify(value) : unsure());
    case ScalarType.BOOL:
      return (value) => (value === true ? "true" : value === false ? "false" : unsure());
    case ScalarType.BYTES:
      return (value) => (value instanceof Uint8Array ? `"${base64Encode(value)}"` : unsure());
    default:
      // The 64-bit integers, as decimal strings.
      return (value) => {
        if (typeof value === "bigint" || (typeof value === "number" && Number.isInteger(value))) return `"${value}"`;
        return typeof value === "string" ? JSON.stringify(value) : unsure();
      };
  }
}

// protobuf-es's range, in ms since the epoch: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z.
const timestampMsMin = Date.parse("0001-01-01T00:00:00Z");
const timestampMsMax = Date.parse("9999-12-31T23:59:59Z");

/**
 * google.protobuf.Timestamp as RFC 3339 in UTC, with 0, 3, 6 or 9 digits of fraction, as
 * protobuf-es writes it; by arithmetic, where protobuf-es builds a Date and its ISO string.
 */
const writeTimestamp: WriteValue = (value) => {
  const timestamp = value as Local;
  if (timestamp.$typeName !== "google.protobuf.Timestamp") return unsure();
  const { seconds, nanos } = timestamp;
  if (typeof seconds !== "bigint" || typeof nanos !== "number") return unsure();
  const s = Number(seconds);
  const ms = s * 1000;
  if (!(ms >= timestampMsMin && ms <= timestampMsMax && Number.isInteger(nanos) && nanos >= 0 && nanos <= 999_999_999)) return unsure();
  return `"${utcSeconds(s)}${fraction(nanos)}Z"`;
};

/**
 * The instants written lately, to the second: an account's creation and last change, a session's
 * start, are written again on every call that shows them (GetCurrentUser: two per call, 0.8 kB of
 * strings each time without this).
 */
const recentSeconds = new Map<number, string>();

/** `YYYY-MM-DDTHH:MM:SS` of seconds since the epoch (years 1 to 9999). */
function utcSeconds(s: number): string {
  let text = recentSeconds.get(s);
  if (text === undefined) {
    if (recentSeconds.size >= 1024) recentSeconds.clear();
    const days = Math.floor(s / 86_400);
    const inDay = s - days * 86_400;
    text = `${civilDate(days)}T${two(Math.floor(inDay / 3600))}:${two(Math.floor(inDay / 60) % 60)}:${two(inDay % 60)}`;
    recentSeconds.set(s, text);
  }
  return text;
}

/**
 * `YYYY-MM-DD` of days since the epoch, in the proleptic Gregorian calendar (as Date's):
 * Howard Hinnant's civil_from_days, with years counted from March so that leap days come last.
 */
function civilDate(days: number): string {
  const z = days + 719_468; // days since 0000-03-01; never negative from year 1 on
  const era = Math.floor(z / 146_097);
  const dayOfEra = z - era * 146_097;
  const yearOfEra = Math.floor(
    (dayOfEra - Math.floor(dayOfEra / 1460) + Math.floor(dayOfEra / 36_524) - Math.floor(dayOfEra / 146_096)) / 365,
  );
  const dayOfYear = dayOfEra - (365 * yearOfEra + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100));
  const monthFromMarch = Math.floor((5 * dayOfYear + 2) / 153);
  const day = dayOfYear - Math.floor((153 * monthFromMarch + 2) / 5) + 1;
  const month = monthFromMarch < 10 ? monthFromMarch + 3 : monthFromMarch - 9;
  const year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0);
  return `${String(year).padStart(4, "0")}-${two(month)}-${two(day)}`;
}

const two = (n: number) => (n < 10 ? `0${n}` : String(n));

/** The fraction of a second: none, or 3, 6 or 9 digits, the fewest that hold the nanos. */
function fraction(nanos: number): string {
  if (nanos === 0) return "";
  const digits = String(nanos + 1_000_000_000).slice(1);
  if (nanos % 1_000_000 === 0) return `.${digits.slice(0, 3)}`;
  if (nanos % 1000 === 0) return `.${digits.slice(0, 6)}`;
  return `.${digits}`;
}
