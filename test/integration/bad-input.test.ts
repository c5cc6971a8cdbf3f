/**
 * Bad input over gRPC against real processes (`blockwal storage|proxy|archive` on unix sockets):
 * unknown volumes, bad volume names ('../x', '', '-x', 'a/b', 65 characters, 100 000 characters),
 * chunks over the 4 MiB limit (and over the 16 MiB message limit), chunks and streams with a wrong
 * CRC, damaged wlogs and wdiffs, bad sizes, unknown gids, bad restore paths. Every call must end
 * with a typed answer (the gRPC status and the reject reason of docs/pipeline.md, in a response or
 * in the `blockwal-reason` trailer) and a message naming what was wrong; after every case the
 * data directories of the three servers hold exactly the same files and bytes, the servers still
 * run, and an existing snapshot still restores exactly.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { metaDiff, WALBLOG_HEADER_SIZE, WDIFF_FILE_HEADER_SIZE } from '@blockwal/core';
import { blockwal, crc32, diffToWire, MAX_CHUNK_BYTES, type ArchiveServiceClient, type ProxyServiceClient, type StorageServiceClient } from '@blockwal/proto';
import { listArchiveVolumes, listSnapshots } from '@blockwal/archive';
import { getProxyStatus, proxyClient } from '@blockwal/proxy';
import { StorageClient } from '@blockwal/storage-agent';
import { TestCluster } from '../support/cluster.js';
import { addVolume, restoreSha, snapshot, waitState } from '../support/admin.js';
import { scratchDir } from '../support/scratch.js';
import { VolumeWriter } from '../support/volume-writer.js';
import { WlogMaker } from '../support/proxy-wlogs.js';
import { writeSortedWdiff } from '../../packages/archive/test/support/archive-world.js';
import {
  archiveRaw,
  dirDigest,
  proxyRaw,
  rawFullSync,
  rawPushDiff,
  rawPushWlog,
  rawReadSnapshot,
  storageRaw,
  streamOf,
  unaryAnswer,
  waitUntil,
  wlogHeaderToWire,
  type Answer,
} from '../support/grpc-raw.js';

import v1 = blockwal.v1;

const MiB = 1024 * 1024;
const VOL = 'vol0';
const SIZE = 8 * MiB;
const S = grpc.status;
/** A name longer than any gRPC trailer may carry if echoed whole. */
const HUGE = 'x'.repeat(100_000);
const BAD_NAMES = ['', '../x', 'a/b', '-x', '.x', 'a b', 'vol\0', 'x'.repeat(65), HUGE];
/** A message that names what was wrong must still be short enough to read (and to travel). */
const MAX_MESSAGE = 1000;

function expectAnswer(a: Answer, code: grpc.status, reason: string, message: RegExp, what: string): void {
  const got = `${what}: got ${S[a.code]} ${a.reason} '${a.message.slice(0, 300)}'`;
  assert.equal(a.code, code, got);
  assert.equal(a.reason, reason, got);
  assert.match(a.message, message, got);
  assert.ok(a.message.length <= MAX_MESSAGE, `${what}: a message of ${a.message.length} characters`);
}

/** A PushDiff refusal given as the verdict (a response before any data). */
function expectVerdict(a: Answer, reason: string, message: RegExp, what: string): void {
  expectAnswer(a, S.OK, reason, message, what);
  assert.equal(a.verdict, true, `${what}: refused in the verdict`);
}

