/**
 * Diff delivery with real processes (`blockwal storage|proxy|archive` on unix sockets): the same
 * diff sent twice and diffs arriving out of order through two proxies. The archive must store
 * every diff exactly once (its 'diff stored' log lines over all its lives, its diff count, its
 * snapshot list), answer a duplicate `too-old` (the proxy drops it as delivered) and a diff
 * whose predecessor is missing `too-new` (the proxy keeps it and retries), and every snapshot
 * must restore byte-exact (sha256 against a model of the volume).
 *
 * 1. As in production: the storage agent fails over from p0 to p1 while the archive is down, so
 *    p1 holds the later diffs while the earlier ones wait in p0; the archive comes back before p0.
 * 2. Driven through the gRPC APIs with wlogs built by core's WlogWriter: one wlog pushed to both
 *    proxies, one wdiff pushed to the archive twice (and once more through a proxy), and a diff
 *    delivered by p1 before its predecessor held by p0.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { connectArchive, fullSyncFromFile, listArchiveVolumes, listSnapshots, pushDiffFile, restoreSnapshot } from '@blockwal/archive';
import { getProxyStatus, proxyClient, pushWlog } from '@blockwal/proxy';
import { StorageClient } from '@blockwal/storage-agent';
import type { ArchiveServiceClient, ProxyServiceClient } from '@blockwal/proto';
import { TestCluster } from '../support/cluster.js';
import { addVolume, restoreSha, snapshot, waitState } from '../support/admin.js';
import { fileSha256, scratchDir, zeroImage } from '../support/scratch.js';
import { VolumeWriter } from '../support/volume-writer.js';
import { WlogMaker } from '../support/proxy-wlogs.js';
import { logLines, rawReadSnapshot, sortedWdiffOfWlog, storedCounts, waitUntil } from '../support/grpc-raw.js';

const MiB = 1024 * 1024;
const VOL = 'vol0';

/**
 * What the archive logged over all its lives (the outputs of the processes killed before). Servers
 * log asynchronously: `settle` waits until the 'diff stored' lines of every diff it holds are in.
 */
class ArchiveLog {
  private readonly past: string[] = [];
  constructor(
    private readonly c: TestCluster,
    private readonly client: ArchiveServiceClient,
  ) {}
  async settle(): Promise<void> {
    await waitUntil(async () => {
      const held = (await listArchiveVolumes(this.client)).find((v) => v.volume === VOL)?.diffs ?? 0;
      const logged = storedCounts(this.all()).size;
      return logged === held || `${logged} diffs logged as stored, ${held} held`;
    }, "the archive's log shows every diff it holds");
  }
  /** Kills the archive, keeping what it logged. */
  async kill(): Promise<void> {
    await this.settle();
    this.past.push(this.c.procs.get('a0')?.output() ?? '');
    await this.c.kill('a0');
  }
  all(): string {
    return [...this.past, this.c.procs.get('a0')?.output() ?? ''].join('\n');
  }
}

/** Waits until the output of server `name` has log lines with message `msg` matching `pred`; returns them. */
async function logged(c: TestCluster, name: string | (() => string), msg: string, pred: (o: Record<string, unknown>) => boolean, what: string): Promise<Record<string, unknown>[]> {
  const out = () => (typeof name === 'string' ? c.procs.get(name)!.output() : name());
  await waitUntil(() => logLines(out(), msg).some(pred), what);
  return logLines(out(), msg).filter(pred);
}

async function spool(p: ProxyServiceClient, volume = VOL): Promise<{ diffs: number; lastError: string }> {
  const s = await getProxyStatus(p, { deadline: Date.now() + 10_000 });
  const sp = s.volumes.find((v) => v.volume === volume)?.spools[0];
  return { diffs: sp?.diffs ?? 0, lastError: sp?.lastError ?? '' };
}

async function archiveLatest(a: ArchiveServiceClient, volume = VOL): Promise<number> {
  const v = (await listArchiveVolumes(a)).find((x) => x.volume === volume);
  assert.ok(v, `the archive knows ${volume}`);
  assert.ok(v.latest && v.latest.gidB === v.latest.gidE, `the latest snapshot is clean: ${JSON.stringify(v.latest)}`);
  return v.latest.gidE;
}

