import assert from 'node:assert/strict';
import {
  ChecksumMismatchError,
  DiffKind,
  UnexpectedEofError,
  closeImage,
  formatWdiffStat,
  openImage,
  openWdiff,
  redoWdiff,
  wdiffStats,
  type WdiffSource,
} from '@blockwal/core';
import { VECTOR_CASES, manifest, sha256, vectorPath, type VectorFile } from '../../../test/support/vectors.js';
import { fileSha256, scratchDir, zeroImage } from '../../../test/support/scratch.js';

interface ReadRecord {
  address: number;
  blocks: number;
  kind: DiffKind;
  /** sha256 of the decompressed data of normal records. */
  data?: string;
}

/** Reads every record and its data (every checksum verified). */
function readAll(file: string): { records: ReadRecord[]; src: WdiffSource } {
  const src = openWdiff(file);
  const records: ReadRecord[] = [];
  try {
    for (let r = src.next(); r !== null; r = src.next()) {
      const rec: ReadRecord = { address: r.address, blocks: r.blocks, kind: r.kind };
      if (r.kind === DiffKind.Normal) rec.data = sha256(src.readData(r));
      records.push(rec);
    }
  } finally {
    src.close();
  }
  return { records, src };
}

function imageSize(m: { devsize: number | null }, f: VectorFile): number {
  return (f['image_prefix_bytes'] as number | undefined) ?? (f.applied as { devsize?: number } | undefined)?.devsize ?? m.devsize!;
}

const wdiffFiles = VECTOR_CASES.flatMap((c) => {
  const m = manifest(c);
  return m.files.filter((f) => f.kind === 'wdiff-sorted' || f.kind === 'wdiff-indexed').map((f) => ({ c, m, f }));
});

describe('wdiff vectors from walb-tools', () => {
  const tmp = scratchDir();
  after(() => tmp.cleanup());

  it('covers every wdiff of the vectors', () => {
    assert.ok(wdiffFiles.length >= 30, `only ${wdiffFiles.length} wdiff files`);
    assert.ok(wdiffFiles.some((x) => x.f.path === 'merged.lzma-L9.wdiff'));
  });

  for (const { c, m, f } of wdiffFiles) {
    const file = vectorPath(c, f.path);

    it(`${c}/${f.path}: parses with every checksum verified and matches wdiff-show -stat`, () => {
      const src = openWdiff(file);
      try {
        assert.equal(src.type, f.kind === 'wdiff-sorted' ? 0 : 1);
        const stats = wdiffStats(src);
        const want = f['wdiff_show_stat'] as string[] | undefined;
        if (want) assert.deepEqual(formatWdiffStat(src.header, stats), want);
        if (src.sorted) assert.equal(src.sorted.endPackSeen, true);
      } finally {
        src.close();
      }
      // Data of every normal record decodes (checksums of the stored bytes / images verified).
      const { records } = readAll(file);
      const byCmpr = f['normal_records_by_compression_id'] as Record<string, number> | undefined;
      if (byCmpr) {
        const got: Record<string, number> = {};
        const s = openWdiff(file);
        try {
          for (let r = s.next(); r; r = s.next()) if (r.kind === DiffKind.Normal) got[r.compression] = (got[r.compression] ?? 0) + 1;
        } finally {
          s.close();
        }
        assert.deepEqual(got, byCmpr);
      }
      const maxBlocks = f['max_record_blocks'] as number | undefined;
      if (maxBlocks !== undefined) assert.equal(Math.max(...records.map((r) => r.blocks)), maxBlocks);
    });

    it(`${c}/${f.path}: redo onto a zero image gives the manifest's image`, () => {
      const size = imageSize(m, f);
      for (const mode of ['zero', 'ignore'] as const) {
        const want = mode === 'zero' ? f.applied!.image_sha256_discard_zero : f.applied!.image_sha256_discard_ignored;
        if (!want) continue;
        const img = zeroImage(tmp.file(`${c}-${f.path}-${mode}.img`), size);
        const image = openImage(img);
        const src = openWdiff(file);
        try {
          const st = redoWdiff(src, image, { discard: mode });
          assert.ok(st.normalRecords > 0);
        } finally {
          src.close();
          closeImage(image);
        }
        assert.equal(fileSha256(img), want, mode);
      }
    });
  }

  it('merged.lzma-L9.wdiff (which walb-tools cannot decode) decodes to the same records as merged.none.wdiff', () => {
    const a = readAll(vectorPath('wdiff-merge-cmpr', 'merged.lzma-L9.wdiff')).records;
    const b = readAll(vectorPath('wdiff-merge-cmpr', 'merged.none.wdiff')).records;
    assert.deepEqual(a, b);
  });

  it('keeps unknown flag bits of wdiff-full records as normal records (0xa1, 0xb9 in the vectors)', () => {
    const src = openWdiff(vectorPath('wdiff-full-small', 'img1.ios64K.indexed.wdiff'));
    try {
      let n = 0;
      for (let r = src.next(); r; r = src.next()) (assert.equal(r.kind, DiffKind.Normal), n++);
      assert.equal(n, 5);
    } finally {
      src.close();
    }
  });

  it('indexed records sharing an image read the right slices (io_offset)', () => {
    const src = openWdiff(vectorPath('wdiff-full-small', 'img1.ios12K.indexed.wdiff'));
    const full = openWdiff(vectorPath('wdiff-full-small', 'img1.ios48K.sorted.wdiff'));
    try {
      // Rebuild the image from each file in memory and compare.
      const size = 262656;
      const a = Buffer.alloc(size);
      const b = Buffer.alloc(size);
      let shared = 0;
      for (let r = src.next(); r; r = src.next()) {
        if ('ioOffset' in r && r.ioOffset > 0) shared++;
        src.readData(r, a.subarray(r.address * 512));
      }
      for (let r = full.next(); r; r = full.next()) full.readData(r, b.subarray(r.address * 512));
      assert.ok(shared > 10);
      assert.ok(a.equals(b));
    } finally {
      src.close();
      full.close();
    }
  });
});

