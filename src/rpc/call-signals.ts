// The signals of unary calls in flight: aborted when the client goes first, at the call's
// deadline, or when the server shuts down; never when a call ends normally.
import { Code, ConnectError } from "@connectrpc/connect";
import { InFlight } from "../transport/in-flight.ts";
import { answeredInFull, type NodeHandler } from "../transport/node-http.ts";

type NodeResponse = Parameters<NodeHandler>[1];

/**
 * The signals of the calls in flight. Connect links each call's signal to the server's shutdown
 * signal with a listener added and removed per call, and aborts it when the call ends (for which
 * Node builds a DOMException); here one listener on the shutdown signal aborts the calls still in
 * flight, and a call that ends normally is never aborted. The calls in flight are an InFlight list,
 * not a Set: see transport/in-flight.ts for what a Set costs the old generation per call.
 */
export function callSignals(shutdown: AbortSignal | undefined) {
  const inFlight = new InFlight<AbortController>();
  shutdown?.addEventListener(
    "abort",
    () => {
      inFlight.forEach((controller) => {
        controller.abort(shutdown.reason);
      });
    },
    { once: true },
  );
  /**
   * The signal of the call answered on `res`: aborted if the client goes first, at the deadline
   * (ms since the epoch), or at shutdown.
   */
  return (res: NodeResponse, deadline: number | undefined): AbortSignal => {
    const controller = new AbortController();
    if (shutdown?.aborted === true) {
      controller.abort(shutdown.reason);
      return controller.signal;
    }
    const entry = inFlight.add(controller);
    const timer =
      deadline === undefined
        ? undefined
        : setTimeout(
            () => controller.abort(new ConnectError("the operation timed out", Code.DeadlineExceeded)),
            Math.max(0, deadline - Date.now()),
          );
    res.once("close", () => {
      inFlight.remove(entry);
      if (timer !== undefined) clearTimeout(timer);
      if (!answeredInFull(res)) controller.abort(new ConnectError("the client closed the request", Code.Canceled));
    });
    return controller.signal;
  };
}

export type CallSignals = ReturnType<typeof callSignals>;
