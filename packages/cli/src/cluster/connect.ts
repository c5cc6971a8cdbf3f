/**
 * How an admin command finds the cluster: `--server ADDR` for the one server it talks to, else
 * the endpoints file of a running `blockwal up` in `--data-dir` ($BLOCKWAL_DATA_DIR,
 * ./blockwal-data). TLS from `--tls-cert/--tls-key/--tls-ca`, else from the endpoints file.
 */
import * as grpc from '@grpc/grpc-js';
import path from 'node:path';
import { UsageError, type TlsConfig } from '@blockwal/core';
import { ArchiveServiceClient, ProxyServiceClient, StorageServiceClient, channelCredentials, clientOptions, fromServiceError } from '@blockwal/proto';
import { str, type Options, type Parsed } from '../args.js';
import { endpointsPath, tryReadEndpoints, type Endpoint, type Endpoints, type StorageEndpoint } from './endpoints.js';

export const CONNECT_OPTIONS: Options = {
  server: { type: 'string' },
  'data-dir': { type: 'string' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  'tls-ca': { type: 'string' },
};

export const CONNECT_USAGE = '[--server ADDR] [--data-dir DIR] [--tls-cert F --tls-key F --tls-ca F]';

export interface Cluster {
  endpoints?: Endpoints;
  server?: string;
  tls?: TlsConfig;
  /** Where endpoints were looked for (for messages). */
  dataDir: string;
}

export function connectOptions(p: Parsed, env: NodeJS.ProcessEnv = process.env): Cluster {
  const dataDir = path.resolve(str(p, 'data-dir') ?? env.BLOCKWAL_DATA_DIR ?? 'blockwal-data');
  const server = str(p, 'server');
  const endpoints = tryReadEndpoints(dataDir);
  const cert = str(p, 'tls-cert');
  const key = str(p, 'tls-key');
  const ca = str(p, 'tls-ca');
  let tls: TlsConfig | undefined;
  if (cert || key || ca) {
    if (!cert || !key || !ca) throw new UsageError('--tls-cert, --tls-key and --tls-ca go together');
    tls = { certFile: cert, keyFile: key, caFile: ca };
  } else tls = endpoints?.tls;
  return { endpoints, server, tls, dataDir };
}

function noCluster(c: Cluster, role: string): UsageError {
  return new UsageError(`no ${role} to talk to: no blockwal is running here (${endpointsPath(c.dataDir)} not found); run "blockwal up" in this directory, or pass --server ADDR or --data-dir DIR`);
}

export function storageEndpoints(c: Cluster): StorageEndpoint[] {
  if (c.server) return [{ name: c.server, address: c.server, nbd: '', archive: '' }];
  if (!c.endpoints || c.endpoints.storage.length === 0) throw noCluster(c, 'storage agent');
  return c.endpoints.storage;
}

export function archiveEndpoints(c: Cluster): Endpoint[] {
  if (c.server) return [{ name: c.server, address: c.server }];
  if (!c.endpoints || c.endpoints.archives.length === 0) throw noCluster(c, 'archive');
  return c.endpoints.archives;
}

export function proxyEndpoints(c: Cluster): Endpoint[] {
  if (c.server) return [];
  return c.endpoints?.proxies ?? [];
}

const opts = () => clientOptions({ 'grpc.max_reconnect_backoff_ms': 1000 });

export function storageClient(c: Cluster, address: string): InstanceType<typeof StorageServiceClient> {
  return new StorageServiceClient(address, channelCredentials(c.tls), opts());
}

export function archiveClient(c: Cluster, address: string): InstanceType<typeof ArchiveServiceClient> {
  return new ArchiveServiceClient(address, channelCredentials(c.tls), opts());
}

export function proxyClient(c: Cluster, address: string): InstanceType<typeof ProxyServiceClient> {
  return new ProxyServiceClient(address, channelCredentials(c.tls), opts());
}

type UnaryReq<F> = F extends (req: infer Q, cb: grpc.requestCallback<infer _R>) => grpc.ClientUnaryCall ? Q : never;
type UnaryRes<F> = F extends (req: infer _Q, cb: grpc.requestCallback<infer R>) => grpc.ClientUnaryCall ? R : never;

/** Calls a unary method by name as a promise, with a deadline; errors become typed RejectedErrors. */
export function unary<C extends grpc.Client, K extends keyof C & string>(client: C, method: K, req: UnaryReq<C[K]>, timeoutMs = 30_000): Promise<UnaryRes<C[K]>> {
  return new Promise((resolve, reject) => {
    const f = client[method] as unknown as (req: unknown, o: grpc.CallOptions, cb: grpc.requestCallback<unknown>) => unknown;
    f.call(client, req, { deadline: Date.now() + timeoutMs }, (err, res) => (err ? reject(fromServiceError(err, client.getChannel().getTarget())) : resolve(res as UnaryRes<C[K]>)));
  });
}
