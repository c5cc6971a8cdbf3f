/** A storage agent with test proxies and a test archive, on unix sockets in a scratch directory. */
import { createHash } from 'node:crypto';
import path from 'node:path';
import { silentLogger, storageSchema, type StorageConfig, type StorageConfigInput, type Logger, type TlsConfig } from '@blockwal/core';
import { NbdClient } from '@blockwal/wal-device';
import { StorageClient, parseNbdUri, startStorageServer, type StorageServer } from '@blockwal/storage-agent';
import { scratchDir } from './scratch.js';
import { TestArchive, TestLedger, TestProxy } from './storage-test-peers.js';

export interface Harness {
  dir: string;
  cfg: StorageConfig;
  ledger: TestLedger;
  proxies: TestProxy[];
  archive: TestArchive;
  server: StorageServer;
  client: StorageClient;
  /** Closes the agent (gracefully) and starts it again on the same directory. */
  restart(): Promise<void>;
  close(): Promise<void>;
}

export async function startHarness(o: { proxies?: number; cfg?: Partial<StorageConfigInput>; logger?: Logger; tls?: TlsConfig } = {}): Promise<Harness> {
  const scratch = scratchDir('blockwal-storage-');
  const dir = scratch.dir;
  const ledger = new TestLedger(path.join(dir, 'peers'));
  const proxies: TestProxy[] = [];
  for (let i = 0; i < (o.proxies ?? 1); i++) proxies.push(await TestProxy.start(`p${i}`, path.join(dir, `p${i}.sock`), ledger, o.tls));
  const archive = await TestArchive.start('a0', path.join(dir, 'a0.sock'), ledger, o.tls);
  const cfg: StorageConfig = {
    ...storageSchema.parse({
      name: 's0',
      listen: `unix:${path.join(dir, 's0.sock')}`,
      metricsListen: null,
      nbdListen: '127.0.0.1:0',
      proxies: proxies.map((p) => ({ name: p.name, address: p.address })),
      archive: { name: archive.name, address: archive.address },
      logSizeBytes: 4 * 1024 * 1024,
      snapshotIntervalMs: 500,
      retryMinMs: 50,
      retryMaxMs: 400,
      proxyDownMs: 500,
      fullSyncChunkBytes: 256 * 1024,
      ...o.cfg,
    }),
    dir: path.join(dir, 'storage'),
    ...(o.tls ? { tls: o.tls } : {}),
  };
  const logger = o.logger ?? silentLogger();
  const h: Harness = {
    dir,
    cfg,
    ledger,
    proxies,
    archive,
    server: await startStorageServer(cfg, { logger }),
    client: null as unknown as StorageClient,
    async restart() {
      h.client.close();
      await h.server.close();
      h.server = await startStorageServer(cfg, { logger });
      h.client = new StorageClient(h.server.address, o.tls);
    },
    async close() {
      h.client.close();
      await h.server.close();
      for (const p of proxies) await p.down();
      archive.close();
      scratch.cleanup();
    },
  };
  h.client = new StorageClient(h.server.address, o.tls);
  return h;
}

export async function connectNbd(uri: string): Promise<NbdClient> {
  const t = parseNbdUri(uri);
  return NbdClient.connect(t.where, t.name);
}

/** sha256 of the whole device read through NBD. */
export async function deviceSha(nbd: NbdClient, size: number, piece = 128 * 1024): Promise<string> {
  const h = createHash('sha256');
  for (let off = 0; off < size; off += piece) h.update(await nbd.read(off, Math.min(piece, size - off)));
  return h.digest('hex');
}

export async function waitFor<T>(fn: () => Promise<T | undefined | false> | T | undefined | false, what: string, timeoutMs = 20_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** A deterministic pseudo-random generator (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** n random 4 KiB-aligned writes (1..maxBlocks blocks each) of random data. */
export async function randomWrites(nbd: NbdClient, size: number, n: number, r: () => number, maxBlocks = 8): Promise<void> {
  const blocks = size / 4096;
  const ps: Promise<void>[] = [];
  for (let i = 0; i < n; i++) {
    const k = 1 + Math.floor(r() * maxBlocks);
    const at = Math.floor(r() * (blocks - k));
    const data = Buffer.alloc(k * 4096);
    for (let j = 0; j < data.length; j += 4) data.writeUInt32LE((r() * 0xffffffff) >>> 0, j);
    ps.push(nbd.write(at * 4096, data));
  }
  await Promise.all(ps);
}
