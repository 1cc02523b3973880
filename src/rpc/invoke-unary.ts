// Connect's invokeUnaryImplementation for the unary fast path (unary.ts), with the call's Headers
// made only when something reads them.
import { create, type DescMessage } from "@bufbuild/protobuf";
import type { ContextValues, HandlerContext, Interceptor, MethodImplSpec, UnaryRequest, UnaryResponse } from "@connectrpc/connect";

/**
 * Connect's invokeUnaryImplementation (protocol/invoke-implementation.js), step for step: the
 * interceptors around the implementation, then the answer's headers and trailers taken from what
 * the interceptors returned. The one difference: Connect reads the context's three Headers up front
 * (into the interceptors' request and response, and a copy of the context for the implementation),
 * which would make them on every call. Here the request and the response read them through
 * getters, and the implementation gets the context itself, unless an interceptor passed on a
 * request of its own: then it gets a copy with that request's signal, values and headers, as in
 * Connect. The getters live on a class, not on each object (an object literal with getters
 * allocates a closure per getter per call), so a copy an interceptor makes with a spread has no
 * `header`: that is read as "unchanged", from the context.
 */
export async function invokeUnary(
  spec: MethodImplSpec & { kind: "unary" },
  ctx: HandlerContext,
  input: unknown,
  interceptors: readonly Interceptor[],
): Promise<unknown> {
  const request = new InterceptedRequest(ctx, input);
  let answered: InterceptedResponse | undefined;
  let next: UnaryFn = async (req) => {
    const implementationCtx = req === request ? ctx : mergedContext(ctx, req);
    const output = await spec.impl(req.message as never, implementationCtx);
    answered = new InterceptedResponse(ctx, create(ctx.method.output as DescMessage, output as never));
    return answered as unknown as UnaryResponse;
  };
  for (let i = interceptors.length - 1; i >= 0; i--) next = (interceptors[i] as Interceptor)(next as never) as UnaryFn;
  const res = await next(request as unknown as UnaryRequest);
  // An interceptor that answered with headers or trailers of its own: they replace the context's,
  // as Connect's copyHeaders does. The implementation's own answer holds the context's already.
  if (res !== (answered as unknown)) {
    if (res.header !== undefined) replaceHeaders(res.header, ctx.responseHeader);
    if (res.trailer !== undefined) replaceHeaders(res.trailer, ctx.responseTrailer);
  }
  return res.message;
}

/** The interceptors' view of the request (Connect's UnaryRequest), its headers read when asked for. */
class InterceptedRequest {
  readonly stream = false;
  readonly message: unknown;
  readonly method: MethodImplSpec["method"];
  readonly requestMethod: string;
  readonly url: string;
  readonly signal: AbortSignal;
  readonly service: MethodImplSpec["method"]["parent"];
  readonly contextValues: ContextValues;
  readonly #ctx: HandlerContext;

  constructor(ctx: HandlerContext, message: unknown) {
    this.#ctx = ctx;
    this.message = message;
    this.method = ctx.method;
    this.requestMethod = ctx.requestMethod;
    this.url = ctx.url;
    this.signal = ctx.signal;
    this.service = ctx.method.parent;
    this.contextValues = ctx.values;
  }

  get header(): Headers {
    return this.#ctx.requestHeader;
  }
}

/** The interceptors' view of the answer (Connect's UnaryResponse), its headers the context's. */
class InterceptedResponse {
  readonly stream = false;
  readonly message: unknown;
  readonly method: MethodImplSpec["method"];
  readonly service: MethodImplSpec["method"]["parent"];
  readonly #ctx: HandlerContext;

  constructor(ctx: HandlerContext, message: unknown) {
    this.#ctx = ctx;
    this.message = message;
    this.method = ctx.method;
    this.service = ctx.method.parent;
  }

  get header(): Headers {
    return this.#ctx.responseHeader;
  }

  get trailer(): Headers {
    return this.#ctx.responseTrailer;
  }
}

/** The implementation's context when an interceptor replaced the request: Connect's mergeRequest. */
function mergedContext(ctx: HandlerContext, req: UnaryRequest): HandlerContext {
  return {
    method: ctx.method,
    service: req.service,
    protocolName: ctx.protocolName,
    requestMethod: ctx.requestMethod,
    url: ctx.url,
    signal: req.signal,
    values: req.contextValues,
    timeoutMs: ctx.timeoutMs,
    requestHeader: req.header ?? ctx.requestHeader,
    responseHeader: ctx.responseHeader,
    responseTrailer: ctx.responseTrailer,
  };
}

type UnaryFn = (req: UnaryRequest) => Promise<UnaryResponse>;

/** Connect's copyHeaders: `to` ends up holding exactly what `from` holds. */
function replaceHeaders(from: Headers, to: Headers): void {
  if (from === to) return;
  for (const key of [...to.keys()]) to.delete(key);
  from.forEach((value, key) => {
    to.set(key, value);
  });
}
