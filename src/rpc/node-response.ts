// Connect's universal server response, sent on a Node response: what connect-node's
// universalResponseToNodeResponse does, without the promise and the pair of 'error' / 'drain'
// listeners it puts on every chunk, nor the one it waits on after end(). A chunk waits only when
// Node asks it to (write() returned false). A client that has gone (the response closed) ends the
// sending quietly, and the body's iterator is returned, so a streaming handler stops.
import type { UniversalServerResponse } from "@connectrpc/connect/protocol";

export type NodeHeaders = Record<string, string | string[]>;

/**
 * Every RPC answer is `Cache-Control: no-store`: many carry tokens, codes or secrets (Login,
 * RefreshToken, Setup's secret, recovery codes, an API key), and no cache between the client and
 * the server may keep one (ASVS 5.0 V14.3.2; RFC 6749 5.1 for token answers). Set on the headers
 * object each answer builds for itself, at the two places answers are written.
 */
function noStore(headers: NodeHeaders): NodeHeaders {
  headers["cache-control"] = "no-store";
  return headers;
}

/** What is used of Node's HTTP/1.1 and HTTP/2 (compatibility) responses alike. */
interface NodeResponse {
  readonly headersSent: boolean;
  writeHead(status: number, headers: NodeHeaders): unknown;
  write(chunk: Uint8Array): boolean;
  addTrailers(headers: NodeHeaders): void;
  end(): unknown;
  once(event: "close" | "drain", listener: () => void): unknown;
  off(event: "close" | "drain", listener: () => void): unknown;
}

/** `beforeTrailers` sees the trailers (filled by Connect while the body was drained) before they are sent. */
export async function sendResponse(
  uRes: UniversalServerResponse,
  res: NodeResponse,
  beforeTrailers?: (trailer: Headers) => void,
): Promise<void> {
  const it = uRes.body?.[Symbol.asyncIterator]();
  let closed = false;
  const onClose = () => {
    closed = true;
  };
  res.once("close", onClose);
  try {
    if (it !== undefined) {
      // The headers go with the first chunk, not before: the implementation may still set some.
      let chunk = await it.next();
      if (closed) return;
      res.writeHead(uRes.status, noStore(nodeHeaders(uRes.header)));
      for (; chunk.done !== true; chunk = await it.next()) {
        if (closed) return;
        if (!res.write(chunk.value)) await drained(res);
      }
    }
    if (closed) return;
    if (!res.headersSent) res.writeHead(uRes.status, noStore(nodeHeaders(uRes.header)));
    if (uRes.trailer !== undefined) {
      beforeTrailers?.(uRes.trailer);
      res.addTrailers(nodeHeaders(uRes.trailer));
    }
    res.end();
  } finally {
    res.off("close", onClose);
    void it?.return?.()?.catch(() => undefined);
  }
}

/** A whole answer, written at once: headers, the body, and gRPC's trailers. */
export function writeAnswer(
  res: NodeResponse & { end(chunk: Uint8Array): unknown },
  answer: { status: number; header: NodeHeaders; body: Uint8Array; trailer: NodeHeaders | undefined },
): void {
  res.writeHead(answer.status, noStore(answer.header));
  if (answer.trailer === undefined) {
    res.end(answer.body);
    return;
  }
  if (answer.body.byteLength > 0) res.write(answer.body);
  res.addTrailers(answer.trailer);
  res.end();
}

/** Resolves when Node wants more (drain), or when there is no one left to write to (close). */
function drained(res: NodeResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off("drain", done);
      res.off("close", done);
      resolve();
    };
    res.once("drain", done);
    res.once("close", done);
  });
}

/** Fetch headers as Node's: lower-case names, repeated ones (Set-Cookie) as arrays; none gives an empty set. */
export function nodeHeaders(headers: Headers | undefined): NodeHeaders {
  const o: NodeHeaders = Object.create(null) as NodeHeaders;
  headers?.forEach((value, key) => {
    const existing = o[key];
    if (existing === undefined) o[key] = value;
    else if (Array.isArray(existing)) existing.push(value);
    else o[key] = [existing, value];
  });
  return o;
}
