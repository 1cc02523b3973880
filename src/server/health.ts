// grpc.health.v1.Health — https://github.com/grpc/grpc/blob/master/doc/health-checking.md
//
// Check: SERVING when the probe resolves true, NOT_SERVING when it resolves false or rejects;
// NOT_FOUND for a service name the server does not serve ("" means the whole server).
// Watch: sends the current status at once, then polls and sends again only on change, until the
// client goes away. An unknown service gets SERVICE_UNKNOWN and the stream stays open (the set of
// served services is fixed for the life of the process, so it never changes).

import { setTimeout as sleep } from "node:timers/promises";
import { Code, ConnectError } from "@connectrpc/connect";
import type { ConnectRouter, HandlerContext } from "@connectrpc/connect";
import { Health, HealthCheckResponse_ServingStatus } from "../../gen/grpc/health/v1/health_pb.js";

export interface HealthOptions {
  /** Resolves true when the server can handle requests (e.g. the database answers a ping). */
  probe: () => Promise<boolean>;
  /** Fully-qualified names of the services served, e.g. "auth.v1.AuthService". */
  services: string[];
  /** How often Watch re-runs the probe. Defaults to 5000. */
  watchIntervalMs?: number;
}

const DEFAULT_WATCH_INTERVAL_MS = 5000;

/** The longest service name quoted in an answer; a served one is far shorter. */
const maxQuotedLength = 100;

/**
 * A client's service name as an answer quotes it: its start, whole characters only. Quoted whole
 * (it may fill the body), it made a grpc-message trailer up to three times its size once
 * percent-encoded, more than clients take or Node sends, and the client got no NOT_FOUND.
 */
function quoted(service: string): string {
  if (service.length <= maxQuotedLength) return service;
  const cut = (service.codePointAt(maxQuotedLength - 1) ?? 0) > 0xffff ? maxQuotedLength + 1 : maxQuotedLength;
  return `${service.slice(0, cut)}…`;
}

export function registerHealth(router: ConnectRouter, opts: HealthOptions): void {
  const known = new Set(opts.services);
  const intervalMs = opts.watchIntervalMs ?? DEFAULT_WATCH_INTERVAL_MS;
  if (!Number.isFinite(intervalMs) || intervalMs <= 0) {
    throw new RangeError(`watchIntervalMs must be a positive number, got ${intervalMs}`);
  }

  const isKnown = (service: string): boolean => service === "" || known.has(service);

  // The probe answers from a cache (server/app.ts's cachedProbe hands back the same promise for a
  // second): while it hands back the promise it answered last, the status that promise settled to
  // is reused, so a check awaits nothing and allocates next to nothing.
  let lastProbe: Promise<boolean> | undefined;
  let lastStatus: HealthCheckResponse_ServingStatus | undefined;
  const probeStatus = (): HealthCheckResponse_ServingStatus | Promise<HealthCheckResponse_ServingStatus> => {
    let probe: Promise<boolean>;
    try {
      probe = opts.probe();
    } catch {
      return HealthCheckResponse_ServingStatus.NOT_SERVING;
    }
    if (probe === lastProbe && lastStatus !== undefined) return lastStatus;
    lastProbe = probe;
    lastStatus = undefined;
    return Promise.resolve(probe).then(
      (up) => {
        const status = up === true ? HealthCheckResponse_ServingStatus.SERVING : HealthCheckResponse_ServingStatus.NOT_SERVING;
        if (lastProbe === probe) lastStatus = status;
        return status;
      },
      () => HealthCheckResponse_ServingStatus.NOT_SERVING,
    );
  };

  router.service(Health, {
    check(req) {
      if (!isKnown(req.service)) {
        throw new ConnectError(`unknown service "${quoted(req.service)}"`, Code.NotFound);
      }
      const status = probeStatus();
      return typeof status === "number" ? { status } : status.then((settled) => ({ status: settled }));
    },

    async *watch(req, ctx: HandlerContext) {
      const { signal } = ctx;
      if (!isKnown(req.service)) {
        yield { status: HealthCheckResponse_ServingStatus.SERVICE_UNKNOWN };
        await untilAborted(signal);
        return;
      }
      let last = await untilAbortedOr(Promise.resolve(probeStatus()), signal);
      if (last === undefined) return;
      yield { status: last };
      while (!signal.aborted) {
        try {
          // node:timers/promises clears the timer itself when the signal aborts.
          await sleep(intervalMs, undefined, { signal });
        } catch {
          return;
        }
        const status = await untilAbortedOr(Promise.resolve(probeStatus()), signal);
        if (status === undefined) return;
        if (status !== last) {
          last = status;
          yield { status };
        }
      }
    },
  });
}

/** Resolves once the signal aborts (at once if it already has). */
function untilAborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
}

/**
 * Settles with the promise's value, or with undefined as soon as the signal aborts, so a slow
 * probe does not keep a cancelled Watch alive. The listener is removed either way.
 */
function untilAbortedOr<T>(promise: Promise<T>, signal: AbortSignal): Promise<T | undefined> {
  if (signal.aborted) return Promise.resolve(undefined);
  return new Promise<T | undefined>((resolve, reject) => {
    const onAbort = (): void => resolve(undefined);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });
}
