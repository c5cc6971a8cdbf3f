import assert from 'node:assert/strict';
import { closeSync, openSync, readFileSync, statSync } from 'node:fs';
import fc from 'fast-check';
import {
  CompressionType,
  DiffKind,
  IndexedWdiffReader,
  IndexedWdiffWriter,
  SequentialReader,
  SequentialWriter,
  SortedWdiffReader,
  SortedWdiffWriter,
  WDIFF_END_PACK_CHECKSUM,
  WDIFF_FILE_HEADER_SIZE,
  WDIFF_INDEXED_RECORD_SIZE,
  WDIFF_INDEX_SUPER_SIZE,
  WDIFF_PACK_MAX_DATA_SIZE,
  WDIFF_PACK_SIZE,
  WDIFF_RECORD_SIZE,
  closeImage,
  codecImplementation,
  encodeEndPack,
  encodeIndexSuper,
  encodeWdiffHeader,
  openImage,
  openWdiff,
  parseIndexSuper,
  parseWdiffHeader,
  readU32,
  redoWdiff,
  uuidToHex,
  walbChecksum,
  type CompressionSpec,
  type ImageRef,
  type IndexedRecordInput,
} from '@blockwal/core';
import { manifest, vectorPath, type VectorFile } from '../../../test/support/vectors.js';
import { fileSha256, scratchDir, zeroImage } from '../../../test/support/scratch.js';

const RUNS = Number(process.env['BLOCKWAL_PROPERTY_RUNS'] ?? 1000);
const NONE: CompressionSpec = { type: CompressionType.None, level: 0 };
const SNAPPY: CompressionSpec = { type: CompressionType.Snappy, level: 0 };

interface Rec {
  address: number;
  blocks: number;
  kind: DiffKind;
  data?: Buffer;
}

/** Reads a wdiff (either layout) into memory: records with copies of their data. */
function load(file: string): { uuid: Uint8Array; recs: Rec[]; type: number } {
  const src = openWdiff(file);
  try {
    const recs: Rec[] = [];
    for (let r = src.next(); r; r = src.next()) {
      const rec: Rec = { address: r.address, blocks: r.blocks, kind: r.kind };
      if (r.kind === DiffKind.Normal) rec.data = Buffer.from(src.readData(r));
      recs.push(rec);
    }
    return { uuid: src.header.uuid, recs, type: src.type };
  } finally {
    src.close();
  }
}

function withWriter<T>(file: string, fn: (out: SequentialWriter) => T): T {
  const fd = openSync(file, 'w');
  try {
    const out = new SequentialWriter(fd, { file });
    const r = fn(out);
    out.flush();
    return r;
  } finally {
    closeSync(fd);
  }
}

function writeSorted(file: string, recs: Rec[], opts: { uuid?: Uint8Array; compression: CompressionSpec; packDataTarget?: number }): void {
  withWriter(file, (out) => {
    const w = new SortedWdiffWriter(out, { ...opts, file });
    for (const r of recs) {
      if (r.kind === DiffKind.Normal) w.addNormal(r.address, r.blocks, r.data!);
      else if (r.kind === DiffKind.AllZero) w.addAllZero(r.address, r.blocks);
      else w.addDiscard(r.address, r.blocks);
    }
    w.finish();
  });
}

/**
 * Writes an indexed wdiff: each normal record (or each group of adjacent normal records, when
 * `group`) becomes one image, split into records that share it.
 */
function writeIndexed(file: string, recs: Rec[], opts: { uuid?: Uint8Array; compression: CompressionSpec; group?: boolean }): void {
  withWriter(file, (out) => {
    const w = new IndexedWdiffWriter(out, { ...opts, file });
    const index: IndexedRecordInput[] = [];
    for (let i = 0; i < recs.length; ) {
      const r = recs[i]!;
      if (r.kind !== DiffKind.Normal) {
        index.push({ address: r.address, blocks: r.blocks, kind: r.kind });
        i++;
        continue;
      }
      let j = i + 1;
      if (opts.group) while (j < recs.length && recs[j]!.kind === DiffKind.Normal && recs[j]!.address === recs[j - 1]!.address + recs[j - 1]!.blocks && j - i < 8) j++;
      const img: ImageRef = w.appendImage(Buffer.concat(recs.slice(i, j).map((x) => x.data!)));
      let off = 0;
      for (let k = i; k < j; k++) {
        index.push({ address: recs[k]!.address, blocks: recs[k]!.blocks, kind: DiffKind.Normal, image: img, ioOffset: off });
        off += recs[k]!.blocks;
      }
      i = j;
    }
    w.finish(index, recs.length);
  });
}