/** Retries while a server still holds the volume for a call that just failed (released asynchronously). */
async function notBusy(f: () => Promise<Answer>): Promise<Answer> {
  for (let i = 0; ; i++) {
    const a = await f();
    if (a.reason !== 'busy' || i >= 50) return a;
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('bad input over gRPC: a clear error, nothing stored changed (real processes)', function () {
  this.timeout(120_000);
  const dir = scratchDir('blockwal-badinput-');
  let c: TestCluster;
  let archive: ArchiveServiceClient;
  let proxy: ProxyServiceClient;
  let storage: StorageServiceClient;
  let snapGid = 0;
  let snapSha = '';
  let latest = 0;
  let uuid = new Uint8Array(16);
  let baseline: Record<string, Record<string, string>>;
  let failed = false;
  const servers = ['s0', 'p0', 'a0'];
  const digestAll = () => Object.fromEntries(servers.map((n) => [n, dirDigest(path.join(dir.dir, 'data', n))]));
  /** The digest once the directories stopped changing (the same twice, half a second apart). */
  const settledDigest = async () => {
    let prev = digestAll();
    await waitUntil(() => {
      const d = digestAll();
      const same = JSON.stringify(d) === JSON.stringify(prev);
      prev = d;
      return same;
    }, 'the data directories settle', 30_000, 500);
    return prev;
  };
  const now = () => Math.floor(Date.now() / 1000);

  before(async () => {
    // No background merging at the archive: its directory changes only when it is sent something.
    c = await TestCluster.create(dir.dir, { archive: { mergeAfterMs: 0 } });
    await c.startAll();
    const w = new VolumeWriter(addVolume(c, VOL, SIZE), SIZE);
    await waitState(c, VOL, 'target'); // the full backup is done: snapshots are taken from here
    await w.connect();
    await w.randomWrites(100);
    await w.flush();
    snapGid = snapshot(c, VOL, true);
    snapSha = await w.deviceSha256();
    await w.close();
    const p = proxyClient(c.address('p0'));
    const st = new StorageClient(c.address('s0'));
    try {
      await waitUntil(async () => {
        const v = (await st.listVolumes())[0]!;
        const sp = await getProxyStatus(p);
        return (v.unsentBytes === 0 && sp.spoolBytes === 0) || `unsent ${v.unsentBytes}, spooled ${sp.spoolBytes}`;
      }, 'the pipeline is idle');
    } finally {
      p.close();
      st.close();
    }
    archive = archiveRaw(c.address('a0'));
    proxy = proxyRaw(c.address('p0'));
    storage = storageRaw(c.address('s0'));
    const v = (await listArchiveVolumes(archive)).find((x) => x.volume === VOL)!;
    uuid = Uint8Array.from(Buffer.from(v.deviceUuid, 'hex'));
    latest = v.latest!.gidE;
    assert.equal(v.latest!.gidB, latest);
    // The directories stay as they are while nobody sends anything.
    const d0 = await settledDigest();
    await new Promise((r) => setTimeout(r, 1000));
    assert.deepEqual(digestAll(), d0, 'the data directories change on their own');
  });

  beforeEach(() => {
    baseline = digestAll();
  });

  afterEach(function () {
    if (this.currentTest?.state === 'failed') failed = true;
    try {
      for (const n of servers) assert.ok(c.procs.get(n)!.running, `${n} still runs`);
      assert.deepEqual(digestAll(), baseline, 'stored state changed');
    } catch (e) {
      failed = true;
      throw e;
    }
  });

  after(async function () {
    archive?.close();
    proxy?.close();
    storage?.close();
    await c?.stopAll();
    if (failed && c) console.error(c.logs());
    dir.cleanup();
  });

  describe('proxy PushWlog', () => {
    let h: ReturnType<WlogMaker['make']>;
    let bytes: Buffer;
    // (A receive the proxy refused may hold the volume for a moment: `busy` is retried.)
    const push = (header: v1.IPushWlogHeader, body: v1.IPushWlogRequest[] = streamOf(bytes)) => notBusy(() => rawPushWlog(proxy, [{ header }, ...body]));

    before(() => {
      const m = new WlogMaker(VOL, SIZE, 4242, 4096, now());
      h = m.make(dir.file('p.wlog'), { writes: 30 });
      bytes = readFileSync(dir.file('p.wlog'));
    });

    it('bad volume names: INVALID_ARGUMENT bad-argument naming the name', async () => {
      for (const name of BAD_NAMES) {
        expectAnswer(await push({ ...wlogHeaderToWire(h), volume: name }), S.INVALID_ARGUMENT, 'bad-argument', /bad volume name .*must match/, `name ${JSON.stringify(name.slice(0, 70))}`);
      }
    });

    it('bad sizes and header fields: INVALID_ARGUMENT bad-argument naming the field', async () => {
      const hw = wlogHeaderToWire(h);
      const cases: [v1.IPushWlogHeader, RegExp][] = [
        [{ ...hw, volumeSize: 0 }, /bad volume size 0/],
        [{ ...hw, volumeSize: 1000 }, /bad volume size 1000: a positive multiple of 512/],
        [{ ...hw, pbs: 1000 }, /bad physical block size 1000/],
        [{ ...hw, deviceUuid: new Uint8Array(3) }, /device uuid must be 16 bytes, got 3/],
        [{ ...hw, endLsid: h.beginLsid }, /bad lsid range/],
        [{ ...hw, diff: diffToWire(metaDiff({ gidB: 0, gidE: 1 }, { gidB: 2, gidE: 2 })) }, /must be clean/],
        [{ ...hw, diff: { snapB: { gidB: 3, gidE: 3 }, snapE: { gidB: 1, gidE: 1 } } }, /diff/],
      ];
      for (const [header, msg] of cases) expectAnswer(await push(header), S.INVALID_ARGUMENT, 'bad-argument', msg, msg.source);
      // The wlog does not match its header: another uuid, records past the announced volume size.
      const other = Uint8Array.from(h.deviceUuid);
      other[0]! ^= 1;
      expectAnswer(await push({ ...hw, deviceUuid: other }), S.INVALID_ARGUMENT, 'bad-argument', /device uuid .* is not the header's/, 'uuid');
      expectAnswer(await push({ ...hw, volumeSize: 64 * 1024 }), S.INVALID_ARGUMENT, 'bad-argument', /beyond the volume size/, 'record past the volume');
    });

    it('a chunk over the 4 MiB limit: INVALID_ARGUMENT bad-argument; over the 16 MiB message limit: RESOURCE_EXHAUSTED', async () => {
      const header = { ...wlogHeaderToWire(h), endLsid: h.beginLsid + 8192 };
      const big = new Uint8Array(MAX_CHUNK_BYTES + 4096);
      expectAnswer(await push(header, [{ chunk: { offset: 0, data: big, crc32: crc32(big) } }]), S.INVALID_ARGUMENT, 'bad-argument', /4198400 bytes, more than the limit 4194304/, 'oversize chunk');
      const huge = new Uint8Array(17 * MiB);
      const a = await push(header, [{ chunk: { offset: 0, data: huge, crc32: crc32(huge) } }]);
      expectAnswer(a, S.RESOURCE_EXHAUSTED, '', /larger than max/, 'a message over 16 MiB');
    });

    it('a wrong chunk CRC, stream CRC or length: DATA_LOSS checksum / INVALID_ARGUMENT, naming the offset', async () => {
      const body = streamOf(bytes, 64 * 1024);
      const c1 = body[1]!.chunk!;
      const badChunk = [body[0]!, { chunk: { ...c1, crc32: (c1.crc32! ^ 1) >>> 0 } }, ...body.slice(2)];
      expectAnswer(await push(wlogHeaderToWire(h), badChunk), S.DATA_LOSS, 'checksum', /chunk at offset 65536 .* has CRC-32 0x[0-9a-f]{8}, the sender said/, 'chunk CRC');
      const end = body.at(-1)!.end!;
      expectAnswer(await push(wlogHeaderToWire(h), [...body.slice(0, -1), { end: { ...end, crc32: (end.crc32! + 1) >>> 0 } }]), S.DATA_LOSS, 'checksum', /stream CRC-32/, 'stream CRC');
      expectAnswer(await push(wlogHeaderToWire(h), [...body.slice(0, -1), { end: { ...end, length: end.length! + 1 } }]), S.INVALID_ARGUMENT, 'bad-argument', /stream ended at \d+ bytes, the sender said/, 'stream length');
    });

    it('a damaged wlog (record data, logpack header): DATA_LOSS checksum / INVALID_ARGUMENT', async () => {
      const data = Buffer.from(bytes);
      data[data.length - 2 * h.pbs - 100]! ^= 0x01; // record data of the last pack
      expectAnswer(await push(wlogHeaderToWire(h), streamOf(data)), S.DATA_LOSS, 'checksum', /checksum|CRC/i, 'record data');
      const header = Buffer.from(bytes);
      header[WALBLOG_HEADER_SIZE + 40]! ^= 0xff; // the first logpack header
      expectAnswer(await push(wlogHeaderToWire(h), streamOf(header)), S.INVALID_ARGUMENT, 'bad-argument', /logpack|ends at lsid/, 'logpack header');
    });

    it('a broken stream (no header first, no end, two headers): INVALID_ARGUMENT bad-argument', async () => {
      const body = streamOf(bytes);
      expectAnswer(await rawPushWlog(proxy, body), S.INVALID_ARGUMENT, 'bad-argument', /must start with its header/, 'no header');
      expectAnswer(await push(wlogHeaderToWire(h), body.slice(0, -1)), S.INVALID_ARGUMENT, 'bad-argument', /without its end/, 'no end');
      expectAnswer(await push(wlogHeaderToWire(h), [body[0]!, { header: wlogHeaderToWire(h) }]), S.INVALID_ARGUMENT, 'bad-argument', /second header/, 'two headers');
    });
  });

  describe('archive PushDiff', () => {
    const header = (over: v1.IPushDiffHeader = {}): v1.IPushDiffHeader => ({
      volume: VOL,
      deviceUuid: uuid,
      diff: diffToWire(metaDiff(latest, latest + 1, { isMergeable: false, timestamp: now() })),
      volumeSize: SIZE,
      ...over,
    });
    let wdiff: Buffer;

    before(() => {
      const f = dir.file('a.wdiff');
      const data = Buffer.from(randomBytes(64 * 512));
      writeSortedWdiff(f, [{ address: 8, blocks: 64, kind: 'normal', data }, { address: 1024, blocks: 16, kind: 'zero' }], uuid);
      wdiff = readFileSync(f);
    });

    it('unknown volume, bad names, sizes, uuids, diffs: refused in the verdict, naming what', async () => {
      expectVerdict(await rawPushDiff(archive, header({ volume: 'ghost' }), []), 'not-found', /volume ghost is not archived here/, 'unknown volume');
      for (const name of BAD_NAMES) expectVerdict(await rawPushDiff(archive, header({ volume: name }), []), 'bad-argument', /volume name .*must match/, `name ${JSON.stringify(name.slice(0, 70))}`);
      expectVerdict(await rawPushDiff(archive, header({ volumeSize: 2 * SIZE }), []), 'bad-argument', /for a volume of 16777216 bytes, the archive's is 8388608 bytes/, 'volume size');
      expectVerdict(await rawPushDiff(archive, header({ deviceUuid: new Uint8Array(3) }), []), 'bad-argument', /device uuid must be 16 bytes, got 3/, 'uuid length');
      const other = Uint8Array.from(uuid);
      other[0]! ^= 1;
      expectVerdict(await rawPushDiff(archive, header({ deviceUuid: other }), []), 'different-uuid', /the archive's lineage is/, 'another lineage');
      expectVerdict(await rawPushDiff(archive, header({ diff: { snapB: { gidB: 5, gidE: 5 }, snapE: { gidB: 1, gidE: 1 } } }), []), 'bad-argument', /diff/, 'broken diff');
      expectVerdict(await rawPushDiff(archive, header({ diff: diffToWire(metaDiff(latest + 1, latest + 2, { timestamp: now() })) }), []), 'too-new', /too new/, 'a gap');
    });

    it('after an OK verdict: oversize chunk, wrong CRCs, damaged wdiff, records past the volume, no end: a typed error status', async () => {
      const enc = streamOf(wdiff, 4096);
      const big = new Uint8Array(MAX_CHUNK_BYTES + 512);
      const cases: [v1.IPushDiffRequest[], grpc.status, string, RegExp, string][] = [
        [[{ chunk: { offset: 0, data: big, crc32: crc32(big) } }], S.INVALID_ARGUMENT, 'bad-argument', /more than the limit 4194304/, 'oversize chunk'],
        [[{ chunk: { ...enc[0]!.chunk!, crc32: (enc[0]!.chunk!.crc32! ^ 1) >>> 0 } }, ...enc.slice(1)], S.DATA_LOSS, 'checksum', /chunk at offset 0 \(4096 bytes\) has CRC-32/, 'chunk CRC'],
        [[...enc.slice(0, -1), { end: { ...enc.at(-1)!.end!, crc32: 7 } }], S.DATA_LOSS, 'checksum', /stream CRC-32/, 'stream CRC'],
        [enc.slice(0, -1), S.INVALID_ARGUMENT, 'bad-argument', /ended without its end message/, 'no end'],
        [[enc[0]!, { header: header() }], S.INVALID_ARGUMENT, 'bad-argument', /second header/, 'two headers'],
      ];
      const damaged = Buffer.from(wdiff);
      damaged[WDIFF_FILE_HEADER_SIZE + 20]! ^= 0x40; // in the first pack header
      cases.push([streamOf(damaged), S.DATA_LOSS, 'checksum', /pack 0/, 'damaged pack']);
      const past = dir.file('past.wdiff');
      writeSortedWdiff(past, [{ address: SIZE / 512 - 4, blocks: 8, kind: 'zero' }], uuid);
      cases.push([streamOf(readFileSync(past)), S.INVALID_ARGUMENT, 'bad-argument', /past the volume size/, 'records past the volume']);
      cases.push([streamOf(new Uint8Array(5000).fill(3)), S.INVALID_ARGUMENT, 'bad-argument', /./, 'garbage']);
      for (const [body, code, reason, msg, what] of cases) {
        const a = await notBusy(() => rawPushDiff(archive, header(), body));
        if (what === 'garbage' && a.code === S.DATA_LOSS) expectAnswer(a, S.DATA_LOSS, 'checksum', /./, what);
        else expectAnswer(a, code, reason, msg, what);
      }
      const huge = new Uint8Array(17 * MiB);
      const a = await notBusy(() => rawPushDiff(archive, header(), [{ chunk: { offset: 0, data: huge, crc32: crc32(huge) } }]));
      expectAnswer(a, S.RESOURCE_EXHAUSTED, '', /larger than max/, 'a message over 16 MiB');
      // The volume is free again and still at its latest snapshot.
      const ok = await notBusy(() => rawPushDiff(archive, header({ diff: diffToWire(metaDiff(latest - 1, latest, { timestamp: now() })) }), []));
      expectVerdict(ok, 'too-old', /too old/, 'a diff already there');
      assert.deepEqual(ok.latest, { gidB: latest, gidE: latest });
    });
  });

  describe('archive FullSync', () => {
    const header = (over: v1.IFullSyncHeader = {}): v1.IFullSyncHeader => ({ volume: 'fresh', deviceUuid: randomBytes(16), volumeSize: MiB, gidB: 0, chunkSize: 64 * 1024, ...over });

    it('bad names, sizes, chunk size, uuid, gid, no header: INVALID_ARGUMENT bad-argument before anything is created', async () => {
      for (const name of BAD_NAMES) expectAnswer(await rawFullSync(archive, header({ volume: name }), []), S.INVALID_ARGUMENT, 'bad-argument', /volume name .*must match/, `name ${JSON.stringify(name.slice(0, 70))}`);
      for (const volume of [VOL, 'fresh']) {
        expectAnswer(await rawFullSync(archive, header({ volume, volumeSize: 1000 }), []), S.INVALID_ARGUMENT, 'bad-argument', /volume size must be a positive multiple of 512 bytes, got 1000/, `${volume} size`);
        expectAnswer(await rawFullSync(archive, header({ volume, volumeSize: 0 }), []), S.INVALID_ARGUMENT, 'bad-argument', /got 0/, `${volume} size 0`);
        expectAnswer(await rawFullSync(archive, header({ volume, chunkSize: 8 * MiB }), []), S.INVALID_ARGUMENT, 'bad-argument', /chunk size 8388608 is over the limit 4194304/, `${volume} chunk size`);
        expectAnswer(await rawFullSync(archive, header({ volume, deviceUuid: new Uint8Array(0) }), []), S.INVALID_ARGUMENT, 'bad-argument', /device uuid must be 16 bytes, got 0/, `${volume} uuid`);
        expectAnswer(await rawFullSync(archive, header({ volume, gidB: 2 ** 60 }), []), S.INVALID_ARGUMENT, 'bad-argument', /gid_b must be a gid/, `${volume} gid`);
      }
      const call = archive.fullSync();
      const answer = new Promise<Answer>((resolve) => {
        call.on('error', (e) => resolve({ code: (e as grpc.ServiceError).code, reason: (e as grpc.ServiceError).metadata?.get('blockwal-reason')[0] as string, message: (e as grpc.ServiceError).details }));
        call.on('data', () => resolve({ code: S.OK, reason: 'ok', message: '' }));
      });
      call.write({ data: { offset: 0, data: new Uint8Array(512), length: 512, crc32: 0 } });
      expectAnswer(await answer, S.INVALID_ARGUMENT, 'bad-argument', /must start with a header/, 'data first');
      call.cancel();
      assert.deepEqual((await listArchiveVolumes(archive)).map((v) => v.volume), [VOL], 'no volume was created');
    });

    it('a valid header then bad data (CRC, offset, size): a typed error; the new volume waits for a copy, the archived one is untouched', async () => {
      const mk = (b: Uint8Array) => ({ offset: 0, data: b, length: b.length, crc32: crc32(b) });
      const ones = new Uint8Array(4096).fill(1);
      const cases: [v1.IFullSyncData, grpc.status, string, RegExp][] = [
        [{ ...mk(ones), crc32: 1 }, S.DATA_LOSS, 'checksum', /full sync data at offset 0 \(4096 bytes\) has CRC-32 0x[0-9a-f]{8}, the sender said 0x00000001/],
        [{ offset: 4096, data: new Uint8Array(0), length: 4096, crc32: 0 }, S.INVALID_ARGUMENT, 'bad-argument', /full sync data at offset 4096, expected 0/],
        [{ offset: 0, data: new Uint8Array(0), length: MAX_CHUNK_BYTES + 512, crc32: 0 }, S.INVALID_ARGUMENT, 'bad-argument', /more than the limit 4194304/],
        [mk(new Uint8Array(MAX_CHUNK_BYTES + 512).fill(2)), S.INVALID_ARGUMENT, 'bad-argument', /more than the limit 4194304/],
        [mk(new Uint8Array(100).fill(1)), S.INVALID_ARGUMENT, 'bad-argument', /multiple of 512 bytes, got 100/],
        [{ offset: 0, data: new Uint8Array(0), length: 4096, crc32: 5 }, S.DATA_LOSS, 'checksum', /elided zero data at offset 0/],
        [{ offset: 0, data: new Uint8Array(0), length: 2 * MiB, crc32: 0 }, S.INVALID_ARGUMENT, 'bad-argument', /past|beyond|size/],
      ];
      const uuidF = randomBytes(16);
      for (const [data, code, reason, msg] of cases) {
        const a = await notBusy(() => rawFullSync(archive, header({ deviceUuid: uuidF }), [{ data }]));
        expectAnswer(a, code, reason, msg, msg.source);
      }
      const vols = await listArchiveVolumes(archive);
      assert.deepEqual(vols.map((v) => [v.volume, v.state, v.base]), [['fresh', 'sync-ready', ''], [VOL, 'archived', vols[1]!.base]]);
      expectAnswer(await rawReadSnapshot(archive, { volume: 'fresh', gid: 0 }), S.NOT_FOUND, 'not-found', /no base image yet/, 'read of a volume without a base');
      assert.deepEqual(await listSnapshots(archive, 'fresh'), []);
      // Only the new volume's directory appeared: the rest is as it was.
      const after = digestAll();
      const fresh = Object.keys(after['a0']!).filter((k) => k.startsWith('volumes/fresh'));
      assert.ok(fresh.length > 0);
      for (const k of fresh) delete after['a0']![k];
      assert.deepEqual(after, baseline);
      baseline = digestAll(); // the new volume is there on purpose
    });
  });

  describe('archive ReadSnapshot, RestoreSnapshot, ListSnapshots', () => {
    it('unknown volume or gid: NOT_FOUND not-found naming it (and the restorable gids)', async () => {
      const gone = latest + 1000;
      expectAnswer(await rawReadSnapshot(archive, { volume: 'ghost', gid: snapGid }), S.NOT_FOUND, 'not-found', /volume ghost is not archived here/, 'read: unknown volume');
      expectAnswer(await rawReadSnapshot(archive, { volume: VOL, gid: gone }), S.NOT_FOUND, 'not-found', new RegExp(`gid ${gone} is not restorable; restorable gids: .*\\b${snapGid}\\b`), 'read: unknown gid');
      expectAnswer(await unaryAnswer((cb) => archive.restoreSnapshot({ volume: 'ghost', gid: snapGid, path: 'r.img' }, cb)), S.NOT_FOUND, 'not-found', /volume ghost is not archived here/, 'restore: unknown volume');
      expectAnswer(await unaryAnswer((cb) => archive.restoreSnapshot({ volume: VOL, gid: gone, path: 'r.img' }, cb)), S.NOT_FOUND, 'not-found', new RegExp(`gid ${gone} is not restorable`), 'restore: unknown gid');
      expectAnswer(await unaryAnswer((cb) => archive.listSnapshots({ volume: 'ghost' }, cb)), S.NOT_FOUND, 'not-found', /volume ghost is not archived here/, 'list: unknown volume');
    });

    it('bad names, gids, chunk sizes and restore paths: INVALID_ARGUMENT bad-argument naming what', async () => {
      for (const name of BAD_NAMES) {
        const what = `name ${JSON.stringify(name.slice(0, 70))}`;
        expectAnswer(await rawReadSnapshot(archive, { volume: name, gid: snapGid }), S.INVALID_ARGUMENT, 'bad-argument', /volume name .*must match/, `read: ${what}`);
        expectAnswer(await unaryAnswer((cb) => archive.restoreSnapshot({ volume: name, gid: snapGid, path: 'r.img' }, cb)), S.INVALID_ARGUMENT, 'bad-argument', /volume name .*must match/, `restore: ${what}`);
        expectAnswer(await unaryAnswer((cb) => archive.listSnapshots({ volume: name }, cb)), S.INVALID_ARGUMENT, 'bad-argument', /volume name .*must match/, `list: ${what}`);
      }
      expectAnswer(await rawReadSnapshot(archive, { volume: VOL, gid: snapGid, chunkSize: 8 * MiB }), S.INVALID_ARGUMENT, 'bad-argument', /chunk size 8388608 is over the limit 4194304/, 'read: chunk size');
      expectAnswer(await rawReadSnapshot(archive, { volume: VOL, gid: 2 ** 60 }), S.INVALID_ARGUMENT, 'bad-argument', /gid must be an integer/, 'read: gid');
      const paths: [string, RegExp][] = [
        ['../escape.img', /is not under the restore directory/],
        ['/etc/blockwal-test.img', /is not under the restore directory/],
        ['', /is empty/],
        ['.', /not under the restore directory|already exists/],
        ['missing-dir/r.img', /directory that does not exist/],
        [`${'y'.repeat(300)}.img`, /has a file name of 304 bytes, more than 233/],
        [`d/${HUGE}`, /^restore path "d\/x{78}"… \(100002 characters\) has a file name of 100000 bytes/],
      ];
      for (const [p, msg] of paths) {
        expectAnswer(await unaryAnswer((cb) => archive.restoreSnapshot({ volume: VOL, gid: snapGid, path: p }, cb)), S.INVALID_ARGUMENT, 'bad-argument', msg, `restore to '${p.slice(0, 70)}'`);
      }
    });
  });

  describe('storage agent control RPCs', () => {
    const call = <T>(f: (cb: (e: grpc.ServiceError | null, r?: T) => void) => void) => unaryAnswer(f);

    it('AddVolume: bad names and sizes, an existing volume: INVALID_ARGUMENT bad-argument naming what', async () => {
      for (const name of BAD_NAMES) {
        expectAnswer(await call((cb) => storage.addVolume({ volume: name, size: MiB }, cb)), S.INVALID_ARGUMENT, 'bad-argument', /bad volume name .*must match/, `name ${JSON.stringify(name.slice(0, 70))}`);
      }
      for (const size of [0, 1000, 4097, MiB + 512, 2 ** 60]) {
        expectAnswer(await call((cb) => storage.addVolume({ volume: 'new1', size }, cb)), S.INVALID_ARGUMENT, 'bad-argument', new RegExp(`bad size ${size} for volume new1: it must be a positive multiple of 4096`), `size ${size}`);
      }
      expectAnswer(await call((cb) => storage.addVolume({ volume: VOL, size: SIZE }, cb)), S.INVALID_ARGUMENT, 'bad-argument', /volume vol0 already exists/, 'existing volume');
    });

    it('TakeSnapshot, StartVolume, StopVolume, FullBackup: unknown volume NOT_FOUND, bad name INVALID_ARGUMENT', async () => {
      const rpcs: [string, (volume: string) => Promise<Answer>][] = [
        ['TakeSnapshot', (volume) => call((cb) => storage.takeSnapshot({ volume, wait: true, timeoutSeconds: 1 }, cb))],
        ['StartVolume', (volume) => call((cb) => storage.startVolume({ volume }, cb))],
        ['StopVolume', (volume) => call((cb) => storage.stopVolume({ volume }, cb))],
        ['FullBackup', (volume) => call((cb) => storage.fullBackup({ volume }, cb))],
      ];
      for (const [rpc, f] of rpcs) {
        expectAnswer(await f('ghost'), S.NOT_FOUND, 'not-found', /no volume ghost on this storage agent/, `${rpc} ghost`);
        for (const name of BAD_NAMES) expectAnswer(await f(name), S.INVALID_ARGUMENT, 'bad-argument', /bad volume name .*must match/, `${rpc} ${JSON.stringify(name.slice(0, 70))}`);
      }
      const list = await call<v1.ListStorageVolumesResponse>((cb) => storage.listStorageVolumes({}, cb));
      assert.deepEqual(list.response!.volumes.map((v) => [v.volume, v.state]), [[VOL, 'target']]);
    });
  });

  describe('afterwards', () => {
    it('a wlog of a volume no archive knows: the proxy takes it (it knows no volumes), the archive answers not-found, the proxy keeps it and reports why', async () => {
      const m = new WlogMaker('ghost', MiB, 99, 4096, now());
      const f = dir.file('ghost.wlog');
      const h = m.make(f, { writes: 10 });
      const a = await rawPushWlog(proxy, [{ header: wlogHeaderToWire(h) }, ...streamOf(readFileSync(f))]);
      expectAnswer(a, S.OK, 'ok', /^$/, 'ghost wlog');
      const p = proxyClient(c.address('p0'));
      try {
        await waitUntil(async () => {
          const sp = (await getProxyStatus(p)).volumes.find((v) => v.volume === 'ghost')?.spools[0];
          return /^not-found: .*volume ghost is not archived here/.test(sp?.lastError ?? '') || `spool ${JSON.stringify(sp)}`;
        }, 'the proxy reports not-found for ghost');
      } finally {
        p.close();
      }
      assert.deepEqual((await listArchiveVolumes(archive)).map((v) => v.volume), ['fresh', VOL], 'the archive created nothing');
      const after = digestAll();
      assert.deepEqual(after['a0'], baseline['a0']);
      assert.deepEqual(after['s0'], baseline['s0']);
      assert.ok(Object.keys(after['p0']!).some((k) => k.includes('/ghost/')), 'the proxy keeps the diff');
      baseline = after;
    });

    it('the existing snapshot still restores exactly, and the volume still takes new diffs', async () => {
      const listed = (await listSnapshots(archive, VOL)).map((s) => s.gid);
      assert.ok(listed.includes(snapGid), `gid ${snapGid} listed (${listed.join(',')})`);
      const v = (await listArchiveVolumes(archive)).find((x) => x.volume === VOL)!;
      assert.deepEqual(v.latest, { gidB: latest, gidE: latest });
      const r = await rawReadSnapshot(archive, { volume: VOL, gid: snapGid });
      assert.equal(r.sha256, snapSha, 'ReadSnapshot');
      assert.equal(restoreSha(c, VOL, snapGid, dir.file('restored.img')), snapSha, 'blockwal restore');
      // The pipeline still works end to end after all that.
      const w = new VolumeWriter(c.nbdUri(VOL), SIZE);
      await w.connect();
      try {
        await w.randomWrites(20);
        await w.flush();
        const g = snapshot(c, VOL, true);
        const sha = await w.deviceSha256();
        assert.equal(restoreSha(c, VOL, g, dir.file('after.img')), sha, 'a new snapshot restores exactly');
      } finally {
        await w.close();
      }
      baseline = await settledDigest(); // changed on purpose
    });
  });
});
