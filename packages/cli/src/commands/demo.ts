/**
 * blockwal demo: a whole cluster in this process (one storage agent, one proxy, one archive,
 * talking gRPC over unix sockets), a volume written through its NBD export while snapshots are
 * taken, then every snapshot restored from the archive and compared by sha256 with the device as
 * it was at that snapshot. Exit 4 on any mismatch. `blockwal demo formats` runs the format-engine
 * demo (no servers).
 */
import { createHash, randomBytes } from 'node:crypto';
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { formatSize, parseConfig, silentLogger, createLogger, UsageError } from '@blockwal/core';
import { NbdClient } from '@blockwal/wal-device';
import { flag, parse, parseSize, parseUint, positionals, str } from '../args.js';
import { out } from '../output.js';
import { runCluster } from '../cluster/run-roles.js';
import { archiveClient, storageClient, unary, type Cluster } from '../cluster/connect.js';
import { readSnapshotToFile } from './restore.js';
import * as formats from './demo-formats.js';

export const usage = ['blockwal demo [--size BYTES] [--snapshots N] [--writes N] [--dir DIR] [--keep] [--verbose]', formats.usage].join('\n');

const VOLUME = 'demo';
const BLOCK = 4096;

function demoConfig(dir: string): string {
  const sock = (n: string) => `unix:${path.join(dir, 'run', `${n}.sock`)}`;
  return `dataDir: ${JSON.stringify(dir)}
storage:
  - name: s0
    listen: ${sock('s0')}
    metricsListen: null
    nbdListen: 127.0.0.1:0
    proxies: [{ name: p0, address: ${sock('p0')} }]
    archive: { name: a0, address: ${sock('a0')} }
    snapshotIntervalMs: 1s
    retryMinMs: 100
    retryMaxMs: 1000
proxies:
  - name: p0
    listen: ${sock('p0')}
    metricsListen: null
    archives: [{ name: a0, address: ${sock('a0')} }]
    retryMinMs: 100
    retryMaxMs: 1000
archives:
  - name: a0
    listen: ${sock('a0')}
    metricsListen: null
`;
}

async function deviceSha256(nbd: NbdClient, size: number): Promise<string> {
  const h = createHash('sha256');
  const step = 1024 * 1024;
  for (let off = 0; off < size; off += step) h.update(await nbd.read(off, Math.min(step, size - off)));
  return h.digest('hex');
}