function redoHash(file: string, img: string, size: number): string {
  zeroImage(img, size);
  const image = openImage(img);
  const src = openWdiff(file);
  try {
    redoWdiff(src, image);
  } finally {
    src.close();
    closeImage(image);
  }
  return fileSha256(img);
}

function vector(c: string, p: string): { file: string; f: VectorFile; size: number } {
  const m = manifest(c);
  const f = m.files.find((x) => x.path === p)!;
  const size = (f['image_prefix_bytes'] as number | undefined) ?? (f.applied as { devsize?: number } | undefined)?.devsize ?? m.devsize!;
  return { file: vectorPath(c, p), f, size };
}

/** Every sorted vector whose normal records are stored raw or with snappy. */
const SNAPPY_SORTED = [
  ['wlog-pbs512-all-kinds', 'log.sorted.wdiff'],
  ['wlog-pbs512-all-kinds', 'log.sorted.x8K.wdiff'],
  ['wlog-pbs512-rand-plain', 'log.sorted.wdiff'],
  ['wlog-pbs4096-all-kinds', 'log.sorted.wdiff'],
  ['wlog-pbs4096-all-kinds', 'log.sorted.x16K.wdiff'],
  ['wlog-pbs4096-rand-plain', 'log.sorted.wdiff'],
  ['wdiff-merge-cmpr', 'in0.sorted.wdiff'],
  ['wdiff-merge-cmpr', 'in1.sorted.wdiff'],
  ['wdiff-merge-cmpr', 'merged.snappy.wdiff'],
  ['wdiff-merge-cmpr', 'merged.x16K.snappy.wdiff'],
  ['wdiff-full-small', 'img1.ios64K.sorted.wdiff'],
  ['wdiff-full-small', 'img1.ios48K.sorted.wdiff'],
  ['wdiff-full-small', 'img2.ios4K.sorted.wdiff'],
  ['corrupted', 'pbs512.sorted.wdiff'],
] as const;

describe('wdiff layouts: sizes and fixed encodings', () => {
  it('pins the structure sizes', () => {
    assert.equal(WDIFF_FILE_HEADER_SIZE, 32);
    assert.equal(WDIFF_PACK_SIZE, 4096);
    assert.equal(WDIFF_RECORD_SIZE, 32);
    assert.equal(WDIFF_INDEXED_RECORD_SIZE, 48);
    assert.equal(WDIFF_INDEX_SUPER_SIZE, 24);
  });
  it('encodes the END pack with checksum 0xFFFF0000', () => {
    const b = encodeEndPack();
    assert.equal(readU32(b, 0), WDIFF_END_PACK_CHECKSUM);
    assert.equal(b[6], 1);
    assert.equal(walbChecksum(b), 0);
  });
  it('encodes file headers as walb-tools does (uuid 0: fffffffe sorted, fffefffe indexed)', () => {
    assert.equal(parseWdiffHeader(encodeWdiffHeader(0)).checksum, 0xfffffffe);
    assert.equal(parseWdiffHeader(encodeWdiffHeader(1)).checksum, 0xfffefffe);
    const uuid = Uint8Array.from({ length: 16 }, (_, i) => i * 7);
    const h = parseWdiffHeader(encodeWdiffHeader(1, uuid));
    assert.equal(uuidToHex(h.uuid), uuidToHex(uuid));
    assert.equal(h.type, 1);
  });
  it('round-trips the index super', () => {
    const s = { indexOffset: 2 ** 40 + 8, nRecords: 123456, nData: 7 };
    assert.deepEqual(parseIndexSuper(encodeIndexSuper(s)), s);
  });
});

