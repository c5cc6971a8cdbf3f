/**
 * Runs servers of a cluster config in this process: all of them (`blockwal up`) or one role
 * (`blockwal storage|proxy|archive`). Archives start first, then proxies, then storage agents, so
 * that each finds its downstream listening; they stop in the reverse order. The endpoints file is
 * written once everything listens.
 */
import { createLogger, createRegistry, type ClusterConfig, type Logger } from '@blockwal/core';
import { startArchiveServer } from '@blockwal/archive';
import { startProxyServer } from '@blockwal/proxy';
import { startStorageServer } from '@blockwal/storage-agent';
import { removeEndpoints, writeEndpoints, type Endpoints } from './endpoints.js';

export type Role = 'storage' | 'proxy' | 'archive';

export interface RunningCluster {
  endpoints: Endpoints;
  endpointsFile?: string;
  logger: Logger;
  close(): Promise<void>;
}

export interface RunOptions {
  roles?: Role[];
  /** Only the server with this name (role commands with several servers of a role). */
  name?: string;
  logger?: Logger;
  /** Write <dataDir>/endpoints.json (default true). */
  writeEndpointsFile?: boolean;
}

export async function runCluster(cfg: ClusterConfig, opts: RunOptions = {}): Promise<RunningCluster> {
  const roles = new Set<Role>(opts.roles ?? ['archive', 'proxy', 'storage']);
  const logger = opts.logger ?? createLogger({ level: cfg.log.level });
  const pick = <T extends { name: string }>(list: T[]) => list.filter((s) => opts.name === undefined || s.name === opts.name);
  const closers: (() => Promise<void>)[] = [];
  const endpoints: Endpoints = { version: 1, pid: process.pid, dataDir: cfg.dataDir, storage: [], proxies: [], archives: [] };
  if (cfg.tls) endpoints.tls = cfg.tls;
  const close = async () => {
    for (const c of closers.reverse()) {
      try {
        await c();
      } catch (e) {
        logger.error({ err: e }, 'server close failed');
      }
    }
    if (opts.writeEndpointsFile !== false) removeEndpoints(cfg.dataDir);
  };
  try {
    if (roles.has('archive')) {
      for (const a of pick(cfg.archives)) {
        const s = await startArchiveServer(a, { logger: logger.child({ server: a.name }), registry: createRegistry({ server: a.name }, { processMetrics: true }) });
        closers.push(() => s.close());
        endpoints.archives.push({ name: a.name, address: s.address, ...(s.metricsAddress ? { metrics: s.metricsAddress } : {}) });
      }
    }
    if (roles.has('proxy')) {
      for (const p of pick(cfg.proxies)) {
        const s = await startProxyServer(p, { logger: logger.child({ server: p.name }), registry: createRegistry({ server: p.name }, { processMetrics: true }) });
        closers.push(() => s.close());
        endpoints.proxies.push({ name: p.name, address: s.address, ...(s.metricsAddress ? { metrics: s.metricsAddress } : {}) });
      }
    }
    if (roles.has('storage')) {
      for (const st of pick(cfg.storage)) {
        const s = await startStorageServer(st, { logger: logger.child({ server: st.name }), registry: createRegistry({ server: st.name }, { processMetrics: true }) });
        closers.push(() => s.close());
        endpoints.storage.push({ name: st.name, address: s.address, nbd: s.nbdAddress, archive: st.archive.name, ...(s.metricsAddress ? { metrics: s.metricsAddress } : {}) });
      }
    }
  } catch (e) {
    await close();
    throw e;
  }
  const running: RunningCluster = { endpoints, logger, close };
  if (opts.writeEndpointsFile !== false) running.endpointsFile = writeEndpoints(endpoints);
  return running;
}

/** Runs until SIGINT/SIGTERM, then stops cleanly (a second signal exits at once). */
export function untilSignal(running: RunningCluster): Promise<number> {
  return new Promise((resolve) => {
    let stopping = false;
    const onSignal = (sig: NodeJS.Signals) => {
      if (stopping) process.exit(130);
      stopping = true;
      running.logger.info({ signal: sig }, 'stopping');
      running.close().then(
        () => resolve(0),
        () => resolve(3),
      );
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}
