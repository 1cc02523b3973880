// Reading a request body under a byte limit, for the transports that read bodies themselves (the
// REST routes, the OAuth 2.0 endpoints; Connect reads its own).

import type http from "node:http";
import type http2 from "node:http2";
import { AuthError } from "../errors.ts";

type Request = http.IncomingMessage | http2.Http2ServerRequest;

/** The client went away before its request was complete: nothing runs and nothing is answered. */
export class ClientClosed extends Error {}

/**
 * The raw body, up to `limit` bytes. Beyond that the rest is drained unread and 413 is answered.
 * A body shorter than its Content-Length, or a request the client aborted or reset (an HTTP/2
 * stream can end "normally" after RST_STREAM), is never handed on.
 */
export function readRaw(req: Request, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declaredHeader = req.headers["content-length"];
    const declared = declaredHeader === undefined ? undefined : Number(declaredHeader);
    const tooLarge = () => new AuthError("PAYLOAD_TOO_LARGE", `the request body is larger than ${limit} bytes`);
    if (declared !== undefined && declared > limit) {
      req.resume();
      reject(tooLarge());
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const fail = (err: Error) => {
      if (settled) return;
      settled = true;
      reject(err);
    };
    req.on("data", (chunk: Buffer) => {
      if (settled) return;
      size += chunk.length;
      if (size > limit) {
        fail(tooLarge());
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => {
      const reset = "stream" in req && typeof req.stream.rstCode === "number" && req.stream.rstCode !== 0;
      if (reset || (declared !== undefined && size !== declared)) fail(new ClientClosed("incomplete request body"));
      if (settled) return;
      settled = true;
      resolve(Buffer.concat(chunks));
    });
    req.on("aborted", () => fail(new ClientClosed("request aborted")));
    req.on("error", () => fail(new ClientClosed("request stream failed")));
  });
}