describe('sorted wdiff writer', () => {
  const tmp = scratchDir();
  after(() => tmp.cleanup());

  for (const [c, p] of [
    ['wlog-pbs512-all-kinds', 'log.sorted.none.wdiff'],
    ['wlog-pbs4096-all-kinds', 'log.sorted.none.wdiff'],
    ['wdiff-merge-cmpr', 'merged.none.wdiff'],
  ] as const) {
    it(`re-encodes ${c}/${p} byte-exactly (compression none, packs close at 127 records)`, () => {
      const { file } = vector(c, p);
      const { uuid, recs } = load(file);
      const out = tmp.file(`${c}-${p}`);
      writeSorted(out, recs, { uuid, compression: NONE, packDataTarget: WDIFF_PACK_MAX_DATA_SIZE });
      assert.ok(readFileSync(out).equals(readFileSync(file)));
      // The default 4 MiB data target gives the same file here (packs are far below it).
      writeSorted(out, recs, { uuid, compression: NONE });
      assert.ok(readFileSync(out).equals(readFileSync(file)));
    });
  }

  it('re-encodes by passing stored bytes through (addStored), byte-exactly', () => {
    const { file } = vector('wdiff-merge-cmpr', 'merged.zstd-L9.wdiff');
    const out = tmp.file('passthrough.wdiff');
    const fd = openSync(file, 'r');
    try {
      const rd = new SortedWdiffReader(new SequentialReader(fd, { file }));
      withWriter(out, (o) => {
        const w = new SortedWdiffWriter(o, { uuid: rd.header.uuid, compression: NONE, file: out });
        for (let r = rd.next(); r; r = rd.next()) {
          if (r.kind === DiffKind.Normal) w.addStored(r.address, r.blocks, r.compression, r.stored, r.checksum);
          else if (r.kind === DiffKind.AllZero) w.addAllZero(r.address, r.blocks);
          else w.addDiscard(r.address, r.blocks);
        }
        w.finish();
      });
    } finally {
      closeSync(fd);
    }
    assert.ok(readFileSync(out).equals(readFileSync(file)));
  });

  const nativeSnappy = codecImplementation(CompressionType.Snappy) === 'native';
  for (const [c, p] of SNAPPY_SORTED) {
    it(`re-encodes ${c}/${p} with snappy: ${nativeSnappy ? 'byte-exact (native libsnappy)' : 'same applied image (npm snappy)'}`, () => {
      const { file, f, size } = vector(c, p);
      const { uuid, recs } = load(file);
      const out = tmp.file(`snappy-${c}-${p}`);
      writeSorted(out, recs, { uuid, compression: SNAPPY, packDataTarget: WDIFF_PACK_MAX_DATA_SIZE });
      if (nativeSnappy) assert.ok(readFileSync(out).equals(readFileSync(file)), 'bytes differ');
      assert.equal(redoHash(out, tmp.file('snappy.img'), size), f.applied!.image_sha256_discard_zero);
    });
  }

  it('closes packs at 127 records and at the data target; a record above the target forms a pack alone', () => {
    const out = tmp.file('packs.wdiff');
    const data = (blocks: number, seed: number) => Buffer.alloc(blocks * 512, seed);
    const recs: Rec[] = [];
    let a = 0;
    for (let i = 0; i < 300; i++) {
      if (i % 3 === 0) recs.push({ address: a, blocks: 2, kind: DiffKind.Discard });
      else recs.push({ address: a, blocks: 2, kind: DiffKind.Normal, data: data(2, i) });
      a += 5;
    }
    writeSorted(out, recs, { compression: NONE, packDataTarget: 8192 });
    const packs = packLayout(out);
    // 8192-byte target with 1024-byte records: at most 8 data records per pack.
    for (const p of packs) assert.ok(p.total <= 8192 && p.n <= 127);
    assert.deepEqual(load(out).recs, recs);

    writeSorted(out, [
      { address: 0, blocks: 1, kind: DiffKind.Normal, data: data(1, 1) },
      { address: 1, blocks: 40, kind: DiffKind.Normal, data: data(40, 2) },
      { address: 41, blocks: 1, kind: DiffKind.Normal, data: data(1, 3) },
    ], { compression: NONE, packDataTarget: 4096 });
    assert.deepEqual(packLayout(out), [{ n: 1, total: 512 }, { n: 1, total: 40 * 512 }, { n: 1, total: 512 }]);

    const many: Rec[] = Array.from({ length: 254 }, (_, i) => ({ address: i, blocks: 1, kind: DiffKind.AllZero }));
    writeSorted(out, many, { compression: NONE });
    assert.deepEqual(packLayout(out), [{ n: 127, total: 0 }, { n: 127, total: 0 }]);
    assert.equal(statSync(out).size, 32 + 3 * 4096);
  });

  it('refuses caller bugs with RangeError: order, overlap, sizes, records above 32 MiB', () => {
    withWriter(tmp.file('bugs.wdiff'), (out) => {
      const w = new SortedWdiffWriter(out, { compression: NONE });
      w.addDiscard(10, 5);
      assert.throws(() => w.addAllZero(14, 1), RangeError);
      assert.throws(() => w.addAllZero(3, 1), RangeError);
      assert.throws(() => w.addNormal(20, 2, Buffer.alloc(512)), RangeError);
      assert.throws(() => w.addNormal(20, 0, Buffer.alloc(0)), RangeError);
      assert.throws(() => w.addStored(20, 65537, CompressionType.Snappy, Buffer.alloc(10)), RangeError);
      assert.throws(() => w.addStored(20, 2, 6 as CompressionType, Buffer.alloc(10)), RangeError);
      assert.throws(() => w.addStored(20, 2, CompressionType.None, Buffer.alloc(10)), RangeError);
      w.addDiscard(15, 2 ** 32 - 1);
      w.finish();
      assert.throws(() => w.addDiscard(2 ** 33, 1), RangeError);
    });
    assert.throws(() => new SortedWdiffWriter(new SequentialWriter(1), { packDataTarget: WDIFF_PACK_MAX_DATA_SIZE + 1 }), RangeError);
  });

  it('counts what it writes', () => {
    withWriter(tmp.file('stats.wdiff'), (out) => {
      const w = new SortedWdiffWriter(out, { compression: NONE });
      w.addNormal(0, 2, Buffer.alloc(1024, 1));
      w.addAllZero(2, 3);
      w.addDiscard(8, 4);
      assert.deepEqual(w.finish(), { normalNr: 1, allZeroNr: 1, discardNr: 1, normalLb: 2, allZeroLb: 3, discardLb: 4, dataSize: 1024, packs: 1 });
    });
  });
});

