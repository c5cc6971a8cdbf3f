import assert from 'node:assert/strict';
import { silentLogger, createRegistry } from '@blockwal/core';
import { getProxyStatus, proxyClient, pushWlog, startProxyServer, type ProxyServer } from '@blockwal/proxy';
import { scratchDir } from '../../../test/support/scratch.js';
import { TestArchive } from '../../../test/support/proxy-test-archive.js';
import { WlogMaker, applyWdiffs } from '../../../test/support/proxy-wlogs.js';
import { testProxyConfig } from '../../../test/support/proxy-config.js';
import { sleep, waitFor } from '../../../test/support/proxy-wait.js';

describe('proxy: forwarding to archives', function () {
  this.timeout(30_000);
  let tmp: ReturnType<typeof scratchDir>;
  let a0: TestArchive;
  let a1: TestArchive;
  let proxy: ProxyServer | null = null;

  beforeEach(async () => {
    tmp = scratchDir('blockwal-proxy-');
    a0 = await TestArchive.start(tmp.file('a0'), 'a0');
    a1 = await TestArchive.start(tmp.file('a1'), 'a1');
  });
  afterEach(async () => {
    await proxy?.close();
    proxy = null;
    await a0.close();
    await a1.close();
    tmp.cleanup();
  });

  const chain = (a: TestArchive, volume: string) => a.stored(volume).map((s) => `${s.diff.snapB.gidB}-${s.diff.snapE.gidB}`);
  const imageOf = (a: TestArchive, volume: string, size: number) =>
    applyWdiffs(
      a.stored(volume).map((s) => s.file),
      tmp.file(`${volume}-${a.address.length}-${Math.random()}.img`),
      size,
    );

  it('feeds two archives independently: one down does not hold the other; its backlog follows once up', async () => {
    const m = new WlogMaker('v');
    a0.addVolume('v', m.uuid, 0);
    a1.addVolume('v', m.uuid, 0);
    await a1.down();
    const registry = createRegistry();
    proxy = await startProxyServer(
      testProxyConfig(tmp.dir, [
        { name: 'a0', address: a0.address },
        { name: 'a1', address: a1.address, compression: 'zstd' },
      ]),
      { logger: silentLogger(), registry },
    );
    const client = proxyClient(proxy.address);
    for (let i = 0; i < 4; i++) {
      const f = tmp.file(`w${i}.wlog`);
      await pushWlog(client, m.make(f, { writes: 30, mergeable: false }), f);
      await waitFor(() => a0.latest('v').gidB === i + 1, `a0 gets gid ${i + 1} while a1 is down`);
    }
    assert.equal(proxy.store.spool('a1', 'v').length, 4);
    await waitFor(() => proxy!.store.spool('a0', 'v').length === 0, 'a0 spool empty');
    const st = await getProxyStatus(client);
    const a1Spool = st.volumes.find((v) => v.volume === 'v')!.spools.find((s) => s.archive === 'a1')!;
    assert.equal(a1Spool.diffs, 4);
    assert.match(a1Spool.lastError, /^stopped: /);
    assert.equal(a1Spool.oldestTimestamp, m.baseTime + 1);
    // Metrics: the names of docs/pipeline.md §6.
    const text = await registry.metrics();
    assert.match(text, /blockwal_proxy_spool_diffs\{volume="v",archive="a1"\} 4/);
    assert.match(text, /blockwal_proxy_spool_diffs\{volume="v",archive="a0"\} 0/);
    assert.match(text, /blockwal_proxy_received_wlogs_total\{volume="v"\} 4/);
    assert.match(text, /blockwal_proxy_forwarded_diffs_total\{volume="v",archive="a0"\} 4/);
    assert.match(text, /blockwal_proxy_forward_lag_seconds\{volume="v",archive="a1"\} \d+/);

    await a1.up();
    await waitFor(() => a1.latest('v').gidB === 4, 'a1 gets its backlog');
    await waitFor(() => proxy!.store.totalBytes === 0, 'spool empty');
    assert.deepEqual(chain(a1, 'v'), ['0-1', '1-2', '2-3', '3-4']);
    assert.equal(imageOf(a0, 'v', m.volumeSize), m.sha256());
    assert.equal(imageOf(a1, 'v', m.volumeSize), m.sha256());
    client.close();
  });

  it('deletes spool entries the archive answers too-old to', async () => {
    const m = new WlogMaker('v');
    a0.addVolume('v', m.uuid, 2); // already has up to gid 2 (through another proxy)
    proxy = await startProxyServer(testProxyConfig(tmp.dir, [{ name: 'a0', address: a0.address }]), { logger: silentLogger() });
    const client = proxyClient(proxy.address);
    for (let i = 0; i < 2; i++) {
      const f = tmp.file(`w${i}.wlog`);
      await pushWlog(client, m.make(f, { mergeable: false }), f);
    }
    await waitFor(() => proxy!.store.spool('a0', 'v').length === 0, 'too-old diffs deleted');
    assert.equal(a0.stored('v').length, 0);
    assert.ok(a0.verdicts.every((v) => v === 'too-old'), a0.verdicts.join(','));
    client.close();
  });

  it('retries too-new and syncing with backoff until accepted', async () => {
    const m = new WlogMaker('v');
    a0.addVolume('v', m.uuid, 0);
    a0.setSyncing('v', true);
    proxy = await startProxyServer(testProxyConfig(tmp.dir, [{ name: 'a0', address: a0.address }], { retryMinMs: 20, retryMaxMs: 160 }), { logger: silentLogger() });
    const client = proxyClient(proxy.address);
    // The first diff went to another proxy: this one holds |1|-->|2| only (too new).
    m.make(tmp.file('skip.wlog'));
    const f = tmp.file('w1.wlog');
    await pushWlog(client, m.make(f), f);
    await waitFor(() => a0.verdicts.length >= 3, 'retried while syncing');
    assert.ok(a0.verdicts.every((v) => v === 'syncing'));
    a0.setSyncing('v', false);
    await waitFor(() => a0.verdicts.filter((v) => v === 'too-new').length >= 4, 'retried while too new');
    // Backoff grows: the gaps between verdicts do not stay at the minimum.
    const t = a0.verdictTimes;
    const gaps = t.slice(1).map((x, i) => x - t[i]!);
    assert.ok(Math.max(...gaps) >= 70, `backoff grows: ${gaps.join(',')}`);
    assert.equal(proxy.store.spool('a0', 'v').length, 1, 'kept while refused');
    // The gap is delivered (by "another proxy"): the archive is at gid 1 now.
    a0.resetVolume('v', m.uuid, 1);
    await waitFor(() => a0.latest('v').gidB === 2, 'accepted once the gap is filled');
    await waitFor(() => proxy!.store.spool('a0', 'v').length === 0, 'spool empty');
    client.close();
  });

  it('resends a diff the archive found damaged (checksum) at once', async () => {
    const m = new WlogMaker('v');
    a0.addVolume('v', m.uuid, 0);
    a0.refuseAfterData('checksum', 2);
    proxy = await startProxyServer(testProxyConfig(tmp.dir, [{ name: 'a0', address: a0.address }], { retryMinMs: 5000, retryMaxMs: 5000 }), { logger: silentLogger() });
    const client = proxyClient(proxy.address);
    const f = tmp.file('w.wlog');
    await pushWlog(client, m.make(f, { writes: 50 }), f);
    await waitFor(() => a0.latest('v').gidB === 1, 'stored after two resends', 3000);
    assert.equal(a0.verdicts.length, 3);
    assert.equal(imageOf(a0, 'v', m.volumeSize), m.sha256());
    client.close();
  });

  it('sends the older lineage first and deletes it on different-uuid; the new lineage follows', async () => {
    const m = new WlogMaker('v');
    a0.addVolume('v', m.uuid, 0);
    await a0.down();
    proxy = await startProxyServer(testProxyConfig(tmp.dir, [{ name: 'a0', address: a0.address }]), { logger: silentLogger() });
    const client = proxyClient(proxy.address);
    for (let i = 0; i < 2; i++) {
      const f = tmp.file(`old${i}.wlog`);
      await pushWlog(client, m.make(f, { mergeable: false }), f);
    }
    await sleep(20); // the lineages are ordered by arrival time (ms)
    // Log reset + full backup: the archive now holds the new lineage at gid 0 with the current image.
    m.reset();
    a0.resetVolume('v', m.uuid, 0);
    for (let i = 0; i < 2; i++) {
      const f = tmp.file(`new${i}.wlog`);
      await pushWlog(client, m.make(f, { mergeable: false }), f);
    }
    assert.equal(proxy.store.spool('a0', 'v').length, 4);
    await a0.up();
    await waitFor(() => a0.latest('v').gidB === 2 && proxy!.store.spool('a0', 'v').length === 0, 'new lineage forwarded');
    const firstVerdicts = a0.verdicts.slice(0, 2);
    assert.deepEqual(firstVerdicts, ['different-uuid', 'different-uuid'], a0.verdicts.join(','));
    assert.deepEqual(chain(a0, 'v'), ['0-1', '1-2']);
    client.close();
  });
});
