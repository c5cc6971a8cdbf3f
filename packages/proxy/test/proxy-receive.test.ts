import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import { RejectedError, WALBLOG_HEADER_SIZE, createRegistry, metaDiff, silentLogger } from '@blockwal/core';
import { ChunkEncoder, blockwal, diffToWire, type ProxyServiceClient } from '@blockwal/proto';
import { proxyClient, pushWlog, startProxyServer, type ProxyServer } from '@blockwal/proxy';
import { scratchDir } from '../../../test/support/scratch.js';
import { TestArchive } from '../../../test/support/proxy-test-archive.js';
import { WlogMaker, applyWdiffs, type WlogPushHeader } from '../../../test/support/proxy-wlogs.js';
import { testProxyConfig } from '../../../test/support/proxy-config.js';
import { waitFor } from '../../../test/support/proxy-wait.js';

import v1 = blockwal.v1;

/** Sends raw PushWlog messages; resolves with the answer or the error. */
function rawPush(client: ProxyServiceClient, msgs: v1.IPushWlogRequest[], opts: { cancelAfter?: boolean } = {}): Promise<{ err: Error | null; res?: v1.PushWlogResponse }> {
  return new Promise((resolve) => {
    const call = client.pushWlog((err, res) => resolve({ err, res }));
    call.on('error', () => {});
    for (const m of msgs) call.write(m);
    if (opts.cancelAfter) setTimeout(() => call.cancel(), 50);
    else call.end();
  });
}

function wireHeader(h: WlogPushHeader): v1.IPushWlogRequest {
  return { header: { volume: h.volume, deviceUuid: h.deviceUuid, pbs: h.pbs, salt: h.salt, volumeSize: h.volumeSize, diff: diffToWire(h.diff), beginLsid: h.beginLsid, endLsid: h.endLsid } };
}

function chunksOf(bytes: Uint8Array, size = 64 * 1024): { chunks: v1.IPushWlogRequest[]; end: v1.IPushWlogRequest } {
  const enc = new ChunkEncoder();
  const chunks: v1.IPushWlogRequest[] = [];
  for (let off = 0; off < bytes.length; off += size) chunks.push({ chunk: enc.chunk(bytes.subarray(off, off + size)) });
  return { chunks, end: { end: enc.end() } };
}

async function refusal(p: Promise<unknown>): Promise<RejectedError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof RejectedError, `a RejectedError, got ${String(e)}`);
    return e;
  }
  assert.fail('expected a refusal');
}

