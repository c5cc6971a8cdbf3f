import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import path from 'node:path';
import { RejectedError } from '@blockwal/core';
import type { NbdClient } from '@blockwal/wal-device';
import { fileSha256 } from '../../../test/support/scratch.js';
import { connectNbd, deviceSha, randomWrites, rng, startHarness, waitFor, type Harness } from '../../../test/support/storage-harness.js';

const MIB = 1024 * 1024;

async function stateOf(h: Harness, volume: string): Promise<string | undefined> {
  return (await h.client.listVolumes()).find((v) => v.volume === volume)?.state;
}

async function restorable(h: Harness, gid: number): Promise<boolean> {
  return h.ledger.restorable(true).some((s) => s.gid === gid);
}

describe('storage agent pipeline', function () {
  this.timeout(60_000);
  let h: Harness;

  afterEach(async () => {
    await h?.close();
  });

  it('add volume, writes through NBD, snapshots: every snapshot image equals the device at snapshot time', async () => {
    h = await startHarness();
    const size = 8 * MIB;
    const { nbdUri } = await h.client.addVolume('vol0', size);
    assert.match(nbdUri, /^nbd:\/\/127\.0\.0\.1:\d+\/vol0$/);
    await waitFor(async () => (await stateOf(h, 'vol0')) === 'target', 'full backup done');
    const nbd = await connectNbd(nbdUri);
    const r = rng(1);
    const snaps: { gid: number; sha: string }[] = [];
    for (let i = 0; i < 4; i++) {
      await randomWrites(nbd, size, 40, r);
      const s = await h.client.takeSnapshot('vol0');
      snaps.push({ gid: s.gid, sha: await deviceSha(nbd, size) });
    }
    await nbd.close();
    assert.ok(snaps.every((s, i) => i === 0 || s.gid > snaps[i - 1]!.gid), 'gids increase');
    for (const s of snaps) {
      await waitFor(() => restorable(h, s.gid), `gid ${s.gid} restorable`);
      const img = path.join(h.dir, `img-${s.gid}`);
      h.ledger.imageAt(s.gid, img);
      assert.equal(fileSha256(img), s.sha, `image of gid ${s.gid}`);
    }
    const st = (await h.client.listVolumes())[0]!;
    assert.equal(st.state, 'target');
    assert.equal(st.sizeBytes, size);
    assert.equal(st.lastError, '');
    assert.ok(st.shippedGid >= snaps[snaps.length - 1]!.gid);
  });

  /** Takes an explicit snapshot of a quiet device; returns its gid and the device's sha256. */
  async function snap(nbd: NbdClient, size: number, volume = 'vol0'): Promise<{ gid: number; sha: string }> {
    const s = await h.client.takeSnapshot(volume);
    return { gid: s.gid, sha: await deviceSha(nbd, size) };
  }

  async function checkImages(snaps: { gid: number; sha: string }[]): Promise<void> {
    for (const s of snaps) {
      await waitFor(() => restorable(h, s.gid), `gid ${s.gid} restorable`);
      const img = path.join(h.dir, `img-${s.gid}`);
      h.ledger.imageAt(s.gid, img);
      assert.equal(fileSha256(img), s.sha, `image of gid ${s.gid}`);
    }
  }

  /** Writes in the background until stopped. */
  function writer(nbd: NbdClient, size: number, seed: number): { stop(): Promise<number> } {
    let running = true;
    let batches = 0;
    const r = rng(seed);
    const done = (async () => {
      while (running) {
        await randomWrites(nbd, size, 8, r, 4);
        batches++;
        await new Promise((res) => setTimeout(res, 5));
      }
    })();
    return {
      async stop() {
        running = false;
        await done;
        return batches;
      },
    };
  }

  it('full backup while writing, then continuous shipping: exact; FullBackup of a live volume resets the log and stays exact', async () => {
    h = await startHarness({ cfg: { fullSyncBytesPerSec: 16 * MIB, fullSyncChunkBytes: 128 * 1024 } });
    const size = 16 * MIB;
    const { nbdUri } = await h.client.addVolume('vol0', size);
    const nbd = await connectNbd(nbdUri);
    let w = writer(nbd, size, 2);
    await waitFor(async () => (await stateOf(h, 'vol0')) === 'target', 'full backup done');
    assert.ok(h.archive.zeroChunks > 0, 'all-zero chunks are elided');
    await new Promise((r) => setTimeout(r, 300));
    assert.ok((await w.stop()) > 10, 'writes ran during the full backup');
    const snaps = [await snap(nbd, size)];
    await randomWrites(nbd, size, 30, rng(3));
    snaps.push(await snap(nbd, size));
    await checkImages(snaps);
    const uuid1 = h.ledger.base!.uuid;

    w = writer(nbd, size, 4);
    assert.equal(await h.client.fullBackup('vol0'), 'full-sync');
    await waitFor(async () => (await stateOf(h, 'vol0')) === 'full-sync' || undefined, 'full-sync');
    await waitFor(async () => (await stateOf(h, 'vol0')) === 'target', 'second full backup done');
    await w.stop();
    assert.notEqual(h.ledger.base!.uuid, uuid1, 'a new device uuid after the log reset');
    assert.equal((await h.client.listVolumes())[0]!.deviceUuid, h.ledger.base!.uuid);
    const after = [await snap(nbd, size)];
    await randomWrites(nbd, size, 30, rng(5));
    after.push(await snap(nbd, size));
    await checkImages(after);
    await nbd.close();
  });

  it('splits a long stretch of log into chunks of at most chunkMaxBytes with the reserved intermediate gids', async () => {
    const chunkMaxBytes = 64 * 1024; // 16 pb of 4 KiB
    h = await startHarness({ cfg: { chunkMaxBytes } });
    const size = 8 * MIB;
    const { nbdUri } = await h.client.addVolume('vol0', size);
    await waitFor(async () => (await stateOf(h, 'vol0')) === 'target', 'full backup done');
    const nbd = await connectNbd(nbdUri);
    const first = await snap(nbd, size);
    await waitFor(() => restorable(h, first.gid), 'first snapshot shipped');
    assert.equal(await h.client.stopVolume('vol0'), 'stopped');
    const r = rng(6);
    for (let i = 0; i < 64; i++) {
      const data = Buffer.alloc(16 * 1024, Math.floor(r() * 256));
      await nbd.write(Math.floor(r() * (size / 4096 - 4)) * 4096, data); // one logpack each: 1 + 4 pb
    }
    const big = await snap(nbd, size);
    assert.equal(big.gid, first.gid + 1 + Math.floor((64 * 5) / 16), 'gids reserved for the chunks');
    assert.equal(await h.client.startVolume('vol0'), 'target');
    await checkImages([first, big]);
    const chunks = h.ledger.chain().filter((d) => d.gidB >= first.gid && d.gidE <= big.gid);
    assert.equal(chunks[chunks.length - 1]!.gidE, big.gid);
    assert.ok(chunks.length > 10, `${chunks.length} chunks`);
    for (const d of chunks) {
      const pb = d.endLsid - d.beginLsid;
      if (d.gidE !== big.gid) {
        assert.equal(d.gidE, d.gidB + 1, 'intermediate gid');
        assert.ok(pb <= 16, `chunk ${d.gidB}->${d.gidE} has ${pb} pb`);
      } else {
        // The last chunk takes what the reserved gids could not cover at logpack boundaries (walb-tools' rule).
        assert.ok(pb <= 32, `last chunk ${d.gidB}->${d.gidE} has ${pb} pb`);
      }
    }
    assert.ok(chunks.slice(1).every((d) => d.mergeable), 'chunks after an intermediate gid are mergeable');
    assert.equal(chunks[0]!.mergeable, false, 'the first starts at the explicit snapshot');
    // The restorable list at the archive keeps the explicit snapshot; intermediate ones are implicit.
    assert.ok(h.ledger.restorable(false).some((s) => s.gid === big.gid));
    await nbd.close();
  });

  it('agent restart resumes shipping from the done record with no gap', async () => {
    h = await startHarness();
    const size = 8 * MIB;
    const { nbdUri } = await h.client.addVolume('vol0', size);
    await waitFor(async () => (await stateOf(h, 'vol0')) === 'target', 'full backup done');
    let nbd = await connectNbd(nbdUri);
    const snaps: { gid: number; sha: string }[] = [];
    await randomWrites(nbd, size, 30, rng(7));
    snaps.push(await snap(nbd, size));
    await waitFor(() => restorable(h, snaps[0]!.gid), 'shipped');
    // Unshipped log at the restart: the proxy refuses until the agent is back.
    h.proxies[0]!.refuse('no-space');
    await randomWrites(nbd, size, 30, rng(8));
    snaps.push(await snap(nbd, size));
    await nbd.close();
    const before = (await h.client.listVolumes())[0]!;
    assert.ok(before.unsentBytes > 0, 'log not shipped yet');
    await h.restart();
    h.proxies[0]!.accept();
    const st = (await h.client.listVolumes())[0]!;
    assert.equal(st.state, 'target');
    assert.equal(st.deviceUuid, before.deviceUuid);
    assert.equal(st.nbdUri.replace(/:\d+\//, ':P/'), nbdUri.replace(/:\d+\//, ':P/'), 'served again');
    nbd = await connectNbd(st.nbdUri);
    assert.equal(await deviceSha(nbd, size), snaps[1]!.sha, 'the device came back with its data');
    await randomWrites(nbd, size, 30, rng(9));
    snaps.push(await snap(nbd, size));
    await checkImages(snaps);
    await nbd.close();
  });

  it('refuses bad input with clear errors', async () => {
    h = await startHarness();
    const bad = async (p: Promise<unknown>, reason: string, re: RegExp) => {
      await assert.rejects(p, (e: unknown) => {
        assert.ok(e instanceof RejectedError, String(e));
        assert.equal(e.reason, reason);
        assert.match(e.message, re);
        return true;
      });
    };
    await bad(h.client.addVolume('bad name!', 4 * MIB), 'bad-argument', /bad volume name "bad name!"/);
    await bad(h.client.addVolume('-x', 4 * MIB), 'bad-argument', /bad volume name/);
    await bad(h.client.addVolume('vol0', 4 * MIB + 512), 'bad-argument', /bad size 4194816 for volume vol0: it must be a positive multiple of 4096/);
    await bad(h.client.addVolume('vol0', 0), 'bad-argument', /bad size 0/);
    await bad(h.client.takeSnapshot('nope'), 'not-found', /no volume nope/);
    await bad(h.client.startVolume('nope'), 'not-found', /no volume nope/);
    await bad(h.client.fullBackup('nope'), 'not-found', /no volume nope/);
    await h.client.addVolume('vol0', 4 * MIB);
    await bad(h.client.addVolume('vol0', 4 * MIB), 'bad-argument', /volume vol0 already exists/);
    await waitFor(async () => (await stateOf(h, 'vol0')) === 'target', 'full backup done');
    await bad(h.client.startVolume('vol0').then(() => h.client.stopVolume('vol0')).then(() => h.client.fullBackup('vol0')).then(() => h.client.stopVolume('vol0')), 'syncing', /volume vol0 is full-sync/);
  });

  it('writes made by qemu-io over NBD are captured exactly', async function () {
    try {
      execFileSync('qemu-io', ['--version'], { stdio: 'pipe' });
    } catch {
      return this.skip(); // qemu-io not installed
    }
    h = await startHarness();
    const size = 8 * MIB;
    const { nbdUri } = await h.client.addVolume('vol0', size);
    await waitFor(async () => (await stateOf(h, 'vol0')) === 'target', 'full backup done');
    // Asynchronously: the NBD server runs in this process.
    const qemu = (cmds: string[]) => promisify(execFile)('qemu-io', ['-f', 'raw', nbdUri, ...cmds.flatMap((c) => ['-c', c])]);
    await qemu(['write -P 0x5a 0 256k', 'write -P 0xa5 1M 64k', 'write -z 1088k 8k', 'discard 4M 128k', 'flush']);
    const s1 = await h.client.takeSnapshot('vol0');
    await qemu(['write -P 0x11 7M 512k', 'aio_write -P 0x22 2M 16k', 'aio_flush']);
    const s2 = await h.client.takeSnapshot('vol0');
    const nbd = await connectNbd(nbdUri);
    const sha2 = await deviceSha(nbd, size);
    await nbd.close();
    await checkImages([{ gid: s2.gid, sha: sha2 }]);
    assert.ok(s2.gid > s1.gid);
  });
});
