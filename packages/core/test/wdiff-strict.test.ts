import assert from 'node:assert/strict';
import { closeSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import {
  CompressionType,
  CorruptDataError,
  DiffKind,
  FormatError,
  IndexedWdiffWriter,
  SequentialWriter,
  SortedWdiffWriter,
  UnexpectedEofError,
  UnsupportedError,
  encodeIndexSuper,
  openWdiff,
  sealBlock,
  walbChecksum,
} from '@blockwal/core';
import { scratchDir } from '../../../test/support/scratch.js';

const NONE = { type: CompressionType.None, level: 0 };
const SNAPPY = { type: CompressionType.Snappy, level: 0 };

function build(file: string, fn: (out: SequentialWriter) => void): Buffer {
  const fd = openSync(file, 'w');
  try {
    const out = new SequentialWriter(fd, { file });
    fn(out);
    out.flush();
  } finally {
    closeSync(fd);
  }
  return readFileSync(file);
}

function readAll(file: string): number {
  const src = openWdiff(file);
  try {
    let n = 0;
    for (let r = src.next(); r; r = src.next(), n++) if (r.kind === DiffKind.Normal) src.readData(r);
    return n;
  } finally {
    src.close();
  }
}

describe('wdiff readers are strict (crafted files with valid checksums)', () => {
  const tmp = scratchDir();
  after(() => tmp.cleanup());

  /** A sorted file: normal 0+2, all-zero 2+2, discard 10+4, normal 20+1 (snappy-compressible). */
  const sorted = (target = 4 * 1024 * 1024) =>
    build(tmp.file('base.wdiff'), (out) => {
      const w = new SortedWdiffWriter(out, { compression: SNAPPY, packDataTarget: target });
      w.addNormal(0, 2, Buffer.alloc(1024, 7));
      w.addAllZero(2, 2);
      w.addDiscard(10, 4);
      w.addNormal(20, 1, Buffer.alloc(512, 3));
      w.finish();
    });
  const REC = (i: number) => 32 + 16 + 32 * i; // record i of the first pack
  const resealPack = (b: Buffer, at = 32) => sealBlock(b.subarray(at, at + 4096), 0, 0);
  const expect = (b: Buffer, cls: new (...a: never[]) => Error, re: RegExp) => {
    const f = tmp.file('bad.wdiff');
    writeFileSync(f, b);
    assert.throws(() => readAll(f), (e: unknown) => {
      assert.ok(e instanceof cls, String(e));
      assert.match((e as Error).message, re);
      return true;
    });
  };

  it('reads the base file', () => {
    const f = tmp.file('ok.wdiff');
    writeFileSync(f, sorted());
    assert.equal(readAll(f), 4);
  });
  it('rejects ALLZERO and DISCARD together', () => {
    const b = sorted();
    b[REC(1) + 12] = 0x06;
    resealPack(b);
    expect(b, FormatError, /\(pack 0, record 1, byte 80\): record flags 0x6 set both ALLZERO and DISCARD/);
  });
  it('ignores the EXIST bit', () => {
    const b = sorted();
    b[REC(0) + 12] = 0x01;
    resealPack(b);
    const f = tmp.file('exist.wdiff');
    writeFileSync(f, b);
    assert.equal(readAll(f), 4);
  });
  it('rejects an unknown compression type', () => {
    const b = sorted();
    b[REC(0) + 13] = 6;
    resealPack(b);
    expect(b, FormatError, /unknown compression type 6/);
  });
  it('rejects a normal record of 0 blocks', () => {
    const b = sorted();
    b.writeUInt32LE(0, REC(3) + 8);
    resealPack(b);
    expect(b, FormatError, /record 3.*io_blocks 0/);
  });
  it('rejects a data_offset that breaks continuity', () => {
    const b = sorted();
    b.writeUInt32LE(b.readUInt32LE(REC(3) + 16) + 1, REC(3) + 16);
    resealPack(b);
    expect(b, FormatError, /record 3.*data_offset \d+, expected \d+/);
  });
  it('rejects data on a non-normal record', () => {
    const b = sorted();
    b.writeUInt32LE(5, REC(2) + 20);
    resealPack(b);
    expect(b, FormatError, /discard record at address 10 has data_size 5/);
  });
  it('rejects overlapping or unsorted records', () => {
    const b = sorted();
    b.writeUInt32LE(1, REC(1)); // the all-zero record moves from 2 to 1: inside the normal 0+2
    resealPack(b);
    expect(b, FormatError, /record 1.*address 1 .*overlaps the previous record, which ends at 2/);
  });
  it('rejects overlap across packs', () => {
    const b = sorted(1); // a 1-byte data target: pack 0 = [n0], pack 1 = [z2, d10], pack 2 = [n20]
    const p1 = 32 + 4096 + b.readUInt32LE(32 + 8);
    const p2 = p1 + 4096 + b.readUInt32LE(p1 + 8);
    assert.equal(b.readUInt16LE(p2 + 4), 1);
    b.writeUInt32LE(12, p2 + 16); // pack 2's record at 12: inside the discard 10+4 of pack 1
    resealPack(b, p2);
    expect(b, FormatError, /\(pack 2, record 0, byte \d+\): record at address 12 .*ends at 14/);
  });
  it('rejects a total_size that does not match the records', () => {
    const b = sorted();
    b.writeUInt32LE(b.readUInt32LE(32 + 8) + 1, 32 + 8);
    resealPack(b);
    expect(b, FormatError, /pack total_size/);
  });
  it('rejects more than 127 records', () => {
    const b = sorted();
    b.writeUInt16LE(128, 32 + 4);
    resealPack(b);
    expect(b, FormatError, /128 records, at most 127/);
  });
  it('rejects a file cut inside a pack header', () => {
    expect(sorted().subarray(0, 32 + 1000), UnexpectedEofError, /\(pack 0, byte 32\): end of input inside the header of pack 0 \(1000 of 4096 bytes\)/);
  });
  it('rejects a corrupt compressed payload whose checksum was made to match', () => {
    const b = sorted();
    const size = b.readUInt32LE(REC(0) + 20);
    const at = 32 + 4096; // data of record 0
    b[at] = 0x7f; // the snappy length varint now says 127 bytes
    b.writeUInt32LE(walbChecksum(b.subarray(at, at + size)), REC(0) + 24);
    resealPack(b);
    expect(b, CorruptDataError, /\(pack 0, record 0, address 0, byte 4128\): snappy payload/);
  });
  it('rejects an unsupported version and an unknown type', () => {
    const b = sorted();
    b.writeUInt16LE(1, 4);
    sealBlock(b.subarray(0, 32), 0, 0);
    expect(b, UnsupportedError, /version 1, only 2/);
    b.writeUInt16LE(2, 4);
    b[6] = 2;
    sealBlock(b.subarray(0, 32), 0, 0);
    expect(b, FormatError, /unknown type 2/);
  });
  it('rejects an END pack with records', () => {
    const b = sorted();
    const end = b.length - 4096;
    b.writeUInt16LE(1, end + 4);
    resealPack(b, end);
    expect(b, FormatError, /END pack with 1 records/);
  });

  /** An indexed file: image A (4 lb) → records 0+2 (io 0), 2+2 (io 2); discard 8+8; image B → 16+1. */
  const indexed = () =>
    build(tmp.file('base-idx.wdiff'), (out) => {
      const w = new IndexedWdiffWriter(out, { compression: NONE });
      const a = w.appendImage(Buffer.alloc(2048, 1));
      const b = w.appendImage(Buffer.alloc(512, 2));
      w.finish([
        { address: 0, blocks: 2, kind: DiffKind.Normal, image: a },
        { address: 2, blocks: 2, kind: DiffKind.Normal, image: a, ioOffset: 2 },
        { address: 8, blocks: 8, kind: DiffKind.Discard },
        { address: 16, blocks: 1, kind: DiffKind.Normal, image: b },
      ], 3);
    });
  const IREC = (b: Buffer, i: number) => b.length - 24 - 48 * (4 - i);
  const resealRec = (b: Buffer, i: number) => sealBlock(b.subarray(IREC(b, i), IREC(b, i) + 48), 44, 0);

  it('reads the base indexed file', () => {
    const f = tmp.file('ok-idx.wdiff');
    writeFileSync(f, indexed());
    assert.equal(readAll(f), 4);
  });
  it('rejects overlapping index records', () => {
    const b = indexed();
    b.writeUInt32LE(1, IREC(b, 1));
    resealRec(b, 1);
    expect(b, FormatError, /\(record 1, byte \d+\): index record at address 1 .*overlaps/);
  });
  it('rejects a slice outside its image', () => {
    const b = indexed();
    b.writeUInt32LE(3, IREC(b, 1) + 28);
    resealRec(b, 1);
    expect(b, FormatError, /slice \[3, 5\) lb lies outside its image of 4 lb/);
  });
  it('rejects an image outside the data area', () => {
    const b = indexed();
    b.writeUInt32LE(b.length, IREC(b, 3) + 16);
    resealRec(b, 3);
    expect(b, FormatError, /lies outside the data area/);
  });
  it('rejects records sharing an image that disagree about it', () => {
    const b = indexed();
    b.writeUInt32LE((b.readUInt32LE(IREC(b, 1) + 40) ^ 1) >>> 0, IREC(b, 1) + 40);
    resealRec(b, 1);
    expect(b, FormatError, /records sharing the image at byte 32 disagree/);
  });
  it('rejects an index super whose layout does not add up', () => {
    const b = indexed();
    const at = b.length - 24;
    encodeIndexSuper({ indexOffset: b.readUInt32LE(at) - 8, nRecords: 4, nData: 3 }, b.subarray(at));
    expect(b, FormatError, /index_offset \d+ \+ 48 \* 4 records \+ 24 = \d+, but the file has \d+ bytes/);
  });
  it('rejects a file too small for header and super', () => {
    expect(indexed().subarray(0, 40), UnexpectedEofError, /too small for an indexed wdiff/);
  });
});