describe('corrupted wdiff vectors', () => {
  const m = manifest('corrupted');
  const expectError = (name: string, cls: new (...a: never[]) => Error, pattern: RegExp) => {
    assert.throws(
      () => readAll(vectorPath('corrupted', name)),
      (e: unknown) => {
        assert.ok(e instanceof cls, `${name}: expected ${cls.name}, got ${String(e)}`);
        assert.match((e as Error).message, pattern);
        assert.ok((e as Error).message.includes(vectorPath('corrupted', name)), (e as Error).message);
        assert.equal((e as Error).message.split('\n').length, 1);
        return true;
      },
    );
  };

  it('sorted: rejects a bad record data checksum naming pack, record and address', () => {
    expectError('pbs512.sorted.bad-data.wdiff', ChecksumMismatchError, /\(pack 0, record \d+, byte \d+\): record data checksum mismatch: .*address 925, 3 lb/);
  });
  it('sorted: rejects a bad file header checksum', () => {
    expectError('pbs512.sorted.bad-filehdr-csum.wdiff', ChecksumMismatchError, /\(byte 0\): wdiff file header checksum mismatch/);
  });
  it('sorted: rejects a bad pack header checksum naming the pack', () => {
    expectError('pbs512.sorted.bad-packhdr.wdiff', ChecksumMismatchError, /\(pack 0, byte 32\): pack header checksum mismatch/);
  });
  it('sorted: rejects a file cut inside pack data', () => {
    expectError('pbs512.sorted.truncated.wdiff', UnexpectedEofError, /\(pack 0, record \d+, byte 5462\): end of input inside the data of pack 0 \(record \d+: \d+ of \d+ bytes\)/);
  });
  it('sorted: accepts a file without the END pack, with the full content (EDGE CASE, as wdiff-redo/wdiff-merge)', () => {
    const cut = readAll(vectorPath('corrupted', 'pbs512.sorted.no-endpack.wdiff'));
    const full = readAll(vectorPath('corrupted', 'pbs512.sorted.wdiff'));
    assert.deepEqual(cut.records, full.records);
    assert.equal(cut.records.length, 61);
    assert.equal(cut.src.sorted!.endPackSeen, false);
    assert.equal(full.src.sorted!.endPackSeen, true);
  });
  it('indexed: rejects a bad image (io_checksum) naming the record and address', () => {
    expectError('pbs512.indexed.bad-image.wdiff', ChecksumMismatchError, /\(record \d+, address 925, byte 1651\): image checksum \(io_checksum\) mismatch/);
  });
  it('indexed: rejects a bad index super checksum', () => {
    expectError('pbs512.indexed.bad-super-csum.wdiff', ChecksumMismatchError, /\(byte 8640\): index super checksum mismatch/);
  });
  it('indexed: rejects a bad index record checksum naming the record', () => {
    expectError('pbs512.indexed.bad-index-rec.wdiff', ChecksumMismatchError, /\(record 41, byte 4896\): index record checksum mismatch/);
  });
  it('indexed: rejects a file cut inside the index (the super is gone)', () => {
    expectError('pbs512.indexed.truncated.wdiff', ChecksumMismatchError, /index super checksum mismatch/);
  });
  it('covers every corrupted wdiff of the manifest', () => {
    const names = m.corrupted!.filter((c) => c.path.endsWith('.wdiff')).map((c) => c.path).sort();
    assert.deepEqual(names, [
      'pbs512.indexed.bad-image.wdiff',
      'pbs512.indexed.bad-index-rec.wdiff',
      'pbs512.indexed.bad-super-csum.wdiff',
      'pbs512.indexed.truncated.wdiff',
      'pbs512.sorted.bad-data.wdiff',
      'pbs512.sorted.bad-filehdr-csum.wdiff',
      'pbs512.sorted.bad-packhdr.wdiff',
      'pbs512.sorted.no-endpack.wdiff',
      'pbs512.sorted.truncated.wdiff',
    ]);
  });
});
