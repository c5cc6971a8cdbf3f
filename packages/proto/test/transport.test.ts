import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { RejectedError } from '@blockwal/core';
import {
  ArchiveServiceClient,
  ArchiveServiceDefinition,
  ChunkEncoder,
  ChunkVerifier,
  bindServer,
  blockwal,
  channelCredentials,
  clientOptions,
  createServer,
  fromServiceError,
  reasonFromWire,
  reasonToWire,
  shutdownServer,
  toServiceError,
  type ArchiveServiceHandlers,
  type TlsFiles,
} from '@blockwal/proto';
import { addHealth } from '@blockwal/proto/health';
import { scratchDir } from '../../../test/support/scratch.js';
import { makeTestPki } from '../../../test/support/tls.js';

const unimplemented = (_c: unknown, cb?: (e: unknown) => void) => cb?.({ code: grpc.status.UNIMPLEMENTED });

function archiveStub(): ArchiveServiceHandlers {
  return {
    pushDiff: (call) => call.destroy(),
    fullSync: (call) => call.destroy(),
    readSnapshot: (call) => {
      // A stream of 3 chunks then the end.
      const enc = new ChunkEncoder();
      for (let i = 0; i < 3; i++) call.write({ chunk: enc.chunk(new Uint8Array(1000).fill(i)) });
      call.write({ end: enc.end() });
      call.end();
    },
    restoreSnapshot: unimplemented as never,
    listSnapshots: (call, cb) => {
      if (call.request.volume !== 'vol0') return cb(toServiceError(new RejectedError('not-found', `volume ${call.request.volume} is not archived here`)));
      cb(null, { snapshots: [{ gid: 7, timestamp: 1700000000, explicit: true }] });
    },
    listArchiveVolumes: (_call, cb) => cb(null, { volumes: [{ volume: 'vol0', state: 'archived', size: 1 << 20 }] }),
  };
}

async function withServer(tls: TlsFiles | undefined, f: (addr: string) => Promise<void>): Promise<void> {
  const server = createServer();
  server.addService(ArchiveServiceDefinition as unknown as grpc.ServiceDefinition, archiveStub());
  addHealth(server, ['blockwal.v1.ArchiveService']);
  const addr = await bindServer(server, '127.0.0.1:0', tls);
  try {
    await f(addr);
  } finally {
    await shutdownServer(server, 200);
  }
}

function listVolumes(client: InstanceType<typeof ArchiveServiceClient>): Promise<blockwal.v1.ListArchiveVolumesResponse> {
  return new Promise((resolve, reject) => client.listArchiveVolumes({}, { deadline: Date.now() + 5000 }, (e, r) => (e ? reject(e) : resolve(r!))));
}

