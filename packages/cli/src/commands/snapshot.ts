/**
 * blockwal snapshot VOL [--wait] [--timeout SEC]   (last line: the gid; --wait returns once restorable)
 * blockwal snapshot list VOL [--all] [--json]      (restorable snapshots at the archive)
 */
import { RejectedError, UsageError, type RejectReason } from '@blockwal/core';
import { reasonFromWire } from '@blockwal/proto';
import { flag, parse, parseUint, positionals, str } from '../args.js';
import { json, out } from '../output.js';
import { CONNECT_OPTIONS, CONNECT_USAGE, archiveClient, archiveEndpoints, connectOptions, storageClient, storageEndpoints, unary, type Cluster } from '../cluster/connect.js';
import type { Endpoint, StorageEndpoint } from '../cluster/endpoints.js';
import { isoTime, table } from '../table.js';

export const usage = [`blockwal snapshot VOL [--wait] [--timeout SEC] ${CONNECT_USAGE}`, `blockwal snapshot list VOL [--all] [--json] ${CONNECT_USAGE}`].join('\n');

export function run(argv: string[]): Promise<number> {
  if (argv[0] === 'list' && argv.slice(1).some((a) => !a.startsWith('-'))) return list(argv.slice(1));
  return take(argv);
}

/** The storage agent that holds a volume (the only one, or the one that lists it). */
export async function storageOf(c: Cluster, volume: string): Promise<StorageEndpoint> {
  const all = storageEndpoints(c);
  if (all.length === 1) return all[0]!;
  for (const s of all) {
    const client = storageClient(c, s.address);
    try {
      const r = await unary(client, 'listStorageVolumes', {});
      if (r.volumes.some((v) => v.volume === volume)) return s;
    } finally {
      client.close();
    }
  }
  throw new RejectedError('not-found', `no storage agent has volume ${volume} (asked ${all.map((s) => s.name).join(', ')})`);
}

/** The archive to ask about a volume: --server, else the primary archive of its storage agent. */
export async function archiveOf(c: Cluster, volume: string): Promise<Endpoint> {
  const archives = archiveEndpoints(c);
  if (archives.length === 1) return archives[0]!;
  const s = await storageOf(c, volume);
  return archives.find((a) => a.name === s.archive) ?? archives[0]!;
}

async function take(argv: string[]): Promise<number> {
  const u = usage.split('\n')[0]!;
  const p = parse(argv, { ...CONNECT_OPTIONS, wait: { type: 'boolean' }, timeout: { type: 'string' } }, u);
  const [volume] = positionals(p, ['VOL'], u);
  const timeoutSec = str(p, 'timeout') !== undefined ? parseUint(str(p, 'timeout')!, 'timeout', 86_400) : 600;
  const c = connectOptions(p);
  const s = await storageOf(c, volume!);
  const client = storageClient(c, s.address);
  try {
    const wait = flag(p, 'wait');
    const r = await unary(client, 'takeSnapshot', { volume, wait, timeoutSeconds: timeoutSec }, (timeoutSec + 30) * 1000);
    const reason = reasonFromWire(r.reason);
    if (reason) throw new RejectedError(reason as RejectReason, r.message || `snapshot of ${volume} refused`);
    if (wait && !r.restorable) throw new RejectedError('stopped', `snapshot ${r.gid} of ${volume} taken but not restorable after ${timeoutSec} s${r.message ? `: ${r.message}` : ''}`);
    out(`snapshot of ${volume}: gid ${r.gid}${wait ? ', restorable' : ''}`);
    out(String(r.gid));
  } finally {
    client.close();
  }
  return 0;
}

async function list(argv: string[]): Promise<number> {
  const u = usage.split('\n')[1]!;
  const p = parse(argv, { ...CONNECT_OPTIONS, all: { type: 'boolean' }, json: { type: 'boolean' } }, u);
  const [volume] = positionals(p, ['VOL'], u);
  if (volume === undefined) throw new UsageError(`missing VOL\nusage: ${u}`);
  const c = connectOptions(p);
  const a = await archiveOf(c, volume);
  const client = archiveClient(c, a.address);
  try {
    const r = await unary(client, 'listSnapshots', { volume, all: flag(p, 'all') });
    const rows = r.snapshots.map((s) => ({ gid: Number(s.gid), timestamp: Number(s.timestamp), explicit: !!s.explicit }));
    if (flag(p, 'json')) json(rows.map((s) => ({ ...s, time: isoTime(s.timestamp) })));
    else out(table(['GID', 'TIME (UTC)', 'KIND'], rows.map((s) => [String(s.gid), isoTime(s.timestamp), s.explicit ? 'explicit' : 'implicit'])));
  } finally {
    client.close();
  }
  return 0;
}
