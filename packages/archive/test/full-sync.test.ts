import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { RejectedError } from '@blockwal/core';
import { fullSyncFromFile, listArchiveVolumes, listSnapshots, pushDiffFile, restoreSnapshot } from '@blockwal/archive';
import { scratchDir } from '../../../test/support/scratch.js';
import { archiveConfig, cleanDiff, fileSha, MiB, startArchive, T0, VolumeHistory, whileBusy, type ArchiveHarness } from './support/archive-world.js';

const SIZE = 8 * MiB;
const CHUNK = 256 * 1024;
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('archive: full sync', function () {
  const seed = Number(process.env['BLOCKWAL_SEED'] ?? Date.now() % 1e9);
  let s: ReturnType<typeof scratchDir>;
  let a: ArchiveHarness | undefined;
  beforeEach(() => {
    s = scratchDir('blockwal-archive-');
  });
  afterEach(async function () {
    if (this.currentTest?.state === 'failed') console.log(`  seed ${seed} (BLOCKWAL_SEED=${seed} to replay)`);
    await a?.stop();
    a = undefined;
    s.cleanup();
  });

  const volDir = (vol: string) => path.join(s.dir, 'archive', 'volumes', vol);

  it('resumes after the client drops the stream mid-way; zero chunks stay holes; the base is the copy', async () => {
    a = await startArchive(archiveConfig(s.dir));
    const h = new VolumeHistory(SIZE, seed);
    const src = path.join(s.dir, 'src.img');
    h.writeImage(src);
    const stop = new AbortController();
    const head = { volume: 'v1', deviceUuid: h.uuid, snapshot: { gidB: 0, gidE: 3 }, timestamp: T0 };
    await assert.rejects(
      fullSyncFromFile(a.client, head, src, {
        chunkBytes: CHUNK,
        signal: stop.signal,
        onSent: async (off) => {
          if (off < 3 * MiB) return;
          await pause(200);
          stop.abort();
        },
      }),
      RejectedError,
    );
    const [v] = await listArchiveVolumes(a.client);
    assert.equal(v!.state, 'sync-ready');
    assert.equal(v!.sizeBytes, SIZE);
    const done = await whileBusy(() => fullSyncFromFile(a!.client, head, src, { chunkBytes: CHUNK }));
    assert.ok(done.resumedAt >= 3 * MiB && done.resumedAt < SIZE, `resumed at ${done.resumedAt}`);
    const base = path.join(volDir('v1'), 'base.img');
    assert.equal(fileSha(base), fileSha(src));
    const zeros = Math.floor(h.image.length / CHUNK) - countNonZeroChunks(h.image);
    if (zeros > 0) assert.ok(statSync(base).blocks * 512 < SIZE, 'elided zero chunks are holes');
    assert.deepEqual(readdirSync(volDir('v1')).sort(), ['base.img', 'diffs', 'state.json']);
    const [after] = await listArchiveVolumes(a.client);
    assert.equal(after!.state, 'archived');
    assert.equal(after!.base, '<|0,3|>');
  });

  it('resumes after a server restart in the middle of the copy', async () => {
    const cfg = archiveConfig(s.dir);
    a = await startArchive(cfg);
    const h = new VolumeHistory(SIZE, seed + 1);
    const src = path.join(s.dir, 'src.img');
    h.writeImage(src);
    const head = { volume: 'v2', deviceUuid: h.uuid, snapshot: { gidB: 0, gidE: 1 }, timestamp: T0 };
    const first = a;
    await assert.rejects(
      fullSyncFromFile(a.client, head, src, {
        chunkBytes: CHUNK,
        onSent: async (off) => {
          if (off !== 4 * MiB) return;
          await pause(200);
          await first.server.close(); // the running call is cancelled: progress is recorded
        },
      }),
      RejectedError,
    );
    first.client.close();
    a = await startArchive(cfg);
    const done = await fullSyncFromFile(a.client, head, src, { chunkBytes: CHUNK });
    assert.ok(done.resumedAt >= 4 * MiB, `resumed at ${done.resumedAt}`);
    assert.equal(fileSha(path.join(volDir('v2'), 'base.img')), fileSha(src));
  });

  it('starts over when the sender comes back with another device uuid or size', async () => {
    a = await startArchive(archiveConfig(s.dir));
    const h = new VolumeHistory(SIZE, seed + 2);
    const src = path.join(s.dir, 'src.img');
    h.writeImage(src);
    const stop = new AbortController();
    await assert.rejects(
      fullSyncFromFile(a.client, { volume: 'v3', deviceUuid: new Uint8Array(16).fill(1), snapshot: { gidB: 0, gidE: 1 }, timestamp: T0 }, src, {
        chunkBytes: CHUNK,
        signal: stop.signal,
        onSent: async (off) => {
          if (off < 2 * MiB) return;
          await pause(100);
          stop.abort();
        },
      }),
    );
    const done = await whileBusy(() => fullSyncFromFile(a!.client, { volume: 'v3', deviceUuid: h.uuid, snapshot: { gidB: 0, gidE: 1 }, timestamp: T0 }, src, { chunkBytes: CHUNK }));
    assert.equal(done.resumedAt, 0);
    assert.equal(fileSha(path.join(volDir('v3'), 'base.img')), fileSha(src));
  });

  it('a new full sync of an archived volume keeps the old snapshots readable until done, then replaces base, diffs and archive uuid', async () => {
    a = await startArchive(archiveConfig(s.dir));
    const wdir = path.join(s.dir, 'w');
    mkdirSync(wdir);
    const old = new VolumeHistory(SIZE, seed + 3);
    const src = path.join(s.dir, 'src.img');
    old.writeImage(src);
    await fullSyncFromFile(a.client, { volume: 'v4', deviceUuid: old.uuid, snapshot: { gidB: 0, gidE: 0 }, timestamp: T0 }, src, { chunkBytes: CHUNK });
    old.mark(0);
    for (const [b, e] of [[0, 1], [1, 2]] as const) {
      const d = old.diff(wdir, cleanDiff(b, e));
      assert.equal((await pushDiffFile(a.client, { volume: 'v4', deviceUuid: old.uuid, diff: d.diff, volumeSize: SIZE }, d.file)).stored, true);
    }
    const [before] = await listArchiveVolumes(a.client);

    const next = new VolumeHistory(SIZE, seed + 4);
    const src2 = path.join(s.dir, 'src2.img');
    next.writeImage(src2);
    const stop = new AbortController();
    const head2 = { volume: 'v4', deviceUuid: next.uuid, snapshot: { gidB: 0, gidE: 0 }, timestamp: T0 + 1000 };
    await assert.rejects(
      fullSyncFromFile(a.client, head2, src2, {
        chunkBytes: CHUNK,
        signal: stop.signal,
        onSent: async (off) => {
          if (off < MiB) return;
          await pause(100);
          stop.abort();
        },
      }),
    );
    // The old lineage is still restorable; its diffs wait (syncing).
    assert.deepEqual((await listSnapshots(a.client, 'v4')).map((x) => x.gid), [0, 1, 2]);
    await restoreSnapshot(a.client, 'v4', 2, 'old2.img');
    assert.equal(fileSha(path.join(a.cfg.restoreDir, 'old2.img')), old.shaAt.get(2));
    const d3 = old.diff(wdir, cleanDiff(2, 3), 4, { apply: false });
    const r = await pushDiffFile(a.client, { volume: 'v4', deviceUuid: old.uuid, diff: d3.diff, volumeSize: SIZE }, d3.file);
    assert.equal(r.stored === false && r.reason, 'syncing');

    await whileBusy(() => fullSyncFromFile(a!.client, head2, src2, { chunkBytes: CHUNK }));
    const [after] = await listArchiveVolumes(a.client);
    assert.equal(after!.state, 'archived');
    assert.equal(after!.diffs, 0);
    assert.notEqual(after!.archiveUuid, before!.archiveUuid);
    assert.equal(readdirSync(path.join(volDir('v4'), 'diffs')).length, 0);
    await restoreSnapshot(a.client, 'v4', 0, 'new0.img');
    assert.equal(fileSha(path.join(a.cfg.restoreDir, 'new0.img')), fileSha(src2));
    const stale = await pushDiffFile(a.client, { volume: 'v4', deviceUuid: old.uuid, diff: d3.diff, volumeSize: SIZE }, d3.file);
    assert.equal(stale.stored === false && stale.reason, 'different-uuid');
  });
});

function countNonZeroChunks(b: Buffer): number {
  let n = 0;
  for (let off = 0; off < b.length; off += CHUNK) if (b.subarray(off, off + CHUNK).some((x) => x !== 0)) n++;
  return n;
}
