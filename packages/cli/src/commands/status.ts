/**
 * blockwal status [--json]
 * Per volume: state, log usage, RPO (age of the newest restorable snapshot at its archive) and the
 * bytes waiting at each hop (unsent in the agent, spooled in each proxy). A server that does not
 * answer is reported, not fatal.
 */
import { formatSize } from '@blockwal/core';
import { flag, parse, positionals } from '../args.js';
import { json, out } from '../output.js';
import { CONNECT_OPTIONS, CONNECT_USAGE, archiveClient, archiveEndpoints, connectOptions, proxyClient, proxyEndpoints, storageClient, storageEndpoints, unary, type Cluster } from '../cluster/connect.js';
import { table } from '../table.js';

export const usage = `blockwal status [--json] ${CONNECT_USAGE}`;

interface VolumeStatus {
  volume: string;
  storage?: string;
  state?: string;
  sizeBytes?: number;
  logUsageBytes?: number;
  logCapacityBytes?: number;
  unsentBytes?: number;
  latestGid?: number;
  proxy?: string;
  lastError?: string;
  spool: { proxy: string; archive: string; diffs: number; bytes: number; lastError: string }[];
  archives: { archive: string; state: string; latestGid: number; newestRestorableGid: number | null; rpoSeconds: number | null; diffs: number; diffBytes: number }[];
}

async function tryCall<T>(f: () => Promise<T>, down: string[], name: string): Promise<T | undefined> {
  try {
    return await f();
  } catch (e) {
    down.push(`${name}: ${(e as Error).message}`);
    return undefined;
  }
}

export async function collectStatus(c: Cluster): Promise<{ volumes: VolumeStatus[]; unreachable: string[] }> {
  const vols = new Map<string, VolumeStatus>();
  const get = (v: string) => {
    let s = vols.get(v);
    if (!s) vols.set(v, (s = { volume: v, spool: [], archives: [] }));
    return s;
  };
  const down: string[] = [];
  const now = Math.floor(Date.now() / 1000);
  for (const s of storageEndpoints(c)) {
    const client = storageClient(c, s.address);
    const r = await tryCall(() => unary(client, 'listStorageVolumes', {}, 10_000), down, `storage ${s.name}`);
    client.close();
    for (const v of r?.volumes ?? []) {
      Object.assign(get(v.volume ?? ''), {
        storage: s.name,
        state: v.state ?? '',
        sizeBytes: Number(v.size),
        logUsageBytes: Number(v.logUsageBytes),
        logCapacityBytes: Number(v.logCapacityBytes),
        unsentBytes: Number(v.unsentBytes),
        latestGid: Number(v.latestGid),
        proxy: v.proxy ?? '',
        lastError: v.lastError ?? '',
      });
    }
  }
  for (const p of proxyEndpoints(c)) {
    const client = proxyClient(c, p.address);
    const r = await tryCall(() => unary(client, 'getProxyStatus', {}, 10_000), down, `proxy ${p.name}`);
    client.close();
    for (const v of r?.volumes ?? []) {
      for (const sp of v.spools ?? []) get(v.volume ?? '').spool.push({ proxy: p.name, archive: sp.archive ?? '', diffs: sp.diffs ?? 0, bytes: Number(sp.bytes ?? 0), lastError: sp.lastError ?? '' });
    }
  }
  for (const a of archiveEndpoints(c)) {
    const client = archiveClient(c, a.address);
    const r = await tryCall(() => unary(client, 'listArchiveVolumes', {}, 10_000), down, `archive ${a.name}`);
    client.close();
    for (const v of r?.volumes ?? []) {
      const nr = v.newestRestorable;
      const has = !!nr && Number(nr.timestamp) > 0;
      get(v.volume ?? '').archives.push({
        archive: a.name,
        state: v.state ?? '',
        latestGid: Number(v.latest?.gidE ?? 0),
        newestRestorableGid: has ? Number(nr!.gid) : null,
        rpoSeconds: has ? Math.max(0, now - Number(nr!.timestamp)) : null,
        diffs: v.diffs ?? 0,
        diffBytes: Number(v.diffBytes),
      });
    }
  }
  return { volumes: [...vols.values()].sort((x, y) => x.volume.localeCompare(y.volume)), unreachable: down };
}

export async function run(argv: string[]): Promise<number> {
  const p = parse(argv, { ...CONNECT_OPTIONS, json: { type: 'boolean' } }, usage);
  positionals(p, [], usage);
  const st = await collectStatus(connectOptions(p));
  if (flag(p, 'json')) {
    json(st);
    return st.unreachable.length ? 3 : 0;
  }
  const rows = st.volumes.map((v) => {
    const a = v.archives[0];
    const spooled = v.spool.reduce((s, x) => s + x.bytes, 0);
    return [
      v.volume,
      v.state ?? '-',
      v.logUsageBytes !== undefined ? `${formatSize(v.logUsageBytes)} / ${formatSize(v.logCapacityBytes ?? 0)}` : '-',
      v.unsentBytes !== undefined ? formatSize(v.unsentBytes) : '-',
      formatSize(spooled),
      a ? `${a.archive} ${a.state}` : '-',
      a?.newestRestorableGid != null ? String(a.newestRestorableGid) : '-',
      a?.rpoSeconds != null ? `${a.rpoSeconds} s` : '-',
    ];
  });
  out(table(['VOLUME', 'STATE', 'LOG USED', 'UNSENT (agent)', 'SPOOLED (proxies)', 'ARCHIVE', 'RESTORABLE GID', 'RPO'], rows));
  for (const v of st.volumes) if (v.lastError) out(`${v.volume}: last error: ${v.lastError}`);
  for (const d of st.unreachable) out(`unreachable: ${d}`);
  return st.unreachable.length ? 3 : 0;
}
