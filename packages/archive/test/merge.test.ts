import assert from 'node:assert/strict';
import { closeSync, mkdirSync, readdirSync, renameSync } from 'node:fs';
import path from 'node:path';
import { createRegistry, DEFAULT_COMPRESSION, formatWdiffName, mergeAll, metaDiff, metaSnap, silentLogger, type MetaDiff } from '@blockwal/core';
import { DiffMerger, fullSyncFromFile, listArchiveVolumes, listSnapshots, pickMerge, pushDiffFile, restoreSnapshot } from '@blockwal/archive';
import { mergeDiffFiles } from '../src/jobs.js';
import { ArchiveMetrics } from '../src/metrics.js';
import { openRead, restoreSnapshot as restoreInProcess } from '../src/restore.js';
import type { StoredDiff } from '../src/store.js';
import { scratchDir } from '../../../test/support/scratch.js';
import { archiveConfig, fileSha, MiB, startArchive, T0, VolumeHistory, type ArchiveHarness } from './support/archive-world.js';

const SIZE = 4 * MiB;

/** `|b|-->|e|`, mergeable or not, with timestamp `ts` and a data size. */
function sd(b: number, e: number, mergeable: boolean, ts: number, bytes = 100): StoredDiff {
  const diff = { ...metaDiff(b, e, { isMergeable: mergeable, timestamp: ts }), dataSize: bytes };
  return { name: formatWdiffName(diff), diff };
}
const gids = (g: StoredDiff[] | null) => g?.map((s) => `${s.diff.snapB.gidB}-${s.diff.snapE.gidB}`).join(' ') ?? null;

describe('archive merge: picking the diffs', () => {
  const policy = { cutoff: T0 + 100, maxBytes: 1000 };

  it('takes a whole run of mergeable diffs, stops at an explicit snapshot, merges two or more', () => {
    const chain = [sd(0, 1, false, T0), sd(1, 2, true, T0), sd(2, 3, true, T0), sd(3, 4, false, T0), sd(4, 5, true, T0)];
    assert.equal(gids(pickMerge(chain, policy)), '0-1 1-2 2-3');
    assert.equal(gids(pickMerge(chain.slice(2), policy)), '3-4 4-5');
    assert.equal(pickMerge([sd(0, 1, false, T0), sd(1, 2, false, T0), sd(2, 3, false, T0)], policy), null, 'explicit snapshots only');
  });

  it('leaves diffs newer than the cutoff (and every diff after them) alone', () => {
    const chain = [sd(0, 1, false, T0), sd(1, 2, true, T0 + 100), sd(2, 3, true, T0 + 101), sd(3, 4, true, T0)];
    assert.equal(gids(pickMerge(chain, policy)), '0-1 1-2');
    assert.equal(pickMerge(chain, { ...policy, cutoff: T0 + 99 }), null);
  });

  it('never merges compared diffs', () => {
    const comp = { ...metaDiff(1, 2, { isMergeable: true, isCompDiff: true, timestamp: T0 }), dataSize: 100 };
    const chain = [sd(0, 1, false, T0), { name: formatWdiffName(comp), diff: comp }, sd(2, 3, true, T0)];
    assert.equal(pickMerge(chain, policy), null);
  });

  it('keeps a merge under maxBytes and does not rewrite a big diff for a small one after it', () => {
    const chain = [sd(0, 1, false, T0, 400), sd(1, 2, true, T0, 400), sd(2, 3, true, T0, 400), sd(3, 4, true, T0, 100)];
    assert.equal(gids(pickMerge(chain, policy)), '0-1 1-2', 'the first two fit in 1000 bytes');
    const big = [sd(0, 2, false, T0, 900), sd(2, 3, true, T0, 50), sd(3, 4, true, T0, 40)];
    assert.equal(gids(pickMerge(big, policy)), null, 'the 50-byte diff is larger than the 40 after it');
    big.push(sd(4, 5, true, T0, 40));
    assert.equal(gids(pickMerge(big, policy)), '2-3 3-4 4-5', 'the 900-byte diff stays as it is');
    assert.equal(gids(pickMerge([sd(0, 1, false, T0), sd(1, 2, true, T0), sd(2, 3, true, T0)], { ...policy, maxDiffs: 2 })), '0-1 1-2');
  });
});

