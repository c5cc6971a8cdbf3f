import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type * as grpc from '@grpc/grpc-js';
import { RejectedError, WDIFF_FILE_HEADER_SIZE, type MetaDiff } from '@blockwal/core';
import { blockwal, ChunkEncoder, crc32, diffToWire, fromServiceError, MAX_CHUNK_BYTES, reasonFromWire, type ArchiveServiceClient } from '@blockwal/proto';
import { fullSyncFromFile, listArchiveVolumes, listSnapshots, pushDiffFile, readSnapshotToFile, restoreSnapshot } from '@blockwal/archive';
import { scratchDir } from '../../../test/support/scratch.js';
import { archiveConfig, cleanDiff, MiB, startArchive, T0, treeDigest, VolumeHistory, writeSortedWdiff, type ArchiveHarness } from './support/archive-world.js';

import v1 = blockwal.v1;

const SIZE = 4 * MiB;
const VOL = 'vol0';

/** What an archive answered: a refusal in a response, or the error status of the call. */
type Outcome = { reason: string; message: string; stored?: boolean };

/** A PushDiff call sending raw messages after an OK verdict. */
async function rawPush(client: ArchiveServiceClient, header: v1.IPushDiffHeader, body: v1.IPushDiffRequest[]): Promise<Outcome> {
  const call = client.pushDiff();
  const answers = call[Symbol.asyncIterator]() as AsyncIterator<v1.PushDiffResponse>;
  try {
    call.write({ header });
    const verdict = await answers.next();
    if (verdict.value.reason !== v1.Reason.REASON_OK) return { reason: reasonFromWire(verdict.value.reason) ?? '?', message: verdict.value.message };
    for (const m of body) call.write(m);
    call.end();
    const last = await answers.next();
    return { reason: reasonFromWire(last.value.reason) ?? 'ok', message: last.value.message, stored: last.value.stored };
  } catch (e) {
    const r = fromServiceError(e as grpc.ServiceError);
    return { reason: r.reason, message: r.message };
  } finally {
    call.cancel();
  }
}

/** The chunks and end of a file's bytes. */
function streamOf(bytes: Uint8Array, chunk = 64 * 1024): v1.IPushDiffRequest[] {
  const enc = new ChunkEncoder();
  const out: v1.IPushDiffRequest[] = [];
  for (let off = 0; off < bytes.length; off += chunk) out.push({ chunk: enc.chunk(bytes.subarray(off, off + chunk)) });
  out.push({ end: enc.end() });
  return out;
}

