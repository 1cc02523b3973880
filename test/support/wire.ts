// Bytes on the wire, for the tests and abuse scripts that send what no well-behaved client would:
// one HTTP/2 request with exactly these headers and body (gRPC with prior knowledge), a gRPC
// length-prefixed frame, and the trailer frame of a gRPC-Web answer.
import http2 from "node:http2";

export interface H2Answer {
  status: number;
  headers: Record<string, string>;
  trailers: Record<string, string>;
  body: Buffer;
}

/** A gRPC / gRPC-Web message frame: the compressed flag, the 4-byte length, the payload. */
export function frame(flag: number, payload: Uint8Array): Buffer {
  const out = Buffer.alloc(5 + payload.length);
  out[0] = flag;
  out.writeUInt32BE(payload.length, 1);
  out.set(payload, 5);
  return out;
}

const flat = (h: http2.IncomingHttpHeaders): Record<string, string> =>
  Object.fromEntries(Object.entries(h).map(([k, v]) => [k, Array.isArray(v) ? v.join(", ") : String(v)]));

/** One request on its own HTTP/2 connection (closed after), answered as it came. */
export function h2Request(
  url: string,
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: Uint8Array,
): Promise<H2Answer> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(url);
    session.on("error", reject);
    const req = session.request({ ":method": method, ":path": path, ...headers }, { endStream: body === undefined });
    const answer: H2Answer = { status: 0, headers: {}, trailers: {}, body: Buffer.alloc(0) };
    const chunks: Buffer[] = [];
    req.on("response", (h) => {
      answer.status = Number(h[":status"]);
      answer.headers = flat(h);
    });
    req.on("trailers", (t) => (answer.trailers = flat(t)));
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("close", () => {
      session.close();
      answer.body = Buffer.concat(chunks);
      if (answer.status === 0) reject(new Error(`stream closed without an answer (code ${req.rstCode})`));
      else resolve(answer);
    });
    req.on("error", () => undefined); // 'close' settles it
    if (body !== undefined) req.end(body);
  });
}

/** The gRPC status of an answer: trailers, or headers for a trailers-only answer. */
export function grpcStatusOf(a: H2Answer): { code: number; message: string; detailsBin: string | undefined } {
  const source = a.trailers["grpc-status"] !== undefined ? a.trailers : a.headers;
  return {
    code: Number(source["grpc-status"] ?? Number.NaN),
    message: decodeURIComponent(source["grpc-message"] ?? ""),
    detailsBin: source["grpc-status-details-bin"],
  };
}

/** The header lines of the trailer frame (flag 0x80) at the end of a gRPC-Web answer body. */
export function grpcWebTrailer(body: Uint8Array): Record<string, string> {
  const bytes = Buffer.from(body);
  let at = 0;
  while (at + 5 <= bytes.length) {
    const flag = bytes[at] ?? 0;
    const length = bytes.readUInt32BE(at + 1);
    if ((flag & 0x80) === 0x80) {
      const out: Record<string, string> = {};
      for (const line of bytes
        .subarray(at + 5, at + 5 + length)
        .toString("utf8")
        .split("\r\n")) {
        const i = line.indexOf(":");
        if (i > 0) out[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
      }
      return out;
    }
    at += 5 + length;
  }
  return {};
}