/** n_records and total_size of each data pack of a sorted file. */
function packLayout(file: string): Array<{ n: number; total: number }> {
  const b = readFileSync(file);
  const out: Array<{ n: number; total: number }> = [];
  for (let off = 32; off < b.length; ) {
    if (b[off + 6]! & 1) break;
    const n = b.readUInt16LE(off + 4);
    const total = b.readUInt32LE(off + 8);
    out.push({ n, total });
    off += 4096 + total;
  }
  return out;
}

describe('indexed wdiff writer', () => {
  const tmp = scratchDir();
  after(() => tmp.cleanup());

  for (const [c, p] of [
    ['wlog-pbs512-all-kinds', 'log.sorted.wdiff'],
    ['wlog-pbs4096-all-kinds', 'log.indexed.wdiff'],
    ['wlog-pbs512-rand-plain', 'log.indexed.wdiff'],
    ['wdiff-merge-cmpr', 'merged.zstd.wdiff'],
    ['wdiff-full-small', 'img1.ios12K.indexed.wdiff'],
  ] as const) {
    for (const group of [false, true]) {
      it(`writes ${c}/${p} as an indexed wdiff${group ? ' with shared images' : ''} that reads back to the same image`, () => {
        const { file, f, size } = vector(c, p);
        const { uuid, recs } = load(file);
        const out = tmp.file(`idx-${c}-${p}-${group}`);
        writeIndexed(out, recs, { uuid, compression: SNAPPY, group });
        assert.deepEqual(load(out).recs, recs);
        assert.equal(redoHash(out, tmp.file('idx.img'), size), f.applied!.image_sha256_discard_zero);
        const b = readFileSync(out);
        const s = parseIndexSuper(b.subarray(b.length - 24));
        assert.equal(s.indexOffset % 8, 0);
        assert.equal(s.nRecords, recs.length);
        assert.equal(s.nData, recs.length);
      });
    }
  }

  it('fills rec_checksum for every record and data_offset of non-normal ones like walb-tools', () => {
    const out = tmp.file('nonnormal.wdiff');
    withWriter(out, (o) => {
      const w = new IndexedWdiffWriter(o, { compression: NONE });
      const img = w.appendImage(Buffer.alloc(3 * 512, 9));
      w.finish([
        { address: 4, blocks: 2, kind: DiffKind.Discard, ioOffset: 1, dataOffset: 32 },
        { address: 8, blocks: 1, kind: DiffKind.Normal, image: img, ioOffset: 2 },
        { address: 9, blocks: 4, kind: DiffKind.AllZero },
      ], 5);
    });
    const b = readFileSync(out);
    const s = parseIndexSuper(b.subarray(b.length - 24));
    assert.equal(s.indexOffset, 32 + 1536);
    for (let i = 0; i < 3; i++) assert.equal(walbChecksum(b.subarray(s.indexOffset + 48 * i, s.indexOffset + 48 * (i + 1))), 0);
    assert.equal(b.readUInt32LE(s.indexOffset + 16), 32); // given data_offset
    assert.equal(b.readUInt32LE(s.indexOffset + 28), 1); // io_offset kept
    assert.equal(b.readUInt32LE(s.indexOffset + 96 + 16), 32 + 1536); // default: end of images
    const fd = openSync(out, 'r');
    try {
      const rd = new IndexedWdiffReader(fd, { file: out, size: b.length });
      rd.next();
      const r = rd.next()!;
      assert.deepEqual(Buffer.from(rd.readData(r)), Buffer.alloc(512, 9));
    } finally {
      closeSync(fd);
    }
  });

  it('refuses unsorted, overlapping and out-of-image records with RangeError', () => {
    withWriter(tmp.file('bad-idx.wdiff'), (o) => {
      const w = new IndexedWdiffWriter(o, { compression: NONE });
      w.appendImage(Buffer.alloc(1024));
      assert.throws(() => w.finish([{ address: 4, blocks: 2, kind: DiffKind.Discard }, { address: 5, blocks: 1, kind: DiffKind.Discard }], 2), RangeError);
    });
    withWriter(tmp.file('bad-idx.wdiff'), (o) => {
      const w = new IndexedWdiffWriter(o, { compression: NONE });
      const img = w.appendImage(Buffer.alloc(1024));
      assert.throws(() => w.finish([{ address: 4, blocks: 2, kind: DiffKind.Normal, image: img, ioOffset: 1 }], 1), RangeError);
    });
    withWriter(tmp.file('bad-idx.wdiff'), (o) => {
      const w = new IndexedWdiffWriter(o, { compression: NONE });
      assert.throws(() => w.finish([{ address: 4, blocks: 2, kind: DiffKind.Normal }], 1), RangeError);
      assert.throws(() => w.appendImage(Buffer.alloc(100)), RangeError);
    });
  });
});

