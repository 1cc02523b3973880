import { bool, ConfigError, type Env, int, list, oneOf, ratio, str, url } from "./parse.ts";

export type TracesExporter = "otlp" | "console";
export type TracesSampler =
  | "always_on"
  | "always_off"
  | "traceidratio"
  | "parentbased_always_on"
  | "parentbased_always_off"
  | "parentbased_traceidratio";

export interface TracingSettings {
  /** Where finished spans go (OTEL_TRACES_EXPORTER); never empty. */
  exporters: TracesExporter[];
  /** The OTLP/HTTP (protobuf) traces URL; headers, timeout and compression the exporter reads itself. */
  otlpUrl: string;
  serviceName: string;
  /** OTEL_RESOURCE_ATTRIBUTES, decoded; OTEL_SERVICE_NAME wins over a service.name given here. */
  resourceAttributes: Record<string, string>;
  sampler: TracesSampler;
  /** The ratio of the traceidratio samplers, 0 to 1. */
  samplerRatio: number;
  /** Whether an incoming W3C traceparent is continued (OTEL_PROPAGATORS names tracecontext). */
  propagate: boolean;
  /** The batch span processor that feeds the OTLP exporter (OTEL_BSP_*). */
  batch: { scheduledDelayMillis: number; exportTimeoutMillis: number; maxQueueSize: number; maxExportBatchSize: number };
}

/** OTEL_RESOURCE_ATTRIBUTES: key=value pairs separated by commas, values percent-encoded. */
function resourceAttributes(env: Env): Record<string, string> {
  const attributes: Record<string, string> = {};
  for (const pair of list(env, "OTEL_RESOURCE_ATTRIBUTES") ?? []) {
    const at = pair.indexOf("=");
    const key = pair.slice(0, at).trim();
    let value: string;
    try {
      value = decodeURIComponent(pair.slice(at + 1).trim());
    } catch {
      value = "";
    }
    if (at <= 0 || key === "" || value === "") {
      throw new ConfigError("OTEL_RESOURCE_ATTRIBUTES", `must be key=value pairs separated by commas, got "${pair}"`);
    }
    attributes[key] = value;
  }
  return attributes;
}

const tracesSamplers = [
  "always_on",
  "always_off",
  "traceidratio",
  "parentbased_always_on",
  "parentbased_always_off",
  "parentbased_traceidratio",
] as const satisfies readonly TracesSampler[];

/**
 * The OpenTelemetry settings (https://opentelemetry.io/docs/specs/otel/configuration/sdk-environment-variables/).
 * Unlike the specification's default, tracing is off unless OTEL_TRACES_EXPORTER names an exporter
 * or an OTLP endpoint is given: a service that nobody collects traces from should not pay for them.
 * Every setting is checked even while tracing is off, so turning it on cannot fail.
 */
export function tracing(env: Env): TracingSettings | undefined {
  const named = list(env, "OTEL_TRACES_EXPORTER");
  for (const exporter of named ?? []) {
    if (!["otlp", "console", "none"].includes(exporter)) {
      throw new ConfigError("OTEL_TRACES_EXPORTER", `must be otlp, console or none, got "${exporter}"`);
    }
  }
  for (const name of ["OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"]) {
    const protocol = str(env, name);
    if (protocol !== undefined && protocol !== "http/protobuf") {
      throw new ConfigError(name, `must be http/protobuf (the only OTLP protocol authd sends), got "${protocol}"`);
    }
  }
  const tracesEndpoint = url(env, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", ["http:", "https:"]);
  const endpoint = url(env, "OTEL_EXPORTER_OTLP_ENDPOINT", ["http:", "https:"]);
  const propagators = list(env, "OTEL_PROPAGATORS") ?? ["tracecontext", "baggage"];
  for (const propagator of propagators) {
    if (!["tracecontext", "baggage", "none"].includes(propagator)) {
      throw new ConfigError("OTEL_PROPAGATORS", `must list tracecontext, baggage or none, got "${propagator}"`);
    }
  }
  const maxQueueSize = int(env, "OTEL_BSP_MAX_QUEUE_SIZE", 2048, 1, 1_000_000);
  const settings: TracingSettings = {
    exporters: [...new Set(named ?? (tracesEndpoint === undefined && endpoint === undefined ? [] : ["otlp"]))].filter(
      (e): e is TracesExporter => e !== "none",
    ),
    // The signal-specific URL is used as given; the general one gets the signal's path appended.
    otlpUrl: tracesEndpoint ?? `${(endpoint ?? "http://localhost:4318").replace(/\/+$/, "")}/v1/traces`,
    serviceName: str(env, "OTEL_SERVICE_NAME") ?? "authd",
    resourceAttributes: resourceAttributes(env),
    sampler: oneOf(env, "OTEL_TRACES_SAMPLER", tracesSamplers, "parentbased_always_on"),
    samplerRatio: ratio(env, "OTEL_TRACES_SAMPLER_ARG", 1),
    propagate: propagators.includes("tracecontext"),
    batch: {
      scheduledDelayMillis: int(env, "OTEL_BSP_SCHEDULE_DELAY", 5_000, 1, 600_000),
      exportTimeoutMillis: int(env, "OTEL_BSP_EXPORT_TIMEOUT", 30_000, 1, 600_000),
      maxQueueSize,
      maxExportBatchSize: int(env, "OTEL_BSP_MAX_EXPORT_BATCH_SIZE", Math.min(512, maxQueueSize), 1, maxQueueSize),
    },
  };
  return bool(env, "OTEL_SDK_DISABLED", false) || settings.exporters.length === 0 ? undefined : settings;
}
