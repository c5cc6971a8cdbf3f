import assert from 'node:assert/strict';
import path from 'node:path';
import { RejectedError } from '@blockwal/core';
import type { NbdClient } from '@blockwal/wal-device';
import { fileSha256 } from '../../../test/support/scratch.js';
import { connectNbd, deviceSha, randomWrites, rng, startHarness, waitFor, type Harness } from '../../../test/support/storage-harness.js';

const MIB = 1024 * 1024;
const SIZE = 8 * MIB;

describe('storage agent: proxies, refusals, overflow', function () {
  this.timeout(60_000);
  let h: Harness;
  let nbd: NbdClient;

  afterEach(async () => {
    await nbd?.close().catch(() => undefined);
    await h?.close();
  });

  async function addVolume(): Promise<void> {
    const { nbdUri } = await h.client.addVolume('vol0', SIZE);
    await waitFor(async () => (await h.client.listVolumes())[0]!.state === 'target', 'full backup done');
    nbd = await connectNbd(nbdUri);
  }

  async function snap(seed: number): Promise<{ gid: number; sha: string }> {
    await randomWrites(nbd, SIZE, 30, rng(seed));
    const s = await h.client.takeSnapshot('vol0');
    return { gid: s.gid, sha: await deviceSha(nbd, SIZE) };
  }

  async function checkImage(s: { gid: number; sha: string }): Promise<void> {
    await waitFor(() => h.ledger.restorable(true).some((x) => x.gid === s.gid), `gid ${s.gid} restorable`);
    const img = path.join(h.dir, `img-${s.gid}`);
    h.ledger.imageAt(s.gid, img);
    assert.equal(fileSha256(img), s.sha, `image of gid ${s.gid}`);
  }

  const shippedBy = (p: number, gid: number) => h.proxies[p]!.stored.some((w) => w.gidE === gid);

  it('ships to the first healthy proxy by priority: p0 down -> p1; p0 back -> p0 again', async () => {
    h = await startHarness({ proxies: 2 });
    await addVolume();
    const a = await snap(1);
    await waitFor(() => shippedBy(0, a.gid), 'A shipped by p0');
    await h.proxies[0]!.down();
    const b = await snap(2);
    await waitFor(() => shippedBy(1, b.gid), 'B shipped by p1');
    assert.equal((await h.client.listVolumes())[0]!.proxy, 'p1');
    await h.proxies[0]!.up();
    await new Promise((r) => setTimeout(r, h.cfg.proxyDownMs + 100));
    const c = await snap(3);
    await waitFor(() => shippedBy(0, c.gid), 'C shipped by p0 again (fail-back)');
    assert.equal((await h.client.listVolumes())[0]!.proxy, 'p0');
    for (const s of [a, b, c]) await checkImage(s);
  });

  it('a proxy refusing with no-space: retried with backoff, nothing lost, the ring freed only after the ack', async () => {
    h = await startHarness({ cfg: { metricsListen: '127.0.0.1:0' } });
    await addVolume();
    const a = await snap(4);
    await checkImage(a);
    const before = await h.server.agent.volumeStatus('vol0');
    h.proxies[0]!.refuse('no-space');
    const b = await snap(5);
    await waitFor(() => h.proxies[0]!.refused >= 3, 'three refusals');
    const during = await h.server.agent.volumeStatus('vol0');
    assert.equal(during.done.gid, before.done.gid, 'nothing acknowledged');
    assert.equal(during.oldestLsid, before.done.lsid, 'the ring is not freed before an ack');
    assert.ok(during.permanentLsid > during.oldestLsid && during.unsentBytes > 0);
    assert.match(during.lastError, /no-space/);
    h.proxies[0]!.accept();
    await checkImage(b);
    // The test proxy has the image before the agent has processed its acknowledgement.
    await waitFor(async () => (await h.server.agent.volumeStatus('vol0')).lastError === '', 'the error cleared by the ack');
    const after = await h.server.agent.volumeStatus('vol0');
    await waitFor(async () => (await h.server.agent.volumeStatus('vol0')).oldestLsid === after.done.lsid, 'ring freed to the done record');
    const text = await (await fetch(`http://${h.server.metricsAddress}/metrics`)).text();
    assert.match(text, /blockwal_storage_ship_errors_total\{volume="vol0",proxy="p0",reason="no-space",server="s0"\} [3-9]/);
    assert.match(text, /blockwal_storage_shipped_wlogs_total\{volume="vol0",proxy="p0",server="s0"\} \d+/);
    assert.match(text, /blockwal_storage_log_capacity_bytes\{volume="vol0",server="s0"\} \d+/);
    assert.match(text, /blockwal_storage_full_sync_bytes_total\{volume="vol0",server="s0"\} 8388608/);
    for (const m of ['blockwal_storage_log_usage_bytes', 'blockwal_storage_unsent_bytes', 'blockwal_storage_shipped_bytes_total']) assert.ok(text.includes(m), m);
  });

  it('overflow: state overflow, snapshots refused with reason overflow, FullBackup recovers', async () => {
    h = await startHarness({ cfg: { logSizeBytes: 1 * MIB } });
    await addVolume();
    const a = await snap(6);
    await checkImage(a);
    h.proxies[0]!.refuse('no-space');
    for (let i = 0; i < 12; i++) await randomWrites(nbd, SIZE, 16, rng(100 + i), 4); // ~1.5 MiB of log into a 1 MiB ring
    await waitFor(async () => (await h.client.listVolumes())[0]!.state === 'overflow', 'state overflow');
    const st = (await h.client.listVolumes())[0]!;
    assert.match(st.lastError, /overflow/);
    await assert.rejects(h.client.takeSnapshot('vol0'), (e: unknown) => e instanceof RejectedError && e.reason === 'overflow');
    await assert.rejects(h.client.startVolume('vol0'), (e: unknown) => e instanceof RejectedError && e.reason === 'overflow');
    h.proxies[0]!.accept();
    assert.equal(await h.client.fullBackup('vol0'), 'full-sync');
    await waitFor(async () => (await h.client.listVolumes())[0]!.state === 'target', 'recovered by a full backup');
    assert.notEqual((await h.client.listVolumes())[0]!.deviceUuid, st.deviceUuid);
    const b = await snap(7);
    await checkImage(b);
  });
});
