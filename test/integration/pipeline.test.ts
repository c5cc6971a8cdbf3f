/**
 * Continuous backup end to end with real processes: `blockwal storage`, `blockwal proxy` and
 * `blockwal archive` on unix sockets, a volume written through its NBD export (by qemu-io and by
 * an NBD client), snapshots taken while the workload runs, and every snapshot restored from the
 * archive and compared by sha256 with the device as read at that snapshot. Admin commands are the
 * real `blockwal volume|snapshot|restore` commands.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { scratchDir } from '../support/scratch.js';
import { TestCluster } from '../support/cluster.js';
import { VolumeWriter } from '../support/volume-writer.js';
import { addVolume, restoreSha, snapshot, waitState } from '../support/admin.js';

const MiB = 1024 * 1024;
const has = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;

describe('continuous backup: storage agent -> proxy -> archive', function () {
  this.timeout(300_000);
  let dir: ReturnType<typeof scratchDir>;
  let c: TestCluster;
  let w: VolumeWriter | undefined;

  beforeEach(async () => {
    dir = scratchDir();
    c = await TestCluster.create(dir.dir);
    await c.startAll();
  });

  afterEach(async function () {
    await w?.close();
    w = undefined;
    await c.stopAll();
    if (this.currentTest?.state === 'failed') console.error(c.logs());
    dir.cleanup();
  });

  it('qemu-io and NBD writes with snapshots in between: every snapshot restores exactly', async function () {
    const size = 32 * MiB;
    const uri = addVolume(c, 'vol0', size);
    assert.equal(uri, c.nbdUri('vol0'));
    await waitState(c, 'vol0', 'target');
    w = new VolumeWriter(uri, size);
    await w.connect();
    const taken: { gid: number; sha: string }[] = [];
    for (let round = 0; round < 5; round++) {
      await w.randomWrites(200);
      if (has('qemu-io')) {
        await w.flush();
        const q = spawnSync('qemu-io', ['-f', 'raw', uri, '-c', `write -P 0x${(0x30 + round).toString(16)} ${round * 3 * MiB} 1M`, '-c', `write -z ${round * 5 * MiB + 65536} 256k`], { encoding: 'utf8' });
        assert.equal(q.status, 0, q.stderr);
      }
      await w.flush();
      const gid = snapshot(c, 'vol0');
      taken.push({ gid, sha: await w.deviceSha256() });
    }
    assert.ok(taken.every((t, i) => i === 0 || t.gid > taken[i - 1]!.gid), 'gids grow');
    snapshot(c, 'vol0', true);
    const list = c.admin('a0', ['snapshot', 'list', 'vol0', '--json']);
    assert.equal(list.code, 0, list.stderr);
    const listed = (JSON.parse(list.stdout) as { gid: number }[]).map((s) => s.gid);
    for (const t of taken) {
      assert.ok(listed.includes(t.gid), `snapshot ${t.gid} is listed (${listed.join(',')})`);
      assert.equal(restoreSha(c, 'vol0', t.gid, dir.file(`r${t.gid}.img`)), t.sha, `restore of gid ${t.gid}`);
    }
  });

  it('full backup of a volume being written, then continuous backup: restores exact', async function () {
    await c.stopAll();
    c = await TestCluster.create(dir.file('c2'), { storage: { fullSyncBytesPerSec: 8 * MiB } });
    await c.startAll();
    const size = 32 * MiB;
    // The full backup copies 32 MiB at 8 MiB/s (~4 s) while the writer keeps writing.
    const uri = addVolume(c, 'vol1', size);
    w = new VolumeWriter(uri, size);
    await w.connect();
    // About 10 MB/s for 3 s: well within what the log absorbs while the copy runs (an unbounded
    // writer would outrun the 64 MiB log and overflow it, which is a different test).
    const until = Date.now() + 3000;
    while (Date.now() < until) {
      await w.randomWrites(20);
      await new Promise((r) => setTimeout(r, 50));
    }
    await w.flush();
    // A point in time before the copy ends is not restorable (the copy holds later data), so the
    // agent refuses snapshots until the full backup is done.
    await waitState(c, 'vol1', 'target');
    const g1 = snapshot(c, 'vol1', true);
    const s1 = await w.deviceSha256();
    await w.randomWrites(300);
    await w.flush();
    const g2 = snapshot(c, 'vol1', true);
    const s2 = await w.deviceSha256();
    assert.equal(restoreSha(c, 'vol1', g1, dir.file('g1.img')), s1);
    assert.equal(restoreSha(c, 'vol1', g2, dir.file('g2.img')), s2);
    assert.equal(s2, w.modelSha256(), 'the device holds every acknowledged write');
  });
});
