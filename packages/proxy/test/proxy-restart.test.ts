import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { RejectedError, silentLogger } from '@blockwal/core';
import { proxyClient, pushWlog, startProxyServer, type ProxyServer } from '@blockwal/proxy';
import { scratchDir } from '../../../test/support/scratch.js';
import { TestArchive } from '../../../test/support/proxy-test-archive.js';
import { WlogMaker, applyWdiffs } from '../../../test/support/proxy-wlogs.js';
import { testProxyConfig } from '../../../test/support/proxy-config.js';
import { sleep, waitFor } from '../../../test/support/proxy-wait.js';
import { startProxyProc } from '../../../test/support/proxy-proc.js';

describe('proxy: restarts keep the spool', function () {
  this.timeout(60_000);
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

  const cfg = () => testProxyConfig(tmp.dir, [{ name: 'a0', address: archive.address }]);
  const imageOf = (size: number) =>
    applyWdiffs(
      archive.stored('v').map((s) => s.file),
      tmp.file(`v-${Math.random()}.img`),
      size,
    );

  it('close and start on the same directory: the spool is intact and forwarded afterwards', async () => {
    const m = new WlogMaker('v');
    archive.addVolume('v', m.uuid, 0);
    await archive.down();
    proxy = await startProxyServer(cfg(), { logger: silentLogger() });
    let client = proxyClient(proxy.address);
    for (let i = 0; i < 3; i++) {
      const f = tmp.file(`w${i}.wlog`);
      await pushWlog(client, m.make(f, { mergeable: false, writes: 30 }), f);
    }
    const names = proxy.store.spool('a0', 'v').map((d) => d.name).sort();
    client.close();
    await proxy.close();
    proxy = await startProxyServer(cfg(), { logger: silentLogger() });
    assert.deepEqual(proxy.store.spool('a0', 'v').map((d) => d.name).sort(), names);
    await archive.up();
    await waitFor(() => archive.latest('v').gidB === 3, 'forwarded after the restart');
    assert.equal(imageOf(m.volumeSize), m.sha256());
    client = proxyClient(proxy.address);
    const f = tmp.file('w3.wlog');
    await pushWlog(client, m.make(f), f);
    await waitFor(() => archive.latest('v').gidB === 4, 'new wlogs still flow');
    assert.equal(imageOf(m.volumeSize), m.sha256());
    client.close();
  });

  it('SIGKILL of the proxy process, even mid-stream: acked wlogs survive, the partial one leaves nothing', async () => {
    const m = new WlogMaker('v');
    archive.addVolume('v', m.uuid, 0);
    await archive.down();
    const proc = await startProxyProc(cfg());
    const client = proxyClient(cfg().listen);
    for (let i = 0; i < 3; i++) {
      const f = tmp.file(`w${i}.wlog`);
      await pushWlog(client, m.make(f, { mergeable: i !== 1, writes: 30 }), f);
    }
    const acked = m.sha256();
    // A fourth wlog, streamed slowly; the proxy dies in the middle.
    const f3 = tmp.file('w3.wlog');
    const h3 = m.make(f3, { writes: 200 });
    const bytes = readFileSync(f3);
    let sent = 0;
    async function* slowly() {
      for (let off = 0; off < bytes.length; off += 64 * 1024) {
        sent++;
        yield bytes.subarray(off, off + 64 * 1024);
        await sleep(20);
      }
    }
    const pending = pushWlog(client, h3, slowly(), { chunkBytes: 64 * 1024 });
    await waitFor(() => sent >= 3, 'part of the stream sent');
    const receiving = () => readdirSync(path.join(tmp.dir, 'proxy', 'tmp')).filter((f) => f.startsWith('v.'));
    await waitFor(() => receiving().length > 0, 'the proxy is converting');
    proc.child.kill('SIGKILL');
    assert.equal(await proc.exited, 'SIGKILL');
    const e = await pending.then(
      () => assert.fail('the push cannot succeed'),
      (err: unknown) => err,
    );
    assert.ok(e instanceof RejectedError);
    assert.equal(e.reason, 'stopped');
    client.close();

    proxy = await startProxyServer(cfg(), { logger: silentLogger() });
    assert.deepEqual(receiving(), [], 'the partial wdiff was removed at start');
    assert.equal(proxy.store.spool('a0', 'v').length, 3);
    await archive.up();
    await waitFor(() => archive.latest('v').gidB === 3, 'acked wlogs forwarded after the crash');
    assert.equal(imageOf(m.volumeSize), acked);
    // The agent re-sends the wlog that was cut.
    const c2 = proxyClient(proxy.address);
    await pushWlog(c2, h3, f3);
    await waitFor(() => archive.latest('v').gidB === 4, 're-sent wlog forwarded');
    assert.equal(imageOf(m.volumeSize), m.sha256());
    c2.close();
  });
});
