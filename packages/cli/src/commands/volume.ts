/**
 * blockwal volume add VOL --size BYTES     (WAL device + capture + full backup; last line: the NBD URI)
 * blockwal volume list [--json]
 */
import { UsageError, formatSize } from '@blockwal/core';
import type { blockwal } from '@blockwal/proto';
import { flag, parse, parseSize, positionals, str } from '../args.js';
import { json, out } from '../output.js';
import { CONNECT_OPTIONS, CONNECT_USAGE, connectOptions, storageClient, storageEndpoints, unary } from '../cluster/connect.js';
import { table } from '../table.js';

export const usage = [`blockwal volume add VOL --size BYTES ${CONNECT_USAGE}`, `blockwal volume list [--json] ${CONNECT_USAGE}`].join('\n');

export function run(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === 'add') return add(rest);
  if (sub === 'list') return list(rest);
  throw new UsageError(`${sub === undefined ? 'missing volume subcommand' : `unknown volume subcommand "${sub}"`}\nusage: ${usage}`);
}

async function add(argv: string[]): Promise<number> {
  const u = usage.split('\n')[0]!;
  const p = parse(argv, { ...CONNECT_OPTIONS, size: { type: 'string' } }, u);
  const [volume] = positionals(p, ['VOL'], u);
  const sizeText = str(p, 'size');
  if (sizeText === undefined) throw new UsageError(`missing --size\nusage: ${u}`);
  const size = parseSize(sizeText, 'size');
  const c = connectOptions(p);
  const s = storageEndpoints(c)[0]!;
  const client = storageClient(c, s.address);
  try {
    const r = await unary(client, 'addVolume', { volume, size }, 120_000);
    out(`volume ${volume}: ${formatSize(size)} on storage ${s.name}; capture and full backup started`);
    out(r.nbdUri);
  } finally {
    client.close();
  }
  return 0;
}

export async function listStorageVolumes(c: ReturnType<typeof connectOptions>): Promise<{ storage: string; volume: blockwal.v1.IStorageVolumeStatus }[]> {
  const rows: { storage: string; volume: blockwal.v1.IStorageVolumeStatus }[] = [];
  for (const s of storageEndpoints(c)) {
    const client = storageClient(c, s.address);
    try {
      const r = await unary(client, 'listStorageVolumes', {});
      for (const v of r.volumes) rows.push({ storage: s.name, volume: v });
    } finally {
      client.close();
    }
  }
  return rows;
}

async function list(argv: string[]): Promise<number> {
  const u = usage.split('\n')[1]!;
  const p = parse(argv, { ...CONNECT_OPTIONS, json: { type: 'boolean' } }, u);
  positionals(p, [], u);
  const rows = await listStorageVolumes(connectOptions(p));
  if (flag(p, 'json')) {
    json(
      rows.map(({ storage, volume: v }) => ({
        volume: v.volume,
        storage,
        state: v.state,
        sizeBytes: Number(v.size),
        nbdUri: v.nbdUri,
        logUsageBytes: Number(v.logUsageBytes),
        logCapacityBytes: Number(v.logCapacityBytes),
        unsentBytes: Number(v.unsentBytes),
        shippedGid: Number(v.shippedGid),
        latestGid: Number(v.latestGid),
        proxy: v.proxy,
        lastError: v.lastError,
      })),
    );
    return 0;
  }
  out(
    table(
      ['VOLUME', 'STATE', 'SIZE', 'LOG USED', 'UNSENT', 'SHIPPED GID', 'PROXY', 'NBD'],
      rows.map(({ volume: v }) => [v.volume ?? '', v.state ?? '', formatSize(Number(v.size)), `${formatSize(Number(v.logUsageBytes))} / ${formatSize(Number(v.logCapacityBytes))}`, formatSize(Number(v.unsentBytes)), String(v.shippedGid), v.proxy || '-', v.nbdUri ?? '']),
    ),
  );
  return 0;
}