describe('proto transport', () => {
  it('serves typed calls over a loopback socket and maps a rejection to its reason', async () => {
    await withServer(undefined, async (addr) => {
      const client = new ArchiveServiceClient(addr, channelCredentials(), clientOptions());
      try {
        const r = await listVolumes(client);
        assert.equal(r.volumes[0]!.volume, 'vol0');
        assert.equal(Number(r.volumes[0]!.size), 1 << 20);
        const err = await new Promise<grpc.ServiceError>((resolve) => client.listSnapshots({ volume: 'nope' }, (e) => resolve(e!)));
        assert.equal(err.code, grpc.status.NOT_FOUND);
        const typed = fromServiceError(err, addr);
        assert.equal(typed.reason, 'not-found');
        assert.equal(typed.policy, 'retry');
        assert.match(typed.message, /volume nope is not archived here/);
      } finally {
        client.close();
      }
    });
  });

  it('a dead peer is a retryable "stopped" rejection', async () => {
    const client = new ArchiveServiceClient('127.0.0.1:1', channelCredentials(), clientOptions());
    const err = await new Promise<grpc.ServiceError>((resolve) => client.listArchiveVolumes({}, { deadline: Date.now() + 2000 }, (e) => resolve(e as grpc.ServiceError)));
    client.close();
    const typed = fromServiceError(err);
    assert.equal(typed.reason, 'stopped');
    assert.equal(typed.retryable, true);
  });

  it('streams chunks whose offsets and CRCs the receiver verifies', async () => {
    await withServer(undefined, async (addr) => {
      const client = new ArchiveServiceClient(addr, channelCredentials(), clientOptions());
      const v = new ChunkVerifier('snapshot vol0@7');
      let ended = false;
      for await (const m of client.readSnapshot({ volume: 'vol0', gid: 7 }) as AsyncIterable<blockwal.v1.ReadSnapshotResponse>) {
        if (m.chunk) v.accept(m.chunk);
        else if (m.end) {
          v.end(m.end);
          ended = true;
        }
      }
      client.close();
      assert.ok(ended);
      assert.equal(v.length, 3000);
    });
  });

  it('answers grpc.health.v1', async () => {
    await withServer(undefined, async (addr) => {
      const { service: healthService } = await import('grpc-health-check');
      const Health = grpc.makeGenericClientConstructor(healthService, 'Health');
      const client = new Health(addr, channelCredentials()) as unknown as grpc.Client & { check: (r: unknown, cb: (e: unknown, r: { status: string | number }) => void) => void };
      const r = await new Promise<{ status: string | number }>((resolve, reject) => client.check({ service: 'blockwal.v1.ArchiveService' }, (e, res) => (e ? reject(e) : resolve(res))));
      client.close();
      assert.ok(r.status === 'SERVING' || r.status === 1);
    });
  });

  it('uses mutual TLS when configured and refuses a client of another CA', async function () {
    this.timeout(20000);
    const s = scratchDir();
    try {
      const pki = makeTestPki(s.dir);
      await withServer(pki.node, async (addr) => {
        const ok = new ArchiveServiceClient(addr, channelCredentials(pki.node), clientOptions());
        assert.equal((await listVolumes(ok)).volumes.length, 1);
        ok.close();
        const plain = new ArchiveServiceClient(addr, channelCredentials(), clientOptions());
        await assert.rejects(listVolumes(plain));
        plain.close();
        const stranger = new ArchiveServiceClient(addr, channelCredentials(pki.stranger), clientOptions());
        await assert.rejects(listVolumes(stranger));
        stranger.close();
      });
    } finally {
      s.cleanup();
    }
  });
});

describe('chunk verification', () => {
  it('refuses a chunk whose CRC does not match, naming the offset', () => {
    const enc = new ChunkEncoder();
    const v = new ChunkVerifier('wlog vol0');
    v.accept(enc.chunk(new Uint8Array(10).fill(1)));
    const c = enc.chunk(new Uint8Array(10).fill(2));
    c.data[3] = 9;
    assert.throws(() => v.accept(c), (e: unknown) => e instanceof RejectedError && e.reason === 'checksum' && /offset 10/.test(e.message));
  });

  it('refuses a gap, an oversize chunk and a wrong total', () => {
    const enc = new ChunkEncoder();
    const v = new ChunkVerifier('x', 16);
    const a = enc.chunk(new Uint8Array(8));
    enc.chunk(new Uint8Array(8));
    const c = enc.chunk(new Uint8Array(8));
    v.accept(a);
    assert.throws(() => v.accept(c), (e: unknown) => e instanceof RejectedError && e.reason === 'bad-argument');
    assert.throws(() => new ChunkVerifier('x', 16).accept(new ChunkEncoder().chunk(new Uint8Array(17))), /more than the limit 16/);
    assert.throws(() => v.end({ length: 8, crc32: 1 }), (e: unknown) => e instanceof RejectedError && e.reason === 'checksum');
  });

  it('keeps the message of an error status short enough for its trailer', () => {
    const e = toServiceError(new RejectedError('bad-argument', `volume name ${'x'.repeat(100_000)}`));
    assert.ok(e.details!.length <= 2100, `${e.details!.length} characters`);
    assert.match(e.details!, /^volume name x+… \(100012 characters\)$/);
    assert.equal(e.code, grpc.status.INVALID_ARGUMENT);
  });

  it('maps every reject reason to a wire reason and back', () => {
    for (const r of ['too-old', 'too-new', 'different-uuid', 'overflow', 'no-space', 'not-found', 'bad-argument', 'checksum', 'syncing', 'stopped', 'busy', 'internal'] as const) {
      assert.equal(reasonFromWire(reasonToWire(r)), r);
    }
    assert.equal(reasonFromWire(blockwal.v1.Reason.REASON_OK), undefined);
  });
});
