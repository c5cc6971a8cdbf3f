/**
 * Fault tests of the backup pipeline with real processes: SIGKILL of the storage agent, a proxy
 * or the archive at random moments under writes; a proxy lost and found again (failover and
 * fail-back); the archive down for a while. After each, no acknowledged (flushed) write is lost
 * and every snapshot ever answered restores exactly (sha256).
 * BLOCKWAL_KILL_ROUNDS sets the number of kill rounds (default 12: three per server).
 */
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { ProxyServiceClient, channelCredentials, clientOptions, type blockwal } from '@blockwal/proto';
import { scratchDir } from '../support/scratch.js';
import { TestCluster } from '../support/cluster.js';
import { VolumeWriter } from '../support/volume-writer.js';
import { addVolume, restoreSha, snapshot, waitState } from '../support/admin.js';

const MiB = 1024 * 1024;
const ROUNDS = Number(process.env.BLOCKWAL_KILL_ROUNDS ?? 12);

function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

async function proxyStatus(c: TestCluster, name: string): Promise<blockwal.v1.GetProxyStatusResponse> {
  const client = new ProxyServiceClient(c.address(name), channelCredentials(), clientOptions());
  try {
    return await new Promise((resolve, reject) => client.getProxyStatus({}, { deadline: Date.now() + 5000 }, (e: grpc.ServiceError | null, r?: blockwal.v1.GetProxyStatusResponse) => (e ? reject(e) : resolve(r!))));
  } finally {
    client.close();
  }
}

function spooledBytes(s: blockwal.v1.GetProxyStatusResponse): number {
  return Number(s.spoolBytes ?? 0);
}

describe('pipeline faults (real processes, SIGKILL)', function () {
  this.timeout(900_000);
  let dir: ReturnType<typeof scratchDir>;
  let c: TestCluster;
  let w: VolumeWriter | undefined;

  afterEach(async function () {
    w?.destroy();
    w = undefined;
    await c?.stopAll();
    if (this.currentTest?.state === 'failed') console.error(c.logs());
    dir?.cleanup();
  });

  it(`SIGKILL of agent, proxy and archive at random moments under writes (${ROUNDS} rounds): nothing acknowledged lost, every snapshot exact`, async function () {
    const seed = Number(process.env.BLOCKWAL_SEED ?? Date.now() % 100000);
    const rng = seeded(seed);
    dir = scratchDir();
    c = await TestCluster.create(dir.dir, { proxies: 2 });
    await c.startAll();
    const size = 16 * MiB;
    const uri = addVolume(c, 'vol0', size);
    w = new VolumeWriter(uri, size);
    await w.connect();
    await waitState(c, 'vol0', 'target');
    const taken: { gid: number; sha: string }[] = [];
    const victims = ['s0', 'p0', 'p1', 'a0'];
    for (let round = 0; round < ROUNDS; round++) {
      const victim = victims[round % victims.length]!;
      const writing = w.randomWrites(100 + Math.floor(rng() * 200), { rng });
      if (victim === 's0') {
        // The device lives in the agent's process: what was flushed must survive its death.
        await writing;
        await w.flush();
        await new Promise((r) => setTimeout(r, rng() * 300));
        w.destroy();
        await c.kill('s0');
        await c.start('s0');
        await w.connect();
    await waitState(c, 'vol0', 'target');
        assert.equal(await w.deviceSha256(), w.modelSha256(), `round ${round} (seed ${seed}): flushed writes survived the agent's SIGKILL`);
      } else {
        await new Promise((r) => setTimeout(r, rng() * 300));
        await c.kill(victim);
        await writing;
        await new Promise((r) => setTimeout(r, rng() * 500));
        await c.start(victim);
      }
      await w.flush();
      taken.push({ gid: snapshot(c, 'vol0'), sha: await w.deviceSha256() });
    }
    snapshot(c, 'vol0', true);
    for (const t of taken) assert.equal(restoreSha(c, 'vol0', t.gid, dir.file(`r${t.gid}.img`)), t.sha, `seed ${seed}: snapshot ${t.gid}`);
  });

  it('proxy failover: p0 killed, writes go on through p1; p0 back, used again', async function () {
    dir = scratchDir();
    c = await TestCluster.create(dir.dir, { proxies: 2 });
    await c.startAll();
    const size = 16 * MiB;
    w = new VolumeWriter(addVolume(c, 'vol0', size), size);
    await w.connect();
    await waitState(c, 'vol0', 'target');
    await w.randomWrites(200);
    await w.flush();
    const g0 = snapshot(c, 'vol0', true);
    const s0 = await w.deviceSha256();
    await c.kill('p0');
    await w.randomWrites(300);
    await w.flush();
    const g1 = snapshot(c, 'vol0', true);
    const s1 = await w.deviceSha256();
    const p1 = await proxyStatus(c, 'p1');
    assert.ok((p1.volumes ?? []).some((v) => v.volume === 'vol0'), 'p1 received vol0 while p0 was down');
    await c.start('p0');
    // Fail back: after proxyDownMs the agent tries p0 first again.
    await new Promise((r) => setTimeout(r, 1500));
    await w.randomWrites(300);
    await w.flush();
    const g2 = snapshot(c, 'vol0', true);
    const s2 = await w.deviceSha256();
    const p0 = await proxyStatus(c, 'p0');
    assert.ok((p0.volumes ?? []).some((v) => v.volume === 'vol0'), 'p0 is used again once it is back');
    for (const [g, s] of [
      [g0, s0],
      [g1, s1],
      [g2, s2],
    ] as const)
      assert.equal(restoreSha(c, 'vol0', g, dir.file(`r${g}.img`)), s);
  });

  it('archive down for a while: the proxy absorbs the backlog, nothing overflows, restorable once it is back', async function () {
    dir = scratchDir();
    // A 16 MiB log ring that blocks writers when full: the writes below (about 50 MB, three rings)
    // can only complete if the proxy acknowledges the log while the archive is away.
    c = await TestCluster.create(dir.dir, { storage: { logSizeBytes: 16 * MiB, overflowPolicy: 'block' } });
    await c.startAll();
    const size = 16 * MiB;
    w = new VolumeWriter(addVolume(c, 'vol0', size), size);
    await w.connect();
    await waitState(c, 'vol0', 'target');
    snapshot(c, 'vol0', true);
    await c.kill('a0');
    await w.randomWrites(1500, { maxBlocks: 16 });
    assert.ok(w.bytes > 3 * 16 * MiB, `wrote ${w.bytes} bytes: three rings`);
    await w.flush();
    const g = snapshot(c, 'vol0');
    const sha = await w.deviceSha256();
    await new Promise((r) => setTimeout(r, 1500));
    assert.ok(spooledBytes(await proxyStatus(c, 'p0')) > 0, 'the proxy holds the backlog');
    const list = c.admin('s0', ['volume', 'list', '--json']);
    const vol = (JSON.parse(list.stdout) as { state: string }[])[0]!;
    assert.notEqual(vol.state, 'overflow');
    await c.start('a0');
    snapshot(c, 'vol0', true);
    assert.equal(restoreSha(c, 'vol0', g, dir.file('r.img')), sha);
  });
});