describe('proxy: receiving wlogs', function () {
  this.timeout(30_000);
  let tmp: ReturnType<typeof scratchDir>;
  let archive: TestArchive;
  let proxy: ProxyServer | null = null;
  let client: ProxyServiceClient;

  beforeEach(async () => {
    tmp = scratchDir('blockwal-proxy-');
    archive = await TestArchive.start(tmp.file('a0'));
  });
  afterEach(async () => {
    client?.close();
    await proxy?.close();
    proxy = null;
    await archive.close();
    tmp.cleanup();
  });

  async function start(over: Record<string, unknown> = {}, freeBytes?: () => number) {
    proxy = await startProxyServer(testProxyConfig(tmp.dir, [{ name: 'a0', address: archive.address }], over), { logger: silentLogger(), freeBytes, registry: createRegistry() });
    client = proxyClient(proxy.address);
  }

  /** Nothing stored, nothing left behind. */
  async function assertNothingStored(volume: string) {
    assert.equal(proxy!.store.spool('a0', volume).length, 0);
    await waitFor(() => readdirSync(path.join(tmp.dir, 'proxy', 'tmp')).length === 0, 'tmp/ is empty');
  }

  it('refuses with no-space when the quota would be passed, loses nothing, accepts again once the spool drains', async () => {
    const m = new WlogMaker('v');
    archive.addVolume('v', m.uuid, 0);
    await archive.down();
    const h0 = m.make(tmp.file('w0.wlog'), { writes: 60 });
    const h1 = m.make(tmp.file('w1.wlog'), { writes: 60 });
    const announced = (h: WlogPushHeader) => WALBLOG_HEADER_SIZE + (h.endLsid - h.beginLsid + 1) * h.pbs;
    await start({ quotaBytes: announced(h0) + Math.floor(announced(h1) / 4) });
    await pushWlog(client, h0, tmp.file('w0.wlog'));
    const e = await refusal(pushWlog(client, h1, tmp.file('w1.wlog')));
    assert.equal(e.reason, 'no-space');
    assert.equal(e.policy, 'retry');
    assert.match(e.message, /quota/);
    assert.equal(proxy!.store.spool('a0', 'v').length, 1);
    await archive.up();
    await waitFor(() => proxy!.store.totalBytes === 0, 'spool drains');
    await pushWlog(client, h1, tmp.file('w1.wlog'));
    await waitFor(() => archive.latest('v').gidB === 2, 'all forwarded');
    assert.equal(applyWdiffs(archive.stored('v').map((s) => s.file), tmp.file('v.img'), m.volumeSize), m.sha256());
  });

  it('refuses with no-space when free disk would go under minFreeBytes', async () => {
    const m = new WlogMaker('v');
    await start({ minFreeBytes: 1024 * 1024 }, () => 1024 * 1024 + 10);
    const e = await refusal(pushWlog(client, m.make(tmp.file('w.wlog')), tmp.file('w.wlog')));
    assert.equal(e.reason, 'no-space');
    assert.match(e.message, /minFreeBytes/);
    await assertNothingStored('v');
  });

  it('refuses bad headers with bad-argument (name, dirty diff, lsid range, pbs, size)', async () => {
    const m = new WlogMaker('v');
    await start();
    const h = m.make(tmp.file('w.wlog'));
    const cases: [string, WlogPushHeader][] = [
      ['volume name', { ...h, volume: '../etc' }],
      ['dirty diff', { ...h, diff: metaDiff({ gidB: 0, gidE: 1 }, { gidB: 2, gidE: 2 }) }],
      ['lsid range', { ...h, endLsid: h.beginLsid }],
      ['pbs', { ...h, pbs: 1000 }],
      ['volume size', { ...h, volumeSize: 1000 }],
    ];
    for (const [what, bad] of cases) {
      const e = await refusal(pushWlog(client, bad, tmp.file('w.wlog')));
      assert.equal(e.reason, 'bad-argument', what);
    }
    await assertNothingStored('v');
  });

  it('refuses a wlog whose logpack checksum is bad, and stores nothing', async () => {
    const m = new WlogMaker('v');
    await start();
    const f = tmp.file('w.wlog');
    const h = m.make(f, { writes: 30 });
    const b = readFileSync(f);
    b[WALBLOG_HEADER_SIZE + 40] ^= 0xff; // inside the first logpack header
    writeFileSync(f, b);
    const e = await refusal(pushWlog(client, h, f));
    assert.equal(e.reason, 'bad-argument');
    assert.match(e.message, /logpack/);
    await assertNothingStored('v');
  });

  it('refuses a wlog whose record data checksum is bad (checksum)', async () => {
    const m = new WlogMaker('v');
    await start();
    const f = tmp.file('w.wlog');
    const h = m.make(f, { writes: 30 });
    const b = readFileSync(f);
    b[b.length - 2 * h.pbs - 100] ^= 0x01; // record data of the last pack
    writeFileSync(f, b);
    const e = await refusal(pushWlog(client, h, f));
    assert.equal(e.reason, 'checksum');
    await assertNothingStored('v');
  });

  it('refuses a chunk with a bad CRC (checksum)', async () => {
    const m = new WlogMaker('v');
    await start();
    const f = tmp.file('w.wlog');
    const h = m.make(f, { writes: 30 });
    const { chunks, end } = chunksOf(readFileSync(f));
    const c = chunks[1]!.chunk!;
    chunks[1] = { chunk: { ...c, crc32: (crc32(c.data!) ^ 1) >>> 0 } };
    const r = await rawPush(client, [wireHeader(h), ...chunks, end]);
    assert.ok(r.err);
    assert.equal((r.err as { metadata?: { get(k: string): unknown[] } }).metadata?.get('blockwal-reason')[0], 'checksum');
    await assertNothingStored('v');
  });

  it('refuses a wlog of another uuid or salt than its header', async () => {
    const m = new WlogMaker('v');
    await start();
    const f = tmp.file('w.wlog');
    const h = m.make(f);
    const other = Uint8Array.from(h.deviceUuid);
    other[0] ^= 1;
    let e = await refusal(pushWlog(client, { ...h, deviceUuid: other }, f));
    assert.equal(e.reason, 'bad-argument');
    assert.match(e.message, /uuid/);
    e = await refusal(pushWlog(client, { ...h, salt: (h.salt + 1) >>> 0 }, f));
    assert.equal(e.reason, 'bad-argument');
    assert.match(e.message, /salt/);
    e = await refusal(pushWlog(client, { ...h, endLsid: h.endLsid + 1 }, f));
    assert.match(e.message, /ends at lsid/);
    await assertNothingStored('v');
  });

  it('leaves nothing behind when the stream is cut mid-way (cancelled, or ended early)', async () => {
    const m = new WlogMaker('v');
    await start();
    const f = tmp.file('w.wlog');
    const h = m.make(f, { writes: 80 });
    const bytes = readFileSync(f);
    const half = chunksOf(bytes.subarray(0, Math.floor(bytes.length / 2)));
    const cut = await rawPush(client, [wireHeader(h), ...half.chunks], { cancelAfter: true });
    assert.ok(cut.err);
    await assertNothingStored('v');
    const early = await rawPush(client, [wireHeader(h), ...half.chunks, half.end]);
    assert.ok(early.err);
    assert.match(early.err.message, /end of input|ends at lsid/);
    const noEnd = await rawPush(client, [wireHeader(h), ...half.chunks]);
    assert.match(noEnd.err!.message, /without its end/);
    await assertNothingStored('v');
    // The volume is free again: the whole wlog goes through.
    await pushWlog(client, h, f);
    assert.equal(proxy!.store.spool('a0', 'v').length, 1);
  });

  it('refuses a second wlog of a volume being received with busy', async () => {
    const m = new WlogMaker('v');
    await start();
    const f = tmp.file('w.wlog');
    const h = m.make(f, { writes: 40 });
    const { chunks } = chunksOf(readFileSync(f));
    const slow = client.pushWlog(() => {});
    slow.on('error', () => {});
    slow.write(wireHeader(h));
    slow.write(chunks[0]!);
    await waitFor(() => readdirSync(path.join(tmp.dir, 'proxy', 'tmp')).length > 0, 'first receive started');
    const e = await refusal(pushWlog(client, h, f));
    assert.equal(e.reason, 'busy');
    slow.cancel();
    await assertNothingStored('v');
  });
});