describe('archive merge: background merging of implicit snapshots', function () {
  this.timeout(60000);
  const VOL = 'vol0';
  const seed = Number(process.env['BLOCKWAL_SEED'] ?? Date.now() % 1e9);
  const s = scratchDir('blockwal-archive-');
  const wdir = path.join(s.dir, 'w');
  const MERGE_AFTER_MS = 1000;
  const cfg = archiveConfig(s.dir, { mergeAfterMs: MERGE_AFTER_MS });
  const diffsDir = path.join(cfg.dir, 'volumes', VOL, 'diffs');
  const h = new VolumeHistory(SIZE, seed);
  let a: ArchiveHarness | undefined;
  const push = async (d: MetaDiff, writes = 20) => {
    const x = h.diff(wdir, d, writes);
    const r = await pushDiffFile(a!.client, { volume: VOL, deviceUuid: h.uuid, diff: d, volumeSize: SIZE }, x.file);
    assert.equal(r.stored, true, JSON.stringify(r));
  };
  const diffCount = async () => (await listArchiveVolumes(a!.client)).find((v) => v.volume === VOL)!.diffs;
  const restoreExact = async (gid: number, name: string) => {
    const out = path.join(cfg.restoreDir, `${name}-${gid}.img`);
    await restoreSnapshot(a!.client, VOL, gid, out);
    assert.equal(fileSha(out), h.shaAt.get(gid), `restore of gid ${gid}`);
  };
  const waitFor = async (what: string, f: () => Promise<boolean>, ms = 15000) => {
    const end = Date.now() + ms;
    while (!(await f())) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  before(async () => {
    mkdirSync(wdir);
    a = await startArchive(cfg);
    const src = path.join(s.dir, 'src.img');
    h.writeImage(src);
    h.mark(0);
    await fullSyncFromFile(a.client, { volume: VOL, deviceUuid: h.uuid, snapshot: metaSnap(0), timestamp: T0 }, src);
  });
  after(async () => {
    await a?.stop();
    s.cleanup();
  });
  afterEach(function () {
    if (this.currentTest?.state === 'failed') console.log(`  seed ${seed} (BLOCKWAL_SEED=${seed} to replay)`);
  });

  it('merges 20 mergeable diffs with an explicit snapshot in the middle into 2, after mergeAfterMs; explicit snapshots stay exact', async () => {
    // Every snapshot is taken "now" (next second): none is old enough before MERGE_AFTER_MS.
    const ts = Math.floor(Date.now() / 1000) + 1;
    for (let g = 1; g <= 20; g++) await push(metaDiff(g - 1, g, { isMergeable: g !== 1 && g !== 11, timestamp: ts }));
    if (Date.now() < ts * 1000 + MERGE_AFTER_MS) {
      assert.equal(await diffCount(), 20, 'merged before mergeAfterMs');
      assert.equal((await listSnapshots(a!.client, VOL, { all: true })).length, 21);
    }
    await waitFor('2 diffs', async () => (await diffCount()) === 2);
    await a!.server.merger.idle();
    assert.deepEqual(readdirSync(diffsDir).sort(), [formatWdiffName({ ...metaDiff(0, 10, { timestamp: ts }), dataSize: 0 }), formatWdiffName({ ...metaDiff(10, 20, { timestamp: ts }), dataSize: 0 })].sort());
    const snaps = await listSnapshots(a!.client, VOL, { all: true });
    assert.deepEqual(snaps.map((x) => [x.gid, x.isExplicit]), [[0, true], [10, true], [20, true]]);
    for (const g of [0, 10, 20]) await restoreExact(g, 'merged');
    const text = await a!.server.registry.metrics();
    assert.match(text, /blockwal_archive_merges_total\{[^}]*volume="vol0"[^}]*\} 2/);
    assert.match(text, /blockwal_archive_merged_diffs_total\{[^}]*volume="vol0"[^}]*\} 20/);
  });

  it('a crash between registering a merge and deleting its inputs: start-up deletes the redundant diffs', async () => {
    await a!.stop();
    a = await startArchive({ ...cfg, mergeAfterMs: 0 });
    const inputs: MetaDiff[] = [];
    for (let g = 21; g <= 25; g++) {
      inputs.push(metaDiff(g - 1, g, { isMergeable: true, timestamp: T0 + g }));
      await push(inputs.at(-1)!);
    }
    await a.stop();
    a = undefined;
    // The first half of a merge of |20|-->|25|, as merge.ts does it: temp, fsync, rename into diffs/.
    const merged = mergeAll(inputs);
    const name = formatWdiffName(merged);
    const tmp = path.join(diffsDir, `.${name}.0000.tmp`);
    const opened = inputs.map((d) => openRead(path.join(diffsDir, formatWdiffName(d))));
    try {
      mergeDiffFiles({ kind: 'merge', sources: opened, out: tmp, uuid: h.uuid, compression: DEFAULT_COMPRESSION });
    } finally {
      for (const f of opened) closeSync(f.fd);
    }
    renameSync(tmp, path.join(diffsDir, name));
    assert.equal(readdirSync(diffsDir).length, 8);

    a = await startArchive({ ...cfg, mergeAfterMs: 0 });
    assert.deepEqual(readdirSync(diffsDir).sort(), [formatWdiffName(metaDiff(0, 10, { timestamp: 0 })).slice(14), formatWdiffName(metaDiff(10, 20, { timestamp: 0 })).slice(14), name.slice(14)].map((tail) => readdirSync(diffsDir).find((n) => n.endsWith(tail))!).sort());
    assert.equal(readdirSync(diffsDir).length, 3, readdirSync(diffsDir).join(' '));
    assert.ok(readdirSync(diffsDir).includes(name));
    assert.deepEqual((await listSnapshots(a.client, VOL, { all: true })).map((x) => x.gid), [0, 10, 20, 25]);
    for (const g of [0, 10, 20, 25]) await restoreExact(g, 'after-crash');
  });

  it('a restore keeps reading the files it opened, whatever happens to their names', async () => {
    const archive = a!.server.archive;
    const vol = archive.volume(VOL);
    const names = vol.diffsToGid(25).map((d) => d.name);
    const aside = path.join(s.dir, 'aside');
    mkdirSync(aside);
    const restoring = restoreInProcess(archive, vol, 25, 'moved-away.img', silentLogger());
    for (const n of names) renameSync(path.join(diffsDir, n), path.join(aside, n)); // as deleted by a merge
    try {
      await restoring;
    } finally {
      for (const n of names) renameSync(path.join(aside, n), path.join(diffsDir, n));
    }
    assert.equal(fileSha(path.join(cfg.restoreDir, 'moved-away.img')), h.shaAt.get(25));
  });

  it('merges on demand; drops a merge whose inputs changed meanwhile', async () => {
    for (let g = 26; g <= 28; g++) await push(metaDiff(g - 1, g, { isMergeable: true, timestamp: T0 + g }));
    const archive = a!.server.archive;
    const vol = archive.volume(VOL);
    const merger = new DiffMerger(archive, { mergeAfterMs: 1000, mergeMaxBytes: 1024 * MiB, metrics: new ArchiveMetrics(createRegistry(), archive), logger: silentLogger() });
    const n = readdirSync(diffsDir).length;
    const merging = merger.mergeOnce(vol);
    assert.ok(merging);
    await merging;
    assert.ok(readdirSync(diffsDir).length < n, 'something was merged');
    await restoreExact(28, 'merged-again');

    // An input disappears while the merge runs (as a full sync's commit would delete it).
    for (let g = 29; g <= 31; g++) await push(metaDiff(g - 1, g, { isMergeable: true, timestamp: T0 + g }));
    const now = readdirSync(diffsDir).sort();
    const p = merger.mergeOnce(vol);
    assert.ok(p);
    const gone = vol.diffs.find((x) => x.diff.snapE.gidB === 31)!;
    vol.dropDiffs([gone.name]); // in memory only: the volume no longer has this input
    await p;
    assert.deepEqual(readdirSync(diffsDir).sort(), now, 'nothing registered, nothing deleted, no temp left');
    vol.addDiff(gone);
    await restoreExact(31, 'not-merged');
  });
});
