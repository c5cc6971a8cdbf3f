import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { channelCredentials } from '@blockwal/proto';
import { startArchiveServer, ARCHIVE_SERVICE_NAME } from '@blockwal/archive';
import { scratchDir } from '../../../test/support/scratch.js';
import { archiveConfig } from './support/archive-world.js';

describe('archive: server', () => {
  it('answers grpc.health.v1, serves /metrics, restarts on the same unix socket', async () => {
    const s = scratchDir('blockwal-archive-');
    const cfg = archiveConfig(s.dir, { metricsListen: '127.0.0.1:0' });
    try {
      for (let round = 0; round < 2; round++) {
        const server = await startArchiveServer(cfg);
        try {
          assert.equal(server.address, cfg.listen);
          const { service } = await import('grpc-health-check');
          const Health = grpc.makeGenericClientConstructor(service, 'Health');
          const client = new Health(server.address, channelCredentials()) as unknown as grpc.Client & { check: (r: unknown, cb: (e: unknown, r: { status: string | number }) => void) => void };
          const r = await new Promise<{ status: string | number }>((resolve, reject) => client.check({ service: ARCHIVE_SERVICE_NAME }, (e, res) => (e ? reject(e) : resolve(res))));
          client.close();
          assert.ok(r.status === 'SERVING' || r.status === 1);
          assert.ok(server.metricsAddress);
          const text = await (await fetch(`http://${server.metricsAddress}/metrics`)).text();
          assert.match(text, /# TYPE blockwal_archive_received_diffs_total counter/);
          assert.match(text, /# TYPE blockwal_archive_rpo_seconds gauge/);
        } finally {
          await server.close();
          await server.close(); // idempotent
        }
      }
    } finally {
      s.cleanup();
    }
  });
});
