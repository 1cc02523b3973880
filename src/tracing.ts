// Child spans of the call being served: the storage port, the password hasher. Loaded only when
// tracing is on (server/tracing.ts imports it, compose.ts imports that lazily), so with tracing
// off nothing of OpenTelemetry is even read from disk.
import { context, SpanKind, SpanStatusCode, trace, type Attributes, type Span, type Tracer } from "@opentelemetry/api";
import { ATTR_ERROR_TYPE } from "@opentelemetry/semantic-conventions";

export { SpanKind };

export interface SpanShape {
  name: string;
  kind: SpanKind;
  attributes: Attributes;
}

/**
 * Marks a span failed. Only the error's class name goes in: a message can carry a driver's text
 * or the input that caused it, and spans leave the process.
 */
export function failSpan(span: Span, err: unknown): void {
  const type = err instanceof Error ? err.name : typeof err;
  span.setAttribute(ATTR_ERROR_TYPE, type);
  span.setStatus({ code: SpanStatusCode.ERROR, message: type });
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as { then?: unknown } | null)?.then === "function";
}

/** A child span of the active one, started; none outside a recorded call (see inChildSpan). */
export function startChildSpan(tracer: Tracer, shape: SpanShape): Span | undefined {
  const parent = context.active();
  if (trace.getSpan(parent)?.isRecording() !== true) return undefined;
  return tracer.startSpan(shape.name, { kind: shape.kind, attributes: shape.attributes }, parent);
}

/** Ends a span from startChildSpan, marked failed when the work threw `error`. */
export function endChildSpan(span: Span | undefined, error: unknown): void {
  if (span === undefined) return;
  if (error !== undefined) failSpan(span, error);
  span.end();
}

/**
 * Runs `run` in a child span of the active one. Outside a call (start-up, background sweeps) there
 * is no parent and no span: a storage call on its own is not worth a trace of its own. Under a call
 * the sampler left out, neither: every sampler offered (config.ts) would leave its children out too.
 */
export function inChildSpan<T>(tracer: Tracer, shape: SpanShape, run: () => T): T {
  const parent = context.active();
  const span = startChildSpan(tracer, shape);
  if (span === undefined) return run();
  let result: T;
  try {
    result = context.with(trace.setSpan(parent, span), run);
  } catch (err) {
    endChildSpan(span, err);
    throw err;
  }
  if (!isThenable(result)) {
    endChildSpan(span, undefined);
    return result;
  }
  return result.then(
    (value) => {
      endChildSpan(span, undefined);
      return value;
    },
    (err: unknown) => {
      endChildSpan(span, err);
      throw err;
    },
  ) as T;
}

/**
 * The same object, with the named methods (every method when `methods` is omitted) each run in a
 * child span. A decorator, so the adapters know nothing of tracing.
 */
export function tracedMethods<T extends object>(
  target: T,
  tracer: Tracer,
  shape: (method: string) => SpanShape,
  methods?: readonly string[],
): T {
  const wrapped = new Map<string, unknown>();
  return new Proxy(target, {
    get(t, property) {
      const value: unknown = Reflect.get(t, property, t);
      if (typeof value !== "function" || typeof property !== "string" || (methods !== undefined && !methods.includes(property)))
        return value;
      let traced = wrapped.get(property);
      if (traced === undefined) {
        const spanShape = shape(property);
        traced = (...args: unknown[]) => inChildSpan(tracer, spanShape, () => (value as (...a: unknown[]) => unknown).apply(t, args));
        wrapped.set(property, traced);
      }
      return traced;
    },
  });
}
