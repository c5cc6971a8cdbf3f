import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { formatWdiffName, metaSnap, type MetaDiff } from '@blockwal/core';
import { fullSyncFromFile, listArchiveVolumes, listSnapshots, pushDiffFile, restoreSnapshot, startArchiveServer } from '@blockwal/archive';
import { formatVolumeRecord, parseVolumeRecord } from '../src/state-file.js';
import { scratchDir } from '../../../test/support/scratch.js';
import { archiveConfig, cleanDiff, fileSha, MiB, startArchive, T0, VolumeHistory, type ArchiveHarness } from './support/archive-world.js';

const SIZE = 4 * MiB;
const VOL = 'vol0';

describe('archive: restart', function () {
  const seed = Number(process.env['BLOCKWAL_SEED'] ?? Date.now() % 1e9);
  const s = scratchDir('blockwal-archive-');
  const wdir = path.join(s.dir, 'w');
  const cfg = archiveConfig(s.dir);
  const volDir = path.join(cfg.dir, 'volumes', VOL);
  const h = new VolumeHistory(SIZE, seed);
  let a: ArchiveHarness | undefined;
  const push = (d: { file: string; diff: MetaDiff }) => pushDiffFile(a!.client, { volume: VOL, deviceUuid: h.uuid, diff: d.diff, volumeSize: SIZE }, d.file);

  before(async () => {
    mkdirSync(wdir);
    a = await startArchive(cfg);
    const src = path.join(s.dir, 'src.img');
    h.writeImage(src);
    h.mark(0);
    await fullSyncFromFile(a.client, { volume: VOL, deviceUuid: h.uuid, snapshot: metaSnap(0), timestamp: T0 }, src);
    for (const [b, e, m] of [[0, 1, false], [1, 2, true], [2, 3, false]] as const) assert.equal((await push(h.diff(wdir, cleanDiff(b, e, m)))).stored, true);
  });
  after(async () => {
    await a?.stop();
    s.cleanup();
  });
  afterEach(function () {
    if (this.currentTest?.state === 'failed') console.log(`  seed ${seed} (BLOCKWAL_SEED=${seed} to replay)`);
  });

  it('keeps everything across a restart; deletes temps and garbage diffs at start-up', async () => {
    const volumes = await listArchiveVolumes(a!.client);
    const snaps = await listSnapshots(a!.client, VOL, { all: true });
    await a!.stop();
    a = undefined;
    // Leftovers of a crash: temps, a diff not on the chain, a restore in progress.
    writeFileSync(path.join(volDir, 'diffs', '.20240101000000--1-3-4.wdiff.abcd.tmp'), 'partial');
    writeFileSync(path.join(volDir, 'state.json.1234abcd.tmp'), '{');
    const chained = readdirSync(path.join(volDir, 'diffs'))[0]!;
    const garbage = formatWdiffName(cleanDiff(100, 101));
    copyFileSync(path.join(volDir, 'diffs', chained), path.join(volDir, 'diffs', garbage));
    writeFileSync(path.join(cfg.restoreDir, '.r.img.restore-0a1b.tmp'), 'partial');
    mkdirSync(path.join(cfg.dir, 'volumes', 'half-created'));

    a = await startArchive(cfg);
    assert.deepEqual(await listArchiveVolumes(a.client), volumes);
    assert.deepEqual(await listSnapshots(a.client, VOL, { all: true }), snaps);
    const left = readdirSync(path.join(volDir, 'diffs')).sort();
    assert.equal(left.length, 3);
    assert.ok(!left.includes(garbage));
    assert.deepEqual(readdirSync(volDir).sort(), ['base.img', 'diffs', 'state.json']);
    assert.ok(!existsSync(path.join(cfg.restoreDir, '.r.img.restore-0a1b.tmp')));
    for (const g of [0, 1, 2, 3]) {
      await restoreSnapshot(a.client, VOL, g, `after-restart-${g}.img`);
      assert.equal(fileSha(path.join(cfg.restoreDir, `after-restart-${g}.img`)), h.shaAt.get(g), `gid ${g}`);
    }
    assert.equal((await push(h.diff(wdir, cleanDiff(3, 4)))).stored, true);
  });

  it('finishes at start-up a full sync whose copy was complete when it stopped', async () => {
    await a!.stop();
    a = undefined;
    // The state right after the commit point: the copy is whole, not yet the base.
    const next = new VolumeHistory(SIZE, seed + 1);
    next.writeImage(path.join(volDir, 'base.img.sync'));
    const file = path.join(volDir, 'state.json');
    const rec = parseVolumeRecord(readFileSync(file, 'utf8'), file);
    const oldUuid = rec.archiveUuid!;
    writeFileSync(
      file,
      formatVolumeRecord({
        ...rec,
        state: 'full-sync',
        fullSync: { deviceUuid: next.uuid, sizeBytes: SIZE, gidB: 0, chunkBytes: MiB, doneBytes: SIZE, complete: { snapshot: metaSnap(0, 2), timestamp: T0 + 500 } },
      }),
    );
    a = await startArchive(cfg);
    const [v] = await listArchiveVolumes(a.client);
    assert.equal(v!.state, 'archived');
    assert.equal(v!.base, '<|0,2|>');
    assert.equal(v!.diffs, 0);
    assert.notEqual(v!.archiveUuid, Buffer.from(oldUuid).toString('hex'));
    assert.equal(readFileSync(path.join(volDir, 'base.img')).equals(next.image), true);
    assert.deepEqual(readdirSync(path.join(volDir, 'diffs')), []);
  });

  it('refuses to start on a state file it cannot read, naming it', async () => {
    await a!.stop();
    a = undefined;
    const file = path.join(volDir, 'state.json');
    const good = readFileSync(file, 'utf8');
    writeFileSync(file, good.replace('"archived"', '"sideways"'));
    await assert.rejects(startArchiveServer({ ...cfg, listen: `unix:${path.join(s.dir, 'b.sock')}` }), (e: Error) => e.message.includes('state.json') && /state must be/.test(e.message));
    writeFileSync(file, good);
  });
});
