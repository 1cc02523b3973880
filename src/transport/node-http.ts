import type http from "node:http";
import type http2 from "node:http2";

/** A request handler for Node's HTTP/1.1 and HTTP/2 (compatibility API) servers alike. */
export type NodeHandler = (
  req: http.IncomingMessage | http2.Http2ServerRequest,
  res: http.ServerResponse | http2.Http2ServerResponse,
) => void;