describe('archive: refusals change nothing stored', function () {
  const seed = Number(process.env['BLOCKWAL_SEED'] ?? Date.now() % 1e9);
  const s = scratchDir('blockwal-archive-');
  const wdir = path.join(s.dir, 'w');
  const h = new VolumeHistory(SIZE, seed);
  let a: ArchiveHarness;
  let next: { file: string; diff: MetaDiff };
  let volDir: string;
  let digest: Record<string, string>;
  const header = (d: MetaDiff, extra: Partial<v1.IPushDiffHeader> = {}): v1.IPushDiffHeader => ({ volume: VOL, deviceUuid: h.uuid, diff: diffToWire(d), volumeSize: SIZE, ...extra });

  before(async () => {
    mkdirSync(wdir);
    a = await startArchive(archiveConfig(s.dir));
    volDir = path.join(a.cfg.dir, 'volumes', VOL);
    const src = path.join(s.dir, 'src.img');
    h.writeImage(src);
    h.mark(0);
    await fullSyncFromFile(a.client, { volume: VOL, deviceUuid: h.uuid, snapshot: { gidB: 0, gidE: 0 }, timestamp: T0 }, src);
    const d1 = h.diff(wdir, cleanDiff(0, 1));
    assert.equal((await pushDiffFile(a.client, { volume: VOL, deviceUuid: h.uuid, diff: d1.diff, volumeSize: SIZE }, d1.file)).stored, true);
    next = h.diff(wdir, cleanDiff(1, 2), 40, { apply: false });
  });
  after(async () => {
    await a?.stop();
    s.cleanup();
  });
  beforeEach(() => {
    digest = treeDigest(volDir);
  });
  afterEach(function () {
    if (this.currentTest?.state === 'failed') console.log(`  seed ${seed} (BLOCKWAL_SEED=${seed} to replay)`);
    assert.deepEqual(treeDigest(volDir), digest, 'the volume directory changed');
  });

  it('unknown volume: not-found for every call', async () => {
    const isNotFound = (e: unknown) => e instanceof RejectedError && e.reason === 'not-found' && /nope/.test(e.message);
    await assert.rejects(listSnapshots(a.client, 'nope'), isNotFound);
    await assert.rejects(restoreSnapshot(a.client, 'nope', 1, 'x.img'), isNotFound);
    await assert.rejects(readSnapshotToFile(a.client, 'nope', 1, path.join(s.dir, 'x.img')), isNotFound);
    const r = await rawPush(a.client, header(next.diff, { volume: 'nope' }), []);
    assert.equal(r.reason, 'not-found');
  });

  it('bad volume name: bad-argument for every call', async () => {
    const isBad = (e: unknown) => e instanceof RejectedError && e.reason === 'bad-argument' && /must match/.test(e.message);
    await assert.rejects(listSnapshots(a.client, '../etc'), isBad);
    await assert.rejects(restoreSnapshot(a.client, 'a/b', 1, 'x.img'), isBad);
    await assert.rejects(readSnapshotToFile(a.client, '', 1, path.join(s.dir, 'x.img')), isBad);
    assert.equal((await rawPush(a.client, header(next.diff, { volume: '-x' }), [])).reason, 'bad-argument');
    await assert.rejects(fullSyncFromFile(a.client, { volume: 'x'.repeat(65), deviceUuid: h.uuid, snapshot: { gidB: 0, gidE: 0 }, timestamp: T0 }, path.join(s.dir, 'src.img')), isBad);
    assert.equal(readdirSync(path.join(a.cfg.dir, 'volumes')).length, 1);
  });

  it('bad header: a uuid of the wrong length, a volume size that differs, a broken diff', async () => {
    assert.equal((await rawPush(a.client, header(next.diff, { deviceUuid: new Uint8Array(3) }), [])).reason, 'bad-argument');
    const sized = await rawPush(a.client, header(next.diff, { volumeSize: SIZE * 2 }), []);
    assert.equal(sized.reason, 'bad-argument');
    assert.match(sized.message, /volume of 8388608 bytes/);
    const broken = { snapB: { gidB: 2, gidE: 2 }, snapE: { gidB: 1, gidE: 1 } };
    assert.equal((await rawPush(a.client, { ...header(next.diff), diff: broken }, [])).reason, 'bad-argument');
  });

  it('a chunk over the size limit: bad-argument', async () => {
    const enc = new ChunkEncoder();
    const r = await rawPush(a.client, header(next.diff), [{ chunk: enc.chunk(new Uint8Array(MAX_CHUNK_BYTES + 512)) }, { end: enc.end() }]);
    assert.equal(r.reason, 'bad-argument');
    assert.match(r.message, /more than the limit/);
  });

  it('a chunk whose CRC does not match, or a wrong stream total: checksum', async () => {
    const body = streamOf(readFileSync(next.file));
    const c = body[0]!.chunk!;
    const bad = [{ chunk: { ...c, crc32: (c.crc32! ^ 1) >>> 0 } }, ...body.slice(1)];
    const r = await rawPush(a.client, header(next.diff), bad);
    assert.equal(r.reason, 'checksum');
    assert.match(r.message, /offset 0/);
    const end = body[body.length - 1]!.end!;
    const badEnd = [...body.slice(0, -1), { end: { ...end, crc32: (end.crc32! + 1) >>> 0 } }];
    assert.equal((await rawPush(a.client, header(next.diff), badEnd)).reason, 'checksum');
    const short = [...body.slice(0, -1), { end: { ...end, length: end.length! + 1 } }];
    assert.equal((await rawPush(a.client, header(next.diff), short)).reason, 'bad-argument');
  });

  it('a wdiff with a corrupted pack checksum: checksum, naming the pack', async () => {
    const bytes = Buffer.from(readFileSync(next.file));
    bytes[WDIFF_FILE_HEADER_SIZE + 20]! ^= 0x40; // inside the first pack header's records
    const r = await rawPush(a.client, header(next.diff), streamOf(bytes));
    assert.equal(r.reason, 'checksum');
    assert.match(r.message, /pack 0/);
  });

  it('a wdiff with a corrupted record: checksum', async () => {
    const bytes = Buffer.from(readFileSync(next.file));
    bytes[WDIFF_FILE_HEADER_SIZE + 4096 + 100]! ^= 0x01; // in the first pack's data
    const r = await rawPush(a.client, header(next.diff), streamOf(bytes));
    assert.equal(r.reason, 'checksum');
  });

  it('a wdiff truncated before its END pack, or of another uuid, or writing past the volume: bad-argument', async () => {
    const bytes = readFileSync(next.file);
    const truncated = await rawPush(a.client, header(next.diff), streamOf(bytes.subarray(0, bytes.length - 4096)));
    assert.equal(truncated.reason, 'bad-argument');
    assert.match(truncated.message, /END pack/);
    const other = path.join(s.dir, 'other.wdiff');
    writeSortedWdiff(other, [{ address: 0, blocks: 8, kind: 'zero' }], new Uint8Array(16).fill(9));
    const u = await rawPush(a.client, header(next.diff), streamOf(readFileSync(other)));
    assert.equal(u.reason, 'bad-argument');
    assert.match(u.message, /device uuid/);
    const past = path.join(s.dir, 'past.wdiff');
    writeSortedWdiff(past, [{ address: SIZE / 512 - 4, blocks: 8, kind: 'zero' }], h.uuid);
    const p = await rawPush(a.client, header(next.diff), streamOf(readFileSync(past)));
    assert.equal(p.reason, 'bad-argument');
    assert.match(p.message, /past the volume size/);
    const garbage = await rawPush(a.client, header(next.diff), streamOf(new Uint8Array(5000).fill(3)));
    assert.ok(garbage.reason === 'checksum' || garbage.reason === 'bad-argument', garbage.reason);
  });

  it('a stream that stops without its end, or a second header: bad-argument', async () => {
    const body = streamOf(readFileSync(next.file));
    assert.equal((await rawPush(a.client, header(next.diff), body.slice(0, -1))).reason, 'bad-argument');
    assert.equal((await rawPush(a.client, header(next.diff), [body[0]!, { header: header(next.diff) }])).reason, 'bad-argument');
  });

  it('restore to a path outside restoreDir, through a symlink, or over a file: bad-argument', async () => {
    const rd = a.cfg.restoreDir;
    mkdirSync(path.join(s.dir, 'outside'), { recursive: true });
    symlinkSync(path.join(s.dir, 'outside'), path.join(rd, 'link'));
    writeFileSync(path.join(rd, 'exists.img'), 'x');
    for (const p of ['../escape.img', path.join(s.dir, 'outside', 'x.img'), '/etc/passwd', 'link/x.img', 'missing-dir/x.img', 'exists.img', '', '.']) {
      await assert.rejects(restoreSnapshot(a.client, VOL, 1, p), (e: unknown) => e instanceof RejectedError && e.reason === 'bad-argument', p);
    }
    assert.deepEqual(readdirSync(path.join(s.dir, 'outside')), []);
    assert.equal(readFileSync(path.join(rd, 'exists.img'), 'utf8'), 'x');
  });

  it('a full sync header of a bad size: bad-argument; bad full sync data: a clear error', async () => {
    const call = a.client.fullSync();
    const answers = call[Symbol.asyncIterator]() as AsyncIterator<v1.FullSyncResponse>;
    call.write({ header: { volume: VOL, deviceUuid: h.uuid, volumeSize: 1000, gidB: 0, chunkSize: 4096 } });
    await assert.rejects(answers.next(), (e: grpc.ServiceError) => fromServiceError(e).reason === 'bad-argument' && /multiple of 512/.test(e.details));
    // Bad data on another volume (its first copy): the error names the problem.
    const cases: [v1.IFullSyncData, string, RegExp][] = [
      [{ offset: 0, data: new Uint8Array(4096).fill(1), length: 4096, crc32: 1 }, 'checksum', /CRC-32/],
      [{ offset: 4096, data: new Uint8Array(0), length: 4096, crc32: 0 }, 'bad-argument', /expected 0/],
      [{ offset: 0, data: new Uint8Array(0), length: MAX_CHUNK_BYTES + 512, crc32: 0 }, 'bad-argument', /limit/],
      [{ offset: 0, data: new Uint8Array(100).fill(1), length: 100, crc32: crc32(new Uint8Array(100).fill(1)) }, 'bad-argument', /multiple of 512/],
      [{ offset: 0, data: new Uint8Array(0), length: 4096, crc32: 5 }, 'checksum', /elided/],
    ];
    for (const [data, reason, msg] of cases) {
      const c = a.client.fullSync();
      const it = c[Symbol.asyncIterator]() as AsyncIterator<v1.FullSyncResponse>;
      c.write({ header: { volume: 'fresh', deviceUuid: h.uuid, volumeSize: MiB, gidB: 0, chunkSize: 4096 } });
      const first = await it.next(); // the previous case released the volume before its error went out
      assert.equal(first.value.reason, v1.Reason.REASON_OK);
      c.write({ data });
      await assert.rejects(it.next(), (e: grpc.ServiceError) => fromServiceError(e).reason === reason && msg.test(e.details), `${reason} ${msg}`);
      c.cancel();
    }
    const vols = await listArchiveVolumes(a.client);
    assert.deepEqual(vols.map((v) => [v.volume, v.state]), [['fresh', 'sync-ready'], [VOL, 'archived']]);
  });

  it('after every refusal the volume still takes the next diff', async () => {
    const r = await pushDiffFile(a.client, { volume: VOL, deviceUuid: h.uuid, diff: next.diff, volumeSize: SIZE }, next.file);
    assert.equal(r.stored, true);
    digest = treeDigest(volDir); // this one changes the volume, on purpose
    assert.deepEqual(readdirSync(path.join(volDir, 'diffs')).filter((n) => n.endsWith('.tmp')), []);
  });
});
