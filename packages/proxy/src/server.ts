/**
 * The proxy server: the spool store, the wlog receiver, one forward task per (volume, archive),
 * ProxyService + grpc.health.v1 on `listen` (mutual TLS when configured) and Prometheus metrics.
 */
import { mkdirSync } from 'node:fs';
import {
  checkCompressionSpec,
  componentLogger,
  createLogger,
  createRegistry,
  parseCompressionType,
  serveMetrics,
  type CompressionSpec,
  type Logger,
  type MetricsServer,
  type ProxyArchiveConfig,
  type ProxyConfig,
  type Registry,
} from '@blockwal/core';
import { ProxyServiceDefinition, bindServer, createServer, shutdownServer } from '@blockwal/proto';
import { addHealth } from '@blockwal/proto/health';
import { ArchivePusher, type DiffPusher } from './archive-push.js';
import { ForwardTask } from './forward.js';
import { ProxyMetrics } from './metrics.js';
import { WlogReceiver } from './receive.js';
import { proxyHandlers } from './service.js';
import { proxyStatus, type ProxyStatus } from './status.js';
import { removeStaleSocket } from './socket.js';
import { SpoolStore } from './store.js';

export interface ProxyServerOptions {
  logger?: Logger;
  registry?: Registry;
  /** Clock in ms (tests). */
  now?: () => number;
  /** How to reach an archive (default: gRPC ArchiveService at its address). */
  pusher?: (archive: ProxyArchiveConfig) => DiffPusher;
  /** Free disk bytes of the proxy's directory (default: statfs). */
  freeBytes?: () => number;
  /** Grace given to running PushWlog calls on close (default 2000 ms). */
  closeGraceMs?: number;
}

export interface ProxyServer {
  /** The bound gRPC address. */
  readonly address: string;
  readonly metricsAddress?: string;
  readonly store: SpoolStore;
  status(): ProxyStatus;
  /** Stops accepting, lets running receives finish (or aborts them after the grace), aborts forwards; the spool stays. */
  close(): Promise<void>;
}

const SERVICE_NAME = 'blockwal.v1.ProxyService';

export async function startProxyServer(cfg: ProxyConfig, opts: ProxyServerOptions = {}): Promise<ProxyServer> {
  const root = opts.logger ?? createLogger({ name: cfg.name });
  const log = componentLogger(root, 'proxy');
  const now = opts.now ?? Date.now;
  mkdirSync(cfg.dir, { recursive: true });
  const archives = cfg.archives.map((a) => ({ cfg: a, compression: compressionOf(a.compression, a.compressionLevel, `archive ${a.name}`) }));
  const store = SpoolStore.open(cfg.dir, archives.map((a) => a.cfg.name), componentLogger(root, 'proxy.spool'));
  const registry = opts.registry ?? createRegistry({ server: cfg.name });
  const metrics = new ProxyMetrics(registry, store, now);

  const pushers = new Map<string, DiffPusher>(archives.map((a) => [a.cfg.name, opts.pusher ? opts.pusher(a.cfg) : new ArchivePusher(a.cfg.address, { tls: cfg.tls })]));
  const tasks = new Map<string, ForwardTask>();
  const forwardLog = componentLogger(root, 'proxy.forward');
  const taskOf = (volume: string, a: (typeof archives)[number]): ForwardTask => {
    const key = `${a.cfg.name}/${volume}`;
    let t = tasks.get(key);
    if (!t) {
      t = new ForwardTask(
        store,
        pushers.get(a.cfg.name)!,
        {
          archive: a.cfg.name,
          volume,
          compression: a.compression,
          sendDelayMs: a.cfg.sendDelayMs,
          mergeMaxBytes: cfg.mergeMaxBytes,
          mergeMaxDiffs: cfg.mergeMaxDiffs,
          retryMinMs: cfg.retryMinMs,
          retryMaxMs: cfg.retryMaxMs,
        },
        {
          forwarded: (v, archive, bytes) => {
            metrics.forwardedBytes.inc({ volume: v, archive }, bytes);
            metrics.forwardedDiffs.inc({ volume: v, archive });
          },
        },
        forwardLog.child({ volume, archive: a.cfg.name }),
        now,
      );
      tasks.set(key, t);
      t.start();
    }
    return t;
  };
  const kick = (volume: string) => {
    for (const a of archives) taskOf(volume, a).kick();
  };

  const receiver = new WlogReceiver(
    store,
    { quotaBytes: cfg.quotaBytes, minFreeBytes: cfg.minFreeBytes, compression: compressionOf(cfg.spoolCompression, 0, 'spoolCompression') },
    {
      spooled: kick,
      received: (volume, bytes) => {
        metrics.receivedBytes.inc({ volume }, bytes);
        metrics.receivedWlogs.inc({ volume });
      },
      rejected: (volume, reason) => metrics.rejects.inc({ volume, reason }),
    },
    componentLogger(root, 'proxy.receive'),
    opts.freeBytes,
  );
  const status = () => proxyStatus(store, cfg.quotaBytes, (volume, archive) => tasks.get(`${archive}/${volume}`)?.lastError ?? '');

  for (const volume of store.volumes()) kick(volume);

  const server = createServer();
  server.addService(ProxyServiceDefinition, proxyHandlers({ receiver, status }));
  const health = addHealth(server, [SERVICE_NAME]);
  let address: string;
  let metricsServer: MetricsServer | undefined;
  try {
    await removeStaleSocket(cfg.listen);
    address = await bindServer(server, cfg.listen, cfg.tls);
    if (cfg.metricsListen) metricsServer = await serveMetrics(cfg.metricsListen, [registry]);
  } catch (e) {
    server.forceShutdown();
    await Promise.all([...tasks.values()].map((t) => t.stop()));
    for (const p of pushers.values()) p.close();
    throw e;
  }
  log.info({ address, metrics: metricsServer?.address, dir: cfg.dir, archives: archives.map((a) => a.cfg.name), spoolBytes: store.totalBytes }, 'proxy serving');

  let closing: Promise<void> | null = null;
  return {
    address,
    metricsAddress: metricsServer?.address,
    store,
    status,
    close() {
      closing ??= (async () => {
        receiver.stop();
        health.setStatus('', 'NOT_SERVING');
        health.setStatus(SERVICE_NAME, 'NOT_SERVING');
        await shutdownServer(server, opts.closeGraceMs ?? 2000);
        for (let i = 0; i < 100 && receiver.active > 0; i++) await new Promise((r) => setTimeout(r, 10));
        await Promise.all([...tasks.values()].map((t) => t.stop()));
        for (const p of pushers.values()) p.close();
        await metricsServer?.close();
        log.info({ spoolBytes: store.totalBytes }, 'proxy closed');
      })();
      return closing;
    },
  };
}

function compressionOf(name: string, level: number, what: string): CompressionSpec {
  const spec = { type: parseCompressionType(name), level };
  try {
    checkCompressionSpec(spec);
  } catch (e) {
    throw new Error(`${what}: ${(e as Error).message}`);
  }
  return spec;
}
