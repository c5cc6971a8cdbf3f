/**
 * Running an archive: open (and recover) its directory, serve ArchiveService and grpc.health.v1
 * on `cfg.listen` (mutual TLS when `cfg.tls` is set), and metrics on `cfg.metricsListen`.
 */
import { lstatSync, rmSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type * as grpc from '@grpc/grpc-js';
import { componentLogger, createRegistry, serveMetrics, silentLogger, type ArchiveConfig, type Logger, type MetricsServer, type Registry } from '@blockwal/core';
import { ArchiveServiceDefinition, bindServer, createServer, shutdownServer } from '@blockwal/proto';
import { addHealth } from '@blockwal/proto/health';
import { Archive } from './archive.js';
import { DiffMerger } from './merge.js';
import { ArchiveMetrics } from './metrics.js';
import { archiveHandlers } from './service.js';

export const ARCHIVE_SERVICE_NAME = 'blockwal.v1.ArchiveService';

export interface ArchiveServerOptions {
  logger?: Logger;
  /** Where the metrics go (default: a new registry labelled with the server name). */
  registry?: Registry;
}

export interface ArchiveServer {
  /** The bound gRPC address ("127.0.0.1:43521" for port 0, "unix:/path" as given). */
  readonly address: string;
  /** host:port of /metrics, when metricsListen is set. */
  readonly metricsAddress?: string;
  readonly archive: Archive;
  readonly registry: Registry;
  /** The background merging of implicit snapshots (merge.ts). */
  readonly merger: DiffMerger;
  /** Stops serving: running calls get a short grace, then are cancelled; full syncs record their progress. */
  close(): Promise<void>;
}

export async function startArchiveServer(cfg: ArchiveConfig, opts: ArchiveServerOptions = {}): Promise<ArchiveServer> {
  const logger = opts.logger ?? silentLogger();
  const log = componentLogger(logger, 'archive', { server: cfg.name });
  const archive = Archive.open({ dir: cfg.dir, restoreDir: cfg.restoreDir, logger, workerThreads: cfg.workerThreads });
  const registry = opts.registry ?? createRegistry({ server: cfg.name });
  const now = () => Date.now() / 1000;
  const metrics = new ArchiveMetrics(registry, archive, now);
  const merger = new DiffMerger(archive, { mergeAfterMs: cfg.mergeAfterMs, mergeMaxBytes: cfg.mergeMaxBytes, metrics, logger: componentLogger(logger, 'archive', { task: 'merge' }) });
  const server = createServer();
  server.addService(
    ArchiveServiceDefinition as unknown as grpc.ServiceDefinition,
    archiveHandlers({ archive, metrics, logger, readChunkBytes: cfg.readChunkBytes, now }),
  );
  addHealth(server, [ARCHIVE_SERVICE_NAME]);
  let address: string;
  let metricsServer: MetricsServer | undefined;
  try {
    await removeStaleSocket(cfg.listen);
    address = await bindServer(server, cfg.listen, cfg.tls);
    if (cfg.metricsListen) metricsServer = await serveMetrics(cfg.metricsListen, [registry]);
  } catch (e) {
    server.forceShutdown();
    await archive.close();
    throw e;
  }
  merger.start();
  log.info({ address, metrics: metricsServer?.address, dir: cfg.dir, volumes: archive.volumes().length, tls: !!cfg.tls, workerThreads: cfg.workerThreads, mergeAfterMs: cfg.mergeAfterMs }, 'archive serving');
  let closing: Promise<void> | undefined;
  return {
    address,
    ...(metricsServer ? { metricsAddress: metricsServer.address } : {}),
    archive,
    registry,
    merger,
    close() {
      closing ??= (async () => {
        const merging = merger.stop();
        await shutdownServer(server, 1000);
        await archive.close(); // stops the workers: a merge still running fails and deletes its temp
        await merging;
        await metricsServer?.close();
        log.info({ address }, 'archive stopped');
      })();
      return closing;
    },
  };
}

/**
 * A unix socket file left by a previous run would make the bind fail: remove it when nobody
 * answers on it. A live socket and other files are left alone (the bind then fails).
 */
async function removeStaleSocket(listen: string): Promise<void> {
  if (!listen.startsWith('unix:')) return;
  const file = path.resolve(listen.slice('unix:'.length).replace(/^\/\//, '/'));
  let isSocket = false;
  try {
    isSocket = lstatSync(file).isSocket();
  } catch {
    return; // absent
  }
  if (!isSocket) return;
  const live = await new Promise<boolean>((resolve) => {
    const s = net.connect(file);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
  if (!live) rmSync(file, { force: true });
}
