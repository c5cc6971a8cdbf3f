import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { openWdiff, silentLogger, uuidToHex, wdiffStats, WDIFF_TYPE_INDEXED } from '@blockwal/core';
import { getProxyStatus, proxyClient, pushWlog, startProxyServer, type ProxyServer } from '@blockwal/proxy';
import { scratchDir } from '../../../test/support/scratch.js';
import { TestArchive } from '../../../test/support/proxy-test-archive.js';
import { WlogMaker, applyWdiffs } from '../../../test/support/proxy-wlogs.js';
import { testProxyConfig } from '../../../test/support/proxy-config.js';
import { waitFor } from '../../../test/support/proxy-wait.js';

describe('proxy: wlog → spool → archive', function () {
  this.timeout(30_000);
  let tmp: ReturnType<typeof scratchDir>;
  let archive: TestArchive;
  let proxy: ProxyServer | null = null;

  beforeEach(async () => {
    tmp = scratchDir('blockwal-proxy-');
    archive = await TestArchive.start(tmp.file('a0'));
  });
  afterEach(async () => {
    await proxy?.close();
    proxy = null;
    await archive.close();
    tmp.cleanup();
  });

  async function start(over: Record<string, unknown> = {}) {
    proxy = await startProxyServer(testProxyConfig(tmp.dir, [{ name: 'a0', address: archive.address }], over), { logger: silentLogger() });
    return proxyClient(proxy.address);
  }

  const imageOf = (volume: string, size: number) =>
    applyWdiffs(
      archive.stored(volume).map((s) => s.file),
      tmp.file(`${volume}.img`),
      size,
    );

  it('forwards a pushed wlog to the archive; the archive image equals the reference', async () => {
    const m = new WlogMaker('vol0');
    archive.addVolume('vol0', m.uuid, 0);
    const client = await start();
    for (let i = 0; i < 3; i++) {
      const h = m.make(tmp.file(`w${i}.wlog`), { writes: 40, mergeable: false });
      const r = await pushWlog(client, h, tmp.file(`w${i}.wlog`));
      assert.match(r.wdiffName, /^\d{14}-[-M][-C]-\d+-\d+\.wdiff$/);
    }
    await waitFor(() => archive.latest('vol0').gidB === 3, 'archive reaches gid 3');
    assert.equal(imageOf('vol0', m.volumeSize), m.sha256());
    await waitFor(() => proxy!.store.spool('a0', 'vol0').length === 0, 'spool empties');
    const st = await getProxyStatus(client);
    assert.equal(st.spoolBytes, 0);
    client.close();
  });

  it('acks only once the wdiff is durable in the spool (the file exists and parses at the ack)', async () => {
    const m = new WlogMaker('vol1');
    archive.addVolume('vol1', m.uuid, 0);
    archive.refuse('syncing'); // keeps the spool file in place
    const client = await start();
    const h = m.make(tmp.file('w.wlog'), { writes: 100 });
    const r = await pushWlog(client, h, tmp.file('w.wlog'));
    const file = path.join(tmp.dir, 'proxy', 'spool', 'a0', 'vol1', uuidToHex(m.uuid), r.wdiffName);
    assert.ok(existsSync(file), 'spool file exists at the ack');
    const src = openWdiff(file);
    try {
      assert.equal(src.type, WDIFF_TYPE_INDEXED);
      assert.ok(wdiffStats(src).normalNr > 0);
    } finally {
      src.close();
    }
    assert.deepEqual(readdirSync(path.join(tmp.dir, 'proxy', 'tmp')).filter((f) => !f.startsWith('forward-')), [], 'no temp left');
    archive.accept();
    await waitFor(() => archive.latest('vol1').gidB === 1, 'forwarded after syncing ends');
    assert.equal(imageOf('vol1', m.volumeSize), m.sha256());
    client.close();
  });

  it('merges a run of small mergeable diffs into one, never across an explicit snapshot', async () => {
    const m = new WlogMaker('vol2');
    archive.addVolume('vol2', m.uuid, 0);
    await archive.down();
    const client = await start();
    // |0|-->|1| … |3|-->|4| mergeable; |4|-->|5| starts at an explicit snapshot; |5|-->|6| mergeable.
    const flags = [true, true, true, true, false, true];
    for (let i = 0; i < flags.length; i++) {
      const f = tmp.file(`m${i}.wlog`);
      await pushWlog(client, m.make(f, { writes: 10, mergeable: flags[i] }), f);
    }
    await archive.up();
    await waitFor(() => archive.latest('vol2').gidB === 6, 'archive reaches gid 6');
    const got = archive.stored('vol2').map((s) => `${s.diff.snapB.gidB}-${s.diff.snapE.gidB}`);
    assert.deepEqual(got, ['0-4', '4-6']);
    assert.equal(imageOf('vol2', m.volumeSize), m.sha256());
    client.close();
  });

  it('respects mergeMaxDiffs', async () => {
    const m = new WlogMaker('vol3');
    archive.addVolume('vol3', m.uuid, 0);
    await archive.down();
    const client = await start({ mergeMaxDiffs: 2 });
    for (let i = 0; i < 5; i++) {
      const f = tmp.file(`m${i}.wlog`);
      await pushWlog(client, m.make(f, { writes: 5 }), f);
    }
    await archive.up();
    await waitFor(() => archive.latest('vol3').gidB === 5, 'archive reaches gid 5');
    assert.deepEqual(
      archive.stored('vol3').map((s) => `${s.diff.snapB.gidB}-${s.diff.snapE.gidB}`),
      ['0-2', '2-4', '4-5'],
    );
    assert.equal(imageOf('vol3', m.volumeSize), m.sha256());
    client.close();
  });

  it('stores the same wlog pushed twice once, under the same name', async () => {
    const m = new WlogMaker('vol4');
    archive.addVolume('vol4', m.uuid, 0);
    await archive.down();
    const client = await start();
    const h = m.make(tmp.file('w.wlog'));
    const r1 = await pushWlog(client, h, tmp.file('w.wlog'));
    const r2 = await pushWlog(client, h, tmp.file('w.wlog'));
    assert.equal(r1.wdiffName, r2.wdiffName);
    assert.equal(proxy!.store.spool('a0', 'vol4').length, 1);
    await archive.up();
    await waitFor(() => archive.latest('vol4').gidB === 1, 'forwarded');
    // Pushed again after the archive has it: spooled, then answered too-old and deleted.
    await pushWlog(client, h, tmp.file('w.wlog'));
    await waitFor(() => proxy!.store.spool('a0', 'vol4').length === 0, 'duplicate dropped');
    assert.equal(archive.stored('vol4').length, 1);
    assert.ok(archive.verdicts.includes('too-old'));
    assert.equal(imageOf('vol4', m.volumeSize), m.sha256());
    client.close();
  });
});
