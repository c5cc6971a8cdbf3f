import assert from 'node:assert/strict';
import { openSync, closeSync, readFileSync } from 'node:fs';
import { decodeWlogFd, redoWlog, openImage, closeImage, LogRecordKind, uuidToHex, FormatError, UnexpectedEofError, ChecksumMismatchError } from '@blockwal/core';
import { manifest, vectorPath } from '../../../test/support/vectors.js';
import { scratchDir, zeroImage, fileSha256 } from '../../../test/support/scratch.js';

const WLOG_CASES = ['wlog-pbs512-all-kinds', 'wlog-pbs512-rand-plain', 'wlog-pbs4096-all-kinds', 'wlog-pbs4096-rand-plain', 'ldev-pbs512-ringwrap', 'ldev-pbs4096-ringwrap', 'corrupted'];

function statOf(file: string) {
  const fd = openSync(file, 'r');
  const s = { packs: 0, records: 0, normalLb: 0, discardLb: 0, paddingPb: 0, normal: 0, discard: 0, padding: 0, begin: 0, end: 0, head: '' };
  try {
    const dec = decodeWlogFd(fd, {
      header(h) {
        s.begin = h.beginLsid;
        s.head = `pbs ${h.pbs} salt ${h.salt.toString(16)} uuid ${uuidToHex(h.uuid)}`;
      },
      pack() {
        s.packs++;
      },
      record(pack, _i, r) {
        s.records++;
        if (r.kind === LogRecordKind.Normal) (s.normal++, (s.normalLb += r.ioSize));
        else if (r.kind === LogRecordKind.Discard) (s.discard++, (s.discardLb += r.ioSize));
        else (s.padding++, (s.paddingPb += Math.ceil(r.ioSize / (pack.pbs / 512))));
      },
    }, { file });
    s.end = dec.endLsid;
  } finally {
    closeSync(fd);
  }
  return s;
}

describe('wlog vectors from walb-tools', () => {
  const tmp = scratchDir();
  after(() => tmp.cleanup());

  for (const c of WLOG_CASES) {
    const m = manifest(c);
    for (const f of m.files.filter((x) => x.kind === 'wlog')) {
      it(`${c}/${f.path}: parses with every checksum verified and matches wlog-show -stat`, () => {
        const s = statOf(vectorPath(c, f.path));
        const stat = f['wlog_show_stat'] as string[] | undefined;
        if (stat) {
          const kv = Object.fromEntries(stat.map((l) => l.split(' ')));
          assert.equal(s.begin, Number(kv['bgnLsid']));
          assert.equal(s.end, Number(kv['reallyEndLsid']));
          assert.equal(s.packs, Number(kv['nrPacks']));
          assert.equal(s.normalLb, Number(kv['normalLb']));
          assert.equal(s.discardLb, Number(kv['discardLb']));
          assert.equal(s.paddingPb, Number(kv['paddingPb']));
        }
        const kinds = f['record_kinds'] as { normal: number; padding: number; discard: number } | undefined;
        if (kinds) {
          assert.equal(s.normal, kinds.normal);
          assert.equal(s.padding, kinds.padding);
          assert.equal(s.discard, kinds.discard);
        }
        if (f['n_packs'] !== undefined) assert.equal(s.packs, f['n_packs']);
      });

      it(`${c}/${f.path}: redo gives the manifest's image (discards zeroed and ignored)`, () => {
        const devsize = (f.applied as { devsize?: number } | undefined)?.devsize ?? m.devsize!;
        for (const mode of ['zero', 'ignore'] as const) {
          const img = zeroImage(tmp.file(`${c}-${f.path}-${mode}.img`), devsize);
          const image = openImage(img);
          const fd = openSync(vectorPath(c, f.path), 'r');
          try {
            redoWlog(fd, f.path, image, { discard: mode });
          } finally {
            closeSync(fd);
            closeImage(image);
          }
          const want = mode === 'zero' ? f.applied!.image_sha256_discard_zero : f.applied!.image_sha256_discard_ignored;
          if (want) assert.equal(fileSha256(img), want, mode);
        }
      });
    }
  }
});

describe('corrupted wlog vectors', () => {
  const m = manifest('corrupted');
  const expectError = (file: string, cls: new (...a: never[]) => Error, pattern: RegExp) => {
    assert.throws(() => statOf(vectorPath('corrupted', file)), (e: unknown) => {
      assert.ok(e instanceof cls, `${file}: ${String(e)}`);
      assert.match((e as Error).message, pattern);
      assert.match((e as Error).message, new RegExp(file.replace(/\./g, '\\.')));
      return true;
    });
  };
  it('rejects a bad IO checksum naming the logpack lsid', () => {
    expectError('pbs512.bad-iodata.wlog', ChecksumMismatchError, /IO checksum mismatch in the logpack at lsid 88/);
    expectError('pbs4096.bad-iodata.wlog', ChecksumMismatchError, /IO checksum mismatch in the logpack at lsid 10/);
  });
  it('rejects a bad file header checksum', () => {
    expectError('pbs512.bad-filehdr-csum.wlog', ChecksumMismatchError, /wlog file header checksum mismatch/);
    expectError('pbs4096.bad-filehdr-csum.wlog', ChecksumMismatchError, /wlog file header checksum mismatch/);
  });
  it('rejects a bad logpack header checksum naming the lsid', () => {
    expectError('pbs512.bad-packhdr.wlog', FormatError, /logpack header at lsid 56.*checksum mismatch/);
    expectError('pbs4096.bad-packhdr.wlog', FormatError, /logpack header at lsid 5\b.*checksum mismatch/);
  });
  it('rejects a file cut inside a logpack', () => {
    expectError('pbs512.truncated.wlog', UnexpectedEofError, /end of input inside the data of the logpack at lsid 112/);
    expectError('pbs4096.truncated.wlog', UnexpectedEofError, /end of input inside the data of the logpack at lsid 15\b/);
  });
  it('accepts a file without an end marker, with the full content', () => {
    for (const [cut, full] of [['pbs512.no-endmarker.wlog', 'pbs512.wlog'], ['pbs4096.no-endmarker.wlog', 'pbs4096.wlog']] as const) {
      assert.deepEqual(statOf(vectorPath('corrupted', cut)), statOf(vectorPath('corrupted', full)));
    }
  });
  it('covers every corrupted wlog of the manifest', () => {
    const wlogs = m.corrupted!.filter((c) => c.path.endsWith('.wlog')).map((c) => c.path).sort();
    assert.equal(wlogs.length, 10);
    assert.ok(readFileSync(vectorPath('corrupted', 'pbs512.wlog')).length > 0);
  });
});
