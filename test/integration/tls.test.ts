/**
 * Mutual TLS across the whole pipeline with real processes: every server requires a client
 * certificate from the cluster's CA and presents its own; the agent ships to the proxy, the proxy
 * forwards to the archive, the admin commands talk TLS, and a restore is exact. A client without a
 * certificate, or with one from another CA, is refused and changes nothing.
 */
import assert from 'node:assert/strict';
import { scratchDir } from '../support/scratch.js';
import { TestCluster } from '../support/cluster.js';
import { VolumeWriter } from '../support/volume-writer.js';
import { addVolume, lastLine, restoreSha, snapshot, waitState } from '../support/admin.js';
import { makeTestPki } from '../support/tls.js';
import { blockwal } from '../support/cli.js';

const MiB = 1024 * 1024;

describe('mutual TLS between every server and client', function () {
  this.timeout(180_000);

  it('ships, lists and restores over mutual TLS; clients without the CA are refused', async function () {
    const dir = scratchDir();
    const pki = makeTestPki(dir.dir);
    const c = await TestCluster.create(dir.file('cluster'), { tls: pki.node });
    let w: VolumeWriter | undefined;
    try {
      await c.startAll();
      const size = 8 * MiB;
      w = new VolumeWriter(addVolume(c, 'vol0', size), size);
      await w.connect();
      await waitState(c, 'vol0', 'target');
      await w.randomWrites(200);
      await w.flush();
      const gid = snapshot(c, 'vol0', true);
      const sha = await w.deviceSha256();
      assert.equal(restoreSha(c, 'vol0', gid, dir.file('r.img')), sha);

      const before = c.admin('a0', ['snapshot', 'list', 'vol0', '--json']).stdout;
      const plain = blockwal(['snapshot', 'vol0', '--server', c.address('s0')]);
      assert.notEqual(plain.code, 0, 'a client without TLS is refused');
      const s = pki.stranger;
      const stranger = blockwal(['snapshot', 'vol0', '--server', c.address('s0'), '--tls-cert', s.certFile, '--tls-key', s.keyFile, '--tls-ca', s.caFile]);
      assert.notEqual(stranger.code, 0, `a client certificate from another CA is refused: ${stranger.stdout}`);
      assert.match(stranger.stderr, /blockwal:/);
      assert.equal(c.admin('a0', ['snapshot', 'list', 'vol0', '--json']).stdout, before, 'the refused clients changed nothing');
      assert.equal(lastLine(c.admin('s0', ['snapshot', 'vol0']).stdout), String(gid), 'no new snapshot was taken by them');
    } finally {
      await w?.close();
      await c.stopAll();
      if (this.currentTest?.state === 'failed') console.error(c.logs());
      dir.cleanup();
    }
  });
});
