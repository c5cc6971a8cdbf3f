/** Proxy configs for tests: unix sockets in a scratch dir, no metrics port, fast retries. */
import path from 'node:path';
import { proxySchema, type ProxyConfig } from '@blockwal/core';

export function testProxyConfig(dir: string, archives: { name: string; address: string; sendDelayMs?: number; compression?: 'none' | 'snappy' | 'gzip' | 'lzma' | 'lz4' | 'zstd' }[], over: Record<string, unknown> = {}): ProxyConfig {
  const parsed = proxySchema.parse({
    name: 'p0',
    listen: `unix:${path.join(dir, 'p.sock')}`,
    metricsListen: null,
    archives,
    minFreeBytes: 0,
    retryMinMs: 20,
    retryMaxMs: 200,
    ...over,
  });
  return { ...parsed, dir: path.join(dir, 'proxy') };
}