function hasQemuIo(): boolean {
  try {
    execFileSync('qemu-io', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export async function run(argv: string[]): Promise<number> {
  if (argv[0] === 'formats') return formats.run(argv.slice(1));
  const p = parse(argv, { size: { type: 'string' }, snapshots: { type: 'string' }, writes: { type: 'string' }, dir: { type: 'string' }, keep: { type: 'boolean' }, verbose: { type: 'boolean' } }, usage);
  positionals(p, [], usage);
  const size = str(p, 'size') !== undefined ? parseSize(str(p, 'size')!, 'size') : 64 * 1024 * 1024;
  if (size % BLOCK !== 0 || size < 1024 * 1024) throw new UsageError(`--size must be a multiple of 4096 and at least 1 MiB, got ${size}`);
  const snapshots = str(p, 'snapshots') !== undefined ? parseUint(str(p, 'snapshots')!, 'snapshots', 1000) : 4;
  const writesPer = str(p, 'writes') !== undefined ? parseUint(str(p, 'writes')!, 'writes', 1_000_000) : 400;
  const dir = str(p, 'dir') !== undefined ? path.resolve(str(p, 'dir')!) : mkdtempSync(path.join(os.tmpdir(), 'blockwal-demo-'));
  mkdirSync(path.join(dir, 'run'), { recursive: true });
  const cfg = parseConfig(demoConfig(dir), 'demo config', { env: {} });
  const logger = flag(p, 'verbose') ? createLogger({ level: 'info' }) : silentLogger();
  const started = Date.now();
  out(`blockwal demo: a cluster in one process under ${dir}`);
  const cluster = await runCluster(cfg, { logger, writeEndpointsFile: false });
  const c: Cluster = { dataDir: dir, endpoints: cluster.endpoints };
  const storage = storageClient(c, cluster.endpoints.storage[0]!.address);
  const archive = archiveClient(c, cluster.endpoints.archives[0]!.address);
  let nbd: NbdClient | undefined;
  let mismatches = 0;
  try {
    const added = await unary(storage, 'addVolume', { volume: VOLUME, size }, 120_000);
    out(`volume ${VOLUME}: ${formatSize(size)}, served at ${added.nbdUri}`);
    const u = new URL(added.nbdUri);
    nbd = await NbdClient.connect({ host: u.hostname, port: Number(u.port) }, VOLUME);
    // Snapshots are refused until the full backup is done (a point before the copy ends is not
    // restorable).
    await waitForTarget(storage);
    out(`full backup done ${((Date.now() - started) / 1000).toFixed(1)} s after start`);
    const qemu = hasQemuIo();
    const taken: { gid: number; sha256: string }[] = [];
    for (let s = 0; s < snapshots; s++) {
      // A burst of random 4 KiB..64 KiB writes (some through qemu-io when it is installed).
      for (let i = 0; i < writesPer; i++) {
        const len = BLOCK * (1 + Math.floor(Math.random() * 16));
        const off = BLOCK * Math.floor(Math.random() * ((size - len) / BLOCK));
        await nbd.write(off, randomBytes(len));
      }
      // Asynchronously: the NBD server qemu-io talks to runs in this process.
      if (qemu) await promisify(execFile)('qemu-io', ['-f', 'raw', added.nbdUri, '-c', `write -P 0x${(0x41 + s).toString(16)} ${BLOCK * 7 * (s + 1)} 64k`]);
      await nbd.flush();
      const snap = await unary(storage, 'takeSnapshot', { volume: VOLUME, wait: false }, 60_000);
      const gid = Number(snap.gid);
      const sha256 = await deviceSha256(nbd, size);
      taken.push({ gid, sha256 });
      out(`snapshot ${s + 1}/${snapshots}: gid ${gid} after ${writesPer} writes${qemu ? ' (+1 by qemu-io)' : ''}`);
    }
    // The last one with --wait semantics: restorable at the archive.
    const last = taken[taken.length - 1]!;
    const deadline = Date.now() + 120_000;
    for (;;) {
      const r = await unary(archive, 'listSnapshots', { volume: VOLUME, all: true });
      if (r.snapshots.some((x) => Number(x.gid) === last.gid)) break;
      if (Date.now() > deadline) throw new Error(`snapshot ${last.gid} not restorable after 120 s`);
      await new Promise((r2) => setTimeout(r2, 200));
    }
    out(`all snapshots restorable ${((Date.now() - started) / 1000).toFixed(1)} s after start; restoring each from the archive:`);
    out('GID    DEVICE AT SNAPSHOT (sha256)                                       RESTORED (sha256)                                                 ');
    for (const t of taken) {
      const file = path.join(dir, `restored-${t.gid}.img`);
      const r = await readSnapshotToFile(archive, VOLUME, t.gid, file);
      const ok = r.sha256 === t.sha256 && r.size === size;
      if (!ok) mismatches++;
      out(`${String(t.gid).padEnd(6)} ${t.sha256}  ${r.sha256}  ${ok ? 'match' : 'MISMATCH'}`);
      rmSync(file, { force: true });
    }
    out(mismatches === 0 ? `every restore matches (${taken.length} snapshots)` : `${mismatches} of ${taken.length} restores DO NOT match`);
  } finally {
    await nbd?.close().catch(() => undefined);
    storage.close();
    archive.close();
    await cluster.close();
    if (!flag(p, 'keep') && str(p, 'dir') === undefined) rmSync(dir, { recursive: true, force: true });
  }
  return mismatches === 0 ? 0 : 4;
}

async function waitForTarget(storage: ReturnType<typeof storageClient>): Promise<void> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    const r = await unary(storage, 'listStorageVolumes', {});
    const v = r.volumes.find((x) => x.volume === VOLUME);
    if (v?.state === 'target') return;
    if (v?.state === 'overflow' || Date.now() > deadline) throw new Error(`volume ${VOLUME} is ${v?.state ?? 'missing'}: its full backup did not complete`);
    await new Promise((res) => setTimeout(res, 100));
  }
}
