import assert from 'node:assert/strict';
import { closeSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import fc from 'fast-check';
import { CompressionType, DiffKind, IndexedWdiffWriter, SequentialWriter, SortedWdiffWriter, closeImage, openImage, openWdiff, redoWdiff, type IndexedRecordInput } from '@blockwal/core';
import { scratchDir } from '../../../test/support/scratch.js';

const RUNS = Number(process.env['BLOCKWAL_PROPERTY_RUNS'] ?? 1000);

interface Rec {
  address: number;
  blocks: number;
  kind: DiffKind;
  seed: number;
}

function dataOf(r: Rec): Buffer {
  const b = Buffer.alloc(r.blocks * 512);
  for (let i = 0; i < b.length; i += 512) b.writeUInt32LE((r.seed + i) >>> 0, i), b.writeUInt32LE(r.address, i + 4);
  return b;
}

function write(file: string, recs: Rec[], indexed: boolean, compression: CompressionType): void {
  const fd = openSync(file, 'w');
  try {
    const out = new SequentialWriter(fd, { file });
    const spec = { type: compression, level: 0 };
    if (indexed) {
      const w = new IndexedWdiffWriter(out, { compression: spec });
      const index: IndexedRecordInput[] = recs.map((r) =>
        r.kind === DiffKind.Normal ? { address: r.address, blocks: r.blocks, kind: r.kind, image: w.appendImage(dataOf(r)) } : { address: r.address, blocks: r.blocks, kind: r.kind },
      );
      w.finish(index, recs.length);
    } else {
      const w = new SortedWdiffWriter(out, { compression: spec });
      for (const r of recs) {
        if (r.kind === DiffKind.Normal) w.addNormal(r.address, r.blocks, dataOf(r));
        else if (r.kind === DiffKind.AllZero) w.addAllZero(r.address, r.blocks);
        else w.addDiscard(r.address, r.blocks);
      }
      w.finish();
    }
    out.flush();
  } finally {
    closeSync(fd);
  }
}

describe('wdiff redo (fuzz)', () => {
  const tmp = scratchDir();
  after(() => tmp.cleanup());

  // Mostly adjacent records (gathered writes), some gaps, some large ones (direct writes).
  const recsArb = fc
    .array(
      fc.record({
        gap: fc.constantFrom(0, 0, 0, 1, 7),
        blocks: fc.oneof(fc.integer({ min: 1, max: 16 }), fc.constantFrom(512, 600, 1100)),
        kind: fc.constantFrom(DiffKind.Normal, DiffKind.Normal, DiffKind.AllZero, DiffKind.Discard),
        seed: fc.integer({ min: 0, max: 2 ** 31 }),
      }),
      { maxLength: 60 },
    )
    .map((xs) => {
      let a = 0;
      return xs.map((x): Rec => {
        a += x.gap;
        const r = { address: a, blocks: x.blocks, kind: x.kind, seed: x.seed };
        a += x.blocks;
        return r;
      });
    });

  it('applying a wdiff equals applying its records in memory (both layouts, both discard modes)', () => {
    fc.assert(
      fc.property(recsArb, fc.boolean(), fc.constantFrom(CompressionType.None, CompressionType.Snappy), fc.constantFrom("zero", "ignore"), (recs, indexed, cmpr, mode) => {
        const size = (recs.length ? recs[recs.length - 1]!.address + recs[recs.length - 1]!.blocks : 0) * 512 + 4096;
        const expect = Buffer.alloc(size, 0xee);
        for (const r of recs) {
          if (r.kind === DiffKind.Normal) dataOf(r).copy(expect, r.address * 512);
          else if (r.kind === DiffKind.AllZero || mode === 'zero') expect.fill(0, r.address * 512, (r.address + r.blocks) * 512);
        }
        const wd = tmp.file('r.wdiff');
        write(wd, recs, indexed, cmpr);
        const img = tmp.file('r.img');
        writeFileSync(img, Buffer.alloc(size, 0xee));
        const image = openImage(img);
        const src = openWdiff(wd);
        try {
          const st = redoWdiff(src, image, { discard: mode as "zero" | "ignore" });
          assert.equal(st.normalRecords, recs.filter((r) => r.kind === DiffKind.Normal).length);
          assert.equal(st.discardBytes, recs.filter((r) => r.kind === DiffKind.Discard).reduce((s, r) => s + r.blocks * 512, 0));
        } finally {
          src.close();
          closeImage(image);
        }
        assert.ok(readFileSync(img).equals(expect));
      }),
      { numRuns: RUNS },
    );
  });
});
