/**
 * The storage agent server: StorageService + grpc.health.v1 on cfg.listen (mutual TLS when
 * cfg.tls is set, for its clients too), the WAL devices over NBD on cfg.nbdListen, metrics on
 * cfg.metricsListen.
 */
import fs from 'node:fs';
import { createLogger, createRegistry, serveMetrics, type Logger, type MetricsServer, type Registry, type StorageConfig } from '@blockwal/core';
import { StorageServiceDefinition, bindServer, createServer, shutdownServer } from '@blockwal/proto';
import { addHealth } from '@blockwal/proto/health';
import type * as grpc from '@grpc/grpc-js';
import { StorageAgent, type AttachOptions } from './agent.js';
import { GrpcArchiveLink } from './archive-link.js';
import { StorageMetrics } from './metrics.js';
import { GrpcProxyLink } from './proxy-link.js';
import { storageServiceHandlers } from './service.js';
import type { SourceSpec } from './source.js';
import type { VolumeStatus } from './volume.js';

export interface StorageServer {
  /** The bound gRPC address. */
  readonly address: string;
  /** host:port of the NBD server of the WAL devices. */
  readonly nbdAddress: string;
  readonly metricsAddress?: string;
  readonly agent: StorageAgent;
  /** Attaches an existing device (see StorageAgent.attachVolume). */
  attachVolume(name: string, spec: SourceSpec, opts?: AttachOptions): Promise<VolumeStatus>;
  /** Graceful: no new calls, tasks stopped, NBD connections finished, WAL devices closed cleanly. */
  close(): Promise<void>;
}

export async function startStorageServer(cfg: StorageConfig, opts: { logger?: Logger; registry?: Registry } = {}): Promise<StorageServer> {
  const logger = opts.logger ?? createLogger({ name: cfg.name });
  const registry = opts.registry ?? createRegistry({ server: cfg.name });
  const proxies = cfg.proxies.map((p) => new GrpcProxyLink(p.name, p.address, cfg.tls));
  const archive = new GrpcArchiveLink(cfg.archive.name, cfg.archive.address, cfg.tls);
  const closeLinks = () => {
    for (const p of proxies) p.close();
    archive.close();
  };
  let agent: StorageAgent | null = null;
  const metrics = new StorageMetrics(registry, async () => (agent ? agent.listVolumes() : []));
  let server: grpc.Server | null = null;
  let metricsServer: MetricsServer | undefined;
  try {
    agent = await StorageAgent.start(cfg, { proxies, archive }, metrics, logger);
    server = createServer();
    server.addService(StorageServiceDefinition as unknown as grpc.ServiceDefinition, storageServiceHandlers(agent));
    addHealth(server, ['blockwal.v1.StorageService']);
    removeStaleSocket(cfg.listen);
    const address = await bindServer(server, cfg.listen, cfg.tls);
    if (cfg.metricsListen) metricsServer = await serveMetrics(cfg.metricsListen, [registry]);
    logger.info({ component: 'storage', address, nbd: agent.nbdAddress, metrics: metricsServer?.address }, 'storage agent listening');
    const a = agent;
    const grpcServer = server;
    let closing: Promise<void> | null = null;
    return {
      address,
      nbdAddress: a.nbdAddress,
      metricsAddress: metricsServer?.address,
      agent: a,
      attachVolume: (name, spec, o) => a.attachVolume(name, spec, o),
      close: () =>
        (closing ??= (async () => {
          await shutdownServer(grpcServer);
          await a.close();
          await metricsServer?.close();
          closeLinks();
        })()),
    };
  } catch (e) {
    if (server) server.forceShutdown();
    await agent?.close();
    await metricsServer?.close();
    closeLinks();
    throw e;
  }
}

/** A unix socket left by a process that died would make the bind fail. */
function removeStaleSocket(listen: string): void {
  if (!listen.startsWith('unix:')) return;
  const p = listen.slice('unix:'.length).replace(/^\/\/+/, '/');
  try {
    if (fs.lstatSync(p).isSocket()) fs.unlinkSync(p);
  } catch {
    // absent
  }
}