/** Each diff the archive logged as stored, stored exactly once; returns how many there are. */
function assertStoredOnce(log: string): number {
  const counts = storedCounts(log);
  const twice = [...counts].filter(([, n]) => n !== 1);
  assert.deepEqual(twice, [], 'a diff was stored more than once');
  return counts.size;
}

describe('diff delivery: duplicates and out-of-order diffs through two proxies (real processes)', function () {
  this.timeout(180_000);
  let dir: ReturnType<typeof scratchDir>;
  let c: TestCluster | undefined;
  let w: VolumeWriter | undefined;
  const clients: { close(): void }[] = [];

  beforeEach(() => {
    dir = scratchDir('blockwal-delivery-');
  });

  afterEach(async function () {
    w?.destroy();
    w = undefined;
    for (const k of clients.splice(0)) k.close();
    await c?.stopAll();
    if (this.currentTest?.state === 'failed' && c) console.error(c.logs());
    c = undefined;
    dir.cleanup();
  });

  it('agent fails over p0 -> p1 while the archive is down: p1 delivers later diffs first (too-new, retried), each diff stored once, every snapshot exact', async function () {
    // No background merging at the archive: its diff count then counts the diffs it stored.
    c = await TestCluster.create(dir.dir, { proxies: 2, archive: { mergeAfterMs: 0 } });
    await c.startAll();
    const archive = connectArchive(c.address('a0'));
    const log = new ArchiveLog(c, archive);
    const p0 = proxyClient(c.address('p0'));
    const p1 = proxyClient(c.address('p1'));
    const storage = new StorageClient(c.address('s0'));
    clients.push(archive, p0, p1, { close: () => storage.close() });
    const shippedTo = async (gid: number) => {
      const v = (await storage.listVolumes()).find((x) => x.volume === VOL)!;
      return (v.shippedGid >= gid && v.unsentBytes === 0) || `shipped gid ${v.shippedGid}, unsent ${v.unsentBytes} bytes, proxy '${v.proxy}', ${v.lastError}`;
    };

    const size = 8 * MiB;
    w = new VolumeWriter(addVolume(c, VOL, size), size);
    await waitState(c, VOL, 'target'); // the full backup is done: snapshots are taken from here
    await w.connect();
    await w.randomWrites(100);
    await w.flush();
    const g0 = snapshot(c, VOL, true);
    const s0 = await w.deviceSha256();
    await waitUntil(async () => (await spool(p0)).diffs === 0, 'p0 delivered everything up to g0');

    // The archive goes away; the next diffs wait in p0's spool.
    await log.kill();
    await w.randomWrites(150);
    await w.flush();
    const g1 = snapshot(c, VOL);
    const s1 = await w.deviceSha256();
    await waitUntil(() => shippedTo(g1), `the agent shipped up to gid ${g1} (to p0)`);
    assert.ok((await spool(p0)).diffs > 0, 'p0 holds the diffs up to g1');

    // p0 dies with them; the agent fails over to p1, which gets the later diffs.
    await c.kill('p0');
    await w.randomWrites(150);
    await w.flush();
    const g2 = snapshot(c, VOL);
    const s2 = await w.deviceSha256();
    assert.equal(s2, w.modelSha256(), 'the device holds every acknowledged write');
    await waitUntil(() => shippedTo(g2), `the agent shipped up to gid ${g2} (to p1, p0 being down)`);
    assert.ok((await spool(p1)).diffs > 0, 'p1 holds the diffs after g1');

    // The archive is back before p0: p1's diffs are too new; p1 keeps them and retries.
    await c.start('a0');
    await waitUntil(async () => /^too-new: /.test((await spool(p1)).lastError) || (await spool(p1)).lastError || 'no error yet', 'the archive answers p1 too-new');
    assert.equal(await archiveLatest(archive), g0, 'nothing after g0 was accepted while p0 holds the diffs before');
    const early = (await listSnapshots(archive, VOL)).map((s) => s.gid);
    assert.ok(early.includes(g0) && !early.includes(g1) && !early.includes(g2), `restorable now: ${early.join(',')}`);
    assert.ok((await spool(p1)).diffs > 0, 'p1 kept its diffs');

    // p0 is back: its diffs go first, then p1's retry goes through.
    await c.start('p0');
    await waitUntil(async () => (await archiveLatest(archive)) >= g2 || `latest ${await archiveLatest(archive)}`, `the archive reaches gid ${g2}`, 60_000);
    await waitUntil(async () => (await spool(p0)).diffs === 0 && (await spool(p1)).diffs === 0, 'both spools are drained');
    assert.equal((await spool(p0)).lastError, '');
    assert.equal((await spool(p1)).lastError, '');

    await logged(c, () => log.all(), 'diff refused', (o) => o['reason'] === 'too-new', 'the archive logs a diff refused as too new');
    await logged(c, 'p1', 'forward refused; will retry', (o) => o['reason'] === 'too-new', 'p1 logs that it will retry after too-new');
    await logged(c, 'p1', 'diff forwarded', () => true, 'p1 logs its diffs delivered in the end');
    await log.settle();
    const stored = assertStoredOnce(log.all());
    const vol = (await listArchiveVolumes(archive)).find((v) => v.volume === VOL)!;
    assert.equal(vol.diffs, stored, 'the archive holds each diff it stored, once');

    const listed = (await listSnapshots(archive, VOL)).map((s) => s.gid);
    for (const [g, sha] of [
      [g0, s0],
      [g1, s1],
      [g2, s2],
    ] as const) {
      assert.ok(listed.includes(g), `snapshot ${g} is restorable (${listed.join(',')})`);
      assert.equal(restoreSha(c, VOL, g, dir.file(`r${g}.img`)), sha, `restore of gid ${g}`);
    }
  });

  it('gRPC: one wlog through both proxies, one wdiff to the archive twice, diff 4 before diff 3: each stored once, too-old dropped, too-new retried, images exact', async function () {
    c = await TestCluster.create(dir.dir, { proxies: 2, archive: { mergeAfterMs: 0 } });
    for (const n of ['a0', 'p0', 'p1']) await c.start(n);
    const archive = connectArchive(c.address('a0'));
    const log = new ArchiveLog(c, archive);
    const p0 = proxyClient(c.address('p0'));
    const p1 = proxyClient(c.address('p1'));
    clients.push(archive, p0, p1);

    // The archive is seeded with a zero image (base <|0|>) of the maker's lineage.
    const size = 4 * MiB;
    const m = new WlogMaker(VOL, size, 20251126, 4096, Math.floor(Date.now() / 1000));
    const shaAt: string[] = [m.sha256()];
    await fullSyncFromFile(archive, { volume: VOL, deviceUuid: m.uuid, snapshot: { gidB: 0, gidE: 0 }, timestamp: m.baseTime }, zeroImage(dir.file('zero.img'), size));
    const next = (i: number) => {
      const file = dir.file(`w${i}.wlog`);
      const header = m.make(file, { writes: 40, mergeable: false });
      shaAt.push(m.sha256());
      return { file, header };
    };
    const push = (p: ProxyServiceClient, x: { file: string; header: Parameters<typeof pushWlog>[1] }) => pushWlog(p, x.header, x.file);
    const drained = async () => (await spool(p0)).diffs === 0 && (await spool(p1)).diffs === 0;

    // 1. The same wlog to both proxies at once: both spool it under the same name; the archive
    // stores it once and answers the other proxy too-old (busy first, maybe), which drops it.
    const w1 = next(1);
    const [r0, r1] = await Promise.all([push(p0, w1), push(p1, w1)]);
    assert.equal(r0.wdiffName, r1.wdiffName, 'the same diff has the same name in both proxies');
    await waitUntil(async () => (await archiveLatest(archive)) === 1, 'diff 1 is stored');
    await waitUntil(drained, 'both proxies dropped diff 1');
    const proxyLogs = () => `${c!.procs.get('p0')!.output()}\n${c!.procs.get('p1')!.output()}`;
    const dropped = await logged(c, proxyLogs, 'diff not needed by the archive; deleted', () => true, 'a proxy logs diff 1 dropped');
    assert.deepEqual(dropped.map((o) => [o['diff'], o['reason']]), [['|0|-->|1|', 'too-old']], 'one proxy was told too-old and dropped its copy');
    await log.settle();
    assert.equal(storedCounts(log.all()).get('|0|-->|1|'), 1, 'diff 1 stored once');

    // 2. The same sorted wdiff straight to the archive twice: stored, then too-old with the latest.
    const w2 = next(2);
    const wdiff2 = sortedWdiffOfWlog(w2.file, dir.file('w2.wdiff'));
    const offer2 = { volume: VOL, deviceUuid: m.uuid, diff: w2.header.diff, volumeSize: size };
    const first = await pushDiffFile(archive, offer2, wdiff2);
    assert.deepEqual(first, { stored: true, latest: { gidB: 2, gidE: 2 } });
    const again = await pushDiffFile(archive, offer2, wdiff2);
    assert.equal(again.stored, false);
    assert.ok(!again.stored && again.reason === 'too-old', JSON.stringify(again));
    assert.deepEqual(again.latest, { gidB: 2, gidE: 2 }, 'too-old carries the latest snapshot');
    assert.match(again.message, /\|1\|-->\|2\| is too old.*latest snapshot is \|2\|/);
    // …and once more through a proxy (an agent resending after a lost ack): dropped as delivered.
    await push(p1, w2);
    const resent = await logged(c, 'p1', 'diff not needed by the archive; deleted', (o) => o['diff'] === '|1|-->|2|', 'p1 drops the resent diff 2');
    assert.equal(resent[0]!['reason'], 'too-old');
    await waitUntil(drained, 'the spools are empty');
    await log.settle();
    assert.equal(storedCounts(log.all()).get('|1|-->|2|'), 1, 'diff 2 stored once');

    // 3. Out of order: diff 3 waits in p0 (archive down, then p0 killed), diff 4 goes to p1.
    const w3 = next(3);
    const w4 = next(4);
    await log.kill();
    await push(p0, w3);
    assert.equal((await spool(p0)).diffs, 1, 'p0 holds diff 3');
    await c.kill('p0');
    await c.start('a0');
    await push(p1, w4);
    await waitUntil(async () => /^too-new: .*\|3\|-->\|4\| is too new/.test((await spool(p1)).lastError) || (await spool(p1)).lastError || 'no error yet', 'p1 is told diff 4 is too new');
    // The archive says the same to a direct push of diff 4, and stays at 2.
    const wdiff4 = sortedWdiffOfWlog(w4.file, dir.file('w4.wdiff'));
    const direct4 = await pushDiffFile(archive, { volume: VOL, deviceUuid: m.uuid, diff: w4.header.diff, volumeSize: size }, wdiff4);
    assert.ok(!direct4.stored && direct4.reason === 'too-new', JSON.stringify(direct4));
    assert.deepEqual(direct4.latest, { gidB: 2, gidE: 2 });
    assert.equal(await archiveLatest(archive), 2);
    assert.equal((await spool(p1)).diffs, 1, 'p1 keeps diff 4 while it is too new');
    await c.start('p0');
    await waitUntil(async () => (await archiveLatest(archive)) === 4, 'diffs 3 and 4 are stored', 60_000);
    await waitUntil(drained, 'both spools are drained');

    // Each diff stored once, in order; one file per diff; every snapshot exact.
    await logged(c, () => log.all(), 'diff refused', (o) => o['reason'] === 'too-new' && /\|3\|-->\|4\|/.test(String(o['message'])), 'the archive logs diff 4 refused as too new');
    await log.settle();
    const all = log.all();
    assert.equal(assertStoredOnce(all), 4);
    assert.deepEqual(
      logLines(all, 'diff stored').map((o) => o['diff']),
      ['|0|-->|1|', '|1|-->|2|', '|2|-->|3|', '|3|-->|4|'],
    );
    const files = readdirSync(path.join(dir.dir, 'data', 'a0', 'volumes', VOL, 'diffs'));
    assert.equal(files.length, 4, `diff files: ${files.join(', ')}`);
    const vol = (await listArchiveVolumes(archive)).find((v) => v.volume === VOL)!;
    assert.equal(vol.diffs, 4);
    assert.deepEqual((await listSnapshots(archive, VOL)).map((s) => s.gid).filter((g) => g > 0), [1, 2, 3, 4]);
    for (let g = 0; g <= 4; g++) {
      const r = await rawReadSnapshot(archive, { volume: VOL, gid: g });
      assert.equal(r.sha256, shaAt[g], `ReadSnapshot of gid ${g}: ${r.reason} ${r.message}`);
    }
    const restored = await restoreSnapshot(archive, VOL, 4, 'g4.img');
    assert.equal(restored.diffsApplied, 4);
    assert.equal(fileSha256(path.join(dir.dir, 'data', 'a0', 'restored', 'g4.img')), shaAt[4], 'RestoreSnapshot of gid 4');
  });
});
