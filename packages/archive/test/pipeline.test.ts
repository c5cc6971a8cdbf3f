import assert from 'node:assert/strict';
import { mkdirSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { CompressionType, RejectedError, uuidToHex, type MetaDiff } from '@blockwal/core';
import { blockwal, diffToWire } from '@blockwal/proto';
import { fullSyncFromFile, listArchiveVolumes, listSnapshots, pushDiffFile, readSnapshotToFile, restoreSnapshot } from '@blockwal/archive';
import { scratchDir } from '../../../test/support/scratch.js';
import { archiveConfig, cleanDiff, fileSha, MiB, startArchive, T0, VolumeHistory, whileBusy, type ArchiveHarness } from './support/archive-world.js';

const SIZE = 8 * MiB;
const VOL = 'vol0';

describe('archive: full sync, then a chain of diffs', function () {
  const seed = Number(process.env['BLOCKWAL_SEED'] ?? Date.now() % 1e9);
  const s = scratchDir('blockwal-archive-');
  const wdir = path.join(s.dir, 'wdiffs');
  const h = new VolumeHistory(SIZE, seed);
  let a: ArchiveHarness;
  const diffs = new Map<number, { file: string; diff: MetaDiff }>();
  const push = (d: { file: string; diff: MetaDiff }, uuid = h.uuid) => pushDiffFile(a.client, { volume: VOL, deviceUuid: uuid, diff: d.diff, volumeSize: SIZE }, d.file, { chunkBytes: 64 * 1024 });

  before(async () => {
    mkdirSync(wdir);
    a = await startArchive(archiveConfig(s.dir));
  });
  after(async () => {
    await a?.stop();
    s.cleanup();
  });
  afterEach(function () {
    if (this.currentTest?.state === 'failed') console.log(`  seed ${seed} (BLOCKWAL_SEED=${seed} to replay)`);
  });

  it('refuses a diff for an unknown volume with not-found', async () => {
    const d = h.diff(wdir, cleanDiff(0, 1), 4, { apply: false });
    const r = await push(d);
    assert.equal(r.stored, false);
    assert.equal(r.stored === false && r.reason, 'not-found');
  });

  it('answers syncing to diffs while a full sync is unfinished, then completes the full sync', async () => {
    const src = path.join(s.dir, 'src.img');
    // The copy is taken while the writes of |0|-->|1| go on: snapshot |0,1|.
    diffs.set(1, h.liveCopy(src, wdir, cleanDiff(0, 1)));
    const stop = new AbortController();
    await assert.rejects(
      fullSyncFromFile(a.client, { volume: VOL, deviceUuid: h.uuid, snapshot: { gidB: 0, gidE: 1 }, timestamp: T0 + 10 }, src, {
        chunkBytes: 256 * 1024,
        signal: stop.signal,
        onSent: async (off) => {
          if (off < MiB) return;
          await new Promise((r) => setTimeout(r, 200)); // let the archive take what was sent
          stop.abort();
        },
      }),
      (e: unknown) => e instanceof RejectedError,
    );
    const r = await push(diffs.get(1)!);
    assert.equal(r.stored === false && r.reason, 'syncing', JSON.stringify(r));
    const done = await whileBusy(() => fullSyncFromFile(a.client, { volume: VOL, deviceUuid: h.uuid, snapshot: { gidB: 0, gidE: 1 }, timestamp: T0 + 10 }, src, { chunkBytes: 256 * 1024 }));
    assert.ok(done.resumedAt > 0 && done.resumedAt <= 2 * MiB, `resumed at ${done.resumedAt}`);
    const [v] = await listArchiveVolumes(a.client);
    assert.equal(v!.state, 'archived');
    assert.equal(v!.base, '<|0,1|>');
    assert.deepEqual(v!.latest, { gidB: 0, gidE: 1 });
    assert.equal(v!.deviceUuid, uuidToHex(h.uuid));
    assert.equal(v!.archiveUuid.length, 32);
    assert.equal(v!.newestRestorable, null, 'a dirty base is not restorable');
    assert.deepEqual(await listSnapshots(a.client, VOL, { all: true }), []);
  });

  it('stores a chain of diffs; a diff from the future is too-new until the missing one arrives', async () => {
    assert.equal((await push(diffs.get(1)!)).stored, true);
    diffs.set(2, h.diff(wdir, cleanDiff(1, 2, true)));
    diffs.set(3, h.diff(wdir, cleanDiff(2, 3)));
    diffs.set(4, h.diff(wdir, cleanDiff(3, 4, true), 60, { compression: { type: CompressionType.None, level: 0 } }));
    diffs.set(5, h.diff(wdir, cleanDiff(4, 5, true), 30, { compression: { type: CompressionType.Zstd, level: 3 } }));
    diffs.set(6, h.diff(wdir, cleanDiff(5, 6)));
    assert.equal((await push(diffs.get(2)!)).stored, true);
    const early = await push(diffs.get(4)!);
    assert.equal(early.stored === false && early.reason, 'too-new');
    assert.deepEqual(early.latest, { gidB: 2, gidE: 2 });
    for (const g of [3, 4, 5, 6]) {
      const r = await push(diffs.get(g)!);
      assert.equal(r.stored, true, `diff to ${g}: ${JSON.stringify(r)}`);
      assert.deepEqual(r.latest, { gidB: g, gidE: g });
    }
  });

  it('answers too-old to a diff pushed twice, and keeps the image exact', async () => {
    const again = await push(diffs.get(3)!);
    assert.equal(again.stored === false && again.reason, 'too-old');
    assert.deepEqual(again.latest, { gidB: 6, gidE: 6 });
    const out = path.join(a.cfg.restoreDir, 'after-dup.img');
    await restoreSnapshot(a.client, VOL, 6, out);
    assert.equal(fileSha(out), h.shaAt.get(6));
  });

  it('refuses a diff of another device uuid with different-uuid', async () => {
    const other = new Uint8Array(16).fill(7);
    const d = h.diff(wdir, cleanDiff(6, 7), 4, { uuid: other, apply: false });
    const r = await push(d, other);
    assert.equal(r.stored === false && r.reason, 'different-uuid');
  });

  it('answers busy while another diff of the volume is being received', async () => {
    const d = h.diff(wdir, cleanDiff(6, 7, true), 4);
    const call = a.client.pushDiff();
    const answers = call[Symbol.asyncIterator]() as AsyncIterator<blockwal.v1.PushDiffResponse>;
    call.write({ header: { volume: VOL, deviceUuid: h.uuid, diff: diffToWire(d.diff), volumeSize: SIZE } });
    assert.equal((await answers.next()).value.reason, blockwal.v1.Reason.REASON_OK);
    const r = await push(d);
    assert.equal(r.stored === false && r.reason, 'busy');
    call.cancel();
    await answers.next().catch(() => undefined);
    const again = await whileBusy(async () => {
      const x = await push(d);
      if (x.stored === false && x.reason === 'busy') throw Object.assign(new Error('busy'), { reason: 'busy' });
      return x;
    });
    assert.equal(again.stored, true);
    diffs.set(7, d);
  });

  it('lists explicit snapshots, or all with their timestamps', async () => {
    const explicit = await listSnapshots(a.client, VOL);
    assert.deepEqual(explicit.map((x) => x.gid), [2, 5, 7]);
    const all = await listSnapshots(a.client, VOL, { all: true });
    assert.deepEqual(all.map((x) => x.gid), [1, 2, 3, 4, 5, 6, 7]);
    for (const x of all) assert.equal(x.timestamp, T0 + 10 * x.gid);
    assert.deepEqual(all.filter((x) => x.isExplicit).map((x) => x.gid), [2, 5, 7]);
    const [v] = await listArchiveVolumes(a.client);
    assert.equal(v!.diffs, 7);
    assert.ok(v!.diffBytes > 0);
    assert.deepEqual(v!.newestRestorable, { gid: 7, timestamp: T0 + 70, isExplicit: true });
  });

  it('restores every snapshot exactly (sha256) and streams the same bytes with ReadSnapshot', async () => {
    for (let g = 1; g <= 7; g++) {
      const out = path.join(a.cfg.restoreDir, `r${g}.img`);
      const r = await restoreSnapshot(a.client, VOL, g, out);
      assert.equal(r.sizeBytes, SIZE);
      assert.equal(r.diffsApplied, g);
      assert.equal(fileSha(out), h.shaAt.get(g), `restore of gid ${g}`);
      const streamed = path.join(s.dir, `s${g}.img`);
      const got = await readSnapshotToFile(a.client, VOL, g, streamed, { chunkBytes: g % 2 ? 300 * 1024 : 0 });
      assert.equal(got.bytes, SIZE);
      assert.equal(fileSha(streamed), h.shaAt.get(g), `ReadSnapshot of gid ${g}`);
    }
  });

  it('answers not-found, listing the restorable gids, for a gid that is not restorable', async () => {
    await assert.rejects(restoreSnapshot(a.client, VOL, 0, 'x.img'), (e: unknown) => e instanceof RejectedError && e.reason === 'not-found' && /restorable gids: 1, 2, 3/.test(e.message));
    await assert.rejects(readSnapshotToFile(a.client, VOL, 9, path.join(s.dir, 'nine.img')), (e: unknown) => e instanceof RejectedError && e.reason === 'not-found');
  });

  it('a ReadSnapshot cancelled by its client releases its files', async () => {
    const fds = () => readdirSync('/proc/self/fd').length;
    const before = fds();
    for (let i = 0; i < 3; i++) {
      const call = a.client.readSnapshot({ volume: VOL, gid: 7, chunkSize: 64 * 1024 });
      await new Promise<void>((resolve) => call.once('data', () => resolve()));
      call.cancel();
      await new Promise<void>((resolve) => call.on('error', () => resolve()).on('end', () => resolve()));
    }
    await new Promise((r) => setTimeout(r, 100));
    assert.ok(fds() <= before + 2, `descriptors: ${before} before, ${fds()} after`);
    const out = path.join(s.dir, 'after-cancel.img');
    await readSnapshotToFile(a.client, VOL, 7, out);
    assert.equal(fileSha(out), h.shaAt.get(7));
  });

  it('exports the metrics of docs/pipeline.md §6, with the RPO per volume', async () => {
    const text = await a.server.registry.metrics();
    for (const name of ['blockwal_archive_received_bytes_total', 'blockwal_archive_received_diffs_total', 'blockwal_archive_diff_bytes', 'blockwal_archive_diffs', 'blockwal_archive_rpo_seconds', 'blockwal_archive_restores_total']) {
      assert.match(text, new RegExp(`^${name}\\{[^}]*volume="${VOL}"`, 'm'), name);
    }
    assert.match(text, /blockwal_archive_received_diffs_total\{[^}]*volume="vol0"[^}]*\} 7/);
    assert.match(text, /blockwal_archive_diffs\{[^}]*\} 7/);
    assert.match(text, /blockwal_archive_restores_total\{[^}]*clone="(copy|reflink)"/);
  });
});
