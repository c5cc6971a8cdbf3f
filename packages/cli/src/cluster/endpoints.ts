/**
 * The endpoints file: where a running `blockwal up` (or a role) can be reached. Written to
 * `<dataDir>/endpoints.json` once every server listens, removed at a clean stop; admin commands
 * run in the same directory read it, so they need no flags.
 */
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { UsageError, syncDir, type TlsConfig } from '@blockwal/core';

export interface Endpoint {
  name: string;
  /** gRPC address (host:port or unix:/path). */
  address: string;
  metrics?: string;
}

export interface StorageEndpoint extends Endpoint {
  /** NBD server of the volumes (host:port). */
  nbd: string;
  /** Name of its primary archive. */
  archive: string;
}

export interface Endpoints {
  version: 1;
  pid: number;
  dataDir: string;
  tls?: TlsConfig;
  storage: StorageEndpoint[];
  proxies: Endpoint[];
  archives: Endpoint[];
}

export const ENDPOINTS_FILE = 'endpoints.json';

export function endpointsPath(dataDir: string): string {
  return path.join(dataDir, ENDPOINTS_FILE);
}

export function writeEndpoints(e: Endpoints): string {
  mkdirSync(e.dataDir, { recursive: true });
  const file = endpointsPath(e.dataDir);
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, JSON.stringify(e, null, 2) + '\n');
  renameSync(tmp, file);
  syncDir(e.dataDir);
  return file;
}

export function removeEndpoints(dataDir: string, pid = process.pid): void {
  const e = tryReadEndpoints(dataDir);
  if (e && e.pid === pid) rmSync(endpointsPath(dataDir), { force: true });
}

export function tryReadEndpoints(dataDir: string): Endpoints | undefined {
  let text: string;
  try {
    text = readFileSync(endpointsPath(dataDir), 'utf8');
  } catch {
    return undefined;
  }
  try {
    const e = JSON.parse(text) as Endpoints;
    if (e.version !== 1) throw new Error(`version ${String(e.version)}`);
    return e;
  } catch (err) {
    throw new UsageError(`${endpointsPath(dataDir)}: not a blockwal endpoints file (${(err as Error).message})`);
  }
}
