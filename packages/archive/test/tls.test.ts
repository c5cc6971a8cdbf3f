import assert from 'node:assert/strict';
import path from 'node:path';
import { RejectedError, metaSnap } from '@blockwal/core';
import { connectArchive, fullSyncFromFile, listArchiveVolumes, readSnapshotToFile } from '@blockwal/archive';
import { scratchDir } from '../../../test/support/scratch.js';
import { makeTestPki } from '../../../test/support/tls.js';
import { archiveConfig, fileSha, MiB, startArchive, T0, VolumeHistory } from './support/archive-world.js';

describe('archive: mutual TLS', function () {
  this.timeout(30000);

  it('serves a client with a certificate of its CA and refuses plain and foreign clients', async () => {
    const s = scratchDir('blockwal-archive-');
    const pki = makeTestPki(s.dir);
    const a = await startArchive({ ...archiveConfig(s.dir), tls: pki.node }, pki.node);
    try {
      const h = new VolumeHistory(2 * MiB, 1);
      const src = path.join(s.dir, 'src.img');
      h.writeImage(src);
      await fullSyncFromFile(a.client, { volume: 'v', deviceUuid: h.uuid, snapshot: metaSnap(0), timestamp: T0 }, src);
      await readSnapshotToFile(a.client, 'v', 0, path.join(s.dir, 'out.img'));
      assert.equal(fileSha(path.join(s.dir, 'out.img')), fileSha(src));
      for (const creds of [undefined, pki.stranger]) {
        const c = connectArchive(a.server.address, creds);
        await assert.rejects(listArchiveVolumes(c), (e: unknown) => e instanceof RejectedError);
        c.close();
      }
    } finally {
      await a.stop();
      s.cleanup();
    }
  });
});
