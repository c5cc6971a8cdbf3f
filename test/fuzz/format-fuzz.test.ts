/**
 * Mutation fuzzing of every reader: byte flips, truncations and extensions of valid files.
 * A reader may accept the damaged file or reject it, but only with blockwal's own errors
 * (BlockwalError), and every record it hands out must be a record of the original file, in
 * order: a damaged record is never applied. Runs per format: BLOCKWAL_FUZZ_RUNS (default 300;
 * `npm run fuzz` runs many more).
 */
import assert from 'node:assert/strict';
import { closeSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { BlockwalError, DiffKind, LogDeviceReader, LogRecordKind, WlogDecoder, openWdiff } from '@blockwal/core';
import { vectorPath } from '../support/vectors.js';
import { scratchDir } from '../support/scratch.js';

const RUNS = Number(process.env['BLOCKWAL_FUZZ_RUNS'] ?? 300);

type Rec = string;
const h = (b: Uint8Array) => createHash('sha1').update(b).digest('hex');

function wlogRecords(bytes: Uint8Array): Rec[] {
  const out: Rec[] = [];
  const dec = new WlogDecoder({
    record(_p, _i, r, data) {
      if (r.kind === LogRecordKind.Normal) out.push(`N ${r.offset} ${r.ioSize} ${h(data!)}`);
      else if (r.kind === LogRecordKind.Discard) out.push(`D ${r.offset} ${r.ioSize}`);
    },
  });
  // Feed in uneven chunks to exercise reassembly too.
  for (let off = 0; off < bytes.length; off += 777) dec.push(bytes.subarray(off, off + 777));
  dec.end();
  return out;
}

function wdiffRecords(file: string): Rec[] {
  const out: Rec[] = [];
  const src = openWdiff(file);
  try {
    for (let r = src.next(); r !== null; r = src.next()) {
      if (r.kind === DiffKind.Normal) out.push(`N ${r.address} ${r.blocks} ${h(src.readData(r))}`);
      else out.push(`${r.kind === DiffKind.AllZero ? 'Z' : 'D'} ${r.address} ${r.blocks}`);
    }
  } finally {
    src.close();
  }
  return out;
}

function ldevRecords(file: string): Rec[] {
  const out: Rec[] = [];
  const fd = openSync(file, 'r');
  try {
    const r = new LogDeviceReader(fd, file);
    for (const p of r.packs()) {
      let pb = 0;
      for (const rec of p.header.records) {
        if (rec.kind === LogRecordKind.Normal) out.push(`N ${rec.offset} ${rec.ioSize} ${h(p.data.subarray(pb * r.pbs, pb * r.pbs + rec.ioSize * 512))}`);
        else if (rec.kind === LogRecordKind.Discard) out.push(`D ${rec.offset} ${rec.ioSize}`);
        if (rec.kind !== LogRecordKind.Discard) pb += Math.ceil(rec.ioSize / (r.pbs / 512));
      }
    }
  } finally {
    closeSync(fd);
  }
  return out;
}

const mutation = (size: number) =>
  fc.oneof(
    fc.record({ kind: fc.constant('flip' as const), flips: fc.array(fc.tuple(fc.nat(size - 1), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 8 }) }),
    fc.record({ kind: fc.constant('truncate' as const), at: fc.nat(size) }),
    fc.record({ kind: fc.constant('extend' as const), tail: fc.uint8Array({ minLength: 1, maxLength: 5000 }) }),
    fc.record({ kind: fc.constant('zero' as const), at: fc.nat(size - 1), len: fc.integer({ min: 1, max: 4096 }) }),
  );

function mutate(orig: Buffer, m: { kind: string; flips?: Array<[number, number]>; at?: number; tail?: Uint8Array; len?: number }): Buffer {
  if (m.kind === 'truncate') return orig.subarray(0, m.at);
  if (m.kind === 'extend') return Buffer.concat([orig, m.tail!]);
  const b = Buffer.from(orig);
  if (m.kind === 'zero') b.fill(0, m.at!, Math.min(b.length, m.at! + m.len!));
  else for (const [at, x] of m.flips!) b[at]! ^= x;
  return b;
}

function isPrefix(got: Rec[], want: Rec[]): boolean {
  return got.length <= want.length && got.every((r, i) => r === want[i]);
}

describe('fuzz: damaged files never crash a reader and never yield a damaged record', () => {
  const tmp = scratchDir();
  after(() => tmp.cleanup());

  const cases: Array<{ name: string; file: string; read: (bytes: Buffer, file: string) => Rec[] }> = [
    { name: 'wlog pbs 512', file: vectorPath('corrupted', 'pbs512.wlog'), read: (b) => wlogRecords(b) },
    { name: 'wlog pbs 4096', file: vectorPath('corrupted', 'pbs4096.wlog'), read: (b) => wlogRecords(b) },
    { name: 'sorted wdiff', file: vectorPath('corrupted', 'pbs512.sorted.wdiff'), read: (_b, f) => wdiffRecords(f) },
    { name: 'indexed wdiff', file: vectorPath('corrupted', 'pbs512.indexed.wdiff'), read: (_b, f) => wdiffRecords(f) },
    { name: 'zstd sorted wdiff', file: vectorPath('wdiff-merge-cmpr', 'merged.zstd.wdiff'), read: (_b, f) => wdiffRecords(f) },
    { name: 'log device image', file: vectorPath('corrupted', 'ldev512.img'), read: (_b, f) => ldevRecords(f) },
  ];

  for (const c of cases) {
    it(`fuzz ${c.name} (${RUNS} mutations)`, function () {
      this.timeout(0);
      const orig = readFileSync(c.file);
      const target = tmp.file(`fuzz-${c.name.replace(/ /g, '-')}`);
      writeFileSync(target, orig);
      const want = c.read(orig, target);
      assert.ok(want.length > 5);
      let rejected = 0;
      fc.assert(
        fc.property(mutation(orig.length), (m) => {
          const bad = mutate(orig, m);
          writeFileSync(target, bad);
          let got: Rec[];
          try {
            got = c.read(bad, target);
          } catch (e) {
            if (!(e instanceof BlockwalError)) throw new Error(`not a blockwal error: ${(e as Error)?.stack ?? e}`);
            rejected++;
            return;
          }
          assert.ok(isPrefix(got, want), `accepted a damaged record (${m.kind})`);
        }),
        { numRuns: RUNS },
      );
      assert.ok(rejected > 0);
    });
  }
});
