import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { metaSnap } from '@blockwal/core';
import { fullSyncFromFile, pushDiffFile, restoreSnapshot } from '@blockwal/archive';
import { scratchDir } from '../../../test/support/scratch.js';
import { archiveConfig, cleanDiff, fileSha, MiB, startArchive, T0, VolumeHistory, type ArchiveHarness } from './support/archive-world.js';

const SIZE = 8 * MiB;

/** Mounts a fresh XFS (reflink=1) loop image at `mnt`; returns why not when it cannot. */
function mountXfs(img: string, mnt: string): string | undefined {
  if (process.getuid?.() !== 0) return 'not root';
  try {
    execFileSync('mkfs.xfs', ['-V'], { stdio: 'pipe' });
  } catch {
    return 'mkfs.xfs is not installed';
  }
  try {
    writeFileSync(img, '');
    truncateSync(img, 320 * MiB);
    execFileSync('mkfs.xfs', ['-q', '-f', '-m', 'reflink=1', img], { stdio: 'pipe' });
    mkdirSync(mnt);
    execFileSync('mount', ['-o', 'loop', img, mnt], { stdio: 'pipe' });
    return undefined;
  } catch (e) {
    return `cannot make or loop-mount an XFS image: ${(e as Error).message.split('\n')[0]}`;
  }
}

describe('archive: restore with a reflink clone of the base (XFS)', function () {
  this.timeout(60000);
  const s = scratchDir('blockwal-archive-');
  const mnt = path.join(s.dir, 'xfs');
  let mounted = false;
  let a: ArchiveHarness | undefined;

  before(function () {
    const why = mountXfs(path.join(s.dir, 'xfs.img'), mnt);
    if (why) {
      console.log(`    skipped: the reflink path needs an XFS mount (${why})`);
      s.cleanup();
      this.skip();
    }
    mounted = true;
  });
  after(async () => {
    await a?.stop();
    if (mounted) execFileSync('umount', [mnt], { stdio: 'pipe' });
    rmSync(s.dir, { recursive: true, force: true });
  });

  it('clones the base with FICLONE, reports reflink, and restores exactly without touching the base', async () => {
    a = await startArchive(archiveConfig(s.dir, { dir: path.join(mnt, 'archive'), restoreDir: path.join(mnt, 'restored') }));
    const h = new VolumeHistory(SIZE, 7);
    const src = path.join(s.dir, 'src.img');
    h.writeImage(src);
    h.mark(0);
    await fullSyncFromFile(a.client, { volume: 'v', deviceUuid: h.uuid, snapshot: metaSnap(0), timestamp: T0 }, src);
    const wdir = path.join(s.dir, 'w');
    mkdirSync(wdir);
    for (const [b, e] of [[0, 1], [1, 2]] as const) {
      const d = h.diff(wdir, cleanDiff(b, e), 80);
      assert.equal((await pushDiffFile(a.client, { volume: 'v', deviceUuid: h.uuid, diff: d.diff, volumeSize: SIZE }, d.file)).stored, true);
    }
    const base = path.join(mnt, 'archive', 'volumes', 'v', 'base.img');
    const baseSha = fileSha(base);
    const r = await restoreSnapshot(a.client, 'v', 2, 'r2.img');
    assert.equal(r.baseClone, 'reflink');
    assert.equal(r.diffsApplied, 2);
    assert.equal(fileSha(path.join(mnt, 'restored', 'r2.img')), h.shaAt.get(2));
    assert.equal(fileSha(base), baseSha, 'writing the clone must not change the base');
    const r0 = await restoreSnapshot(a.client, 'v', 0, 'r0.img');
    assert.equal(r0.baseClone, 'reflink');
    assert.equal(fileSha(path.join(mnt, 'restored', 'r0.img')), h.shaAt.get(0));
    const metrics = await a.server.registry.metrics();
    assert.match(metrics, /blockwal_archive_restores_total\{[^}]*clone="reflink"[^}]*\} 2/);
  });
});