describe('empty wdiffs', () => {
  const tmp = scratchDir();
  after(() => tmp.cleanup());
  it('writes and reads an empty sorted wdiff (header + END pack) and an empty indexed one (header + super)', () => {
    const s = tmp.file('empty-sorted.wdiff');
    writeSorted(s, [], { compression: SNAPPY });
    assert.equal(statSync(s).size, 32 + 4096);
    assert.deepEqual(load(s).recs, []);
    const i = tmp.file('empty-indexed.wdiff');
    writeIndexed(i, [], { compression: SNAPPY });
    assert.equal(statSync(i).size, 32 + 24);
    assert.deepEqual(load(i).recs, []);
  });
});

describe('wdiff writers and readers: property round trips (fuzz)', () => {
  const tmp = scratchDir();
  after(() => tmp.cleanup());

  /** Non-overlapping sorted records with data that is random, compressible or all zero. */
  const recordsArb = fc
    .array(
      fc.record({
        gap: fc.integer({ min: 0, max: 40 }),
        blocks: fc.integer({ min: 1, max: 24 }),
        kind: fc.constantFrom(DiffKind.Normal, DiffKind.Normal, DiffKind.AllZero, DiffKind.Discard),
        fill: fc.constantFrom('random', 'text', 'zero'),
        seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
      }),
      { maxLength: 300 },
    )
    .map((xs) => {
      let a = 0;
      return xs.map((x): Rec => {
        a += x.gap;
        const r: Rec = { address: a, blocks: x.blocks, kind: x.kind };
        if (x.kind === DiffKind.Normal) r.data = fillData(x.blocks * 512, x.fill, x.seed);
        a += x.blocks;
        return r;
      });
    });

  it('sorted: write then read gives the same records and data (none/snappy, small pack targets)', () => {
    fc.assert(
      fc.property(recordsArb, fc.constantFrom(NONE, SNAPPY), fc.constantFrom(1, 4096, 20000, 4 * 1024 * 1024), fc.uint8Array({ minLength: 16, maxLength: 16 }), (recs, compression, target, uuid) => {
        const out = tmp.file('prop-sorted.wdiff');
        writeSorted(out, recs, { uuid, compression, packDataTarget: target });
        const got = load(out);
        assert.deepEqual(got.recs, recs);
        assert.equal(uuidToHex(got.uuid), uuidToHex(uuid));
        for (const p of packLayout(out)) assert.ok(p.n <= 127 && (p.total <= target || p.n === 1));
      }),
      { numRuns: RUNS },
    );
  });

  it('indexed: write then read gives the same records and data (shared images, none/snappy)', () => {
    fc.assert(
      fc.property(recordsArb, fc.constantFrom(NONE, SNAPPY), fc.boolean(), (recs, compression, group) => {
        const out = tmp.file('prop-indexed.wdiff');
        writeIndexed(out, recs, { compression, group });
        assert.deepEqual(load(out).recs, recs);
      }),
      { numRuns: RUNS },
    );
  });

  it('indexed: a tiny image cache still returns the right slices', () => {
    fc.assert(
      fc.property(recordsArb, (recs) => {
        const out = tmp.file('prop-cache.wdiff');
        writeIndexed(out, recs, { compression: SNAPPY, group: true });
        const fd = openSync(out, 'r');
        try {
          const rd = new IndexedWdiffReader(fd, { file: out, size: statSync(out).size, chunkRecords: 3, cacheImages: 1, cacheBytes: 1 });
          let i = 0;
          for (let r = rd.next(); r; r = rd.next(), i++) {
            assert.equal(r.address, recs[i]!.address);
            if (r.kind === DiffKind.Normal) assert.ok(Buffer.from(rd.readData(r)).equals(recs[i]!.data!));
          }
          assert.equal(i, recs.length);
        } finally {
          closeSync(fd);
        }
      }),
      { numRuns: Math.max(10, RUNS >> 2) },
    );
  });
});

function fillData(n: number, fill: string, seed: number): Buffer {
  const b = Buffer.alloc(n);
  if (fill === 'zero') return b;
  let x = seed | 1;
  if (fill === 'random') {
    for (let i = 0; i < n; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      b[i] = x & 0xff;
    }
  } else {
    const words = ['walb ', 'diff ', 'pack ', 'block ', 'log '];
    let o = 0;
    while (o < n) o += b.write(words[(x = (x * 1103515245 + 12345) >>> 0) % words.length]!, o);
  }
  return b;
}
