// GET /metrics: the Prometheus scrape. Served either on its own plain-HTTP port (METRICS_PORT),
// which the operator keeps off the public network, or on the main port behind a bearer token
// (METRICS_TOKEN): request rates, lockouts and reuse detections are operational data an attacker
// could use to tune an attack, so the public port never serves them to just anyone.
import { hash, timingSafeEqual } from "node:crypto";
import http from "node:http";
import type { Logger } from "../log.ts";
import { type NodeHandler, setBrowserSafetyHeaders } from "../transport/node-http.ts";
import type { Metrics } from "./metrics.ts";

export const metricsPath = "/metrics";

const digest = (value: string) => hash("sha256", value, "buffer");

/** Answers a scrape: 405 for other methods, 401 without the token (when one is set), else the metrics. */
export function scrapeHandler(metrics: Metrics, token: string | undefined, log: Pick<Logger, "error">): NodeHandler {
  // Compared as digests, so the comparison takes the same time whatever the length presented.
  const expected = token === undefined ? undefined : digest(token);
  return (req, res) => {
    req.resume();
    // Every answer: a port meant to be private may yet be reached from a browser.
    setBrowserSafetyHeaders(res);
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.statusCode = 405;
      res.setHeader("allow", "GET, HEAD");
      res.end();
      return;
    }
    if (expected !== undefined) {
      const presented = /^Bearer (\S+)$/i.exec(req.headers.authorization ?? "")?.[1];
      if (presented === undefined || !timingSafeEqual(digest(presented), expected)) {
        res.statusCode = 401;
        res.setHeader("www-authenticate", 'Bearer realm="metrics"');
        res.end();
        return;
      }
    }
    metrics.scrape().then(
      (body) => {
        res.statusCode = 200;
        res.setHeader("content-type", metrics.contentType);
        res.setHeader("cache-control", "no-store");
        if (req.method === "HEAD") res.end();
        else res.end(body);
      },
      (err: unknown) => {
        log.error({ err }, "metrics could not be collected");
        res.statusCode = 500;
        res.end();
      },
    );
  };
}

export interface MetricsServer {
  port: number;
  close(): Promise<void>;
}

/** The metrics' own plain-HTTP server: /metrics and nothing else. */
export async function startMetricsServer(scrape: NodeHandler, port: number, host: string): Promise<MetricsServer> {
  const server = http.createServer((req, res) => {
    if ((req.url ?? "/").split("?", 1)[0] === metricsPath) {
      scrape(req, res);
      return;
    }
    req.resume();
    setBrowserSafetyHeaders(res);
    res.statusCode = 404;
    res.end();
  });
  // A scraper has no business holding connections open for long, nor sending big requests.
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  server.maxHeadersCount = 50;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address();
  return {
    port: typeof address === "object" && address !== null ? address.port : port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
