/**
 * Prometheus metrics. Every server owns one registry (so several servers can share a process in
 * `blockwal up`) and serves it over HTTP at /metrics. Metric names are a contract: they are listed
 * in docs/metrics.md and used by the shipped dashboards.
 */
import http from 'node:http';
import { Registry, collectDefaultMetrics } from 'prom-client';

export { Counter, Gauge, Histogram, Registry } from 'prom-client';

export function createRegistry(labels: Record<string, string> = {}, opts: { processMetrics?: boolean } = {}): Registry {
  const r = new Registry();
  r.setDefaultLabels(labels);
  if (opts.processMetrics) collectDefaultMetrics({ register: r, prefix: 'blockwal_' });
  return r;
}

export interface MetricsServer {
  /** host:port actually bound. */
  readonly address: string;
  close(): Promise<void>;
}

/** Serves `GET /metrics` (and `/healthz`) for the given registries on host:port (port 0: any). */
export async function serveMetrics(listen: string, registries: Registry[]): Promise<MetricsServer> {
  const { host, port } = splitHostPort(listen);
  const merged = registries.length === 1 ? registries[0]! : Registry.merge(registries);
  const server = http.createServer((req, res) => {
    if (req.method === 'GET' && req.url?.startsWith('/metrics')) {
      merged.metrics().then(
        (text) => {
          res.writeHead(200, { 'content-type': merged.contentType });
          res.end(text);
        },
        (e: unknown) => {
          res.writeHead(500, { 'content-type': 'text/plain' });
          res.end(String(e));
        },
      );
    } else if (req.method === 'GET' && req.url === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok\n');
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found\n');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const a = server.address();
  const address = typeof a === 'object' && a ? `${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}` : listen;
  return {
    address,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** "host:port", "[v6]:port" or ":port" (all interfaces). */
export function splitHostPort(addr: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(addr);
  if (!m) throw new Error(`bad address "${addr}": expected host:port`);
  const port = Number(m[3]);
  if (port > 65535) throw new Error(`bad address "${addr}": port above 65535`);
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}
