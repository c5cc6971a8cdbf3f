import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { CompressionType, parseCompressionSpec, wdiffStatsOfFile, codecImplementation } from '@blockwal/core';
import { manifest, vectorPath, sha256 } from '../../../test/support/vectors.js';
import { scratchDir, fileSha256 } from '../../../test/support/scratch.js';
import { applyToZero, convertWlog, fullFile, mergeFiles, virtFull } from '../../../test/support/run-ops.js';

const WLOG_CASES = ['wlog-pbs512-all-kinds', 'wlog-pbs512-rand-plain', 'wlog-pbs4096-all-kinds', 'wlog-pbs4096-rand-plain', 'ldev-pbs512-ringwrap', 'ldev-pbs4096-ringwrap'];

describe('format operations on the walb-tools vectors', () => {
  const tmp = scratchDir();
  after(() => tmp.cleanup());

  describe('wlog → wdiff', () => {
    for (const c of WLOG_CASES) {
      const m = manifest(c);
      const wlog = m.files.find((f) => f.kind === 'wlog')!;
      const devsize = m.devsize!;
      for (const indexed of [false, true]) {
        for (const runExtents of [undefined, 7]) {
          const what = `${indexed ? 'indexed' : 'sorted'}${runExtents ? ', runs spilled every 7 records' : ''}`;
          it(`${c}: ${what}: applying it gives the wlog's image`, () => {
            const out = tmp.file(`${c}-${indexed}-${runExtents}.wdiff`);
            convertWlog(vectorPath(c, wlog.path), out, { indexed, runExtents, chunkSize: 8192 });
            assert.equal(applyToZero([out], tmp.file('img'), devsize), wlog.applied!.image_sha256_discard_zero);
            // the wdiff carries the wlog's uuid (it must survive the reuse of the read buffer)
            const uuid = readFileSync(vectorPath(c, wlog.path)).subarray(24, 40);
            assert.deepEqual(Buffer.from(wdiffStatsOfFile(out).header.uuid), Buffer.from(uuid));
          });
        }
      }
      const ref = m.files.find((f) => f.path === 'log.sorted.wdiff');
      if (ref) {
        it(`${c}: sorted conversion gives the same records as wlog-to-wdiff`, () => {
          const out = tmp.file(`${c}-stat.wdiff`);
          convertWlog(vectorPath(c, wlog.path), out, {});
          const { stats } = wdiffStatsOfFile(out);
          const want = Object.fromEntries((ref['wdiff_show_stat'] as string[]).filter((l) => l.startsWith('wdiff_stat:')).map((l) => l.split(' ').slice(1)));
          for (const k of ['normalNr', 'allZeroNr', 'discardNr', 'normalLb', 'allZeroLb', 'discardLb'] as const) assert.equal(stats[k], Number(want[k]), k);
        });
      }
    }
  });

  describe('merge', () => {
    const c = 'wdiff-merge-cmpr';
    const m = manifest(c);
    const inputs = (m['sequential_apply'] as { order: string[] }).order.map((f) => vectorPath(c, f));
    const want = (m['sequential_apply'] as { image_sha256_discard_zero: string }).image_sha256_discard_zero;

    it('merges in0 + in1 + in2 into exactly the bytes of wdiff-merge -cmpr none', () => {
      const out = tmp.file('merged.none.wdiff');
      mergeFiles(inputs, out, { compression: { type: CompressionType.None, level: 0 } });
      const ref = m.files.find((f) => f.path === 'merged.none.wdiff')!;
      assert.equal(sha256(readFileSync(out)), ref.sha256);
    });

    for (const spec of ['snappy', 'gzip', 'lzma', 'lz4', 'zstd', 'zstd:9', 'gzip:9']) {
      for (const indexed of [false, true]) {
        it(`merges with ${spec}${indexed ? ' into an indexed wdiff' : ''}: applying it equals applying the inputs in turn`, () => {
          const out = tmp.file(`merged-${spec}-${indexed}.wdiff`);
          mergeFiles(inputs, out, { compression: parseCompressionSpec(spec), indexed });
          assert.equal(applyToZero([out], tmp.file('img'), m.devsize!), want);
        });
      }
    }

    it('merging the merged outputs of walb-tools with our own gives the same image', () => {
      const outs = ['merged.snappy.wdiff', 'merged.zstd.wdiff', 'merged.lzma-L9.wdiff'].map((f) => vectorPath(c, f));
      const out = tmp.file('remerged.wdiff');
      mergeFiles([...outs, ...inputs], out);
      assert.equal(applyToZero([out], tmp.file('img'), m.devsize!), want);
    });

    it('respects max-io-size', () => {
      const out = tmp.file('merged-x16K.wdiff');
      mergeFiles(inputs, out, { maxIoBlocks: 8 });
      assert.equal(applyToZero([out], tmp.file('img'), m.devsize!), want);
    });

    it('builds the virtual full image of base + in0 + in1 + in2 as virt-full-cat does', () => {
      const out = tmp.file('virt.img');
      virtFull(vectorPath(c, 'base.img'), inputs, out);
      assert.equal(fileSha256(out), (m['virt_full_cat'] as { output_sha256: string }).output_sha256);
    });

    if (codecImplementation(CompressionType.Snappy) === 'native') {
      it('snappy merge output is byte-identical to wdiff-merge -cmpr snappy (same libsnappy)', () => {
        const out = tmp.file('merged.snappy-exact.wdiff');
        mergeFiles(inputs, out, { compression: parseCompressionSpec('snappy') });
        assert.equal(sha256(readFileSync(out)), m.files.find((f) => f.path === 'merged.snappy.wdiff')!.sha256);
      });
    }
  });

  describe('full image → wdiff', () => {
    const c = 'wdiff-full-small';
    const m = manifest(c);
    for (const f of m.files.filter((x) => x.kind.startsWith('wdiff'))) {
      const img = f.path.split('.')[0] + '.img';
      const ios = Number(/ios(\d+)K/.exec(f.path)![1]) * 1024;
      const indexed = f.kind === 'wdiff-indexed';
      it(`${f.path}: our wdiff full of ${img} applies to the same image prefix`, () => {
        const out = tmp.file(`full-${f.path}`);
        const st = fullFile(vectorPath(c, img), out, { indexed, ioSize: ios });
        const prefix = f['image_prefix_bytes'] as number;
        assert.equal(st.droppedTailBytes, readFileSync(vectorPath(c, img)).length - prefix);
        assert.equal(applyToZero([out], tmp.file('img'), prefix), f.applied!.image_sha256_discard_zero);
      });
    }
  });
});
